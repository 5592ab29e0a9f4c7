//! job-files' sweep task against the in-memory store and queues: a resumed job's parked
//! batches are enqueued again, once; a cancelled job's unsent batches end `cancelled`, once;
//! a batch in flight is never touched; a long ledger is swept page by page and handed on at
//! the deadline.

mod common;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use common::FaultyFiles;
use job_files::{App, Settings, SweepOutcome, sweep};
use lambda_runtime::{Context, LambdaEvent};
use sms_core::{
    MessageText, PhoneNumber,
    domain::{
        bulk::{BatchMessage, FileTask},
        ids::JobId,
    },
    queue::MemoryQueue,
    schedule::MemoryStarts,
    store::{
        BatchClaim, BatchLedger, BatchState, ControlAnswer, ControlChange, IntakeCounts,
        JobControls, JobSpec, JobStore, MemoryStore, Parking, PauseReason,
    },
};

type TestApp = App<MemoryStore, FaultyFiles, MemoryQueue, MemoryQueue, MemoryStarts>;

fn app() -> TestApp {
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
        records: common::no_records(),
    }
}

fn far_deadline() -> DateTime<Utc> {
    Utc::now() + chrono::Duration::minutes(15)
}

/// A committed job of `batches` batches of two, every batch enqueued (as its fan-out left it).
async fn job(app: &TestApp, batches: u32) -> JobId {
    let job_id = JobId::random();
    let spec = JobSpec {
        budget: None,
        quiet_hours: None,
        send_at: None,
        expires_at: None,
        job_id: job_id.clone(),
        text: MessageText::parse("Sale ends tonight").unwrap(),
        from: PhoneNumber::parse("+14155550999").unwrap().into(),
        reference: None,
        counts: IntakeCounts {
            accepted: u64::from(batches) * 2,
            ..IntakeCounts::default()
        },
        callback_url: "https://sms.example.com/cb".into(),
        batches: (0..batches)
            .map(|b| {
                (0..2)
                    .map(|r| PhoneNumber::parse(&format!("+1415{:07}", b * 2 + r)).unwrap())
                    .collect()
            })
            .collect(),
        fallback: false,
    };
    app.store.create_job(&spec, Utc::now()).await.unwrap();
    for b in 0..batches {
        app.store.mark_enqueued(&job_id, b).await.unwrap();
    }
    job_id
}

async fn change(app: &TestApp, job_id: &JobId, change: ControlChange) {
    let answer = app
        .store
        .change_control(job_id, change, Utc::now())
        .await
        .unwrap();
    assert!(matches!(answer, ControlAnswer::Changed(_)), "{answer:?}");
}

async fn claim(app: &TestApp, job_id: &JobId, batch: u32) {
    let now = Utc::now();
    let claim = app
        .store
        .claim_batch(job_id, batch, None, now + chrono::Duration::minutes(1), now)
        .await
        .unwrap();
    assert!(matches!(claim, BatchClaim::Claimed { .. }), "{claim:?}");
}

async fn states(app: &TestApp, job_id: &JobId) -> Vec<BatchState> {
    app.store
        .ledger(job_id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.state)
        .collect()
}

fn enqueued(app: &TestApp) -> Vec<u32> {
    app.batches
        .bodies()
        .iter()
        .map(|b| BatchMessage::parse(b).unwrap().batch)
        .collect()
}

#[tokio::test]
async fn a_resumed_jobs_parked_batches_are_enqueued_again_once() {
    let app = app();
    let job_id = job(&app, 4).await;
    claim(&app, &job_id, 0).await;
    change(&app, &job_id, ControlChange::Pause(PauseReason::Requested)).await;
    for b in [1, 2] {
        assert_eq!(
            app.store.park_batch(&job_id, b).await.unwrap(),
            Parking::Parked
        );
    }
    // A sweep while paused changes nothing.
    assert_eq!(
        sweep(&job_id, 0, &app, far_deadline()).await,
        SweepOutcome::Paused
    );
    assert!(enqueued(&app).is_empty());

    change(&app, &job_id, ControlChange::Resume).await;
    let outcome = sweep(&job_id, 0, &app, far_deadline()).await;

    assert_eq!(
        outcome,
        SweepOutcome::Swept {
            enqueued: 2,
            cancelled: 0
        }
    );
    assert_eq!(enqueued(&app), [1, 2]);
    let ledger = app.store.ledger(&job_id).await.unwrap();
    assert!(
        ledger[1..3]
            .iter()
            .all(|e| e.state == BatchState::Pending && e.enqueued)
    );
    // Batch 0 is in flight and batch 3 still in the queue: neither is enqueued again.
    assert_eq!(ledger[0].state, BatchState::Sending);
    let message = BatchMessage::parse(&app.batches.bodies()[0]).unwrap();
    assert_eq!(message.recipients, ledger[1].recipients);
    assert_eq!(message.text.as_str(), "Sale ends tonight");

    assert_eq!(
        sweep(&job_id, 0, &app, far_deadline()).await,
        SweepOutcome::Swept {
            enqueued: 0,
            cancelled: 0
        },
        "a second sweep finds nothing to do"
    );
    assert_eq!(enqueued(&app), [1, 2]);
}

