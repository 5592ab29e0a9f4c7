//! job-files' reconcile task against the in-memory store and a Plivo stand-in for its list
//! API: an unknown batch is found sent (by a report, or by a record that can only be its),
//! resent once when the records prove it absent, asked again while they cannot be read or
//! are too young, and left `unknown` when nothing settles it. The store's half of each
//! rule is tested against moto in sms-core's `tests/reconcile.rs`.

mod common;

use chrono::{Duration, Utc};
use common::FaultyFiles;
use job_files::{App, ReconcileOutcome, ReconcileSettings, Settings, reconcile};
use serde_json::{Value, json};
use sms_core::{
    MessageText, PhoneNumber,
    domain::{
        bulk::{BatchMessage, BatchRef, FileTask},
        ids::JobId,
    },
    queue::MemoryQueue,
    schedule::MemoryStarts,
    store::{
        AcceptedMessage, BatchClaim, BatchLedger, BatchOutcome, BatchState, DeliveryReport,
        IntakeCounts, JobSpec, JobStore, MemoryStore, MessageStatus, MessageStore, ReportStore,
        SuppressionList, SuppressionSource, UnknownBatches,
    },
};
use sms_test_support::PLIVO_MESSAGE_PATH;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path, query_param},
};

type TestApp = App<MemoryStore, FaultyFiles, MemoryQueue, MemoryQueue, MemoryStarts>;

const FROM: &str = "+14155550999";

fn app(plivo: &MockServer) -> TestApp {
    App {
        store: MemoryStore::new(),
        files: FaultyFiles::default(),
        batches: MemoryQueue::default(),
        tasks: MemoryQueue::default(),
        schedules: MemoryStarts::default(),
        settings: Settings {
            batch_size: 1_000,
            rows_per_invocation: Settings::DEFAULT_ROWS_PER_INVOCATION,
        },
        pricing: job_files::Pricing::table(Default::default()),
        records: common::records(&plivo.uri()),
    }
}

fn number(i: u32) -> PhoneNumber {
    PhoneNumber::parse(&format!("+1415{i:07}")).unwrap()
}

/// A job whose one batch (three recipients) ended `unknown`, as the sender leaves it.
async fn unknown_batch(app: &TestApp) -> JobId {
    let job_id = JobId::random();
    let spec = JobSpec {
        budget: None,
        quiet_hours: None,
        send_at: None,
        expires_at: None,
        job_id: job_id.clone(),
        text: MessageText::parse("Sale ends tonight").unwrap(),
        from: PhoneNumber::parse(FROM).unwrap().into(),
        reference: None,
        counts: IntakeCounts {
            accepted: 3,
            ..IntakeCounts::default()
        },
        callback_url: format!("https://sms.example.com/cb?job_id={job_id}"),
        batches: vec![vec![number(1), number(2), number(3)]],
        fallback: false,
    };
    app.store.create_job(&spec, Utc::now()).await.unwrap();
    end_unknown(app, &job_id).await;
    job_id
}

async fn end_unknown(app: &TestApp, job_id: &JobId) {
    let now = Utc::now();
    let BatchClaim::Claimed { attempt } = app
        .store
        .claim_batch(job_id, 0, None, now + Duration::seconds(60), now)
        .await
        .unwrap()
    else {
        panic!("the batch is claimable")
    };
    let unknown = BatchOutcome::Unknown {
        reason: "Plivo's answer never came".into(),
    };
    assert!(
        app.store
            .finish_batch(job_id, 0, attempt, &unknown, Utc::now())
            .await
            .unwrap()
    );
}

/// A page of Plivo's records of the list API.
fn page(records: &[Value]) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "api_id": "list-1",
        "meta": {"limit": 20, "offset": 0, "total_count": records.len(), "previous": null, "next": null},
        "objects": records,
    }))
}

fn record(uuid: &str, to: &PhoneNumber, from: &str, units: u32) -> Value {
    json!({
        "message_uuid": uuid, "to_number": to.digits(), "from_number": from,
        "message_state": "delivered", "message_direction": "outbound",
        "message_time": Utc::now().format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string(),
        "units": units,
    })
}

/// Plivo's records of `to`: `records`, whatever the window.
async fn records_of(plivo: &MockServer, to: &PhoneNumber, records: &[Value]) {
    Mock::given(method("GET"))
        .and(path(PLIVO_MESSAGE_PATH))
        .and(query_param("to_number", to.digits()))
        .and(query_param("from_number", &FROM[1..]))
        .and(query_param("message_direction", "outbound"))
        .respond_with(page(records))
        .mount(plivo)
        .await;
}

