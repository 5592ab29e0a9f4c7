//! The start schedule port (docs/architecture.md, "A scheduled job"): a scheduled job's one
//! `Start` task, delivered to the files queue at the job's `send_at`. EventBridge Scheduler
//! holds it on AWS; for tests an in-memory adapter sits beside it. The local stack fires due
//! schedules from moto (`local-stack`'s `schedule-poller`), as Scheduler would.
//!
//! A schedule only ever asks for a start: whether the job still starts is decided by the
//! job's control when the task arrives (`ControlChange::Start`), so a schedule that fires
//! late, twice, or after a cancel that could not remove it changes nothing it should not.

#[cfg(any(test, feature = "test-util"))]
mod memory;
mod scheduler;

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::domain::{bulk::FileTask, ids::JobId};

#[cfg(any(test, feature = "test-util"))]
pub use memory::MemoryStarts;
pub use scheduler::EventBridgeStarts;

#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {reason}")]
pub struct ScheduleError {
    pub operation: &'static str,
    pub reason: String,
}

pub trait StartSchedules: Send + Sync {
    /// Arranges for the job's `Start` task to reach the files queue at `at` (to the second,
    /// never before). Asking again for the same job and time leaves the schedule there is.
    fn schedule_start(
        &self,
        job_id: &JobId,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), ScheduleError>> + Send;

    /// Removes the job's schedule for `at` if it has not fired; none is not an error.
    fn forget_start(
        &self,
        job_id: &JobId,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), ScheduleError>> + Send;
}

/// The schedule's name: one per job and time (the job's start, or a later wake-up of a job
/// that waits), so a second request for it finds the first.
pub fn schedule_name(job_id: &JobId, at: DateTime<Utc>) -> String {
    format!("job-{job_id}-{}", at.timestamp())
}

/// What the schedule delivers.
pub fn start_task(job_id: &JobId) -> String {
    // A FileTask always serializes: plain strings in a tagged enum.
    serde_json::to_string(&FileTask::Start {
        job_id: job_id.clone(),
    })
    .unwrap_or_default()
}

/// The `at()` expression for `at`, rounded up to the next whole second so the start never
/// comes before the time asked for.
pub fn at_expression(at: DateTime<Utc>) -> String {
    let whole = if at.timestamp_subsec_nanos() > 0 {
        at + chrono::Duration::seconds(1)
    } else {
        at
    };
    format!("at({})", whole.format("%Y-%m-%dT%H:%M:%S"))
}

/// The time of an `at()` expression in UTC, as [`at_expression`] writes it.
pub fn parse_at_expression(expression: &str) -> Option<DateTime<Utc>> {
    let inner = expression.strip_prefix("at(")?.strip_suffix(')')?;
    chrono::NaiveDateTime::parse_from_str(inner, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_expressions_round_up_to_the_second_and_read_back() {
        let exact: DateTime<Utc> = "2026-12-08T10:00:00Z".parse().unwrap();
        assert_eq!(at_expression(exact), "at(2026-12-08T10:00:00)");
        let later: DateTime<Utc> = "2026-12-08T10:00:00.250Z".parse().unwrap();
        assert_eq!(at_expression(later), "at(2026-12-08T10:00:01)");
        assert_eq!(
            parse_at_expression("at(2026-12-08T10:00:01)"),
            Some("2026-12-08T10:00:01Z".parse().unwrap())
        );
        assert_eq!(parse_at_expression("rate(5 minutes)"), None);
    }

    #[test]
    fn the_start_task_is_a_file_task() {
        let job_id = JobId::random();
        let task: FileTask = serde_json::from_str(&start_task(&job_id)).unwrap();
        assert_eq!(task, FileTask::Start { job_id });
    }
}
