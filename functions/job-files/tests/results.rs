//! job-files' results task against the in-memory store, files and queues: the file has one
//! row per recipient whatever order Plivo listed its uuids in, whatever the batches' fates,
//! across parts and invocations, and after a claim died between a part and its checkpoint.

mod common;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use common::FaultyFiles;
use job_files::{App, RESULTS_HEADER, ResultsOutcome, Settings, build_results};
use lambda_runtime::{Context, LambdaEvent};
use sms_core::{
    MessageText, PhoneNumber,
    domain::{bulk::FileTask, ids::JobId, status::DeliveryReport},
    files::keys,
    queue::MemoryQueue,
    schedule::MemoryStarts,
    store::{
        BatchClaim, BatchLedger, BatchOutcome, BatchRef, IntakeCounts, JobSpec, JobStore,
        MemoryStore, MessageStatus, ReportStore, ResultsRequest, ResultsState, ResultsStore,
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

fn number(i: u32) -> PhoneNumber {
    PhoneNumber::parse(&format!("+1415{i:07}")).unwrap()
}

fn far_deadline() -> DateTime<Utc> {
    Utc::now() + chrono::Duration::minutes(15)
}

/// Commits a job of `batches` (recipient numbers per batch).
async fn job(app: &TestApp, batches: Vec<Vec<u32>>) -> JobId {
    let job_id = JobId::random();
    let spec = JobSpec {
        budget: None,
        quiet_hours: None,
        send_at: None,
        expires_at: None,
        job_id: job_id.clone(),
        text: MessageText::parse("Your code is ready").unwrap(),
        from: PhoneNumber::parse("+14155550999").unwrap().into(),
        reference: None,
        counts: IntakeCounts {
            accepted: batches.iter().map(|b| b.len() as u64).sum(),
            ..IntakeCounts::default()
        },
        callback_url: "https://sms.example.com/cb".into(),
        batches: batches
            .into_iter()
            .map(|b| b.into_iter().map(number).collect())
            .collect(),
        fallback: false,
    };
    app.store.create_job(&spec, Utc::now()).await.unwrap();
    job_id
}

/// Ends batch `batch` as the sender would with `outcome`.
async fn end_batch(app: &TestApp, job_id: &JobId, batch: u32, outcome: BatchOutcome) {
    let now = Utc::now();
    let claim = app
        .store
        .claim_batch(job_id, batch, None, now + chrono::Duration::minutes(1), now)
        .await
        .unwrap();
    assert_eq!(claim, BatchClaim::Claimed { attempt: 1 });
    assert!(
        app.store
            .finish_batch(job_id, batch, 1, &outcome, now)
            .await
            .unwrap()
    );
}

fn sent(uuids: &[&str]) -> BatchOutcome {
    BatchOutcome::Sent {
        message_uuids: uuids.iter().map(|u| u.to_string()).collect(),
        invalid_numbers: Vec::new(),
        opted_out: vec![],
    }
}

async fn report(
    app: &TestApp,
    job_id: &JobId,
    batch: u32,
    uuid: &str,
    to: u32,
    status: MessageStatus,
) {
    let report = DeliveryReport {
        to: Some(number(to)),
        units: Some(1),
        total_amount: Some("0.00790".into()),
        error_code: (status == MessageStatus::Undelivered).then(|| "30".into()),
        ..DeliveryReport::new(uuid.to_owned(), status)
    };
    let batch = BatchRef {
        job_id: job_id.clone(),
        batch,
    };
    app.store
        .apply_report(&report, Some(&batch), Utc::now())
        .await
        .unwrap();
}

async fn request(app: &TestApp, job_id: &JobId) -> u32 {
    match app.store.request_results(job_id, Utc::now()).await.unwrap() {
        ResultsRequest::Started(r) => r.generation,
        other => panic!("expected a new build, got {other:?}"),
    }
}

fn event(job_id: &JobId, generation: u32) -> LambdaEvent<SqsEvent> {
    let mut record = SqsMessage::default();
    record.message_id = Some("m-1".into());
    record.body = Some(
        serde_json::to_string(&FileTask::Results {
            job_id: job_id.clone(),
            generation,
        })
        .unwrap(),
    );
    let mut e = SqsEvent::default();
    e.records = vec![record];
    let mut ctx = Context::default();
    ctx.deadline = far_deadline().timestamp_millis() as u64;
    LambdaEvent::new(e, ctx)
}

fn file(app: &TestApp, job_id: &JobId) -> String {
    String::from_utf8(
        app.files
            .object(&keys::results(job_id))
            .expect("no results file"),
    )
    .unwrap()
}

/// The file without its `updated_at` column, which holds the time each report was applied.
fn without_times(file: &str) -> String {
    file.lines()
        .map(|l| l.rsplit_once(',').map_or(l, |(rest, _)| rest))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn every_recipient_has_a_row_with_what_became_of_it() {
    let app = app();
    let job_id = job(&app, vec![vec![1, 2, 3], vec![4, 5], vec![6], vec![7, 8]]).await;
    // Batch 0: Plivo listed the uuids out of `dst` order; two reports are in.
    end_batch(&app, &job_id, 0, sent(&["u3", "u1", "u2"])).await;
    report(&app, &job_id, 0, "u1", 1, MessageStatus::Delivered).await;
    report(&app, &job_id, 0, "u3", 3, MessageStatus::Undelivered).await;
    // Batch 1 failed; batch 2 is sent with no report yet; batch 3 has not been sent.
    end_batch(
        &app,
        &job_id,
        1,
        BatchOutcome::Failed {
            error: "401".into(),
        },
    )
    .await;
    end_batch(&app, &job_id, 2, sent(&["u6"])).await;

    let generation = request(&app, &job_id).await;
    let response = job_files::handle(event(&job_id, generation), &app).await;
    assert!(response.batch_item_failures.is_empty());

    assert_eq!(
        without_times(&file(&app, &job_id)),
        "number,message_uuid,status,error_code,units,amount\n\
         +14150000001,u1,delivered,,1,0.00790\n\
         +14150000002,u2,no_report,,,\n\
         +14150000003,u3,undelivered,30,1,0.00790\n\
         +14150000004,,not_sent,,,\n\
         +14150000005,,not_sent,,,\n\
         +14150000006,u6,no_report,,,\n\
         +14150000007,,pending,,,\n\
         +14150000008,,pending,,,"
    );
    let record = app.store.get_results(&job_id).await.unwrap().unwrap();
    assert_eq!(record.state, ResultsState::Ready);
    assert_eq!(record.checkpoint.rows, 8);
    assert_eq!(record.checkpoint.parts, 1);
    assert!(app.tasks.bodies().is_empty(), "nothing handed on");
}

/// 250 batches of 1,000: about 7 MB of rows, so two parts of the multipart upload.
async fn large_sent_job(app: &TestApp) -> JobId {
    let batches = (0..250u32)
        .map(|b| (0..1_000).map(|i| b * 1_000 + i).collect())
        .collect();
    let job_id = job(app, batches).await;
    for b in 0..250u32 {
        let uuids: Vec<String> = (0..1_000).map(|i| format!("m-{b}-{i}")).collect();
        let uuids: Vec<&str> = uuids.iter().map(String::as_str).collect();
        end_batch(app, &job_id, b, sent(&uuids)).await;
    }
    // Every batch's last recipient has a report: the other 999 wait for theirs.
    for b in 0..250u32 {
        report(
            app,
            &job_id,
            b,
            &format!("m-{b}-999"),
            b * 1_000 + 999,
            MessageStatus::Delivered,
        )
        .await;
    }
    job_id
}

#[tokio::test]
async fn a_claim_that_died_after_a_part_leaves_a_file_with_each_row_once() {
    let app = app();
    let job_id = large_sent_job(&app).await;
    let generation = request(&app, &job_id).await;

    // The second part fails as if the invocation died before its checkpoint.
    *app.files.fail_next_part.lock().unwrap() = Some(2);
    let first = build_results(&job_id, generation, &app, far_deadline()).await;
    assert!(matches!(first, ResultsOutcome::Retry(_)), "{first:?}");
    let saved = app.store.get_results(&job_id).await.unwrap().unwrap();
    assert_eq!(saved.state, ResultsState::Building);
    assert_eq!(
        saved.checkpoint.parts, 1,
        "part 1 and its checkpoint were saved"
    );
    assert!(saved.checkpoint.rows > 0 && saved.checkpoint.rows < 250_000);

    // The record comes back while the dead claim's lease still runs: nothing to do yet.
    assert_eq!(
        build_results(&job_id, generation, &app, far_deadline()).await,
        ResultsOutcome::NothingToDo
    );
    app.store.expire_results_lease(&job_id);
    assert_eq!(
        build_results(&job_id, generation, &app, far_deadline()).await,
        ResultsOutcome::Ready { rows: 250_000 }
    );
    let resumed = file(&app, &job_id);

    // The same job built in one go gives the same rows.
    let again = request(&app, &job_id).await;
    assert_eq!(again, generation + 1);
    assert_eq!(
        build_results(&job_id, again, &app, far_deadline()).await,
        ResultsOutcome::Ready { rows: 250_000 }
    );
    let whole = file(&app, &job_id);
    assert_eq!(without_times(&resumed), without_times(&whole));

    let lines: Vec<&str> = resumed.lines().collect();
    assert_eq!(lines.len(), 250_001);
    assert_eq!(format!("{}\n", lines[0]), RESULTS_HEADER);
    let numbers: std::collections::HashSet<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(numbers.len(), 250_000, "each recipient once");
    assert!(resumed.contains("\n+14150000999,m-0-999,delivered,,1,0.00790,2"));
    assert!(resumed.contains("\n+14150000998,,no_report,,,,\n"));
}

#[tokio::test]
async fn a_build_near_its_deadline_hands_on_from_its_checkpoint() {
    let app = app();
    let job_id = job(&app, vec![vec![1, 2], vec![3]]).await;
    end_batch(&app, &job_id, 0, sent(&["a", "b"])).await;
    end_batch(&app, &job_id, 1, sent(&["c"])).await;
    let generation = request(&app, &job_id).await;

    let soon = Utc::now() + chrono::Duration::seconds(10);
    assert_eq!(
        build_results(&job_id, generation, &app, soon).await,
        ResultsOutcome::Continued
    );
    let tasks = app.tasks.bodies();
    assert_eq!(tasks.len(), 1);
    let task: FileTask = serde_json::from_str(&tasks[0]).unwrap();
    assert_eq!(
        task,
        FileTask::Results {
            job_id: job_id.clone(),
            generation
        }
    );
    let record = app.store.get_results(&job_id).await.unwrap().unwrap();
    assert!(
        record.checkpoint.upload.is_some(),
        "the upload is kept for the next claim"
    );
    assert!(
        record.lease_until.unwrap() < Utc::now(),
        "the lease is released"
    );

    // The task handed on claims it at once and finishes.
    assert_eq!(
        build_results(&job_id, generation, &app, far_deadline()).await,
        ResultsOutcome::Ready { rows: 3 }
    );
    assert_eq!(
        without_times(&file(&app, &job_id)),
        "number,message_uuid,status,error_code,units,amount\n\
         +14150000001,,no_report,,,\n\
         +14150000002,,no_report,,,\n\
         +14150000003,c,no_report,,,"
    );
}

#[tokio::test]
async fn a_task_for_a_replaced_or_missing_build_changes_nothing() {
    let app = app();
    let job_id = job(&app, vec![vec![1]]).await;
    let first = request(&app, &job_id).await;
    assert!(matches!(
        build_results(&job_id, first, &app, far_deadline()).await,
        ResultsOutcome::Ready { rows: 1 }
    ));
    let second = request(&app, &job_id).await;

    // A late copy of the first generation's task.
    let response = job_files::handle(event(&job_id, first), &app).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "dropped, not retried"
    );
    let record = app.store.get_results(&job_id).await.unwrap().unwrap();
    assert_eq!(
        (record.generation, record.state),
        (second, ResultsState::Building)
    );
    assert_eq!(record.attempts, 0, "the new generation was not claimed");

    // A task for a job with no build goes to the dead-letter queue.
    let other = JobId::random();
    let response = job_files::handle(event(&other, 1), &app).await;
    assert_eq!(response.batch_item_failures.len(), 1);
}
