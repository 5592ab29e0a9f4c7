//! `POST /v1/bulk/{job_id}/pause`, `/resume` and `/cancel` (docs/api.md, "Campaign
//! control"; the state machine in docs/architecture.md, "A job's life"). A scheduled job can
//! only be cancelled before its start: its batches are then cancelled and its schedule
//! removed by the sweep, and a schedule that fires anyway finds nothing to start.
//!
//! Each is idempotent: asking again for the state a job is in answers `200` with
//! `changed: false`. A pause needs nothing more than its write, as the sender parks what it
//! is handed from then on. A resume or a cancel also puts a sweep task on the files queue
//! (job-files enqueues the parked batches again, or cancels the unsent ones), every time it is
//! asked, changed or not: a retry after a lost task sends it again, and sweeps repeat safely.

use chrono::Utc;
use lambda_http::{Body, Request, Response, http::StatusCode};
use serde::{Deserialize, Serialize};
use sms_core::{
    Problem, ProblemKind,
    domain::{bulk::FileTask, estimate::Budget, ids::JobId, money::Money},
    http::api,
    queue::{BatchQueue, QueueEntry},
    store::{
        ControlAnswer, ControlChange, JobControl, JobControls, JobRecord, PauseReason, PlanStore,
        StoreError,
    },
};

use crate::progress::{paused_reason, status};

/// The change a route's last segment names.
pub fn change_of(action: &str) -> Option<ControlChange> {
    match action {
        "pause" => Some(ControlChange::Pause(PauseReason::Requested)),
        "resume" => Some(ControlChange::Resume),
        "cancel" => Some(ControlChange::Cancel),
        _ => None,
    }
}

#[derive(Debug, Serialize)]
struct Changed<'a> {
    job_id: &'a str,
    /// `pause`, `resume` or `cancel`.
    action: &'static str,
    /// False when the job already was where the change would take it.
    changed: bool,
    /// The job's status after the change (as `GET /v1/bulk/{job_id}` shows it).
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    paused_reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    control_changed_at: Option<String>,
}

/// A resume's optional body: caps raised, so that a job paused by its budget can go on.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeBody {
    #[serde(default)]
    pub max_cost: Option<Money>,
    #[serde(default)]
    pub max_segments: Option<u64>,
}

/// The caps a resume's body raises; none without a body (empty, or JSON `null`, as some
/// clients send for "no body").
pub fn raised_caps(req: &Request) -> Result<Option<Budget>, Problem> {
    let body = api::body_bytes(req).trim_ascii();
    if body.is_empty() || body == b"null" {
        return Ok(None);
    }
    let body: ResumeBody = api::read_json(req, RESUME_BODY_LIMIT)?;
    let caps = Budget {
        max_cost: body.max_cost,
        max_segments: body.max_segments,
    };
    Ok(caps.is_set().then_some(caps))
}

/// A resume's body holds two numbers.
const RESUME_BODY_LIMIT: usize = 1_024;

pub async fn change<S, T>(
    job_id: &str,
    change: ControlChange,
    raise: Option<Budget>,
    store: &S,
    tasks: &T,
) -> Result<Response<Body>, Problem>
where
    S: JobControls + PlanStore,
    T: BatchQueue,
{
    let job_id = JobId::parse(job_id)
        .map_err(|_| Problem::field("job_id", "must be a UUID as returned by POST /v1/bulk"))?;
    tracing::Span::current().record("job_id", job_id.as_str());
    let internal =
        |e: StoreError| Problem::internal("the job's control could not be changed; retry", &e);
    if let Some(caps) = raise {
        match store.raise_budget(&job_id, caps).await.map_err(internal)? {
            Some(job) if job.budget.is_none() => {
                let field = if caps.max_cost.is_some() {
                    "max_cost"
                } else {
                    "max_segments"
                };
                return Err(Problem::field(
                    field,
                    "the job has no cap to raise: a cap is set when the job is created",
                ));
            }
            Some(job) => {
                if let Some(left) = job.budget {
                    tracing::info!(
                        max_cost = ?left.caps.max_cost.map(|m| m.to_string()),
                        max_segments = ?left.caps.max_segments,
                        "caps raised"
                    );
                }
            }
            // Answered below, as any change of a job that is not there.
            None => {}
        }
    }
    let (job, changed) = match store
        .change_control(&job_id, change, Utc::now())
        .await
        .map_err(internal)?
    {
        ControlAnswer::Changed(job) => (job, true),
        ControlAnswer::Unchanged(job) => (job, false),
        ControlAnswer::Refused(job) => return Err(refusal(&job, change)),
        ControlAnswer::Missing => {
            return Err(match store.get_plan(&job_id).await.map_err(internal)? {
                Some(_) => Problem::new(
                    ProblemKind::NotReady,
                    format!(
                        "job {job_id} is planning (or its planning failed): it has no batches to {} yet",
                        change.as_str()
                    ),
                ),
                None => Problem::new(ProblemKind::NotFound, format!("no job {job_id}")),
            });
        }
    };
    tracing::info!(
        action = change.as_str(),
        changed,
        control = job.control.as_str(),
        "job control"
    );
    if !matches!(change, ControlChange::Pause(_)) && !job.is_done() {
        sweep(&job_id, tasks).await?;
    }
    let status = status(&job);
    let mut response = api::json_response(
        StatusCode::OK,
        &Changed {
            job_id: job_id.as_str(),
            action: change.as_str(),
            changed,
            status,
            paused_reason: paused_reason(&job),
            control_changed_at: job.control_changed_at.map(crate::forecast::moment),
        },
    );
    if let Ok(location) = format!("/v1/bulk/{job_id}").parse() {
        response.headers_mut().insert("location", location);
    }
    Ok(response)
}

/// Why the job's state refuses `change`.
fn refusal(job: &JobRecord, change: ControlChange) -> Problem {
    let why = match job.control {
        JobControl::Cancelled => "it was cancelled".to_owned(),
        _ if job.is_done() => "every batch has ended".to_owned(),
        JobControl::Scheduled => format!(
            "it has not started (it starts at {}); cancel it, or wait for its start",
            job.send_at
                .map_or_else(|| "its send_at".to_owned(), crate::forecast::stamp)
        ),
        _ => "its state does not allow it".to_owned(),
    };
    Problem::new(
        ProblemKind::JobState,
        format!(
            "job {} cannot {}: {why} (status {})",
            job.job_id,
            change.as_str(),
            status(job)
        ),
    )
}

/// Puts a sweep of the whole ledger on the files queue.
async fn sweep<T: BatchQueue>(job_id: &JobId, tasks: &T) -> Result<(), Problem> {
    let task = FileTask::Sweep {
        job_id: job_id.clone(),
        from: 0,
    };
    let body = serde_json::to_string(&task)
        .map_err(|e| Problem::internal("the sweep task could not be encoded", &e))?;
    let sent = tasks
        .send_batch(&[QueueEntry {
            id: "0".into(),
            body,
            delay_seconds: 0,
        }])
        .await;
    if matches!(sent, Ok(ref refused) if refused.is_empty()) {
        return Ok(());
    }
    tracing::warn!("the sweep task could not be enqueued");
    Err(Problem::new(
        ProblemKind::Unavailable,
        format!(
            "job {job_id}'s control was changed but its batches could not be swept yet; retry the request to finish"
        ),
    ))
}
