//! A scheduled job's start (docs/architecture.md, "A scheduled job").
//!
//! - `schedule` (from send-bulk, or from the planner once a scheduled upload is committed):
//!   make the job's one-time schedule, which delivers `start` at the job's `send_at`. A time
//!   that is (all but) here is waited for and started at once instead: a schedule for a
//!   past time is not what anyone means.
//! - `start`: the job's control goes `scheduled` → `running` (a conditional write: a job
//!   cancelled before its time stays cancelled, and a second start changes nothing), then the
//!   ledger is swept, which enqueues every batch. A start delivered again sweeps again, which
//!   enqueues only what is not on the queue.

use chrono::{DateTime, Utc};
use sms_core::{
    domain::ids::JobId,
    queue::BatchQueue,
    schedule::StartSchedules,
    store::{ControlAnswer, ControlChange, JobControl},
};
use tracing::{info, warn};

use crate::{App, FilesStore, SweepOutcome, sweep};

/// A start closer than this is waited for in the invocation rather than scheduled.
pub const START_NOW_WITHIN: chrono::Duration = chrono::Duration::seconds(10);

/// How a `schedule` or `start` task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartOutcome {
    /// The job's schedule exists: it starts at its time.
    Scheduled,
    /// The job is running and its ledger was swept (or the sweep went on in a new task).
    Started(SweepOutcome),
    /// The job was paused or cancelled before its start, or had started: nothing to do.
    NotScheduled(JobControl),
    /// No job item: the task is malformed.
    Missing,
    /// Something failed that a later delivery may get past.
    Retry(String),
}

impl StartOutcome {
    /// Whether the SQS record should come back.
    pub fn retry(&self) -> bool {
        match self {
            Self::Missing | Self::Retry(_) => true,
            Self::Started(sweep) => sweep.retry(),
            Self::Scheduled | Self::NotScheduled(_) => false,
        }
    }
}

/// `schedule`: the job's start at `at`.
pub async fn arrange_start<S: FilesStore, F, Q: BatchQueue, T: BatchQueue, C: StartSchedules>(
    job_id: &JobId,
    at: DateTime<Utc>,
    app: &App<S, F, Q, T, C>,
    deadline: DateTime<Utc>,
) -> StartOutcome {
    let wait = at - Utc::now();
    if wait <= START_NOW_WITHIN {
        if let Ok(wait) = wait.to_std() {
            tokio::time::sleep(wait).await;
        }
        info!(%at, "the job's start is here; starting it now");
        return start(job_id, app, deadline).await;
    }
    match app.schedules.schedule_start(job_id, at).await {
        Ok(()) => {
            info!(%at, "the job's start is scheduled");
            StartOutcome::Scheduled
        }
        Err(e) => {
            warn!(error = %e, "the job's start could not be scheduled; retrying later");
            StartOutcome::Retry(e.to_string())
        }
    }
}

/// `start`: the job runs from now on, and its batches are enqueued.
pub async fn start<S: FilesStore, F, Q: BatchQueue, T: BatchQueue, C: StartSchedules>(
    job_id: &JobId,
    app: &App<S, F, Q, T, C>,
    deadline: DateTime<Utc>,
) -> StartOutcome {
    let job = match app
        .store
        .change_control(job_id, ControlChange::Start, Utc::now())
        .await
    {
        Ok(ControlAnswer::Changed(job)) => {
            info!("the job started");
            job
        }
        Ok(ControlAnswer::Unchanged(job) | ControlAnswer::Refused(job)) => job,
        Ok(ControlAnswer::Missing) => return StartOutcome::Missing,
        Err(e) => return StartOutcome::Retry(format!("starting the job: {e}")),
    };
    match job.control {
        // Started now, or by an earlier delivery of this task that may have stopped before
        // its sweep ended: sweep (again). Nothing is enqueued twice.
        JobControl::Running => StartOutcome::Started(sweep(job_id, 0, app, deadline).await),
        other => {
            info!(
                control = other.as_str(),
                "the job is not waiting for its start; nothing to do"
            );
            StartOutcome::NotScheduled(other)
        }
    }
}
