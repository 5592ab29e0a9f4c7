//! send-bulk handler tests: the real handler with the in-memory store and queue.

use sms_core::domain::ids::JobId;
use std::time::Duration;

use lambda_http::{Body, Request, Response, http};
use send_bulk::App;
use serde_json::{Value, json};
use sms_core::{
    PhoneNumber,
    config::PublicBaseUrl,
    domain::bulk::BatchMessage,
    files::MemoryFiles,
    queue::MemoryQueue,
    secrets::{SecretCache, StaticSecret},
    store::{BatchState, JobStore, MemoryStore, SuppressionList, SuppressionSource},
};

use sms_test_support::{API_KEY, json_of, post_json, service_secret};

type TestApp = App<MemoryStore, MemoryQueue, SecretCache<StaticSecret>, MemoryFiles, MemoryQueue>;

fn app(batch_size: usize) -> TestApp {
    let secret = service_secret("t");
    App {
        store: MemoryStore::new(),
        queue: MemoryQueue::default(),
        secrets: SecretCache::new(StaticSecret(secret), Duration::from_secs(60)),
        files: MemoryFiles::new(),
        tasks: MemoryQueue::default(),
        public_base_url: PublicBaseUrl::parse("https://sms.example.com").unwrap(),
        batch_size,
        rates: send_bulk::forecast::Rates::default(),
        max_upload_bytes: send_bulk::uploads::DEFAULT_MAX_UPLOAD_BYTES,
        prices: Default::default(),
        fallback: false,
    }
}

fn post(body: &Value, key: Option<&str>) -> Request {
    post_json("/v1/bulk", body, key)
}

fn get(job_id: &str) -> Request {
    sms_test_support::get(&format!("/v1/bulk/{job_id}"))
}

fn numbers(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("+1415{:07}", 2_000_000 + i))
        .collect()
}

fn queued(app: &TestApp) -> Vec<BatchMessage> {
    app.queue
        .bodies()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect()
}

#[tokio::test]
async fn a_job_is_split_into_batches_with_invalid_duplicate_and_suppressed_entries_reported() {
    // Arrange
    let app = app(1000);
    let mut recipients: Vec<Value> = numbers(2500).into_iter().map(Value::from).collect();
    recipients.push(json!("+14152000001")); // duplicate
    recipients.push(json!("4155550000")); // no plus
    recipients.push(json!(12345)); // not a string
    recipients.push(json!("+12125550100")); // suppressed
    let opted_out = PhoneNumber::parse("+12125550100").unwrap();
    app.store
        .suppress(&opted_out, SuppressionSource::Keyword, chrono::Utc::now())
        .await
        .unwrap();

    // Act
    let resp = send_bulk::handle(
        post(
            &json!({"recipients": recipients, "text": "Sale ends tonight €"}),
            None,
        ),
        &app,
    )
    .await;

    // Assert
    assert_eq!(resp.status(), 202);
    let body = json_of(&resp);
    assert_eq!(body["status"], "queued");
    assert_eq!(body["accepted"], 2500);
    assert_eq!(body["duplicates"], 1);
    assert_eq!(body["suppressed"], 1);
    assert_eq!(body["batches"], 3);
    assert_eq!(body["encoding"], "GSM-7");
    assert_eq!(body["segments"], 1);
    assert_eq!(body["invalid_count"], 2);
    assert_eq!(
        body["invalid"],
        json!([
            {"index": 2501, "value": "4155550000", "reason": "must start with '+' followed by the country code (E.164)"},
            {"index": 2502, "value": "", "reason": "must be a string, not a number"},
        ])
    );
    let job_id = &JobId::parse(body["job_id"].as_str().unwrap()).unwrap();

    let batches = queued(&app);
    assert_eq!(
        batches
            .iter()
            .map(|b| b.recipients.len())
            .collect::<Vec<_>>(),
        [1000, 1000, 500]
    );
    assert!(batches.iter().all(|b| &b.job_id == job_id));
    assert_eq!(
        batches[0].callback_url,
        format!("https://sms.example.com/v1/callbacks/plivo/status?job_id={job_id}")
    );
    let all: std::collections::HashSet<_> =
        batches.iter().flat_map(|b| b.recipients.clone()).collect();
    assert_eq!(all.len(), 2500);
    assert!(!all.contains(&opted_out));

    let ledger = app.store.ledger(job_id).await.unwrap();
    assert_eq!(ledger.len(), 3);
    assert!(
        ledger
            .iter()
            .all(|e| e.state == BatchState::Pending && e.enqueued)
    );
}

