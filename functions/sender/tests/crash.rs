//! A sender invocation killed in the middle of a batch, with real parts: the ledger in
//! DynamoDB (moto), the Plivo simulator over HTTP, the real handler. The first invocation is
//! aborted while Plivo holds its request; the redelivered record must find the dead claim,
//! end the batch `unknown`, and never hand the batch to Plivo again.
//!
//! Needs moto: run through `make test` or `infra/tests/with-moto.sh cargo test`.

use sms_core::domain::ids::JobId;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use lambda_runtime::{Context, LambdaEvent};
use plivo_sim::config::SimConfig;
use sender::App;
use sms_core::{
    PhoneNumber,
    domain::bulk::BatchMessage,
    plivo::{PlivoClient, PlivoConfig},
    retry::RetryPolicy,
    secrets::{SecretCache, ServiceSecret, StaticSecret},
    store::{BatchState, DynamoStore, IntakeCounts, JobSpec, JobStore},
};

fn event(body: &str, deadline_in: chrono::Duration) -> LambdaEvent<SqsEvent> {
    let mut record = SqsMessage::default();
    record.message_id = Some("m-1".into());
    record.body = Some(body.to_owned());
    let mut e = SqsEvent::default();
    e.records = vec![record];
    let mut ctx = Context::default();
    ctx.deadline = (Utc::now() + deadline_in).timestamp_millis() as u64;
    LambdaEvent::new(e, ctx)
}

#[tokio::test]
async fn a_batch_whose_sender_was_killed_mid_request_ends_unknown_and_is_never_resent() {
    // Arrange: a job of one batch in moto; a simulator that holds every answer for 3 s.
    let mut config = SimConfig::ephemeral();
    config.settings.reports = false;
    config.settings.slow_every = 1;
    config.settings.slow_ms = 3000;
    let sim = plivo_sim::start(config).await.unwrap();
    let creds = sim.state().credentials().clone();
    // The simulator's own account, with the kit's sender and API key.
    let mut secret: serde_json::Value =
        serde_json::from_str(&sms_test_support::secret_json(creds.token())).unwrap();
    secret["plivo_auth_id"] = creds.auth_id.clone().into();
    let secret = ServiceSecret::from_json("test", &secret.to_string()).unwrap();
    let (client, table) = sms_test_support::table().await;
    let job_id = JobId::random();
    let recipients: Vec<PhoneNumber> = (0..5)
        .map(|i| PhoneNumber::parse(&format!("+1212555{i:04}")).unwrap())
        .collect();
    let app = std::sync::Arc::new(App {
        tasks: sms_core::queue::MemoryQueue::default(),
        unknown: sms_core::config::UnknownOutcome::Reconcile { delay_seconds: 120 },
        store: DynamoStore::new(client, table),
        secrets: SecretCache::new(StaticSecret(secret), Duration::from_secs(60)),
        plivo: PlivoClient::new(PlivoConfig::new(sim.url()).with_retry(RetryPolicy::NONE)).unwrap(),
        pace: sms_test_support::test_pace(),
        fallback: None,
    });
    let spec = JobSpec {
        budget: None,
        quiet_hours: None,
        send_at: None,
        expires_at: None,
        job_id: job_id.clone(),
        text: sms_core::MessageText::parse("hi").unwrap(),
        from: PhoneNumber::parse("+14155550100").unwrap().into(),
        reference: None,
        counts: IntakeCounts::default(),
        callback_url: "http://127.0.0.1:9/cb".into(),
        batches: vec![recipients.clone()],
        fallback: false,
    };
    app.store.create_job(&spec, Utc::now()).await.unwrap();
    let body = serde_json::to_string(&BatchMessage {
        reservation: None,
        quiet_hours: None,
        expires_at: None,
        job_id: job_id.clone(),
        batch: 0,
        from: spec.from.clone(),
        text: sms_core::MessageText::parse("hi").unwrap(),
        recipients,
        callback_url: spec.callback_url.clone(),
        fallback: false,
    })
    .unwrap();

    // Act 1: the first invocation (1 s left to live) is killed once Plivo has its request.
    let first = tokio::spawn({
        let (app, body) = (app.clone(), body.clone());
        async move { sender::handle(event(&body, chrono::Duration::seconds(1)), &app).await }
    });
    while sim.state().requests().is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    assert_eq!(
        app.store.ledger(&job_id).await.unwrap()[0].state,
        BatchState::Sending
    );

    // Act 2: SQS redelivers the record after the first claim's lease (deadline + margin).
    tokio::time::sleep(Duration::from_secs(7)).await;
    let second = sender::handle(event(&body, chrono::Duration::seconds(60)), &app).await;

    // Assert
    assert!(
        second.batch_item_failures.is_empty(),
        "the record is settled"
    );
    let ledger = app.store.ledger(&job_id).await.unwrap();
    assert_eq!(ledger[0].state, BatchState::Unknown);
    assert_eq!(
        sim.state().requests().len(),
        1,
        "the batch was not handed to Plivo again"
    );
    assert_eq!(
        app.store
            .get_job(&job_id)
            .await
            .unwrap()
            .unwrap()
            .batches_unknown,
        1
    );
}
