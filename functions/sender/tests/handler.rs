//! sender handler tests: the real handler with the in-memory ledger and a wiremock Plivo.

use sms_core::domain::ids::JobId;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use lambda_runtime::{Context, LambdaEvent};
use sender::App;
use serde_json::json;
use sms_core::store::RequestSchedule;
use sms_core::{
    PhoneNumber,
    config::UnknownOutcome,
    domain::bulk::{BatchMessage, FileTask},
    secrets::{SecretCache, StaticSecret},
    store::{BatchState, IntakeCounts, JobSpec, JobStore, MemoryStore, MessageStore},
};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_partial_json, method, path},
};

const JOB: &str = "9a7d6c1e-0000-4000-8000-000000000001";

fn job() -> JobId {
    JobId::parse(JOB).unwrap()
}
use sms_test_support::{
    PLIVO_MESSAGE_PATH as PLIVO_PATH, fast_plivo, plivo_accepted, service_secret,
};

type TestApp = App<
    MemoryStore,
    SecretCache<StaticSecret>,
    sms_core::pace::Pacer<MemoryStore>,
    sms_core::queue::MemoryQueue,
>;

fn numbers(range: std::ops::Range<usize>) -> Vec<PhoneNumber> {
    range
        .map(|i| PhoneNumber::parse(&format!("+1415{i:07}")).unwrap())
        .collect()
}

async fn app(plivo: &MockServer, batches: usize) -> TestApp {
    app_at(&plivo.uri(), batches).await
}

async fn app_at(plivo_url: &str, batches: usize) -> TestApp {
    let secret = service_secret("t");
    let store = MemoryStore::new();
    let spec = JobSpec {
        budget: None,
        quiet_hours: None,
        send_at: None,
        expires_at: None,
        job_id: job(),
        text: sms_core::MessageText::parse("hi").unwrap(),
        from: PhoneNumber::parse("+14155550100").unwrap().into(),
        reference: None,
        counts: IntakeCounts::default(),
        callback_url: "https://sms.example.com/cb".into(),
        batches: (0..batches).map(|b| numbers(b * 3..b * 3 + 3)).collect(),
        fallback: false,
    };
    store.create_job(&spec, Utc::now()).await.unwrap();
    App {
        tasks: sms_core::queue::MemoryQueue::default(),
        unknown: sms_core::config::UnknownOutcome::Reconcile { delay_seconds: 120 },
        store,
        secrets: SecretCache::new(StaticSecret(secret), Duration::from_secs(60)),
        plivo: fast_plivo(plivo_url),
        pace: sms_test_support::test_pace(),
        fallback: None,
    }
}

fn record(id: &str, body: String) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(id.into());
    m.body = Some(body);
    m
}

fn batch(index: u32) -> String {
    let i = index as usize;
    serde_json::to_string(&BatchMessage {
        reservation: None,
        quiet_hours: None,
        expires_at: None,
        job_id: job(),
        batch: index,
        from: PhoneNumber::parse("+14155550100").unwrap().into(),
        text: sms_core::MessageText::parse("hi").unwrap(),
        recipients: numbers(i * 3..i * 3 + 3),
        callback_url: format!("https://sms.example.com/cb?job_id={JOB}"),
        fallback: false,
    })
    .unwrap()
}

fn event(records: Vec<SqsMessage>) -> LambdaEvent<SqsEvent> {
    let mut e = SqsEvent::default();
    e.records = records;
    let mut ctx = Context::default();
    ctx.deadline = (Utc::now() + chrono::Duration::seconds(60)).timestamp_millis() as u64;
    LambdaEvent::new(e, ctx)
}

fn accepted(uuids: &[&str]) -> ResponseTemplate {
    plivo_accepted(uuids)
}

async fn failures(app: &TestApp, records: Vec<SqsMessage>) -> Vec<String> {
    sender::handle(event(records), app)
        .await
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect()
}

async fn state(app: &TestApp, b: u32) -> BatchState {
    app.store.ledger(&job()).await.unwrap()[b as usize].state
}

