//! `GET /v1/bulk/{job_id}`: a job's progress, by batch and by message status.

use lambda_http::{Body, Response, http::StatusCode};
use serde::Serialize;
use sms_core::{
    Problem, ProblemKind,
    domain::{estimate::BudgetLeft, ids::JobId, money::Money, plan::PlanCounts, status::Charge},
    files::{ObjectStore, PresignedRequest, keys},
    http::api,
    store::{
        JobControl, JobRecord, JobStore, MessageStatus, PlanRecord, PlanState, PlanStore,
        ProgressLog, ProgressSample, ResultsStore, StatusCounts,
        progress::{RECENT_WINDOW, recent_rate},
    },
};

use crate::{
    forecast::{Rates, round, stamp},
    results::ResultsView,
};
use chrono::{DateTime, Utc};

#[derive(Debug, Serialize)]
pub struct JobProgress<'a> {
    pub job_id: &'a str,
    pub status: &'static str,
    /// Why a `paused` job is paused: `requested` or `budget`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<&'static str>,
    /// When it was asked to start, if it was scheduled (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_at: Option<String>,
    /// Its quiet hours (`HH:MM-HH:MM`), if it has them, and while it is not over: the
    /// recipients whose batches wait for their window, and the earliest window to open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietView>,
    /// When it was last started, paused, resumed or cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_changed_at: Option<String>,
    pub accepted: u64,
    /// Landlines among the recipients (docs/api.md, "Numbers"), and those of them not sent
    /// (`skip_landlines`; not in `accepted`).
    pub landlines: u64,
    pub landlines_skipped: u64,
    /// Recipients of the batches a cancel ended before they were sent.
    pub recipients_cancelled: u64,
    /// Recipients who opted out after the job was accepted, and so were not sent.
    pub recipients_opted_out: u64,
    pub batches: BatchCounts,
    pub messages: MessageCounts,
    /// The messages each provider took: Plivo's are `messages.accepted_by_plivo`, the
    /// fallback provider's those it took while Plivo's circuit was open.
    pub providers: ProviderCounts,
    /// What Plivo's reports charged so far: the sum of each message's `TotalAmount` (in the
    /// account's currency) and `Units`, once per message (docs/api.md, "Budget").
    pub charged: Charged,
    /// A capped job's caps and what its claimed batches reserved of them (docs/api.md,
    /// "Budget").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetView>,
    pub rate: Rate,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize)]
pub struct BudgetView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cost: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_segments: Option<u64>,
    /// The estimates of the batches claimed so far (each batch's is reserved when it is
    /// claimed): with `charged`, what the guard weighs a next batch against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_cost: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_segments: Option<u64>,
}

