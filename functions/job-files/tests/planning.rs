//! job-files' plan task against the in-memory store, files and queues: a personalised file
//! planned whole or across many invocations gives the same ledger, counts and rejects file;
//! a file that cannot be a job fails its plan and enqueues nothing.

use std::collections::BTreeMap;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::{SubsecRound, Utc};
use job_files::{App, Credentials, Pricing, Settings};
use lambda_runtime::{Context, LambdaEvent};
use sms_core::{
    PhoneNumber,
    domain::{
        bulk::{BatchMessage, FileTask},
        estimate::{Budget, BudgetLeft, Reservation},
        ids::JobId,
        money::Money,
        plan::FileLayout,
        rows::{FileFormat, read_header},
    },
    files::{ObjectStore, keys},
    pricing::{PriceTable, Prices},
    queue::MemoryQueue,
    schedule::MemoryStarts,
    store::{
        BatchState, JobStore, MemoryStore, PlanCheckpoint, PlanRecord, PlanState, PlanStore,
        SuppressionList, SuppressionSource,
    },
};
use uuid::Uuid;

mod common;

use common::FaultyFiles;

type TestApp = App<MemoryStore, FaultyFiles, MemoryQueue, MemoryQueue, MemoryStarts>;

fn app(rows_per_invocation: u64) -> TestApp {
    App {
        store: MemoryStore::new(),
        files: FaultyFiles::default(),
        batches: MemoryQueue::default(),
        tasks: MemoryQueue::default(),
        schedules: MemoryStarts::default(),
        settings: Settings {
            batch_size: 2,
            rows_per_invocation,
        },
        pricing: Pricing::table(Prices::table(
            PriceTable::parse(r#"{"US": "0.0100", "GB": "0.0400"}"#).unwrap(),
        )),
        records: common::no_records(),
    }
}

const FILE: &str = "phone,first_name,order\n\
+14155550100,Ana,1\n\
+14155550101,Bo,2\n\
4155550102,Cy,3\n\
+14155550103,Ana,4\n\
+14155550104,,5\n\
+14155550101,Bo,6\n\
+14155550105,Ana,7\n\
+14155550106,Di,8\n\
+1 (415) 555-0107,Ana,9\n";

/// Uploads `file` and records a plan for it, as `POST /v1/bulk` does.
async fn accept(app: &TestApp, file: &str, text: &str) -> JobId {
    accept_with(app, file, text, false).await
}

/// [`accept`], with `"smart_encoding"` as given.
async fn accept_with(app: &TestApp, file: &str, text: &str, smart_encoding: bool) -> JobId {
    accept_options(app, file, text, smart_encoding, false).await
}

/// [`accept`], with `"smart_encoding"` and `"skip_landlines"` as given.
async fn accept_options(
    app: &TestApp,
    file: &str,
    text: &str,
    smart_encoding: bool,
    skip_landlines: bool,
) -> JobId {
    accept_plan(
        app,
        file,
        text,
        smart_encoding,
        skip_landlines,
        Budget::default(),
    )
    .await
}

/// [`accept`], capped.
async fn accept_capped(app: &TestApp, file: &str, text: &str, budget: Budget) -> JobId {
    accept_plan(app, file, text, false, false, budget).await
}

async fn accept_plan(
    app: &TestApp,
    file: &str,
    text: &str,
    smart_encoding: bool,
    skip_landlines: bool,
    budget: Budget,
) -> JobId {
    let upload_id = Uuid::new_v4();
    let key = keys::upload(&upload_id);
    app.files.insert(&key, file.as_bytes().to_vec());
    let etag = app.files.head(&key).await.unwrap().unwrap().etag;
    let header = read_header(file.as_bytes(), true).unwrap();
    let job_id = JobId::random();
    let now = Utc::now().trunc_subsecs(3);
    let plan = PlanRecord {
        quiet_hours: None,
        send_at: None,
        expires_at: None,
        job_id: job_id.clone(),
        state: PlanState::Planning,
        upload_id: upload_id.to_string(),
        etag,
        size: file.len() as u64,
        layout: FileLayout {
            format: FileFormat::Csv,
            phone_column: None,
        },
        template: text.into(),
        smart_encoding,
        skip_landlines,
        from: PhoneNumber::parse("+14155550999").unwrap().into(),
        reference: None,
        callback_url: format!("https://sms.example.com/cb?job_id={job_id}"),
        header: header.names,
        budget,
        checkpoint: PlanCheckpoint {
            records: 1,
            offset: header.end,
            ..PlanCheckpoint::default()
        },
        attempts: 0,
        lease_until: None,
        error: None,
        created_at: now,
        updated_at: now,
    };
    app.store.create_plan(&plan).await.unwrap();
    job_id
}

fn event(job_id: &JobId) -> LambdaEvent<SqsEvent> {
    let mut record = SqsMessage::default();
    record.message_id = Some("m-1".into());
    record.body = Some(
        serde_json::to_string(&FileTask::Plan {
            job_id: job_id.clone(),
        })
        .unwrap(),
    );
    let mut e = SqsEvent::default();
    e.records = vec![record];
    let mut ctx = Context::default();
    ctx.deadline = (Utc::now() + chrono::Duration::minutes(15)).timestamp_millis() as u64;
    LambdaEvent::new(e, ctx)
}

/// Runs the plan task, and every task it hands on, as the queue would deliver them; returns
/// the invocations it took.
async fn plan_to_the_end(app: &TestApp, job_id: &JobId) -> usize {
    let mut invocations = 0;
    let mut handed_on = 0;
    loop {
        invocations += 1;
        let response = job_files::handle(event(job_id), app).await;
        assert!(
            response.batch_item_failures.is_empty(),
            "invocation {invocations} returned its record"
        );
        let tasks = app.tasks.bodies();
        if tasks.len() == handed_on {
            return invocations;
        }
        assert_eq!(tasks.len(), handed_on + 1, "one task handed on at a time");
        let task: FileTask = serde_json::from_str(&tasks[handed_on]).unwrap();
        assert_eq!(
            task,
            FileTask::Plan {
                job_id: job_id.clone()
            }
        );
        handed_on += 1;
        assert!(invocations < 100, "planning never ends");
    }
}

/// The enqueued batches as text → recipients, in batch order.
fn enqueued(app: &TestApp) -> Vec<(u32, String, Vec<String>)> {
    let mut batches: Vec<BatchMessage> = app
        .batches
        .bodies()
        .iter()
        .map(|b| BatchMessage::parse(b).unwrap())
        .collect();
    batches.sort_by_key(|b| b.batch);
    batches
        .into_iter()
        .map(|b| {
            (
                b.batch,
                b.text.as_str().to_owned(),
                b.recipients.iter().map(|r| r.as_str().to_owned()).collect(),
            )
        })
        .collect()
}

const REJECTS: &str = "row,value,reason\n\
4,4155550102,number must start with '+' followed by the country code (E.164)\n\
6,+14155550104,\"row has no value for {{first_name}}, which has no default\"\n";

#[tokio::test]
async fn a_personalised_file_becomes_batches_by_text_and_a_rejects_file() {
    let app = app(1_000);
    let job = accept(&app, FILE, "Hi {{first_name}}").await;
    assert_eq!(plan_to_the_end(&app, &job).await, 1);

    let batches = enqueued(&app);
    let by_text: BTreeMap<&str, Vec<&str>> =
        batches
            .iter()
            .fold(BTreeMap::new(), |mut m, (_, text, to)| {
                m.entry(text.as_str())
                    .or_insert_with(Vec::new)
                    .extend(to.iter().map(String::as_str));
                m
            });
    assert_eq!(
        by_text,
        BTreeMap::from([
            (
                "Hi Ana",
                vec![
                    "+14155550100",
                    "+14155550103",
                    "+14155550105",
                    "+14155550107"
                ]
            ),
            ("Hi Bo", vec!["+14155550101"]),
            ("Hi Di", vec!["+14155550106"]),
        ])
    );
    assert!(
        batches.iter().all(|(_, _, to)| to.len() <= 2),
        "batches of at most batch_size"
    );
    assert_eq!(
        batches.len(),
        4,
        "Ana's four in two batches, Bo and Di one each"
    );

    let committed = app.store.get_job(&job).await.unwrap().unwrap();
    assert_eq!(committed.batches_total, 4);
    assert_eq!(
        (
            committed.counts.accepted,
            committed.counts.duplicates,
            committed.counts.invalid
        ),
        (6, 1, 2)
    );
    assert_eq!((committed.distinct_texts, committed.segments_total), (3, 6));
    assert!(
        app.store
            .ledger(&job)
            .await
            .unwrap()
            .iter()
            .all(|e| e.enqueued && e.state == BatchState::Pending)
    );

    let plan = app.store.get_plan(&job).await.unwrap().unwrap();
    assert_eq!(plan.state, PlanState::Committed);
    assert_eq!(plan.checkpoint.counts.rows, 9);
    let rejects = app.files.object(&keys::rejects(&job)).unwrap();
    assert_eq!(String::from_utf8(rejects).unwrap(), REJECTS);
    // Nothing of the planning's own is left behind.
    assert_eq!(
        app.files
            .keys()
            .iter()
            .filter(|k| k.starts_with("jobs/"))
            .count(),
        1
    );
}

#[tokio::test]
async fn a_plan_resumed_from_checkpoints_sends_everyone_once_and_rejects_the_same_rows() {
    let whole = app(1_000);
    let job = accept(&whole, FILE, "Hi {{first_name}}").await;
    plan_to_the_end(&whole, &job).await;

    // Two rows an invocation: five invocations, each from the last one's checkpoint.
    let split = app(2);
    let job2 = accept(&split, FILE, "Hi {{first_name}}").await;
    assert_eq!(plan_to_the_end(&split, &job2).await, 5);

    let recipients = |app: &TestApp| {
        let mut all: Vec<(String, String)> = enqueued(app)
            .into_iter()
            .flat_map(|(_, text, to)| to.into_iter().map(move |n| (n, text.clone())))
            .collect();
        all.sort();
        all
    };
    assert_eq!(
        recipients(&split),
        recipients(&whole),
        "each recipient once, with the same text"
    );
    let (a, b) = (
        split.store.get_job(&job2).await.unwrap().unwrap(),
        whole.store.get_job(&job).await.unwrap().unwrap(),
    );
    assert_eq!(
        (a.counts, a.distinct_texts, a.segments_total),
        (b.counts, b.distinct_texts, b.segments_total)
    );
    assert_eq!(
        split.files.object(&keys::rejects(&job2)),
        whole.files.object(&keys::rejects(&job)),
        "the rejects file is the same, put together from its segments"
    );
    assert!(
        split
            .files
            .keys()
            .iter()
            .all(|k| !k.contains("/rejects/") && !k.contains("plan-checkpoint")),
        "segments and checkpoints are removed: {:?}",
        split.files.keys()
    );
}

#[tokio::test]
async fn a_claim_that_dies_before_its_checkpoint_is_redone_by_the_next_without_a_second_copy() {
    let whole = app(1_000);
    let job = accept(&whole, FILE, "Hi {{first_name}}").await;
    plan_to_the_end(&whole, &job).await;

    // Four rows an invocation. The first invocation writes its batches and rejects, then
    // fails to write its checkpoint: it ends without one, its lease still held.
    let app = app(4);
    let job2 = accept(&app, FILE, "Hi {{first_name}}").await;
    *app.files.fail_next_put.lock().unwrap() = Some("plan-checkpoint");
    let first = job_files::handle(event(&job2), &app).await;
    assert_eq!(first.batch_item_failures.len(), 1, "the record comes back");
    let plan = app.store.get_plan(&job2).await.unwrap().unwrap();
    assert_eq!(plan.checkpoint.counts.rows, 0, "no checkpoint was saved");
    assert!(app.tasks.bodies().is_empty());

    // Delivered again while the lease holds, the task waits.
    assert_eq!(
        job_files::handle(event(&job2), &app)
            .await
            .batch_item_failures
            .len(),
        1
    );
    // After the lease, the next claim redoes the rows from the last checkpoint (here the
    // start), rewriting the same untouched batches, and goes on to the end.
    app.store.expire_plan_lease(&job2);
    plan_to_the_end(&app, &job2).await;

    let recipients = |app: &TestApp| {
        let mut all: Vec<(String, String)> = enqueued(app)
            .into_iter()
            .flat_map(|(_, text, to)| to.into_iter().map(move |n| (n, text.clone())))
            .collect();
        all.sort();
        all
    };
    assert_eq!(recipients(&app), recipients(&whole), "each recipient once");
    let (a, b) = (
        app.store.get_job(&job2).await.unwrap().unwrap(),
        whole.store.get_job(&job).await.unwrap().unwrap(),
    );
    assert_eq!(a.counts, b.counts);
    assert_eq!(
        app.files.object(&keys::rejects(&job2)),
        whole.files.object(&keys::rejects(&job))
    );
    assert_eq!(
        app.store.get_plan(&job2).await.unwrap().unwrap().attempts,
        4,
        "one claim that died, then one per four rows (a refused claim counts none)"
    );
}

#[tokio::test]
async fn opted_out_numbers_are_screened_and_counted() {
    let app = app(1_000);
    app.store
        .suppress(
            &PhoneNumber::parse("+14155550103").unwrap(),
            SuppressionSource::Api,
            Utc::now(),
        )
        .await
        .unwrap();
    let job = accept(&app, FILE, "Hi {{first_name}}").await;
    plan_to_the_end(&app, &job).await;
    let everyone: Vec<String> = enqueued(&app)
        .into_iter()
        .flat_map(|(_, _, to)| to)
        .collect();
    assert!(!everyone.contains(&"+14155550103".to_owned()));
    let committed = app.store.get_job(&job).await.unwrap().unwrap();
    assert_eq!(
        (committed.counts.accepted, committed.counts.suppressed),
        (5, 1)
    );
}

#[tokio::test]
async fn a_file_without_a_valid_recipient_fails_its_plan_and_enqueues_nothing() {
    let app = app(1_000);
    let job = accept(
        &app,
        "phone,first_name\n4155550100,Ana\n+14155550101,\n",
        "Hi {{first_name}}",
    )
    .await;
    plan_to_the_end(&app, &job).await;
    assert!(app.batches.bodies().is_empty());
    assert_eq!(
        app.store.get_job(&job).await.unwrap(),
        None,
        "no job item: nothing to send"
    );
    let plan = app.store.get_plan(&job).await.unwrap().unwrap();
    assert_eq!(plan.state, PlanState::Failed);
    assert!(
        plan.error
            .as_deref()
            .unwrap()
            .starts_with("no valid recipient is left: 2 rows, 2 rejected"),
        "{:?}",
        plan.error
    );
    assert!(
        app.files.object(&keys::rejects(&job)).is_some(),
        "the rejects file says why"
    );
    // Delivered again, the task finds the plan ended.
    assert_eq!(plan_to_the_end(&app, &job).await, 1);
    assert!(app.batches.bodies().is_empty());
}

#[tokio::test]
async fn an_upload_replaced_after_the_job_was_accepted_is_not_planned() {
    let app = app(1_000);
    let job = accept(&app, FILE, "Hi {{first_name}}").await;
    let plan = app.store.get_plan(&job).await.unwrap().unwrap();
    let key = keys::upload(&Uuid::parse_str(&plan.upload_id).unwrap());
    app.files.insert(&key, b"phone\n+14155550100\n".to_vec());
    plan_to_the_end(&app, &job).await;
    assert!(app.batches.bodies().is_empty());
    let plan = app.store.get_plan(&job).await.unwrap().unwrap();
    assert_eq!(plan.state, PlanState::Failed);
    assert!(plan.error.unwrap().contains("replaced"));
}

#[tokio::test]
async fn a_task_for_no_plan_goes_to_the_dead_letter_queue() {
    let app = app(1_000);
    let response = job_files::handle(event(&JobId::random()), &app).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    let mut e = event(&JobId::random());
    e.payload.records[0].body = Some("{\"task\":\"unknown\"}".into());
    assert_eq!(
        job_files::handle(e, &app).await.batch_item_failures.len(),
        1
    );
}

#[tokio::test]
async fn a_plan_with_smart_encoding_sends_replaced_texts_batched_together() {
    // Two rows an invocation, so the flag is read from the plan by every claim; the first
    // two rows differ by a curly apostrophe, and share a batch only once it is replaced.
    let personal = app(2);
    let file =
        "phone,name\n+14155550100,O\u{2019}Neil\n+14155550101,O'Neil\n+14155550102,O\u{2019}Neil\n";
    let job = accept_with(&personal, file, "Hi {{name}} \u{2013} bye", true).await;
    plan_to_the_end(&personal, &job).await;

    let batches = enqueued(&personal);
    let texts: Vec<&str> = batches.iter().map(|(_, text, _)| text.as_str()).collect();
    assert_eq!(
        texts, ["Hi O'Neil - bye"; 2],
        "texts as sent, in a batch of two and the third row's"
    );
    let mut to: Vec<&str> = batches
        .iter()
        .flat_map(|(_, _, to)| to.iter().map(String::as_str))
        .collect();
    to.sort();
    assert_eq!(to, ["+14155550100", "+14155550101", "+14155550102"]);
    let messages: Vec<BatchMessage> = personal
        .batches
        .bodies()
        .iter()
        .map(|b| BatchMessage::parse(b).unwrap())
        .collect();
    assert!(
        messages
            .iter()
            .all(|m| m.text.encoding() == sms_core::Encoding::Gsm7)
    );
    let committed = personal.store.get_job(&job).await.unwrap().unwrap();
    assert_eq!((committed.distinct_texts, committed.segments_total), (1, 3));

    // A file without placeholders sends the job's text, smart-encoded the same way.
    let plain = app(1_000);
    let job = accept_with(&plain, "phone\n+14155550100\n", "Sale\u{2026} today", true).await;
    plan_to_the_end(&plain, &job).await;
    assert_eq!(
        enqueued(&plain)
            .into_iter()
            .map(|(_, text, _)| text)
            .collect::<Vec<_>>(),
        ["Sale... today"]
    );
    let committed = plain.store.get_job(&job).await.unwrap().unwrap();
    assert_eq!(committed.text.as_str(), "Sale... today");
}

#[tokio::test]
async fn a_plans_deadline_goes_to_its_job_and_every_batch() {
    let app = app(Settings::DEFAULT_ROWS_PER_INVOCATION);
    let job_id = accept(&app, FILE, "Hi {{first_name|there}}").await;
    let deadline = Utc::now() + chrono::Duration::minutes(30);
    let mut plan = app.store.get_plan(&job_id).await.unwrap().unwrap();
    plan.expires_at = Some(deadline);
    // As POST /v1/bulk would have written it with "valid_for": 1800.
    let fresh = JobId::random();
    plan.job_id = fresh.clone();
    plan.callback_url = format!("https://sms.example.com/cb?job_id={fresh}");
    app.store.create_plan(&plan).await.unwrap();

    plan_to_the_end(&app, &fresh).await;

    let job = app.store.get_job(&fresh).await.unwrap().unwrap();
    assert_eq!(job.expires_at, Some(deadline));
    let batches: Vec<BatchMessage> = app
        .batches
        .bodies()
        .iter()
        .map(|b| BatchMessage::parse(b).unwrap())
        .collect();
    assert!(!batches.is_empty());
    assert!(batches.iter().all(|b| b.expires_at == Some(deadline)));
}

#[tokio::test]
async fn a_scheduled_upload_is_planned_at_once_and_sent_from_its_start() {
    let app = app(Settings::DEFAULT_ROWS_PER_INVOCATION);
    let job_id = accept(&app, FILE, "Hi {{first_name|there}}").await;
    let send_at = Utc::now().trunc_subsecs(3) + chrono::Duration::days(3);
    let mut plan = app.store.get_plan(&job_id).await.unwrap().unwrap();
    plan.send_at = Some(send_at);
    // As POST /v1/bulk would have written it with "send_at".
    let fresh = JobId::random();
    plan.job_id = fresh.clone();
    plan.callback_url = format!("https://sms.example.com/cb?job_id={fresh}");
    app.store.create_plan(&plan).await.unwrap();

    plan_to_the_end(&app, &fresh).await;

    // Committed and scheduled: the plan is done, nothing is on the batch queue.
    let job = app.store.get_job(&fresh).await.unwrap().unwrap();
    assert_eq!(
        (job.control, job.send_at),
        (sms_core::store::JobControl::Scheduled, Some(send_at))
    );
    assert!(job.batches_total > 0);
    let plan = app.store.get_plan(&fresh).await.unwrap().unwrap();
    assert_eq!(plan.state, PlanState::Committed);
    assert!(enqueued(&app).is_empty());
    assert_eq!(app.schedules.get(&fresh), Some(send_at));

    // Its start enqueues every batch.
    let started = job_files::start(&fresh, &app, Utc::now() + chrono::Duration::minutes(15)).await;
    assert!(!started.retry(), "{started:?}");
    assert_eq!(enqueued(&app).len() as u32, job.batches_total);
}

#[tokio::test]
async fn numbers_no_one_has_are_rejected_and_skipped_landlines_are_counted_and_listed() {
    // A London landline, a US number, `+1 555 0100` (no such number), a UK mobile.
    let file = "phone,first_name\n\
+44 20 7123 4567,Ana\n\
+1 415 555 0100,Bo\n\
+1 555 0100,Cy\n\
+447400123456,Di\n";
    let app = app(1_000);
    let job = accept_options(&app, file, "Hi {{first_name}}", false, true).await;
    plan_to_the_end(&app, &job).await;

    let sent: Vec<String> = enqueued(&app)
        .into_iter()
        .flat_map(|(_, _, to)| to)
        .collect();
    assert_eq!(sent, ["+14155550100", "+447400123456"]);
    let committed = app.store.get_job(&job).await.unwrap().unwrap();
    let c = committed.counts;
    assert_eq!(
        (c.accepted, c.invalid, c.landlines, c.landlines_skipped),
        (2, 1, 1, 1)
    );
    let plan = app.store.get_plan(&job).await.unwrap().unwrap();
    assert_eq!(
        (
            plan.checkpoint.counts.rejected,
            plan.checkpoint.counts.landlines_skipped
        ),
        (1, 1)
    );
    let rejects = String::from_utf8(app.files.object(&keys::rejects(&job)).unwrap()).unwrap();
    assert_eq!(
        rejects,
        // A value with spaces after its `+` is kept as text for spreadsheets (`'`).
        "row,value,reason\n\
2,\"'+44 20 7123 4567\",number is a landline in GB (+44): it cannot receive SMS; skipped (skip_landlines)\n\
4,\"'+1 555 0100\",\"number is not a valid number for +1 (US, AG, AI and 22 more): no such area code or number range\"\n"
    );

    // Without the flag the landline is sent, and counted.
    let app = self::app(1_000);
    let job = accept_options(&app, file, "Hi {{first_name}}", false, false).await;
    plan_to_the_end(&app, &job).await;
    let sent: Vec<String> = enqueued(&app)
        .into_iter()
        .flat_map(|(_, _, to)| to)
        .collect();
    assert_eq!(sent.len(), 3);
    let c = app.store.get_job(&job).await.unwrap().unwrap().counts;
    assert_eq!((c.accepted, c.landlines, c.landlines_skipped), (3, 1, 0));
}

/// Countries and segments that vary by row: four US recipients (one sent a two-segment text:
/// its name makes it longer than 160 characters), one GB, a duplicate, and a reject. At the
/// app's table (US 0.01, GB 0.04 a segment): US 5 segments, GB 1, cost 0.09.
fn capped_file() -> String {
    format!(
        "phone,first_name\n\
         +14155550100,Ana\n\
         +447400123456,Bo\n\
         +14155550101,{long}\n\
         +14155550102,Cy\n\
         not a number,Di\n\
         +14155550100,Ana\n\
         +14155550103,Ed\n",
        long = "x".repeat(170)
    )
}

const CAPPED_COST_MICROS: u64 = 90_000;
const CAPPED_SEGMENTS: u64 = 6;

fn caps(max_cost: &str, max_segments: Option<u64>) -> Budget {
    Budget {
        max_cost: Some(Money::parse(max_cost).unwrap()),
        max_segments,
    }
}

/// What the ledger's batches reserve, summed: (cost in micros, segments).
async fn reserved(app: &TestApp, job: &JobId) -> (u64, u64) {
    let ledger = app.store.ledger(job).await.unwrap();
    assert!(!ledger.is_empty());
    ledger.iter().fold((0, 0), |(cost, segments), entry| {
        let r = entry
            .reservation
            .expect("every batch of a capped job reserves");
        (
            cost + r.cost.map_or(0, Money::micros),
            segments + r.segments.unwrap_or(0),
        )
    })
}

#[tokio::test]
async fn an_upload_over_its_max_cost_fails_its_plan_and_enqueues_nothing() {
    let app = app(1_000);
    let job = accept_capped(
        &app,
        &capped_file(),
        "Hi {{first_name}}",
        caps("0.08", None),
    )
    .await;
    assert_eq!(plan_to_the_end(&app, &job).await, 1);

    let plan = app.store.get_plan(&job).await.unwrap().unwrap();
    assert_eq!(plan.state, PlanState::Failed);
    let error = plan.error.unwrap();
    assert!(error.contains("over its max_cost"), "{error}");
    let estimate = plan.checkpoint.tallies.estimate();
    assert_eq!(
        (
            estimate.recipients,
            estimate.segments,
            estimate.cost.map(Money::micros)
        ),
        (5, CAPPED_SEGMENTS, Some(CAPPED_COST_MICROS)),
        "the whole file's estimate, kept with the plan"
    );
    assert!(app.batches.bodies().is_empty(), "nothing enqueued");
    assert_eq!(app.store.get_job(&job).await.unwrap(), None, "no job item");
}

#[tokio::test]
async fn an_upload_over_its_max_segments_fails_its_plan_and_enqueues_nothing() {
    let app = app(1_000);
    let budget = Budget {
        max_cost: None,
        max_segments: Some(CAPPED_SEGMENTS - 1),
    };
    let job = accept_capped(&app, &capped_file(), "Hi {{first_name}}", budget).await;
    plan_to_the_end(&app, &job).await;
    let plan = app.store.get_plan(&job).await.unwrap().unwrap();
    assert_eq!(plan.state, PlanState::Failed);
    assert!(plan.error.unwrap().contains("over its max_segments"));
    assert!(app.batches.bodies().is_empty(), "nothing enqueued");
}

#[tokio::test]
async fn an_upload_with_max_cost_to_an_unpriced_country_fails_its_plan() {
    let app = app(1_000);
    // France is in neither the table nor (without a secret) Plivo's prices.
    let file = format!("{}+33612345678,Fa\n", capped_file());
    let job = accept_capped(&app, &file, "Hi {{first_name}}", caps("100", None)).await;
    plan_to_the_end(&app, &job).await;
    let plan = app.store.get_plan(&job).await.unwrap().unwrap();
    assert_eq!(plan.state, PlanState::Failed);
    let error = plan.error.unwrap();
    assert!(
        error.contains("max_cost cannot be checked") && error.contains("FR"),
        "{error}"
    );
    assert!(app.batches.bodies().is_empty(), "nothing enqueued");
}

/// A service secret that cannot be read: Plivo's prices are unavailable, not missing.
struct NoSecret;

impl Credentials for NoSecret {
    fn secret(
        &self,
    ) -> futures::future::BoxFuture<
        '_,
        Result<std::sync::Arc<sms_core::secrets::ServiceSecret>, sms_core::secrets::SecretError>,
    > {
        Box::pin(async {
            Err(sms_core::secrets::SecretError::Unavailable {
                secret_id: "sms".into(),
                reason: "throttled".into(),
            })
        })
    }
}

#[tokio::test]
async fn an_upload_whose_prices_are_unavailable_is_retried_not_failed() {
    let mut app = app(1_000);
    app.pricing.secrets = Some(Box::new(NoSecret));
    let file = format!("{}+33612345678,Fa\n", capped_file());
    let job = accept_capped(&app, &file, "Hi {{first_name}}", caps("100", None)).await;
    let response = job_files::handle(event(&job), &app).await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "the record comes back"
    );
    let plan = app.store.get_plan(&job).await.unwrap().unwrap();
    assert_eq!(plan.state, PlanState::Planning, "not failed");
    assert!(app.batches.bodies().is_empty(), "nothing enqueued");
}