#[tokio::test]
async fn a_batch_goes_to_plivo_once_even_when_redelivered() {
    // Arrange
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PLIVO_PATH))
        .and(body_partial_json(json!({"src": "14155550100", "dst": "14150000000<14150000001<14150000002", "url": format!("https://sms.example.com/cb?job_id={JOB}&batch=0"), "method": "POST"})))
        .respond_with(accepted(&["u-2", "u-0", "u-1"]))
        .expect(1)
        .mount(&plivo)
        .await;
    let app = app(&plivo, 1).await;

    // Act
    let first = failures(&app, vec![record("m1", batch(0))]).await;
    let redelivered = failures(&app, vec![record("m1", batch(0))]).await;

    // Assert
    assert!(first.is_empty() && redelivered.is_empty());
    assert_eq!(state(&app, 0).await, BatchState::Sent);
    let record = app.store.get_job(&job()).await.unwrap().unwrap();
    assert_eq!((record.batches_sent, record.messages_accepted), (1, 3));
    assert_eq!(record.sent_batches, [0].into());
    let msg = app.store.get_message("u-1").await.unwrap().unwrap();
    assert_eq!(msg.job_id.as_ref().map(|j| j.as_str()), Some(JOB));
    assert_eq!(msg.to, None, "the recipient comes from the delivery report");
}

#[tokio::test]
async fn a_malformed_record_fails_alone_and_its_neighbours_are_sent() {
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(accepted(&["u"]))
        .expect(2)
        .mount(&plivo)
        .await;
    let app = app(&plivo, 2).await;

    let failed = failures(
        &app,
        vec![
            record("good-0", batch(0)),
            record("bad", "{not json".into()),
            record("good-1", batch(1)),
        ],
    )
    .await;

    assert_eq!(failed, ["bad"]);
    assert_eq!(state(&app, 0).await, BatchState::Sent);
    assert_eq!(state(&app, 1).await, BatchState::Sent);
}

#[tokio::test]
async fn a_record_for_no_known_batch_goes_to_the_dead_letter_queue() {
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(accepted(&["u"]))
        .expect(0)
        .mount(&plivo)
        .await;
    let app = app(&plivo, 1).await;
    assert_eq!(failures(&app, vec![record("m9", batch(9))]).await, ["m9"]);
}

#[tokio::test]
async fn plivo_unavailable_returns_the_record_and_the_next_delivery_sends_it() {
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(3)
        .expect(3)
        .mount(&plivo)
        .await;
    let app = app(&plivo, 1).await;

    assert_eq!(failures(&app, vec![record("m1", batch(0))]).await, ["m1"]);
    assert_eq!(state(&app, 0).await, BatchState::Pending);

    Mock::given(method("POST"))
        .respond_with(accepted(&["u"]))
        .expect(1)
        .mount(&plivo)
        .await;
    assert!(
        failures(&app, vec![record("m1", batch(0))])
            .await
            .is_empty()
    );
    assert_eq!(state(&app, 0).await, BatchState::Sent);
}

#[tokio::test]
async fn a_refusal_fails_the_batch_for_good() {
    let plivo = MockServer::start().await;
    let refused = ResponseTemplate::new(400)
        .set_body_json(json!({"api_id": "a", "error": "text is too long"}));
    Mock::given(method("POST"))
        .respond_with(refused)
        .expect(1)
        .mount(&plivo)
        .await;
    let app = app(&plivo, 1).await;

    assert!(
        failures(&app, vec![record("m1", batch(0))])
            .await
            .is_empty()
    );
    assert!(
        failures(&app, vec![record("m1", batch(0))])
            .await
            .is_empty()
    );

    let ledger = app.store.ledger(&job()).await.unwrap();
    assert_eq!(ledger[0].state, BatchState::Failed);
    assert!(
        ledger[0]
            .error
            .as_deref()
            .unwrap()
            .contains("text is too long")
    );
    assert_eq!(
        app.store
            .get_job(&job())
            .await
            .unwrap()
            .unwrap()
            .batches_failed,
        1
    );
}

