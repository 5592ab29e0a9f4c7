//! `valid_for` and `expires_at` on `POST /v1/bulk` (docs/api.md, "Validity"): checked and
//! named when wrong, carried by every batch, and a job that cannot reach Plivo before its
//! deadline refused up front, with nothing written. The real handler with the in-memory store,
//! files and queues.

use chrono::Utc;
use serde_json::{Value, json};
use sms_core::{
    domain::{bulk::BatchMessage, ids::JobId},
    store::JobStore,
};
use sms_test_support::{json_of, post_json};

mod common;
use common::TestApp;

/// One recipient per batch, so a job's submission time is its size over 55 a second.
fn app() -> TestApp {
    common::app(1)
}

async fn post(app: &TestApp, body: &Value, key: Option<&str>) -> (u16, Value) {
    let response = send_bulk::handle(post_json("/v1/bulk", body, key), app).await;
    (response.status().as_u16(), json_of(&response))
}

fn recipients(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("+1415{:07}", 2_000_000 + i))
        .collect()
}

fn queued(app: &TestApp) -> Vec<BatchMessage> {
    app.queue
        .bodies()
        .iter()
        .map(|b| BatchMessage::parse(b).unwrap())
        .collect()
}

#[tokio::test]
async fn a_bad_validity_is_a_400_naming_its_field() {
    let app = app();
    let soon = (Utc::now() + chrono::Duration::minutes(5)).to_rfc3339();
    let cases = [
        (json!({"valid_for": 3}), "valid_for", "at least 5 seconds"),
        (json!({"valid_for": 4_000_000}), "valid_for", "35 days"),
        (json!({"valid_for": -1}), "", ""),
        (json!({"expires_at": "tomorrow"}), "expires_at", "RFC 3339"),
        (
            json!({"expires_at": "2020-01-01T00:00:00Z"}),
            "expires_at",
            "past",
        ),
        (
            json!({"valid_for": 60, "expires_at": soon}),
            "expires_at",
            "cannot both",
        ),
    ];
    for (fields, field, says) in cases {
        let mut body = json!({"recipients": recipients(2), "text": "Flash sale"});
        for (k, v) in fields.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (code, problem) = post(&app, &body, None).await;
        assert_eq!(code, 400, "{fields}: {problem}");
        if !field.is_empty() {
            assert_eq!(problem["errors"][0]["field"], field, "{problem}");
            let message = problem["errors"][0]["message"].as_str().unwrap();
            assert!(message.contains(says), "{message}");
        }
    }
    assert!(app.queue.bodies().is_empty());
}

#[tokio::test]
async fn every_batch_carries_the_jobs_deadline_and_the_forecast_shows_it() {
    let app = app();
    let before = Utc::now();

    let (code, body) = post(
        &app,
        &json!({"recipients": recipients(3), "text": "Flash sale", "valid_for": 600}),
        None,
    )
    .await;

    assert_eq!(code, 202, "{body}");
    assert_eq!(body["forecast"]["fits_validity"], true, "{body}");
    assert!(body["forecast"]["expires_at"].is_string(), "{body}");
    let batches = queued(&app);
    assert_eq!(batches.len(), 3);
    let deadline = batches[0].expires_at.unwrap();
    assert!(batches.iter().all(|b| b.expires_at == Some(deadline)));
    let expected = before + chrono::Duration::seconds(600);
    assert!((deadline - expected).num_seconds().abs() <= 2, "{deadline}");
    let job_id = JobId::parse(body["job_id"].as_str().unwrap()).unwrap();
    let job = app.store.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!(job.expires_at, Some(deadline));
}

#[tokio::test]
async fn a_job_that_cannot_reach_plivo_before_its_deadline_is_refused_and_nothing_is_written() {
    let app = app();
    // 1,000 requests take about 18 s at 55 a second: 10 s is too short.
    let body = json!({"recipients": recipients(1_000), "text": "Flash sale", "valid_for": 10});

    let (code, problem) = post(&app, &body, Some("flash-sale-1")).await;

    assert_eq!(code, 422, "{problem}");
    assert_eq!(problem["type"], "/problems/validity-too-short");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("1000 requests"), "{detail}");
    assert!(detail.contains("at least 20 seconds"), "{detail}");
    assert!(app.queue.bodies().is_empty());
    // Nothing was written and the key was released: the request with a longer validity goes,
    // under the same key, and its forecast warns that Plivo's dispatch outlasts the deadline.
    let longer = json!({"recipients": recipients(1_000), "text": "Flash sale", "valid_for": 60});
    let (code, body) = post(&app, &longer, Some("flash-sale-1")).await;
    assert_eq!(code, 202, "{body}");
    let warning = body["forecast"]["warning"].as_str().unwrap();
    assert!(warning.contains("of the job's 1000 messages"), "{warning}");

    // A dry run of the short one says so instead of refusing.
    let mut dry = json!({"recipients": recipients(1_000), "text": "Flash sale", "valid_for": 10});
    dry["dry_run"] = json!(true);
    let (code, answer) = post(&app, &dry, None).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["forecast"]["fits_validity"], false, "{answer}");
}
