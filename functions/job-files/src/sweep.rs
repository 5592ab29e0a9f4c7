//! Sweeping a job's ledger after a resume or a cancel (docs/architecture.md, "A job's
//! life"): a page of batches at a time, each page under the control the job has when the
//! page is read, so a change made mid-sweep is obeyed from the next page on.
//!
//! | the job is | a `parked` batch | a `pending` batch not enqueued | a `pending` batch enqueued |
//! |---|---|---|---|
//! | running | unparked, enqueued | enqueued | left: the queue has it |
//! | paused (or scheduled) | the sweep stops: the next resume (or start) sweeps again | | |
//! | cancelled | `cancelled` | `cancelled` | `cancelled` (the sender then drops its record) |
//!
//! Every step is a conditional write that a second sweep, or the sender, may also make:
//! sweeps may overlap and repeat without a batch being sent twice or counted twice.

use chrono::{DateTime, Utc};
use sms_core::{
    domain::{bulk::FileTask, ids::JobId},
    fanout,
    queue::{BatchQueue, QueueEntry},
    schedule::StartSchedules,
    store::{BatchState, JobControl},
};
use tracing::{info, warn};

use crate::{App, FilesStore};

/// Ledger items read at once.
const PAGE_BATCHES: u32 = 100;

/// Sweeping stops this long before the deadline, leaving time to hand on.
const STOP_BEFORE_DEADLINE: chrono::Duration = chrono::Duration::seconds(60);

/// How a sweep task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SweepOutcome {
    /// Every batch from the task's first on was brought in line with the job's control.
    Swept { enqueued: usize, cancelled: usize },
    /// The job is paused (again): nothing to do until a resume, which sweeps anew.
    Paused,
    /// Handed on to a new task at a later batch.
    Continued { from: u32 },
    /// No job item: the task is malformed.
    Missing,
    /// Something failed that a later delivery may get past.
    Retry(String),
}

impl SweepOutcome {
    /// Whether the SQS record should come back.
    pub fn retry(&self) -> bool {
        matches!(self, Self::Missing | Self::Retry(_))
    }
}

fn retry(what: &str, e: impl std::fmt::Display) -> SweepOutcome {
    SweepOutcome::Retry(format!("{what}: {e}"))
}

pub async fn sweep<S: FilesStore, F, Q: BatchQueue, T: BatchQueue, C: StartSchedules>(
    job_id: &JobId,
    from: u32,
    app: &App<S, F, Q, T, C>,
    deadline: DateTime<Utc>,
) -> SweepOutcome {
    let (mut enqueued, mut cancelled) = (0, 0);
    let mut next = from;
    loop {
        let job = match app.store.get_job(job_id).await {
            Ok(Some(job)) => job,
            Ok(None) => return SweepOutcome::Missing,
            Err(e) => return retry("reading the job", e),
        };
        if next >= job.batches_total {
            // A job cancelled before its start needs its schedule no more. Left, it would
            // fire a start that finds the job cancelled and does nothing: so a failure here
            // is logged, not retried.
            if job.control == JobControl::Cancelled
                && let Some(at) = job.send_at.filter(|at| *at > Utc::now())
                && let Err(e) = app.schedules.forget_start(job_id, at).await
            {
                warn!(error = %e, "the cancelled job's schedule could not be removed");
            }
            info!(
                enqueued,
                cancelled,
                control = job.control.as_str(),
                "ledger swept"
            );
            return SweepOutcome::Swept {
                enqueued,
                cancelled,
            };
        }
        if Utc::now() + STOP_BEFORE_DEADLINE >= deadline {
            return hand_on(app, job_id, next).await;
        }
        let page = next..(next + PAGE_BATCHES).min(job.batches_total);
        let entries = match app.store.ledger_range(job_id, page.clone()).await {
            Ok(entries) => entries,
            Err(e) => return retry("reading the ledger", e),
        };
        match job.control {
            JobControl::Paused(_) | JobControl::Scheduled => {
                info!(
                    batch = next,
                    control = job.control.as_str(),
                    "the job is not running; the sweep stops here"
                );
                return SweepOutcome::Paused;
            }
            JobControl::Running => {
                let mut messages = Vec::new();
                for mut entry in entries {
                    if entry.state == BatchState::Parked {
                        let deferred = entry.deferred.then_some(entry.recipients.len() as u64);
                        match app.store.unpark_batch(job_id, entry.batch, deferred).await {
                            Ok(true) => {
                                entry.state = BatchState::Pending;
                                entry.enqueued = false;
                            }
                            // Claimed or parked again since it was read: not ours to enqueue.
                            Ok(false) => continue,
                            Err(e) => return retry("unparking a batch", e),
                        }
                    }
                    if entry.state == BatchState::Pending && !entry.enqueued {
                        messages.push(fanout::batch_message(&job, entry));
                    }
                }
                let total = messages.len();
                let failed =
                    fanout::enqueue_batches(&app.batches, &app.store, job_id, messages).await;
                if failed > 0 {
                    return SweepOutcome::Retry(format!("{failed} batches could not be enqueued"));
                }
                enqueued += total;
            }
            JobControl::Cancelled => {
                for entry in entries {
                    if !matches!(entry.state, BatchState::Pending | BatchState::Parked) {
                        continue;
                    }
                    let recipients = entry.recipients.len() as u64;
                    match app
                        .store
                        .cancel_batch(job_id, entry.batch, recipients, Utc::now())
                        .await
                    {
                        Ok(true) => cancelled += 1,
                        // The sender (or another sweep) got there first, or it was claimed.
                        Ok(false) => {}
                        Err(e) => return retry("cancelling a batch", e),
                    }
                }
            }
        }
        next = page.end;
    }
}

/// Enqueues a task to go on from batch `from`.
async fn hand_on<S, F, Q, T: BatchQueue, C>(
    app: &App<S, F, Q, T, C>,
    job_id: &JobId,
    from: u32,
) -> SweepOutcome {
    let task = FileTask::Sweep {
        job_id: job_id.clone(),
        from,
    };
    let body = match serde_json::to_string(&task) {
        Ok(body) => body,
        Err(e) => return retry("encoding the task", e),
    };
    match app
        .tasks
        .send_batch(&[QueueEntry {
            id: "0".into(),
            body,
            delay_seconds: 0,
        }])
        .await
    {
        Ok(refused) if refused.is_empty() => {
            info!(from, "the sweep goes on in a new invocation");
            SweepOutcome::Continued { from }
        }
        // The record comes back instead: its next delivery sweeps from its own start.
        Ok(_) => SweepOutcome::Retry("the next task was refused by SQS".into()),
        Err(e) => {
            warn!(error = %e, "the next sweep task could not be enqueued");
            retry("enqueueing the next task", e)
        }
    }
}