impl BudgetView {
    fn of(left: &BudgetLeft) -> Self {
        let used = |cap: Option<u64>, left: Option<u64>| Some(cap?.saturating_sub(left?));
        Self {
            max_cost: left.caps.max_cost,
            max_segments: left.caps.max_segments,
            reserved_cost: used(
                left.caps.max_cost.map(Money::micros),
                left.cost.map(Money::micros),
            )
            .map(Money::from_micros),
            reserved_segments: used(left.caps.max_segments, left.segments),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Charged {
    pub amount: Money,
    pub units: u64,
}

impl From<Charge> for Charged {
    /// A sum below zero (a correction reported before the charge it corrects) shows as zero.
    fn from(c: Charge) -> Self {
        Self {
            amount: Money::from_micros(u64::try_from(c.micros).unwrap_or(0)),
            units: u64::try_from(c.units).unwrap_or(0),
        }
    }
}

/// How fast the job is going and when it should end (docs/api.md, "Forecast").
#[derive(Debug, Serialize)]
pub struct Rate {
    /// Recipients whose batch ended, per second, over the last minute; `null` when none did.
    pub recent_recipients_per_second: Option<f64>,
    /// When the last batch should be handed to Plivo: at the recent rate, or at the full
    /// budget when nothing ended lately. When the job is done, when it was.
    pub submission_complete_at: String,
    /// The earliest the last message can leave Plivo, which dispatches the account's
    /// messages at its MPS from the job's start.
    pub delivery_complete_at: String,
}

fn after(t: DateTime<Utc>, seconds: f64) -> DateTime<Utc> {
    t + chrono::Duration::milliseconds((seconds * 1000.0).round() as i64)
}

/// The job's rate and estimates at `now`, from its recent progress samples.
pub fn rate(job: &JobRecord, samples: &[ProgressSample], rates: Rates, now: DateTime<Utc>) -> Rate {
    let recent = recent_rate(samples, now);
    // A scheduled job counts from its start; one that started, from now.
    let from = job.send_at.map_or(now, |at| at.max(now));
    let total = job.batches_total.max(1) as f64;
    let left = job.batches_total.saturating_sub(job.batches_ended()) as f64;
    let submission_complete = if left == 0.0 {
        job.updated_at
    } else {
        match recent {
            Some(per_second) => after(from, job.counts.accepted as f64 * left / total / per_second),
            None => after(from, left / rates.requests.per_second()),
        }
    };
    let dispatch = after(
        job.send_at.unwrap_or(job.created_at),
        job.counts.accepted as f64 / rates.account_mps,
    );
    Rate {
        recent_recipients_per_second: recent.map(round),
        submission_complete_at: stamp(submission_complete),
        delivery_complete_at: stamp(dispatch.max(submission_complete)),
    }
}

/// What `GET /v1/bulk/{job_id}` shows of a job's quiet hours.
#[derive(Debug, Serialize)]
pub struct QuietView {
    /// `HH:MM-HH:MM`, in each recipient's local time.
    pub hours: String,
    pub recipients_waiting: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_window_opens_at: Option<String>,
}

/// The job's quiet hours as its status shows them at `now`.
fn quiet_view(job: &JobRecord, now: DateTime<Utc>) -> Option<QuietView> {
    let hours = job.quiet_hours?;
    // Counted while batches can still wait: not once the job is over.
    let live = !matches!(status(job), "done" | "cancelled");
    let waiting = if live { job.recipients_waiting } else { 0 };
    Some(QuietView {
        hours: hours.to_string(),
        recipients_waiting: waiting,
        next_window_opens_at: job
            .next_window_at
            .filter(|at| waiting > 0 && *at > now)
            .map(stamp),
    })
}

#[derive(Debug, Serialize)]
pub struct BatchCounts {
    pub total: u32,
    pub sent: u32,
    pub failed: u32,
    pub unknown: u32,
    pub cancelled: u32,
    /// Of `sent`, those whose outcome was unknown until Plivo's records or reports showed
    /// Plivo had them (docs/api.md, "Unknown batches").
    pub reconciled: u32,
    /// Batches whose outcome was unknown until Plivo's records proved it never had them, so
    /// they were sent again, once; each is also counted by how it then ended.
    pub resent: u32,
}

/// The job's status (docs/architecture.md, "A job's life"): a cancel is final and shown as
/// soon as it is made; otherwise a job whose every batch ended is `done`, whatever its control
/// (a pause that came after its last batch was claimed changes nothing).
pub fn status(job: &JobRecord) -> &'static str {
    match job.control {
        JobControl::Cancelled => "cancelled",
        _ if job.is_done() => "done",
        JobControl::Scheduled => "scheduled",
        JobControl::Paused(_) => "paused",
        JobControl::Running if job.batches_ended() > 0 => "sending",
        JobControl::Running => "queued",
    }
}

/// Why the job is paused, while its status is `paused`.
pub fn paused_reason(job: &JobRecord) -> Option<&'static str> {
    match job.control {
        JobControl::Paused(reason) if status(job) == "paused" => Some(reason.as_str()),
        _ => None,
    }
}

#[derive(Debug, Serialize)]
pub struct ProviderCounts {
    pub plivo: u64,
    pub sns: u64,
}

/// Each message counted once, by its current status: `queued` to `rejected` sum to
/// `accepted_by_plivo`, the messages Plivo is known to have accepted for the job (see
/// [`JobRecord::accepted_by_plivo`]).
#[derive(Debug, Serialize)]
pub struct MessageCounts {
    pub accepted_by_plivo: u64,
    /// Of `accepted_by_plivo`, those known only from their delivery reports: their batch has
    /// no recorded Plivo answer (it ended `unknown`, or its outcome is still being written).
    pub accepted_in_unconfirmed_batches: u64,
    pub queued: i64,
    pub sent: i64,
    pub delivered: i64,
    pub undelivered: i64,
    pub failed: i64,
    pub rejected: i64,
}

pub fn progress<'a>(job: &'a JobRecord, counts: &StatusCounts, rate: Rate) -> JobProgress<'a> {
    let accepted = job.accepted_by_plivo(counts);
    let status = status(job);
    JobProgress {
        job_id: job.job_id.as_str(),
        status,
        paused_reason: paused_reason(job),
        send_at: job.send_at.map(stamp),
        quiet_hours: quiet_view(job, Utc::now()),
        control_changed_at: job.control_changed_at.map(crate::forecast::moment),
        accepted: job.counts.accepted,
        landlines: job.counts.landlines,
        landlines_skipped: job.counts.landlines_skipped,
        recipients_cancelled: job.recipients_cancelled,
        recipients_opted_out: job.recipients_opted_out,
        batches: BatchCounts {
            total: job.batches_total,
            sent: job.batches_sent,
            failed: job.batches_failed,
            unknown: job.batches_unknown,
            cancelled: job.batches_cancelled,
            reconciled: job.batches_reconciled,
            resent: job.batches_resent,
        },
        messages: MessageCounts {
            accepted_by_plivo: accepted.total,
            accepted_in_unconfirmed_batches: accepted.unconfirmed,
            // Never negative (see `accepted_by_plivo`), so nothing to clamp: a negative
            // figure here would be a bug to see, not to hide.
            queued: accepted.total as i64 - counts.beyond_queued(),
            sent: counts.get(MessageStatus::Sent),
            delivered: counts.get(MessageStatus::Delivered),
            undelivered: counts.get(MessageStatus::Undelivered),
            failed: counts.get(MessageStatus::Failed),
            rejected: counts.get(MessageStatus::Rejected),
        },
        providers: ProviderCounts {
            plivo: accepted.total,
            sns: job.messages_by_fallback,
        },
        charged: counts.charged.into(),
        budget: job.budget.as_ref().map(BudgetView::of),
        rate,
        created_at: crate::forecast::moment(job.created_at),
        updated_at: crate::forecast::moment(job.updated_at),
    }
}