async fn state(app: &TestApp, job_id: &JobId) -> BatchState {
    app.store.ledger(job_id).await.unwrap()[0].state
}

/// The tasks job-files put on its own queue, with their delays.
fn tasks(app: &TestApp) -> Vec<(FileTask, u32)> {
    app.tasks
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|e| (serde_json::from_str(&e.body).unwrap(), e.delay_seconds))
        .collect()
}

fn enqueued(app: &TestApp) -> Vec<BatchMessage> {
    app.batches
        .bodies()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect()
}

#[tokio::test]
async fn a_report_of_the_batch_settles_it_sent_without_asking_plivo() {
    let plivo = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(page(&[]))
        .expect(0)
        .mount(&plivo)
        .await;
    let app = app(&plivo);
    let job_id = unknown_batch(&app).await;
    let batch = BatchRef {
        job_id: job_id.clone(),
        batch: 0,
    };
    let report = DeliveryReport::new("u-reported", MessageStatus::Delivered);
    app.store
        .apply_report(&report, Some(&batch), Utc::now())
        .await
        .unwrap();

    let outcome = reconcile(&job_id, 0, 0, &app).await;

    assert_eq!(
        outcome,
        ReconcileOutcome::Sent {
            message_uuids: vec![]
        }
    );
    assert_eq!(state(&app, &job_id).await, BatchState::Sent);
    let job = app.store.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!((job.batches_unknown, job.batches_reconciled), (0, 1));
    assert!(enqueued(&app).is_empty(), "nothing is sent again");
}

#[tokio::test]
async fn a_record_of_a_recipient_settles_the_batch_sent_and_keeps_its_uuid() {
    let plivo = MockServer::start().await;
    // The first recipient's records: another sender's text, and a two-part one, are not
    // the batch's; the second recipient has the batch's.
    records_of(
        &plivo,
        &number(1),
        &[
            record("u-other-sender", &number(1), "14155550100", 1),
            record("u-longer", &number(1), &FROM[1..], 2),
        ],
    )
    .await;
    records_of(
        &plivo,
        &number(2),
        &[record("u-2", &number(2), &FROM[1..], 1)],
    )
    .await;
    let app = app(&plivo);
    let job_id = unknown_batch(&app).await;

    let outcome = reconcile(&job_id, 0, 0, &app).await;

    assert_eq!(
        outcome,
        ReconcileOutcome::Sent {
            message_uuids: vec!["u-2".into()]
        }
    );
    let entry = &app.store.ledger(&job_id).await.unwrap()[0];
    assert_eq!(
        (entry.state, entry.message_uuids.clone()),
        (BatchState::Sent, vec!["u-2".to_owned()])
    );
    let message = app.store.get_message("u-2").await.unwrap().unwrap();
    assert_eq!(message.job_id.as_ref(), Some(&job_id));
    assert_eq!(
        message.to,
        Some(number(2)),
        "the record named its recipient"
    );
    assert!(enqueued(&app).is_empty());
    // Asked again (a repeated task), it is settled already.
    assert_eq!(
        reconcile(&job_id, 0, 0, &app).await,
        ReconcileOutcome::NotUnknown
    );
}

#[tokio::test]
async fn a_record_another_send_holds_is_no_evidence_and_absence_resends_the_batch_once() {
    let plivo = MockServer::start().await;
    // The same number, sender and length, but the uuid is another job's message.
    records_of(
        &plivo,
        &number(1),
        &[record("u-theirs", &number(1), &FROM[1..], 1)],
    )
    .await;
    for i in [2, 3] {
        records_of(&plivo, &number(i), &[]).await;
    }
    let app = app(&plivo);
    let job_id = unknown_batch(&app).await;
    let theirs = AcceptedMessage {
        message_uuid: "u-theirs".into(),
        to: Some(number(1)),
        from: PhoneNumber::parse(FROM).unwrap().into(),
        job_id: Some(JobId::random()),
        reference: None,
        encoding: sms_core::Encoding::Gsm7,
        segments: 1,
        provider: sms_core::domain::provider::Provider::Plivo,
    };
    app.store
        .record_accepted(&[theirs], Utc::now())
        .await
        .unwrap();

    let outcome = reconcile(&job_id, 0, 0, &app).await;

    assert_eq!(outcome, ReconcileOutcome::Resent);
    let entry = &app.store.ledger(&job_id).await.unwrap()[0];
    assert_eq!(
        (entry.state, entry.resent, entry.enqueued),
        (BatchState::Pending, true, true)
    );
    let again = enqueued(&app);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].recipients, [number(1), number(2), number(3)]);
    let job = app.store.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!((job.batches_unknown, job.batches_resent), (0, 1));

    // Unknown again after its resend, with still no record: left unknown, never resent twice.
    end_unknown(&app, &job_id).await;
    let outcome = reconcile(&job_id, 0, 0, &app).await;
    assert!(
        matches!(outcome, ReconcileOutcome::LeftUnknown(_)),
        "{outcome:?}"
    );
    assert_eq!(state(&app, &job_id).await, BatchState::Unknown);
    assert_eq!(enqueued(&app).len(), 1);
}