#[tokio::test]
async fn a_timeout_after_sending_is_unknown_and_never_resent() {
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(accepted(&["u"]).set_delay(Duration::from_secs(2)))
        .expect(1)
        .mount(&plivo)
        .await;
    let app = app(&plivo, 1).await;

    assert!(
        failures(&app, vec![record("m1", batch(0))])
            .await
            .is_empty()
    );
    assert!(
        failures(&app, vec![record("m1", batch(0))])
            .await
            .is_empty()
    );

    assert_eq!(state(&app, 0).await, BatchState::Unknown);
    assert_eq!(
        app.store
            .get_job(&job())
            .await
            .unwrap()
            .unwrap()
            .batches_unknown,
        1
    );
    // Settled later from Plivo's records: one task, delayed, whichever delivery ended it.
    assert_eq!(reconcile_tasks(&app), [(0, 120)]);
}

/// The batches the sender asked job-files to settle, with each task's delay.
fn reconcile_tasks(app: &TestApp) -> Vec<(u32, u32)> {
    app.tasks
        .sent
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match serde_json::from_str(&e.body).unwrap() {
            FileTask::Reconcile {
                batch, round: 0, ..
            } => Some((batch, e.delay_seconds)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn with_unknown_outcome_report_an_unknown_batch_is_left_as_it_is() {
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(accepted(&["u"]).set_delay(Duration::from_secs(2)))
        .expect(1)
        .mount(&plivo)
        .await;
    let mut app = app(&plivo, 1).await;
    app.unknown = UnknownOutcome::Report;

    assert!(
        failures(&app, vec![record("m1", batch(0))])
            .await
            .is_empty()
    );

    assert_eq!(state(&app, 0).await, BatchState::Unknown);
    assert!(app.tasks.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_claim_whose_invocation_died_ends_unknown_without_a_send() {
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(accepted(&["u"]))
        .expect(0)
        .mount(&plivo)
        .await;
    let app = app(&plivo, 2).await;
    // Batch 0: an invocation claimed it and died; its lease ran out. Batch 1: claimed by a
    // live invocation right now.
    app.store.force_batch(
        &job(),
        0,
        BatchState::Sending,
        Some(Utc::now() - chrono::Duration::seconds(1)),
    );
    app.store.force_batch(
        &job(),
        1,
        BatchState::Sending,
        Some(Utc::now() + chrono::Duration::seconds(60)),
    );

    let failed = failures(&app, vec![record("m0", batch(0)), record("m1", batch(1))]).await;

    assert_eq!(
        failed,
        ["m1"],
        "the live claim is retried later, the dead one is settled"
    );
    assert_eq!(state(&app, 0).await, BatchState::Unknown);
    assert_eq!(state(&app, 1).await, BatchState::Sending);
    assert_eq!(reconcile_tasks(&app), [(0, 120)]);
}

#[tokio::test]
async fn plivo_401_after_a_fresh_secret_fails_the_batch() {
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401))
        .expect(2)
        .mount(&plivo)
        .await;
    let app = app(&plivo, 1).await;
    assert!(
        failures(&app, vec![record("m1", batch(0))])
            .await
            .is_empty()
    );
    assert_eq!(state(&app, 0).await, BatchState::Failed);
}

/// A Plivo stand-in that answers nobody until `together` requests are in at once: a sender
/// that sent one batch after another would wait on its first for ever (its client gives up
/// after 500 ms, and the batch would end `unknown`).
async fn plivo_answering_only_together(together: usize) -> String {
    use axum::{Json, Router, routing::post};
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(together));
    let app = Router::new().route(
        "/v1/Account/{auth_id}/Message/",
        post(move || {
            let barrier = barrier.clone();
            async move {
                barrier.wait().await;
                let uuid = uuid::Uuid::new_v4().to_string();
                (
                    axum::http::StatusCode::ACCEPTED,
                    Json(json!({"api_id": "a", "message": "message(s) queued", "message_uuid": [uuid]})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn the_records_of_one_invocation_are_sent_at_once_each_by_its_ledger_rules() {
    // Arrange: five batches, a Plivo that answers only when all five are in flight.
    let url = plivo_answering_only_together(5).await;
    let app = app_at(&url, 5).await;
    let records = (0..5).map(|b| record(&format!("m{b}"), batch(b))).collect();

    // Act
    let failed = failures(&app, records).await;

    // Assert: every batch sent once, each with its own outcome.
    assert!(failed.is_empty(), "{failed:?}");
    for b in 0..5 {
        assert_eq!(state(&app, b).await, BatchState::Sent, "batch {b}");
    }
    let job = app.store.get_job(&job()).await.unwrap().unwrap();
    assert_eq!((job.batches_sent, job.messages_accepted), (5, 5));
}

#[tokio::test]
async fn without_a_turn_in_the_budget_nothing_is_sent_and_the_record_comes_back() {
    // Arrange: a budget whose next turn is hours away.
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(accepted(&["u"]))
        .expect(0)
        .mount(&plivo)
        .await;
    let mut app = app(&plivo, 1).await;
    let schedule = MemoryStore::new();
    schedule
        .hold_back(Utc::now() + chrono::Duration::hours(2), Utc::now())
        .await
        .unwrap();
    app.pace = sms_core::pace::Pacer::new(schedule, sms_core::pace::RequestRate::DEFAULT);

    // Act
    let failed = failures(&app, vec![record("m0", batch(0))]).await;

    // Assert: returned for a later delivery, and the batch free to be claimed again.
    assert_eq!(failed, ["m0"]);
    assert_eq!(state(&app, 0).await, BatchState::Pending);
}

#[tokio::test]
async fn a_batch_past_its_jobs_deadline_ends_failed_without_a_plivo_request() {
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PLIVO_PATH))
        .respond_with(accepted(&["u-0", "u-1", "u-2", "u-3", "u-4", "u-5"]))
        .expect(1)
        .mount(&plivo)
        .await;
    let app = app(&plivo, 2).await;
    let with_deadline = |index: u32, expires_in: chrono::Duration| {
        let mut message: BatchMessage = serde_json::from_str(&batch(index)).unwrap();
        message.expires_at = Some(Utc::now() + expires_in);
        serde_json::to_string(&message).unwrap()
    };

    let late = failures(
        &app,
        vec![record("m0", with_deadline(0, chrono::Duration::seconds(2)))],
    )
    .await;
    let in_time = failures(
        &app,
        vec![record(
            "m1",
            with_deadline(1, chrono::Duration::minutes(10)),
        )],
    )
    .await;

    assert!(late.is_empty() && in_time.is_empty());
    let ledger = app.store.ledger(&job()).await.unwrap();
    assert_eq!(ledger[0].state, BatchState::Failed);
    assert!(
        ledger[0]
            .error
            .as_deref()
            .unwrap()
            .contains("validity ended"),
        "{:?}",
        ledger[0].error
    );
    assert_eq!(ledger[1].state, BatchState::Sent);
    let sent: serde_json::Value =
        serde_json::from_slice(&plivo.received_requests().await.unwrap()[0].body).unwrap();
    assert!(sent["message_expiry"].as_u64().unwrap() <= 600, "{sent}");
    assert_eq!(sent["dst"], "14150000003<14150000004<14150000005");
}

#[tokio::test]
async fn recipients_who_opted_out_since_the_intake_are_left_out_and_counted() {
    use sms_core::store::{SuppressionList, SuppressionSource};
    // Batch 0: one of three opted out (after the intake screened them); batch 1: all three.
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PLIVO_PATH))
        .and(body_partial_json(json!({"dst": "14150000000<14150000002"})))
        .respond_with(accepted(&["u-2", "u-0"]))
        .expect(1)
        .mount(&plivo)
        .await;
    let app = app(&plivo, 2).await;
    for number in [numbers(1..2), numbers(3..6)].concat() {
        app.store
            .suppress(&number, SuppressionSource::Keyword, Utc::now())
            .await
            .unwrap();
    }

    let failed = failures(&app, vec![record("m1", batch(0)), record("m2", batch(1))]).await;

    // Plivo got batch 0 without the one who opted out, and nothing of batch 1; both ended.
    assert!(failed.is_empty());
    let ledger = app.store.ledger(&job()).await.unwrap();
    assert_eq!(
        ledger.iter().map(|e| e.state).collect::<Vec<_>>(),
        [BatchState::Sent, BatchState::Sent]
    );
    assert_eq!(ledger[0].opted_out, numbers(1..2));
    assert_eq!(ledger[1].opted_out, numbers(3..6));
    assert!(ledger[1].message_uuids.is_empty());
    let job = app.store.get_job(&job()).await.unwrap().unwrap();
    assert_eq!((job.recipients_opted_out, job.messages_accepted), (4, 2));
}
