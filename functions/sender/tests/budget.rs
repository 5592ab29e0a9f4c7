//! The sender and a capped job: the batch whose reservation the cap has no room for is not
//! sent; the job pauses with reason `budget` and the batch is parked, and a resume after the
//! cap is raised sends it. The real handler, the in-memory store and a wiremock Plivo.

use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use lambda_runtime::{Context, LambdaEvent};
use sender::App;
use sms_core::{
    MessageText, PhoneNumber,
    domain::{
        bulk::BatchMessage,
        estimate::{Budget, Reservation},
        ids::JobId,
        money::Money,
    },
    secrets::{SecretCache, StaticSecret},
    store::{
        BatchState, ControlAnswer, ControlChange, IntakeCounts, JobBudget, JobControl, JobControls,
        JobSpec, JobStore, MemoryStore, PauseReason,
    },
};
use sms_test_support::{PLIVO_MESSAGE_PATH, fast_plivo, plivo_accepted, service_secret};
use wiremock::{
    Mock, MockServer,
    matchers::{method, path},
};

type TestApp = App<
    MemoryStore,
    SecretCache<StaticSecret>,
    sms_core::pace::Pacer<MemoryStore>,
    sms_core::queue::MemoryQueue,
>;

fn numbers(batch: u32) -> Vec<PhoneNumber> {
    (0..2)
        .map(|i| PhoneNumber::parse(&format!("+1415{:07}", batch * 10 + i)).unwrap())
        .collect()
}

fn money(s: &str) -> Money {
    Money::parse(s).unwrap()
}

/// What each batch reserves: 0.40.
fn forty() -> Reservation {
    Reservation {
        cost: Some(money("0.40")),
        segments: None,
    }
}

fn max_cost(cap: &str) -> Budget {
    Budget {
        max_cost: Some(money(cap)),
        max_segments: None,
    }
}

/// A job of two batches of 0.40 under a cap of 0.50, and its app.
async fn app(plivo: &MockServer) -> (TestApp, JobId) {
    let store = MemoryStore::new();
    let job_id = JobId::random();
    let spec = JobSpec {
        budget: Some(JobBudget {
            caps: max_cost("0.50"),
            reservations: vec![forty(); 2],
        }),
        quiet_hours: None,
        send_at: None,
        expires_at: None,
        job_id: job_id.clone(),
        text: MessageText::parse("hi").unwrap(),
        from: PhoneNumber::parse("+14155550100").unwrap().into(),
        reference: None,
        counts: IntakeCounts::default(),
        callback_url: "https://sms.example.com/cb".into(),
        batches: (0..2).map(numbers).collect(),
        fallback: false,
    };
    store.create_job(&spec, Utc::now()).await.unwrap();
    let app = App {
        tasks: sms_core::queue::MemoryQueue::default(),
        unknown: sms_core::config::UnknownOutcome::Reconcile { delay_seconds: 120 },
        store,
        secrets: SecretCache::new(StaticSecret(service_secret("t")), Duration::from_secs(60)),
        plivo: fast_plivo(&plivo.uri()),
        pace: sms_test_support::test_pace(),
        fallback: None,
    };
    (app, job_id)
}

fn event(job_id: &JobId, batch: u32) -> LambdaEvent<SqsEvent> {
    let body = serde_json::to_string(&BatchMessage {
        reservation: Some(forty()),
        quiet_hours: None,
        expires_at: None,
        job_id: job_id.clone(),
        batch,
        from: PhoneNumber::parse("+14155550100").unwrap().into(),
        text: MessageText::parse("hi").unwrap(),
        recipients: numbers(batch),
        callback_url: format!("https://sms.example.com/cb?job_id={job_id}"),
        fallback: false,
    })
    .unwrap();
    let mut record = SqsMessage::default();
    record.message_id = Some(format!("m{batch}"));
    record.body = Some(body);
    let mut e = SqsEvent::default();
    e.records = vec![record];
    let mut ctx = Context::default();
    ctx.deadline = (Utc::now() + chrono::Duration::seconds(60)).timestamp_millis() as u64;
    LambdaEvent::new(e, ctx)
}

async fn state(app: &TestApp, job_id: &JobId, batch: u32) -> BatchState {
    app.store.ledger(job_id).await.unwrap()[batch as usize].state
}

#[tokio::test]
async fn the_batch_that_would_cross_the_cap_is_parked_and_its_job_paused_for_budget() {
    // Arrange: Plivo takes exactly one batch.
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PLIVO_MESSAGE_PATH))
        .respond_with(plivo_accepted(&["u-0", "u-1"]))
        .expect(1)
        .mount(&plivo)
        .await;
    let (app, job_id) = app(&plivo).await;

    // Act
    let first = sender::handle(event(&job_id, 0), &app).await;
    let second = sender::handle(event(&job_id, 1), &app).await;

    // Assert: batch 0 (0.40 of 0.50) went; batch 1 would take 0.80: parked, the record let
    // go (a resume enqueues the batch again), the job paused for its budget.
    assert!(first.batch_item_failures.is_empty());
    assert!(second.batch_item_failures.is_empty());
    assert_eq!(state(&app, &job_id, 0).await, BatchState::Sent);
    assert_eq!(state(&app, &job_id, 1).await, BatchState::Parked);
    let job = app.store.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!(job.control, JobControl::Paused(PauseReason::Budget));
    assert_eq!(job.budget.unwrap().cost, Some(money("0.10")));
}

#[tokio::test]
async fn a_resume_after_the_cap_is_raised_sends_the_parked_batch() {
    // Arrange: batch 1 parked by the cap, as above.
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PLIVO_MESSAGE_PATH))
        .respond_with(plivo_accepted(&["u-0", "u-1"]))
        .expect(2)
        .mount(&plivo)
        .await;
    let (app, job_id) = app(&plivo).await;
    sender::handle(event(&job_id, 0), &app).await;
    sender::handle(event(&job_id, 1), &app).await;
    assert_eq!(state(&app, &job_id, 1).await, BatchState::Parked);

    // Act: raise the cap to 1.00, resume, and unpark the batch as the resume's sweep does.
    app.store
        .raise_budget(&job_id, max_cost("1.00"))
        .await
        .unwrap();
    let resumed = app
        .store
        .change_control(&job_id, ControlChange::Resume, Utc::now())
        .await
        .unwrap();
    assert!(matches!(resumed, ControlAnswer::Changed(_)), "{resumed:?}");
    assert!(app.store.unpark_batch(&job_id, 1, None).await.unwrap());
    let after = sender::handle(event(&job_id, 1), &app).await;

    // Assert
    assert!(after.batch_item_failures.is_empty());
    assert_eq!(state(&app, &job_id, 1).await, BatchState::Sent);
    let job = app.store.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!(job.budget.unwrap().cost, Some(money("0.20")));
}
