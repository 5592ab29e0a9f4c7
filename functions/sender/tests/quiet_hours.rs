//! Quiet hours in the sender: a batch whose recipients' window is closed is not claimed nor
//! sent; it is parked (deferred, its recipients counted waiting) after the job's wake-up at
//! the window's opening has been asked for. A batch whose window is open goes at once, and
//! one whose zones leave no hour outside quiet hours ends failed, unsent. The real handler
//! with the in-memory store and queue and a wiremock Plivo.

use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::{DateTime, Timelike, Utc};
use lambda_runtime::{Context, LambdaEvent};
use sender::App;
use sms_core::{
    MessageText, PhoneNumber,
    domain::{bulk::BatchMessage, bulk::FileTask, ids::JobId, quiet_hours::QuietHours, zones},
    queue::MemoryQueue,
    secrets::{SecretCache, StaticSecret},
    store::{BatchState, IntakeCounts, JobControls, JobSpec, JobStore, MemoryStore},
};
use sms_test_support::{PLIVO_MESSAGE_PATH, fast_plivo, plivo_accepted, service_secret};
use wiremock::{
    Mock, MockServer,
    matchers::{method, path},
};

type TestApp =
    App<MemoryStore, SecretCache<StaticSecret>, sms_core::pace::Pacer<MemoryStore>, MemoryQueue>;

fn numbers(list: &[&str]) -> Vec<PhoneNumber> {
    list.iter()
        .map(|n| PhoneNumber::parse(n).unwrap())
        .collect()
}

/// Quiet hours from an hour before to an hour after London's clock now: London is quiet and
/// New York (five hours behind) is not, whatever the date.
fn quiet_in_london(now: DateTime<Utc>) -> QuietHours {
    let london = zones::zones_of(&numbers(&["+442079460001"])[0])[0];
    let local = now.with_timezone(&london);
    let hhmm = |h: u32| format!("{:02}:{:02}", h % 24, local.minute());
    QuietHours::parse(&hhmm(local.hour() + 23), &hhmm(local.hour() + 1)).unwrap()
}

/// A job of the given batches, each with `quiet` hours, and the app over `plivo`.
async fn app(
    plivo: &MockServer,
    batches: Vec<Vec<PhoneNumber>>,
    quiet: QuietHours,
) -> (TestApp, JobId) {
    let store = MemoryStore::new();
    let job_id = JobId::random();
    let spec = JobSpec {
        budget: None,
        quiet_hours: Some(quiet),
        send_at: None,
        expires_at: None,
        job_id: job_id.clone(),
        text: MessageText::parse("Doors open").unwrap(),
        from: PhoneNumber::parse("+14155550100").unwrap().into(),
        reference: None,
        counts: IntakeCounts::default(),
        callback_url: "https://sms.example.com/cb".into(),
        batches,
        fallback: false,
    };
    store.create_job(&spec, Utc::now()).await.unwrap();
    let app = App {
        store,
        secrets: SecretCache::new(StaticSecret(service_secret("t")), Duration::from_secs(60)),
        plivo: fast_plivo(&plivo.uri()),
        pace: sms_test_support::test_pace(),
        tasks: MemoryQueue::default(),
        unknown: sms_core::config::UnknownOutcome::Reconcile { delay_seconds: 120 },
        fallback: None,
    };
    (app, job_id)
}

fn record(
    app_job: &JobId,
    batch: u32,
    recipients: Vec<PhoneNumber>,
    quiet: QuietHours,
) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(format!("m-{batch}"));
    m.body = Some(
        serde_json::to_string(&BatchMessage {
            reservation: None,
            quiet_hours: Some(quiet),
            expires_at: None,
            job_id: app_job.clone(),
            batch,
            from: PhoneNumber::parse("+14155550100").unwrap().into(),
            text: MessageText::parse("Doors open").unwrap(),
            recipients,
            callback_url: format!("https://sms.example.com/cb?job_id={app_job}"),
            fallback: false,
        })
        .unwrap(),
    );
    m
}