#[tokio::test]
async fn absence_proves_nothing_until_the_records_are_old_enough() {
    let plivo = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(page(&[]))
        .mount(&plivo)
        .await;
    let mut app = app(&plivo);
    app.records.settings = ReconcileSettings {
        settle_after_seconds: 3_600,
        retry_delay_seconds: 60,
        max_rounds: 3,
    };
    let job_id = unknown_batch(&app).await;

    let outcome = reconcile(&job_id, 0, 0, &app).await;

    assert!(
        matches!(outcome, ReconcileOutcome::Again { round: 1, .. }),
        "{outcome:?}"
    );
    assert_eq!(state(&app, &job_id).await, BatchState::Unknown);
    assert_eq!(
        tasks(&app),
        [(
            FileTask::Reconcile {
                job_id: job_id.clone(),
                batch: 0,
                round: 1
            },
            60
        )]
    );
    assert!(enqueued(&app).is_empty());
}

#[tokio::test]
async fn unreadable_records_are_asked_again_then_the_batch_is_left_unknown() {
    let plivo = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&plivo)
        .await;
    let app = app(&plivo);
    let job_id = unknown_batch(&app).await;
    let max = app.records.settings.max_rounds;

    let first = reconcile(&job_id, 0, 0, &app).await;
    let last = reconcile(&job_id, 0, max - 1, &app).await;

    assert!(
        matches!(first, ReconcileOutcome::Again { round: 1, .. }),
        "{first:?}"
    );
    assert!(!first.retry(), "asked again by a task of its own");
    assert!(matches!(last, ReconcileOutcome::LeftUnknown(_)), "{last:?}");
    assert!(!last.retry());
    assert_eq!(tasks(&app).len(), 1, "no task after the last round");
    assert_eq!(state(&app, &job_id).await, BatchState::Unknown);
    assert!(enqueued(&app).is_empty());
}

#[tokio::test]
async fn a_recipient_who_opted_out_is_not_probed() {
    let plivo = MockServer::start().await;
    records_of(
        &plivo,
        &number(2),
        &[record("u-2", &number(2), &FROM[1..], 1)],
    )
    .await;
    // Recipient 1 opted out after the intake: the sender left them out, so their having no
    // record says nothing; asking for it would fail this test.
    Mock::given(method("GET"))
        .and(query_param("to_number", number(1).digits()))
        .respond_with(page(&[]))
        .expect(0)
        .mount(&plivo)
        .await;
    let app = app(&plivo);
    let job_id = unknown_batch(&app).await;
    app.store
        .suppress(&number(1), SuppressionSource::Api, Utc::now())
        .await
        .unwrap();

    let outcome = reconcile(&job_id, 0, 0, &app).await;

    assert_eq!(
        outcome,
        ReconcileOutcome::Sent {
            message_uuids: vec!["u-2".into()]
        }
    );
}

#[tokio::test]
async fn a_batch_that_is_not_unknown_is_left_alone() {
    let plivo = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(page(&[]))
        .expect(0)
        .mount(&plivo)
        .await;
    let app = app(&plivo);
    let job_id = unknown_batch(&app).await;
    app.store
        .settle_unknown(
            &job_id,
            0,
            &sms_core::store::Settlement::Sent {
                message_uuids: vec![],
            },
            Utc::now(),
        )
        .await
        .unwrap();

    assert_eq!(
        reconcile(&job_id, 0, 0, &app).await,
        ReconcileOutcome::NotUnknown
    );
    assert_eq!(
        reconcile(&JobId::random(), 0, 0, &app).await,
        ReconcileOutcome::Missing
    );
}
