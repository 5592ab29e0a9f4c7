//! An in-memory [`StartSchedules`] for handler tests: the schedules it holds, by job.

use std::{collections::BTreeMap, sync::Mutex};

use chrono::{DateTime, Utc};

use super::{ScheduleError, StartSchedules};
use crate::domain::ids::JobId;

#[derive(Debug, Default)]
pub struct MemoryStarts {
    /// By job id and time.
    pub schedules: Mutex<BTreeMap<(String, DateTime<Utc>), ()>>,
    /// Fail every call, to test what a failed schedule does.
    pub failing: Mutex<bool>,
}

impl MemoryStarts {
    /// The job's earliest schedule.
    pub fn get(&self, job_id: &JobId) -> Option<DateTime<Utc>> {
        self.of(job_id).first().copied()
    }

    /// Every schedule of the job, earliest first.
    pub fn of(&self, job_id: &JobId) -> Vec<DateTime<Utc>> {
        self.lock()
            .keys()
            .filter(|(j, _)| j == job_id.as_str())
            .map(|(_, at)| *at)
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, DateTime<Utc>), ()>> {
        self.schedules.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check(&self, operation: &'static str) -> Result<(), ScheduleError> {
        match *self.failing.lock().unwrap_or_else(|p| p.into_inner()) {
            true => Err(ScheduleError {
                operation,
                reason: "failing on purpose".into(),
            }),
            false => Ok(()),
        }
    }
}

impl StartSchedules for MemoryStarts {
    async fn schedule_start(&self, job_id: &JobId, at: DateTime<Utc>) -> Result<(), ScheduleError> {
        self.check("CreateSchedule")?;
        self.lock().insert((job_id.as_str().to_owned(), at), ());
        Ok(())
    }

    async fn forget_start(&self, job_id: &JobId, at: DateTime<Utc>) -> Result<(), ScheduleError> {
        self.check("DeleteSchedule")?;
        self.lock().remove(&(job_id.as_str().to_owned(), at));
        Ok(())
    }
}