#[tokio::test]
async fn the_answer_forecasts_submission_at_the_budget_and_delivery_at_the_account_mps() {
    let mut app = app(2);
    app.rates = send_bulk::forecast::Rates {
        requests: sms_core::pace::RequestRate::new(2.0).unwrap(),
        account_mps: 0.5,
    };
    let resp = send_bulk::handle(
        post(&json!({"recipients": numbers(5), "text": "hi"}), None),
        &app,
    )
    .await;

    assert_eq!(resp.status(), 202);
    let forecast = &json_of(&resp)["forecast"];
    // Three requests at 2 a second; five messages at half a message a second.
    assert_eq!(forecast["plivo_requests"], 3);
    assert_eq!(forecast["requests_per_second"], 2.0);
    assert_eq!(forecast["submission_seconds"], 1.5);
    assert_eq!(forecast["account_mps"], 0.5);
    assert_eq!(forecast["delivery_seconds"], 10.0);
    assert!(forecast["submitted_by"].is_string() && forecast["delivered_by"].is_string());
    assert!(forecast.get("warning").is_none(), "{forecast}");

    // A dry run forecasts the same job without creating it.
    let dry = send_bulk::handle(
        post(
            &json!({"recipients": numbers(5), "text": "hi", "dry_run": true}),
            None,
        ),
        &app,
    )
    .await;
    assert_eq!(json_of(&dry)["forecast"]["plivo_requests"], 3);
}

#[tokio::test]
async fn progress_shows_the_last_minutes_rate_and_when_the_job_should_end() {
    use sms_core::store::ProgressLog;
    let app = app(2);
    let resp = send_bulk::handle(
        post(&json!({"recipients": numbers(6), "text": "hi"}), None),
        &app,
    )
    .await;
    let job_id = JobId::parse(json_of(&resp)["job_id"].as_str().unwrap()).unwrap();

    // Nothing ended yet: no rate, and the estimate comes from the budget.
    let before = json_of(&send_bulk::handle(get(job_id.as_str()), &app).await);
    assert_eq!(before["rate"]["recent_recipients_per_second"], Value::Null);
    assert!(
        before["rate"]["submission_complete_at"].is_string(),
        "{before}"
    );
    assert!(
        before["rate"]["delivery_complete_at"].is_string(),
        "{before}"
    );

    // The sender counted one ended batch of two recipients just now.
    let now = chrono::Utc::now();
    app.store.note_progress(&job_id, 2, now).await.unwrap();
    let after = json_of(&send_bulk::handle(get(job_id.as_str()), &app).await);
    let rate = after["rate"]["recent_recipients_per_second"]
        .as_f64()
        .unwrap();
    assert!(rate > 0.0 && rate <= 2.0, "{after}");
}

#[tokio::test]
async fn progress_reports_batches_and_messages() {
    let app = app(2);
    let resp = send_bulk::handle(
        post(&json!({"recipients": numbers(5), "text": "hi"}), None),
        &app,
    )
    .await;
    let job_id = JobId::parse(json_of(&resp)["job_id"].as_str().unwrap()).unwrap();

    let progress = send_bulk::handle(get(job_id.as_str()), &app).await;

    assert_eq!(progress.status(), 200);
    let body = json_of(&progress);
    assert_eq!(body["status"], "queued");
    assert_eq!(body["accepted"], 5);
    assert_eq!(
        body["batches"],
        json!({"total": 3, "sent": 0, "failed": 0, "unknown": 0, "cancelled": 0, "reconciled": 0, "resent": 0})
    );
    assert_eq!(body["messages"]["queued"], 0);
    assert_eq!(
        send_bulk::handle(get("6f1c7d1e-0000-4000-8000-000000000000"), &app)
            .await
            .status(),
        404
    );
    let bad = send_bulk::handle(get("nope"), &app).await;
    assert_eq!(bad.status(), 400);
    assert_eq!(json_of(&bad)["errors"][0]["field"], "job_id");
}