/// How long a link to a job's file works.
pub const FILE_LINK_TTL: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// A job from an upload: how its planning went, and its rejects file.
#[derive(Debug, Serialize)]
pub struct Planning {
    pub upload_id: String,
    /// `planning`, `committed` or `failed`.
    pub state: &'static str,
    pub rows: PlanCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A link to the rejects file (row, value, reason), once planning ended with rejects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejects: Option<PresignedRequest>,
    /// A plan that failed over its cap (`max_cost`, `max_segments`): the problem a list's
    /// request over its cap is answered with (`/problems/over-budget`, with `estimate` and
    /// `budget`), for the whole file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}

/// The answer for a job whose plan has no job item yet: planning, or failed.
#[derive(Debug, Serialize)]
struct PlanOnly<'a> {
    job_id: &'a str,
    status: &'static str,
    planning: Planning,
    created_at: String,
    updated_at: String,
}

async fn planning<F: ObjectStore>(plan: &PlanRecord, files: &F) -> Planning {
    let ended = plan.state != PlanState::Planning;
    let counts = plan.checkpoint.counts;
    // Skipped landlines have lines in the rejects file too.
    let rejects = if ended && counts.rejected + counts.landlines_skipped > 0 {
        let key = keys::rejects(&plan.job_id);
        let name = format!("rejects-{}.csv", plan.job_id);
        match files
            .presign_get(&key, &name, FILE_LINK_TTL, Utc::now())
            .await
        {
            Ok(link) => Some(link),
            Err(e) => {
                tracing::warn!(error = %e, "no link to the rejects file could be made");
                None
            }
        }
    } else {
        None
    };
    Planning {
        upload_id: plan.upload_id.clone(),
        state: plan.state.as_str(),
        rows: plan.checkpoint.counts,
        error: plan.error.clone(),
        rejects,
        problem: over_budget(plan),
    }
}

