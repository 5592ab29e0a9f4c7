//! EventBridge Scheduler's one-time schedules played against moto, which stores schedules
//! but never fires them: a due `at(...)` schedule's input is sent to its target queue, as
//! Scheduler would, and the schedule is deleted (`ActionAfterCompletion: DELETE`, the only
//! kind the functions make). A send that fails leaves the schedule for the next round, as
//! Scheduler retries.

use aws_sdk_scheduler::types::ActionAfterCompletion;
use chrono::{DateTime, Utc};
use sms_core::schedule::parse_at_expression;
use tracing::{info, warn};

/// A schedule that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    pub name: String,
    pub at: DateTime<Utc>,
}

/// Sends every schedule of `group` due at `now` to its target queue; returns those fired.
pub async fn fire_due(
    scheduler: &aws_sdk_scheduler::Client,
    sqs: &aws_sdk_sqs::Client,
    group: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Fired>, String> {
    let mut names = Vec::new();
    let mut pages = scheduler
        .list_schedules()
        .group_name(group)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| aws_sdk_scheduler::error::DisplayErrorContext(e).to_string())?;
        names.extend(
            page.schedules()
                .iter()
                .filter_map(|s| s.name().map(str::to_owned)),
        );
    }
    let mut fired = Vec::new();
    for name in names {
        let schedule = match scheduler
            .get_schedule()
            .name(&name)
            .group_name(group)
            .send()
            .await
        {
            Ok(s) => s,
            // Deleted since it was listed.
            Err(e) => {
                warn!(schedule = %name, error = %aws_sdk_scheduler::error::DisplayErrorContext(e), "schedule not readable");
                continue;
            }
        };
        let Some(at) = schedule.schedule_expression().and_then(parse_at_expression) else {
            warn!(schedule = %name, "not a one-time at() schedule in UTC; left alone");
            continue;
        };
        if at > now {
            continue;
        }
        let Some(target) = schedule.target() else {
            continue;
        };
        // An SQS queue's ARN ends with its name.
        let queue_name = target.arn().rsplit(':').next().unwrap_or_default();
        let sent = async {
            let url = sqs
                .get_queue_url()
                .queue_name(queue_name)
                .send()
                .await
                .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?
                .queue_url
                .unwrap_or_default();
            sqs.send_message()
                .queue_url(url)
                .message_body(target.input().unwrap_or_default())
                .send()
                .await
                .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
        }
        .await;
        if let Err(e) = sent {
            warn!(schedule = %name, error = %e, "the schedule's target refused it; retrying");
            continue;
        }
        if schedule.action_after_completion() == Some(&ActionAfterCompletion::Delete) {
            let _ = scheduler
                .delete_schedule()
                .name(&name)
                .group_name(group)
                .send()
                .await;
        }
        info!(schedule = %name, %at, "schedule fired");
        fired.push(Fired { name, at });
    }
    Ok(fired)
}