#[tokio::test]
async fn an_upload_within_its_caps_commits_with_reservations_that_sum_to_its_estimate() {
    let app = app(1_000);
    let budget = caps("0.09", Some(CAPPED_SEGMENTS));
    let job = accept_capped(&app, &capped_file(), "Hi {{first_name}}", budget).await;
    assert_eq!(plan_to_the_end(&app, &job).await, 1);

    let plan = app.store.get_plan(&job).await.unwrap().unwrap();
    assert_eq!(plan.state, PlanState::Committed);
    let committed = app.store.get_job(&job).await.unwrap().unwrap();
    assert_eq!(committed.budget, Some(BudgetLeft::full(budget)));
    assert_eq!(committed.segments_total, CAPPED_SEGMENTS);
    assert_eq!(
        reserved(&app, &job).await,
        (CAPPED_COST_MICROS, CAPPED_SEGMENTS),
        "the batches' reservations sum to the estimate"
    );
    // The long text's batch reserves its two segments at the US rate.
    let ledger = app.store.ledger(&job).await.unwrap();
    let long = ledger
        .iter()
        .find(|e| e.recipients[0].as_str() == "+14155550101")
        .unwrap();
    assert_eq!(
        long.reservation,
        Some(Reservation {
            cost: Some(Money::from_micros(20_000)),
            segments: Some(2),
        })
    );
    // Each queued batch carries its reservation for its first claim.
    let messages: Vec<BatchMessage> = app
        .batches
        .bodies()
        .iter()
        .map(|b| BatchMessage::parse(b).unwrap())
        .collect();
    assert_eq!(messages.len(), ledger.len());
    for message in &messages {
        assert_eq!(
            message.reservation,
            ledger[message.batch as usize].reservation
        );
    }
}