#[tokio::test]
async fn progress_counts_reported_messages_of_an_unknown_batch_and_hides_nothing() {
    use sms_core::store::{
        BatchClaim, BatchLedger, BatchOutcome, BatchRef, DeliveryReport, MessageStatus, ReportStore,
    };
    // Arrange: two batches; Plivo's answer for batch 0 listed one message, batch 1's never
    // came (`unknown`), yet reports for two of its messages arrived.
    let app = app(2);
    let resp = send_bulk::handle(
        post(&json!({"recipients": numbers(4), "text": "hi"}), None),
        &app,
    )
    .await;
    let job_id = JobId::parse(json_of(&resp)["job_id"].as_str().unwrap()).unwrap();
    let now = chrono::Utc::now();
    let lease = now + chrono::Duration::seconds(60);
    let outcomes = [
        BatchOutcome::Sent {
            message_uuids: vec!["s-1".into()],
            invalid_numbers: vec!["14150000001".into()],
            opted_out: vec![],
        },
        BatchOutcome::Unknown {
            reason: "timed out".into(),
        },
    ];
    for (batch, outcome) in outcomes.iter().enumerate() {
        let BatchClaim::Claimed { attempt } = app
            .store
            .claim_batch(&job_id, batch as u32, None, lease, now)
            .await
            .unwrap()
        else {
            panic!("claim {batch}")
        };
        assert!(
            app.store
                .finish_batch(&job_id, batch as u32, attempt, outcome, now)
                .await
                .unwrap()
        );
    }
    for (uuid, batch, status) in [
        ("s-1", 0, MessageStatus::Delivered),
        ("u-1", 1, MessageStatus::Delivered),
        ("u-2", 1, MessageStatus::Sent),
    ] {
        let report = DeliveryReport {
            sequence: Some(3),
            ..DeliveryReport::new(uuid, status)
        };
        let batch = BatchRef {
            job_id: job_id.clone(),
            batch,
        };
        app.store
            .apply_report(&report, Some(&batch), now)
            .await
            .unwrap();
    }

    // Act
    let body = json_of(&send_bulk::handle(get(job_id.as_str()), &app).await);

    // Assert: the statuses sum to what Plivo is known to have accepted.
    assert_eq!(
        body["messages"],
        json!({"accepted_by_plivo": 3, "accepted_in_unconfirmed_batches": 2,
               "queued": 0, "sent": 1, "delivered": 2, "undelivered": 0, "failed": 0, "rejected": 0})
    );
}