#[tokio::test]
async fn a_cancelled_jobs_unsent_batches_end_cancelled_once_and_are_counted() {
    let app = app();
    let job_id = job(&app, 4).await;
    claim(&app, &job_id, 0).await;
    change(&app, &job_id, ControlChange::Pause(PauseReason::Requested)).await;
    assert_eq!(
        app.store.park_batch(&job_id, 2).await.unwrap(),
        Parking::Parked
    );
    change(&app, &job_id, ControlChange::Cancel).await;

    let outcome = sweep(&job_id, 0, &app, far_deadline()).await;

    assert_eq!(
        outcome,
        SweepOutcome::Swept {
            enqueued: 0,
            cancelled: 3
        }
    );
    use BatchState::*;
    assert_eq!(
        states(&app, &job_id).await,
        [Sending, Cancelled, Cancelled, Cancelled]
    );
    let job = app.store.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!((job.batches_cancelled, job.recipients_cancelled), (3, 6));
    assert_eq!(
        sweep(&job_id, 0, &app, far_deadline()).await,
        SweepOutcome::Swept {
            enqueued: 0,
            cancelled: 0
        }
    );
    let job = app.store.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!(job.batches_cancelled, 3, "counted once");
    assert!(enqueued(&app).is_empty());
}

#[tokio::test]
async fn a_long_ledger_is_swept_page_by_page_and_handed_on_at_the_deadline() {
    let app = app();
    let job_id = job(&app, 250).await;
    change(&app, &job_id, ControlChange::Cancel).await;

    // Too close to its deadline to start: handed on from where it stands.
    let near = Utc::now() + chrono::Duration::seconds(30);
    assert_eq!(
        sweep(&job_id, 120, &app, near).await,
        SweepOutcome::Continued { from: 120 }
    );
    let task: FileTask = serde_json::from_str(&app.tasks.bodies()[0]).unwrap();
    assert_eq!(
        task,
        FileTask::Sweep {
            job_id: job_id.clone(),
            from: 120
        }
    );
    assert!(
        states(&app, &job_id)
            .await
            .iter()
            .all(|s| *s == BatchState::Pending)
    );

    // The task as SQS delivers it, through the handler.
    let mut record = SqsMessage::default();
    record.message_id = Some("t-1".into());
    record.body = Some(serde_json::to_string(&task).unwrap());
    let mut event = SqsEvent::default();
    event.records = vec![record];
    let mut context = Context::default();
    context.deadline = far_deadline().timestamp_millis() as u64;
    let response = job_files::handle(LambdaEvent::new(event, context), &app).await;
    assert!(response.batch_item_failures.is_empty());

    let states = states(&app, &job_id).await;
    assert!(states[..120].iter().all(|s| *s == BatchState::Pending));
    assert!(states[120..].iter().all(|s| *s == BatchState::Cancelled));
    assert_eq!(
        sweep(&job_id, 0, &app, far_deadline()).await,
        SweepOutcome::Swept {
            enqueued: 0,
            cancelled: 120
        }
    );
    let job = app.store.get_job(&job_id).await.unwrap().unwrap();
    assert!(job.is_done());
    assert_eq!(job.recipients_cancelled, 500);
}

#[tokio::test]
async fn a_sweep_of_no_job_goes_to_the_dead_letter_queue() {
    let app = app();
    assert_eq!(
        sweep(&JobId::random(), 0, &app, far_deadline()).await,
        SweepOutcome::Missing
    );
    assert!(SweepOutcome::Missing.retry());
}
