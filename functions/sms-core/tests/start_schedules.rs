//! [`EventBridgeStarts`] against EventBridge Scheduler in moto: the one-time schedule it makes
//! for a job, and that making or removing it twice is not an error.
//!
//! Needs moto: run through `make test` or `infra/tests/with-moto.sh cargo test`.

use aws_sdk_scheduler::types::ActionAfterCompletion;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use sms_core::{
    domain::{bulk::FileTask, ids::JobId},
    schedule::{EventBridgeStarts, StartSchedules, parse_at_expression, schedule_name},
};

const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:sms-files";
const DLQ_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:sms-files-dlq";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/sms-scheduler";

async fn starts() -> (aws_sdk_scheduler::Client, String, EventBridgeStarts) {
    let client = aws_sdk_scheduler::Client::new(&sms_test_support::aws_config().await);
    let group = sms_test_support::unique("sms-starts");
    client
        .create_schedule_group()
        .name(&group)
        .send()
        .await
        .unwrap();
    let starts = EventBridgeStarts::new(
        client.clone(),
        &group,
        QUEUE_ARN,
        ROLE_ARN,
        Some(DLQ_ARN.into()),
    );
    (client, group, starts)
}

#[tokio::test]
async fn a_jobs_start_is_a_one_time_schedule_that_delivers_its_start_task() {
    let (client, group, starts) = starts().await;
    let job_id = JobId::random();
    let at: DateTime<Utc> = Utc::now().trunc_subsecs(0) + Duration::days(2);

    starts.schedule_start(&job_id, at).await.unwrap();
    // Asked again (a retried task): the schedule stays as it was.
    starts.schedule_start(&job_id, at).await.unwrap();

    let schedule = client
        .get_schedule()
        .name(schedule_name(&job_id, at))
        .group_name(&group)
        .send()
        .await
        .unwrap();
    assert_eq!(
        schedule.schedule_expression().and_then(parse_at_expression),
        Some(at)
    );
    assert_eq!(schedule.schedule_expression_timezone(), Some("UTC"));
    assert_eq!(
        schedule.action_after_completion(),
        Some(&ActionAfterCompletion::Delete)
    );
    let target = schedule.target().unwrap();
    assert_eq!((target.arn(), target.role_arn()), (QUEUE_ARN, ROLE_ARN));
    assert_eq!(
        target.dead_letter_config().and_then(|d| d.arn()),
        Some(DLQ_ARN)
    );
    let task: FileTask = serde_json::from_str(target.input().unwrap()).unwrap();
    assert_eq!(task, FileTask::Start { job_id });
}

#[tokio::test]
async fn forgetting_a_start_removes_its_schedule_and_is_idempotent() {
    let (client, group, starts) = starts().await;
    let job_id = JobId::random();
    let at = Utc::now() + Duration::hours(3);
    starts.schedule_start(&job_id, at).await.unwrap();

    starts.forget_start(&job_id, at).await.unwrap();
    starts.forget_start(&job_id, at).await.unwrap();

    let listed = client
        .list_schedules()
        .group_name(&group)
        .send()
        .await
        .unwrap();
    assert!(listed.schedules().is_empty(), "{listed:?}");
    // A job that never had a schedule is not an error either.
    starts.forget_start(&JobId::random(), at).await.unwrap();
}