#[tokio::test]
async fn dry_run_reports_everything_and_writes_nothing() {
    let app = app(1000);
    let resp = send_bulk::handle(
        post(&json!({"recipients": ["+14155550001", "+14155550001", "x"], "text": "hi", "dry_run": true}), None),
        &app,
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body = json_of(&resp);
    assert_eq!(body["status"], "dry_run");
    assert_eq!(body["job_id"], Value::Null);
    assert_eq!(
        (
            body["accepted"].clone(),
            body["duplicates"].clone(),
            body["batches"].clone()
        ),
        (json!(1), json!(1), json!(1))
    );
    assert!(app.queue.bodies().is_empty());
}

#[tokio::test]
async fn bad_requests_are_named_and_enqueue_nothing() {
    let app = app(1000);
    let cases = [
        (json!({"recipients": [], "text": "hi"}), "recipients"),
        (json!({"recipients": ["+14155550001"], "text": ""}), "text"),
        (
            json!({"recipients": ["+14155550001"], "text": "hi", "from": "x-1"}),
            "from",
        ),
        (
            json!({"recipients": "+14155550001", "text": "hi"}),
            "recipients",
        ),
        (
            json!({"recipients": ["+14155550001"], "text": "hi", "extra": 1}),
            "extra",
        ),
        (
            json!({"recipients": ["bad", 5], "text": "hi"}),
            "recipients[0]",
        ),
    ];
    for (body, field) in cases {
        let resp = send_bulk::handle(post(&body, None), &app).await;
        assert_eq!(resp.status(), 400, "{body}");
        assert_eq!(json_of(&resp)["errors"][0]["field"], field, "{body}");
    }
    let no_key = http::Request::builder()
        .method("POST")
        .uri("/v1/bulk")
        .body(Body::Text("{}".into()))
        .unwrap();
    assert_eq!(send_bulk::handle(no_key, &app).await.status(), 401);
    assert!(app.queue.bodies().is_empty());
}

#[tokio::test]
async fn all_recipients_suppressed_is_a_400() {
    let app = app(1000);
    let n = PhoneNumber::parse("+14155550001").unwrap();
    app.store
        .suppress(&n, SuppressionSource::Api, chrono::Utc::now())
        .await
        .unwrap();
    let resp = send_bulk::handle(
        post(&json!({"recipients": ["+14155550001"], "text": "hi"}), None),
        &app,
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(
        json_of(&resp)["detail"]
            .as_str()
            .unwrap()
            .contains("1 opted out")
    );
}

#[tokio::test]
async fn a_repeated_key_replays_and_enqueues_nothing_more() {
    let app = app(2);
    let body = json!({"recipients": numbers(5), "text": "hi"});
    let first = send_bulk::handle(post(&body, Some("job-1")), &app).await;
    let second = send_bulk::handle(post(&body, Some("job-1")), &app).await;
    assert_eq!(first.status(), 202);
    assert_eq!(json_of(&first), json_of(&second));
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(queued(&app).len(), 3);
    let other = send_bulk::handle(
        post(
            &json!({"recipients": numbers(4), "text": "hi"}),
            Some("job-1"),
        ),
        &app,
    )
    .await;
    assert_eq!(other.status(), 409);
}

#[tokio::test]
async fn a_retry_after_a_partial_enqueue_finishes_the_job_without_a_second_copy_of_any_batch() {
    // Arrange: SQS keeps refusing two of the twelve batches.
    let app = app(1);
    *app.queue.refuse_ids.lock().unwrap() = ["3".to_owned(), "7".to_owned()].into();
    let body = json!({"recipients": numbers(12), "text": "hi"});

    // Act: the first attempt leaves some batches unqueued; the client retries with its key.
    let first = send_bulk::handle(post(&body, Some("partial-1")), &app).await;
    assert_eq!(first.status(), 503, "{}", json_of(&first));
    assert_eq!(queued(&app).len(), 10);
    app.queue.refuse_ids.lock().unwrap().clear();
    let second = send_bulk::handle(post(&body, Some("partial-1")), &app).await;

    // Assert: every batch is on the queue exactly once, under one job.
    assert_eq!(second.status(), 202, "{}", json_of(&second));
    let batches = queued(&app);
    let mut indexes: Vec<u32> = batches.iter().map(|b| b.batch).collect();
    indexes.sort();
    assert_eq!(indexes, (0..12).collect::<Vec<_>>());
    let job_ids: std::collections::HashSet<_> = batches.iter().map(|b| b.job_id.clone()).collect();
    assert_eq!(job_ids.len(), 1);
    assert_eq!(json_of(&second)["accepted"], 12);
}

#[tokio::test]
async fn an_oversized_or_non_json_body_is_refused_and_enqueues_nothing() {
    let app = app(1000);
    let raw = |ct: &str, body: String| {
        http::Request::builder()
            .method("POST")
            .uri("/v1/bulk")
            .header("content-type", ct)
            .header("authorization", format!("Bearer {API_KEY}"))
            .body(Body::Text(body))
            .unwrap()
    };
    let huge = json!({"recipients": numbers(450_000), "text": "hi"}).to_string();
    assert!(huge.len() > send_bulk::BODY_LIMIT);
    let resp = send_bulk::handle(raw("application/json", huge), &app).await;
    assert_eq!(resp.status(), 413);
    assert_eq!(json_of(&resp)["type"], "/problems/payload-too-large");

    let resp = send_bulk::handle(raw("text/csv", "+14155550001".into()), &app).await;
    assert_eq!(resp.status(), 415);

    let resp = send_bulk::handle(raw("application/json", "{\"recipients\": [".into()), &app).await;
    assert_eq!(resp.status(), 400);
    assert!(
        json_of(&resp)["detail"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );

    let resp = send_bulk::handle(
        post(
            &json!({"recipients": ["+14155550001"], "text": "hi"}),
            Some("bad key"),
        ),
        &app,
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(json_of(&resp)["errors"][0]["field"], "Idempotency-Key");
    assert!(app.queue.bodies().is_empty());
}

fn text_of(resp: &Response<Body>) -> &str {
    match resp.body() {
        Body::Text(t) => t,
        other => panic!("unexpected body {other:?}"),
    }
}

#[tokio::test]
async fn a_resumed_answer_is_the_first_answer_byte_for_byte() {
    // Arrange: 9 numbers (one opted out), a duplicate and two invalid entries, in batches
    // of 2. `undisturbed` answers at once; `interrupted` has batch 2 refused by SQS.
    let mut recipients: Vec<Value> = numbers(9).into_iter().map(Value::from).collect();
    recipients.extend([json!("+14152000001"), json!("4155550000"), json!(7)]);
    let body = json!({"recipients": recipients, "text": "Sale ends tonight"});
    let opted_out = PhoneNumber::parse("+14152000004").unwrap();
    let (undisturbed, interrupted) = (app(2), app(2));
    for a in [&undisturbed, &interrupted] {
        a.store
            .suppress(&opted_out, SuppressionSource::Keyword, chrono::Utc::now())
            .await
            .unwrap();
    }
    let expected = send_bulk::handle(post(&body, Some("resume-1")), &undisturbed).await;
    assert_eq!(expected.status(), 202);
    *interrupted.queue.refuse_ids.lock().unwrap() = ["2".to_owned()].into();
    let cut_short = send_bulk::handle(post(&body, Some("resume-1")), &interrupted).await;
    assert_eq!(cut_short.status(), 503, "{}", text_of(&cut_short));
    interrupted.queue.refuse_ids.lock().unwrap().clear();
    // Someone else opts out before the retry: the job keeps the list it committed.
    interrupted
        .store
        .suppress(
            &PhoneNumber::parse("+14152000007").unwrap(),
            SuppressionSource::Keyword,
            chrono::Utc::now(),
        )
        .await
        .unwrap();

    // Act
    let resumed = send_bulk::handle(post(&body, Some("resume-1")), &interrupted).await;

    // Assert
    assert_eq!(resumed.status(), 202, "{}", text_of(&resumed));
    assert!(!resumed.headers().contains_key("idempotent-replayed"));
    assert_eq!(text_of(&resumed), text_of(&expected));
    assert_eq!(json_of(&resumed)["accepted"], 8);
    assert_eq!(queued(&interrupted).len(), 4);
}

#[tokio::test]
async fn seventy_thousand_invalid_entries_get_a_bounded_answer_and_the_same_replay() {
    // Arrange: 70,000 numbers without their '+', and 10 good ones.
    let app = app(1000);
    let mut recipients: Vec<String> = (0..70_000).map(|i| format!("1415{i:07}")).collect();
    recipients.extend(numbers(10));
    let body = json!({"recipients": recipients, "text": "hi"});

    // Act
    let first = send_bulk::handle(post(&body, Some("many-invalid")), &app).await;
    let replay = send_bulk::handle(post(&body, Some("many-invalid")), &app).await;
    let mut dry = body.clone();
    dry["dry_run"] = json!(true);
    let dry_run = send_bulk::handle(post(&dry, None), &app).await;

    // Assert: the first 1,000 invalid entries and the count of all; the replay is the same.
    assert_eq!(first.status(), 202);
    assert!(
        text_of(&first).len() < 256 * 1024,
        "{} bytes",
        text_of(&first).len()
    );
    let answer = json_of(&first);
    assert_eq!(answer["accepted"], 10);
    assert_eq!(answer["invalid_count"], 70_000);
    let listed = answer["invalid"].as_array().unwrap();
    assert_eq!(listed.len(), 1000);
    assert_eq!(
        (listed[0]["index"].clone(), listed[999]["index"].clone()),
        (json!(0), json!(999))
    );
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(text_of(&replay), text_of(&first));
    assert_eq!(dry_run.status(), 200);
    let dry_answer = json_of(&dry_run);
    assert_eq!(dry_answer["invalid_count"], 70_000);
    assert_eq!(dry_answer["invalid"], answer["invalid"]);
}

#[tokio::test]
async fn numbers_no_one_has_are_invalid_and_landlines_are_listed_and_skipped_on_request() {
    // A US number, `+1 555 555 0100` (no such area code), a London landline, a UK mobile,
    // the landline again.
    let recipients = json!([
        "+14155550100",
        "+15555550100",
        "+442071234567",
        "+447400123456",
        "+442071234567"
    ]);
    let landline = PhoneNumber::parse("+442071234567").unwrap();
    let listed = json!([{"index": 2, "value": "+442071234567", "reason": "is a landline in GB (+44): it cannot receive SMS"}]);
    let invalid = json!([{"index": 1, "value": "+15555550100", "reason": "is not a valid number for +1 (US, AG, AI and 22 more): no such area code or number range"}]);

    // Without skip_landlines the landline is reported and sent, as before.
    let app = app(1000);
    let body = json!({"recipients": recipients, "text": "hi"});
    let resp = send_bulk::handle(post(&body, None), &app).await;
    assert_eq!(resp.status(), 202);
    let answer = json_of(&resp);
    assert_eq!(answer["accepted"], 3, "{answer}");
    assert_eq!(
        (answer["invalid_count"].clone(), answer["invalid"].clone()),
        (json!(1), invalid.clone())
    );
    assert_eq!(answer["landline_count"], 1);
    assert_eq!(answer["landlines_skipped"], 0);
    assert_eq!(answer["landlines"], listed);
    assert!(queued(&app)[0].recipients.contains(&landline));

    // With it the landline is reported and not sent; the job's status counts it.
    let app = self::app(1000);
    let body = json!({"recipients": recipients, "text": "hi", "skip_landlines": true});
    let resp = send_bulk::handle(post(&body, None), &app).await;
    assert_eq!(resp.status(), 202);
    let answer = json_of(&resp);
    assert_eq!(answer["accepted"], 2, "{answer}");
    assert_eq!(answer["invalid"], invalid);
    assert_eq!(
        (
            answer["landline_count"].clone(),
            answer["landlines_skipped"].clone()
        ),
        (json!(1), json!(1))
    );
    assert_eq!(answer["landlines"], listed);
    assert_eq!(answer["duplicates"], 1);
    let sent: Vec<String> = queued(&app)[0]
        .recipients
        .iter()
        .map(|n| n.as_str().to_owned())
        .collect();
    assert_eq!(sent, ["+14155550100", "+447400123456"]);
    let status = send_bulk::handle(get(answer["job_id"].as_str().unwrap()), &app).await;
    let status = json_of(&status);
    assert_eq!(
        (
            status["accepted"].clone(),
            status["landlines"].clone(),
            status["landlines_skipped"].clone()
        ),
        (json!(2), json!(1), json!(1)),
        "{status}"
    );
}

#[tokio::test]
async fn a_list_of_landlines_only_with_skip_landlines_is_a_400_and_nothing_is_queued() {
    let app = app(1000);
    let body = json!({"recipients": ["+442071234567", "+493012345678"], "text": "hi", "skip_landlines": true});
    let resp = send_bulk::handle(post(&body, None), &app).await;
    assert_eq!(resp.status(), 400);
    let problem = json_of(&resp);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .ends_with("0 opted out, 2 landlines skipped"),
        "{problem}"
    );
    assert!(app.queue.bodies().is_empty());
    // A bad type for the flag is named.
    let resp = send_bulk::handle(
        post(
            &json!({"recipients": ["+14155550100"], "text": "hi", "skip_landlines": "yes"}),
            None,
        ),
        &app,
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(json_of(&resp)["errors"][0]["field"], "skip_landlines");
}

#[tokio::test]
async fn a_sender_id_with_us_or_canadian_recipients_is_a_400_naming_each_and_nothing_is_queued() {
    let app = app(1000);
    let body = json!({
        "recipients": ["+447400123456", "+14155550100", "+447400123457", "+16135550123"],
        "text": "hi",
        "from": "Acme",
    });
    let resp = send_bulk::handle(post(&body, None), &app).await;
    assert_eq!(resp.status(), 400);
    let problem = json_of(&resp);
    assert_eq!(problem["unreachable_count"], 2, "{problem}");
    let named: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let message = e["message"].as_str().unwrap();
            (e["field"].as_str().unwrap(), &message[..8])
        })
        .collect();
    assert_eq!(
        named,
        [("recipients[1]", "is in US"), ("recipients[3]", "is in CA")]
    );
    assert!(app.queue.bodies().is_empty());

    // The same list from a number goes, and a sender ID reaches the rest.
    let mut from_number = body.clone();
    from_number["from"] = json!("+14155550999");
    let resp = send_bulk::handle(post(&from_number, None), &app).await;
    assert_eq!(resp.status(), 202);
    let uk_only = json!({"recipients": ["+447400123456"], "text": "hi", "from": "Acme"});
    let resp = send_bulk::handle(post(&uk_only, None), &app).await;
    assert_eq!(resp.status(), 202);
    let senders: Vec<String> = queued(&app).iter().map(|b| b.from.to_string()).collect();
    assert_eq!(senders, ["+14155550999", "Acme"]);
}

#[tokio::test]
async fn a_job_may_ask_for_the_fallback_only_where_the_deployment_has_one() {
    let body = json!({"recipients": numbers(3), "text": "Storm warning", "fallback": true});

    // Without one: a 400 naming the field, and nothing written or queued.
    let off = app(1000);
    let response = send_bulk::handle(post(&body, None), &off).await;
    assert_eq!(response.status(), 400);
    assert_eq!(json_of(&response)["errors"][0]["field"], "fallback");
    assert!(off.queue.bodies().is_empty());

    // With one: the job and each of its batches carry the wish.
    let on = App {
        fallback: true,
        ..app(2)
    };
    let response = send_bulk::handle(post(&body, None), &on).await;
    assert_eq!(response.status(), 202, "{}", text_of(&response));
    let job_id = JobId::parse(json_of(&response)["job_id"].as_str().unwrap()).unwrap();
    assert!(on.store.get_job(&job_id).await.unwrap().unwrap().fallback);
    let batches = queued(&on);
    assert_eq!(batches.len(), 2);
    assert!(batches.iter().all(|b| b.fallback));

    // Not for an upload.
    let upload = json!({"upload_id": "3f1c2b9e-0000-4000-8000-000000000001", "text": "Hi", "fallback": true});
    let response = send_bulk::handle(post(&upload, None), &on).await;
    assert_eq!(response.status(), 400);
    assert_eq!(json_of(&response)["errors"][0]["field"], "fallback");
}
