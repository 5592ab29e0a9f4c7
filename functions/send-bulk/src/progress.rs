//! `GET /v1/bulk/{job_id}`: a job's progress, by batch and by message status.

use lambda_http::{Body, Response, http::StatusCode};
use serde::Serialize;
use sms_core::{
    Problem, ProblemKind,
    domain::ids::JobId,
    http::api,
    store::{
        JobRecord, JobStore, MessageStatus, ProgressLog, ProgressSample, StatusCounts,
        progress::{RECENT_WINDOW, recent_rate},
    },
};

use crate::forecast::{Rates, round};
use chrono::{DateTime, Utc};

#[derive(Debug, Serialize)]
pub struct JobProgress<'a> {
    pub job_id: &'a str,
    pub status: &'static str,
    pub accepted: u64,
    pub batches: BatchCounts,
    pub messages: MessageCounts,
    pub rate: Rate,
    pub created_at: String,
    pub updated_at: String,
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

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn after(t: DateTime<Utc>, seconds: f64) -> DateTime<Utc> {
    t + chrono::Duration::milliseconds((seconds * 1000.0).round() as i64)
}

/// The job's rate and estimates at `now`, from its recent progress samples.
pub fn rate(job: &JobRecord, samples: &[ProgressSample], rates: Rates, now: DateTime<Utc>) -> Rate {
    let recent = recent_rate(samples, now);
    let total = job.batches_total.max(1) as f64;
    let left = job.batches_total.saturating_sub(job.batches_ended()) as f64;
    let submission_complete = if left == 0.0 {
        job.updated_at
    } else {
        match recent {
            Some(per_second) => after(now, job.counts.accepted as f64 * left / total / per_second),
            None => after(now, left / rates.requests.per_second()),
        }
    };
    let dispatch = after(
        job.created_at,
        job.counts.accepted as f64 / rates.account_mps,
    );
    Rate {
        recent_recipients_per_second: recent.map(round),
        submission_complete_at: stamp(submission_complete),
        delivery_complete_at: stamp(dispatch.max(submission_complete)),
    }
}

#[derive(Debug, Serialize)]
pub struct BatchCounts {
    pub total: u32,
    pub sent: u32,
    pub failed: u32,
    pub unknown: u32,
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
    let status = if job.batches_ended() >= job.batches_total {
        "done"
    } else if job.batches_ended() > 0 {
        "sending"
    } else {
        "queued"
    };
    JobProgress {
        job_id: job.job_id.as_str(),
        status,
        accepted: job.counts.accepted,
        batches: BatchCounts {
            total: job.batches_total,
            sent: job.batches_sent,
            failed: job.batches_failed,
            unknown: job.batches_unknown,
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
        rate,
        created_at: job.created_at.to_rfc3339(),
        updated_at: job.updated_at.to_rfc3339(),
    }
}

pub async fn report<S: JobStore + ProgressLog>(
    job_id: &str,
    store: &S,
    rates: Rates,
) -> Result<Response<Body>, Problem> {
    let job_id = JobId::parse(job_id)
        .map_err(|_| Problem::field("job_id", "must be a UUID as returned by POST /v1/bulk"))?;
    let job_id = &job_id;
    let internal =
        |e: sms_core::store::StoreError| Problem::internal("the job could not be read; retry", &e);
    let job = store
        .get_job(job_id)
        .await
        .map_err(internal)?
        .ok_or_else(|| Problem::new(ProblemKind::NotFound, format!("no job {job_id}")))?;
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
    Ok(api::json_response(
        StatusCode::OK,
        &progress(&job, &counts, rate),
    ))
}
