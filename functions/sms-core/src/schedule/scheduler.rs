//! [`StartSchedules`] over EventBridge Scheduler: one one-time schedule (`at(...)`) per job,
//! in the stack's schedule group, targeting the files queue with the job's `Start` task and
//! deleting itself once it has fired.

use aws_sdk_scheduler::{
    error::{DisplayErrorContext, ProvideErrorMetadata},
    types::{
        ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, Target,
    },
};
use chrono::{DateTime, Utc};

use super::{ScheduleError, StartSchedules, at_expression, schedule_name, start_task};
use crate::domain::ids::JobId;

pub struct EventBridgeStarts {
    client: aws_sdk_scheduler::Client,
    /// The schedule group the stack owns (`SCHEDULE_GROUP`).
    group: String,
    /// The files queue's ARN: where the `Start` task goes.
    queue_arn: String,
    /// The role Scheduler assumes to send to the queue (`SCHEDULER_ROLE_ARN`).
    role_arn: String,
    /// Where Scheduler puts a start it could not deliver (the files queue's dead-letter
    /// queue), so no start is ever silently dropped.
    dead_letter_arn: Option<String>,
}

impl EventBridgeStarts {
    pub fn new(
        client: aws_sdk_scheduler::Client,
        group: impl Into<String>,
        queue_arn: impl Into<String>,
        role_arn: impl Into<String>,
        dead_letter_arn: Option<String>,
    ) -> Self {
        Self {
            client,
            group: group.into(),
            queue_arn: queue_arn.into(),
            role_arn: role_arn.into(),
            dead_letter_arn,
        }
    }
}

fn failed(operation: &'static str, e: impl std::error::Error) -> ScheduleError {
    ScheduleError {
        operation,
        reason: DisplayErrorContext(e).to_string(),
    }
}

impl StartSchedules for EventBridgeStarts {
    async fn schedule_start(&self, job_id: &JobId, at: DateTime<Utc>) -> Result<(), ScheduleError> {
        let build = |e| failed("CreateSchedule", e);
        let mut target = Target::builder()
            .arn(&self.queue_arn)
            .role_arn(&self.role_arn)
            .input(start_task(job_id));
        if let Some(arn) = &self.dead_letter_arn {
            target = target.dead_letter_config(DeadLetterConfig::builder().arn(arn).build());
        }
        let result = self
            .client
            .create_schedule()
            .name(schedule_name(job_id, at))
            .group_name(&self.group)
            .schedule_expression(at_expression(at))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(
                FlexibleTimeWindow::builder()
                    .mode(FlexibleTimeWindowMode::Off)
                    .build()
                    .map_err(build)?,
            )
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target.build().map_err(build)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // The schedule for this job and time exists: an earlier attempt made it.
            Err(e) if e.code() == Some("ConflictException") => Ok(()),
            Err(e) => Err(failed("CreateSchedule", e)),
        }
    }

    async fn forget_start(&self, job_id: &JobId, at: DateTime<Utc>) -> Result<(), ScheduleError> {
        let result = self
            .client
            .delete_schedule()
            .name(schedule_name(job_id, at))
            .group_name(&self.group)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(failed("DeleteSchedule", e)),
        }
    }
}
