//! The local stack's stand-in for EventBridge Scheduler against moto: a due one-time schedule
//! is delivered to its queue once and deleted; one not yet due is left alone.
//!
//! Needs moto: run through `make test` or `infra/tests/with-moto.sh cargo test`.

use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, Target,
};
use chrono::{Duration, SubsecRound, Utc};
use local_stack::schedules::fire_due;
use sms_core::schedule::at_expression;

async fn schedule(
    client: &aws_sdk_scheduler::Client,
    group: &str,
    name: &str,
    at: chrono::DateTime<Utc>,
    queue_arn: &str,
) {
    client
        .create_schedule()
        .name(name)
        .group_name(group)
        .schedule_expression(at_expression(at))
        .flexible_time_window(
            FlexibleTimeWindow::builder()
                .mode(FlexibleTimeWindowMode::Off)
                .build()
                .unwrap(),
        )
        .action_after_completion(ActionAfterCompletion::Delete)
        .target(
            Target::builder()
                .arn(queue_arn)
                .role_arn("arn:aws:iam::123456789012:role/x")
                .input(format!("{{\"name\":\"{name}\"}}"))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_due_schedule_is_delivered_to_its_queue_once_and_deleted() {
    let sdk = sms_test_support::aws_config().await;
    let scheduler = aws_sdk_scheduler::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let group = sms_test_support::unique("starts");
    local_stack::schedule_group(&scheduler, &group)
        .await
        .unwrap();
    // Making it again is not an error (make dev runs the setup on every start).
    local_stack::schedule_group(&scheduler, &group)
        .await
        .unwrap();
    let queue_url = sqs
        .create_queue()
        .queue_name(sms_test_support::unique("files"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = local_stack::queue_arn(&sqs, &queue_url).await.unwrap();
    let now = Utc::now().trunc_subsecs(0);
    schedule(
        &scheduler,
        &group,
        "due",
        now - Duration::seconds(1),
        &queue_arn,
    )
    .await;
    schedule(
        &scheduler,
        &group,
        "later",
        now + Duration::hours(1),
        &queue_arn,
    )
    .await;

    let fired = fire_due(&scheduler, &sqs, &group, now).await.unwrap();
    let again = fire_due(&scheduler, &sqs, &group, now).await.unwrap();

    assert_eq!(
        fired.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        ["due"]
    );
    assert!(again.is_empty(), "{again:?}");
    let received = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let bodies: Vec<_> = received
        .messages()
        .iter()
        .filter_map(|m| m.body())
        .collect();
    assert_eq!(bodies, [r#"{"name":"due"}"#]);
    let left = scheduler
        .list_schedules()
        .group_name(&group)
        .send()
        .await
        .unwrap();
    let names: Vec<_> = left.schedules().iter().filter_map(|s| s.name()).collect();
    assert_eq!(names, ["later"]);
}
