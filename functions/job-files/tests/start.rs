//! A scheduled job's start in job-files, against the in-memory store, queues and schedules:
//! the `schedule` task makes the job's one-time schedule (or starts at once when its time is
//! here); the `start` task makes it running and enqueues every batch, once, however often it
//! is delivered; a job cancelled before its start is never started and loses its schedule.

mod common;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::{DateTime, Duration, Utc};
use common::FaultyFiles;
use job_files::{App, Settings, StartOutcome, SweepOutcome, arrange_start, start, sweep};
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
        ControlAnswer, ControlChange, IntakeCounts, JobControl, JobControls, JobSpec, JobStore,
        MemoryStore,
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
    Utc::now() + Duration::minutes(15)
}

/// A committed job of `batches` batches of two, scheduled for `send_at`: nothing enqueued.
async fn scheduled_job(app: &TestApp, batches: u32, send_at: DateTime<Utc>) -> JobId {
    let job_id = JobId::random();
    let spec = JobSpec {
        budget: None,
        quiet_hours: None,
        send_at: Some(send_at),
        expires_at: None,
        job_id: job_id.clone(),
        text: MessageText::parse("Doors open at ten").unwrap(),
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
    job_id
}

fn enqueued(app: &TestApp) -> Vec<u32> {
    let mut batches: Vec<u32> = app
        .batches
        .bodies()
        .iter()
        .map(|b| BatchMessage::parse(b).unwrap().batch)
        .collect();
    batches.sort();
    batches
}

async fn control(app: &TestApp, job_id: &JobId) -> JobControl {
    app.store.get_job(job_id).await.unwrap().unwrap().control
}

/// The task as SQS delivers it, through the handler; true when it is to come back.
async fn deliver(app: &TestApp, task: &FileTask) -> bool {
    let mut record = SqsMessage::default();
    record.message_id = Some("t-1".into());
    record.body = Some(serde_json::to_string(task).unwrap());
    let mut event = SqsEvent::default();
    event.records = vec![record];
    let mut context = Context::default();
    context.deadline = far_deadline().timestamp_millis() as u64;
    let response = job_files::handle(LambdaEvent::new(event, context), app).await;
    !response.batch_item_failures.is_empty()
}

#[tokio::test]
async fn a_future_start_is_scheduled_and_nothing_is_enqueued() {
    let app = app();
    let send_at = Utc::now() + Duration::hours(20);
    let job_id = scheduled_job(&app, 3, send_at).await;

    let task = FileTask::Schedule {
        job_id: job_id.clone(),
        at: send_at,
    };
    assert!(!deliver(&app, &task).await);
    // Delivered again: still one schedule, at the same time.
    assert!(!deliver(&app, &task).await);

    assert_eq!(app.schedules.get(&job_id), Some(send_at));
    assert_eq!(app.schedules.schedules.lock().unwrap().len(), 1);
    assert!(enqueued(&app).is_empty());
    assert_eq!(control(&app, &job_id).await, JobControl::Scheduled);
}

#[tokio::test]
async fn the_start_task_runs_the_job_and_enqueues_every_batch_once() {
    let app = app();
    let job_id = scheduled_job(&app, 3, Utc::now() + Duration::hours(1)).await;
    let task = FileTask::Start {
        job_id: job_id.clone(),
    };

    assert!(!deliver(&app, &task).await);
    assert_eq!(control(&app, &job_id).await, JobControl::Running);
    assert_eq!(enqueued(&app), [0, 1, 2]);

    // The schedule delivered its task twice: the second start changes nothing and the
    // sweep it repeats finds every batch on the queue already.
    assert_eq!(
        start(&job_id, &app, far_deadline()).await,
        StartOutcome::Started(SweepOutcome::Swept {
            enqueued: 0,
            cancelled: 0
        })
    );
    assert_eq!(enqueued(&app), [0, 1, 2]);
}

#[tokio::test]
async fn a_start_whose_time_is_here_starts_at_once() {
    let app = app();
    let send_at = Utc::now() + Duration::milliseconds(300);
    let job_id = scheduled_job(&app, 2, send_at).await;

    let outcome = arrange_start(&job_id, send_at, &app, far_deadline()).await;

    assert!(
        matches!(
            outcome,
            StartOutcome::Started(SweepOutcome::Swept { enqueued: 2, .. })
        ),
        "{outcome:?}"
    );
    // Not before its time.
    assert!(Utc::now() >= send_at);
    assert_eq!(app.schedules.get(&job_id), None);
    assert_eq!(enqueued(&app), [0, 1]);
}

#[tokio::test]
async fn a_job_cancelled_before_its_start_is_never_started_and_loses_its_schedule() {
    let app = app();
    let send_at = Utc::now() + Duration::hours(2);
    let job_id = scheduled_job(&app, 2, send_at).await;
    arrange_start(&job_id, send_at, &app, far_deadline()).await;
    assert!(app.schedules.get(&job_id).is_some());

    let cancelled = app
        .store
        .change_control(&job_id, ControlChange::Cancel, Utc::now())
        .await
        .unwrap();
    assert!(matches!(cancelled, ControlAnswer::Changed(_)));
    // The cancel's sweep (send-bulk puts it on the queue).
    assert_eq!(
        sweep(&job_id, 0, &app, far_deadline()).await,
        SweepOutcome::Swept {
            enqueued: 0,
            cancelled: 2
        }
    );
    assert_eq!(app.schedules.get(&job_id), None);

    // Had the schedule fired anyway, its start would find the job cancelled.
    assert_eq!(
        start(&job_id, &app, far_deadline()).await,
        StartOutcome::NotScheduled(JobControl::Cancelled)
    );
    assert!(enqueued(&app).is_empty());
    let job = app.store.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!((job.batches_cancelled, job.recipients_cancelled), (2, 4));
}

#[tokio::test]
async fn a_schedule_that_cannot_be_made_comes_back() {
    let app = app();
    let send_at = Utc::now() + Duration::hours(2);
    let job_id = scheduled_job(&app, 1, send_at).await;
    *app.schedules.failing.lock().unwrap() = true;

    let task = FileTask::Schedule {
        job_id: job_id.clone(),
        at: send_at,
    };
    assert!(deliver(&app, &task).await, "the record comes back");

    *app.schedules.failing.lock().unwrap() = false;
    assert!(!deliver(&app, &task).await);
    assert_eq!(app.schedules.get(&job_id), Some(send_at));
}