/// The over-budget problem of a plan that failed over its cap. The estimate is rebuilt from
/// the tallies and rates its checkpoint kept, the very ones the planner checked.
fn over_budget(plan: &PlanRecord) -> Option<Problem> {
    if plan.state != PlanState::Failed || !plan.budget.is_set() {
        return None;
    }
    let estimate = plan.checkpoint.tallies.estimate();
    // Only when that is why it failed: a plan failed for another reason may have stopped
    // with tallies over the cap too.
    let over = plan
        .budget
        .check(&estimate)
        .err()
        .filter(|over| plan.error.as_deref() == Some(over.to_string().as_str()))?;
    Some(
        Problem::new(ProblemKind::OverBudget, over.to_string())
            .with("estimate", &estimate)
            .with("budget", plan.budget),
    )
}

/// The job as [`progress`] reports it, with its planning beside it when it came from an
/// upload.
#[derive(Debug, Serialize)]
struct WithPlanning<'a> {
    #[serde(flatten)]
    progress: JobProgress<'a>,
    distinct_texts: u64,
    segments: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    planning: Option<Planning>,
    /// The job's results file, once asked for (`POST /v1/bulk/{id}/results`).
    #[serde(skip_serializing_if = "Option::is_none")]
    results: Option<ResultsView>,
}

pub async fn report<S: JobStore + ProgressLog + PlanStore + ResultsStore, F: ObjectStore>(
    job_id: &str,
    store: &S,
    files: &F,
    rates: Rates,
) -> Result<Response<Body>, Problem> {
    let job_id = JobId::parse(job_id)
        .map_err(|_| Problem::field("job_id", "must be a UUID as returned by POST /v1/bulk"))?;
    let job_id = &job_id;
    let internal =
        |e: sms_core::store::StoreError| Problem::internal("the job could not be read; retry", &e);
    let plan = store.get_plan(job_id).await.map_err(internal)?;
    let Some(job) = store.get_job(job_id).await.map_err(internal)? else {
        let plan =
            plan.ok_or_else(|| Problem::new(ProblemKind::NotFound, format!("no job {job_id}")))?;
        let status = match plan.state {
            PlanState::Failed => "failed",
            // Committed: its job item is being read a moment too early; still planning.
            PlanState::Planning | PlanState::Committed => "planning",
        };
        return Ok(api::json_response(
            StatusCode::OK,
            &PlanOnly {
                job_id: job_id.as_str(),
                status,
                planning: planning(&plan, files).await,
                created_at: crate::forecast::moment(plan.created_at),
                updated_at: crate::forecast::moment(plan.updated_at),
            },
        ));
    };
    let counts = store.status_counts(job_id).await.map_err(internal)?;
    let now = Utc::now();
    let samples = match store.recent_progress(job_id, now - RECENT_WINDOW).await {
        Ok(samples) => samples,
        Err(e) => {
            // The rate is an estimate: without it the answer still has every count.
            tracing::warn!(error = %e, "the job's progress samples could not be read");
            Vec::new()
        }
    };
    let rate = rate(&job, &samples, rates, now);
    let planning = match &plan {
        Some(plan) => Some(planning(plan, files).await),
        None => None,
    };
    let results = match store.get_results(job_id).await.map_err(internal)? {
        Some(record) => Some(ResultsView::of(&record, files).await),
        None => None,
    };
    Ok(api::json_response(
        StatusCode::OK,
        &WithPlanning {
            progress: progress(&job, &counts, rate),
            distinct_texts: job.distinct_texts,
            segments: job.segments_total,
            planning,
            results,
        },
    ))
}