#[tokio::test]
async fn a_capped_plan_tallies_across_invocations() {
    let whole = app(1_000);
    let budget = caps("0.09", Some(CAPPED_SEGMENTS));
    let job = accept_capped(&whole, &capped_file(), "Hi {{first_name}}", budget).await;
    plan_to_the_end(&whole, &job).await;

    // Two rows an invocation: each hands its tallies on through its checkpoint.
    let split = app(2);
    let job2 = accept_capped(&split, &capped_file(), "Hi {{first_name}}", budget).await;
    assert_eq!(plan_to_the_end(&split, &job2).await, 4);
    let plan = split.store.get_plan(&job2).await.unwrap().unwrap();
    assert_eq!(plan.state, PlanState::Committed);
    assert_eq!(
        plan.checkpoint.tallies,
        whole
            .store
            .get_plan(&job)
            .await
            .unwrap()
            .unwrap()
            .checkpoint
            .tallies
    );
    assert_eq!(
        reserved(&split, &job2).await,
        (CAPPED_COST_MICROS, CAPPED_SEGMENTS)
    );

    // Over its cap, split the same way: the last invocation sees the whole file's estimate.
    let over = app(2);
    let job3 = accept_capped(
        &over,
        &capped_file(),
        "Hi {{first_name}}",
        caps("0.08", None),
    )
    .await;
    plan_to_the_end(&over, &job3).await;
    let plan = over.store.get_plan(&job3).await.unwrap().unwrap();
    assert_eq!(plan.state, PlanState::Failed);
    assert!(over.batches.bodies().is_empty());
}