async fn deliver(app: &TestApp, records: Vec<SqsMessage>) -> usize {
    let mut e = SqsEvent::default();
    e.records = records;
    let mut ctx = Context::default();
    ctx.deadline = (Utc::now() + chrono::Duration::seconds(60)).timestamp_millis() as u64;
    sender::handle(LambdaEvent::new(e, ctx), app)
        .await
        .batch_item_failures
        .len()
}

async fn plivo(requests: u64) -> MockServer {
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PLIVO_MESSAGE_PATH))
        .respond_with(plivo_accepted(&["u-1", "u-2"]))
        .expect(requests)
        .mount(&plivo)
        .await;
    plivo
}

#[tokio::test]
async fn a_batch_in_quiet_hours_waits_for_its_window_and_an_open_one_goes_at_once() {
    // Arrange: batch 0 in London (quiet now), batch 1 in New York (not).
    let plivo = plivo(1).await;
    let now = Utc::now();
    let quiet = quiet_in_london(now);
    let london = numbers(&["+442079460001", "+442079460002"]);
    let new_york = numbers(&["+12125550101", "+12125550102"]);
    let (app, job_id) = app(&plivo, vec![london.clone(), new_york.clone()], quiet).await;
    let opens = quiet
        .opens_at(zones::zones_of(&london[0]), now)
        .unwrap()
        .expect("London is quiet now");

    // Act
    let failures = deliver(
        &app,
        vec![
            record(&job_id, 0, london.clone(), quiet),
            record(&job_id, 1, new_york, quiet),
        ],
    )
    .await;

    // Assert: New York's batch went; London's waits, parked, with its wake-up asked for.
    assert_eq!(failures, 0);
    let ledger = app.store.ledger(&job_id).await.unwrap();
    assert_eq!(
        (ledger[0].state, ledger[0].deferred, ledger[0].attempts),
        (BatchState::Parked, true, 0)
    );
    assert_eq!(ledger[1].state, BatchState::Sent);
    let job = app.store.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!(job.recipients_waiting, 2);
    let recorded = job.next_window_at.unwrap();
    assert!(
        (recorded - opens).num_milliseconds().abs() < 1,
        "{recorded} vs {opens}"
    );
    let tasks: Vec<FileTask> = app
        .tasks
        .bodies()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    assert!(
        matches!(tasks.as_slice(), [FileTask::Schedule { job_id: j, at }] if *j == job_id && *at == opens),
        "{tasks:?}"
    );

    // The wake-up's sweep puts it back; delivered while still quiet, it waits again.
    assert!(app.store.unpark_batch(&job_id, 0, Some(2)).await.unwrap());
    assert_eq!(
        deliver(&app, vec![record(&job_id, 0, london, quiet)]).await,
        0
    );
    let job = app.store.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!(job.recipients_waiting, 2);
    assert_eq!(
        app.store.ledger(&job_id).await.unwrap()[0].state,
        BatchState::Parked
    );
}

#[tokio::test]
async fn a_batch_whose_zones_leave_no_hour_outside_quiet_hours_ends_failed_unsent() {
    // +1 208 1…: no prefix of Idaho's area code covers it, so every zone of +1 applies, and
    // no hour is outside 18:00–09:00 in all of them.
    let plivo = plivo(0).await;
    let quiet = QuietHours::parse("18:00", "09:00").unwrap();
    let anywhere = numbers(&["+12081001234"]);
    let (app, job_id) = app(&plivo, vec![anywhere.clone()], quiet).await;

    assert_eq!(
        deliver(&app, vec![record(&job_id, 0, anywhere, quiet)]).await,
        0
    );

    let entry = &app.store.ledger(&job_id).await.unwrap()[0];
    assert_eq!(entry.state, BatchState::Failed);
    assert!(
        entry
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("never sent"),
        "{entry:?}"
    );
    assert!(app.tasks.bodies().is_empty());
}
