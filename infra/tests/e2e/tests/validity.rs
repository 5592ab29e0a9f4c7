//! A job's validity through the whole local stack: every request tells Plivo what is left of
//! it, none reaches Plivo after it, and the batches it cut short end `failed`, their
//! recipients never sent.
//!
//! To make the deadline cut in at a known point, the job (50 batches, a simulator that
//! answers each request after 1.5 s) is paused once its first request reaches Plivo, and
//! resumed only after its 90 seconds are over: what was parked must then fail unsent. (90,
//! not less: on a loaded 2-core machine the 50,000-recipient intake and the first batch's
//! trip through the queue took over 15 s, and a batch that reaches the sender with under 5 s
//! left is never sent, so with 20 s no batch reached Plivo at all.)

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use e2e::Stack;
use serde_json::{Value, json};

#[tokio::test]
async fn no_batch_reaches_plivo_after_its_jobs_deadline_and_each_carries_what_is_left() {
    let stack = Stack::from_env();
    stack.sim_reset().await;
    stack
        .sim_config(json!({"reports": false, "slow_every": 1, "slow_ms": 1500}))
        .await;
    let recipients = e2e::numbers(7_200_000, 50_000);

    let (status, body) = stack
        .post(
            "/v1/bulk",
            &json!({"recipients": recipients, "text": "Doors close at 8", "valid_for": 90}),
            &[],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["forecast"]["fits_validity"], true, "{body}");
    let deadline: DateTime<Utc> = body["forecast"]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let job_id = body["job_id"].as_str().unwrap().to_owned();
    // Generous: on a loaded machine the first batch can take a while to reach the sender.
    let waiting = Instant::now() + Duration::from_secs(180);
    while stack.sim_stats().await["requests"].as_u64().unwrap() == 0 {
        assert!(Instant::now() < waiting, "no batch reached Plivo");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let at = |action: &str| format!("/v1/bulk/{job_id}/{action}");
    assert_eq!(stack.post(&at("pause"), &Value::Null, &[]).await.0, 200);
    let past = (deadline + chrono::Duration::seconds(2) - Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(past).await;
    assert_eq!(stack.post(&at("resume"), &Value::Null, &[]).await.0, 200);
    let progress = stack
        .wait_for_job(&job_id, 300, e2e::all_batches_ended)
        .await;

    let requests = stack.sim_requests().await;
    for r in &requests {
        let received: DateTime<Utc> = r["received_at"].as_str().unwrap().parse().unwrap();
        // The deadline as the forecast prints it is cut to the second; none may go with
        // less than 5 s left, so every request is well before it.
        assert!(
            received <= deadline + chrono::Duration::seconds(1),
            "a request at {received}, after the deadline {deadline}"
        );
        let expiry: i64 = r["message_expiry"].as_str().unwrap().parse().unwrap();
        assert!((5..=90).contains(&expiry), "{expiry}");
    }
    let b = &progress["batches"];
    let (sent, failed) = (b["sent"].as_u64().unwrap(), b["failed"].as_u64().unwrap());
    assert_eq!(sent as usize, requests.len(), "{progress}");
    assert!(sent > 0 && failed > 0, "{progress}");
    assert_eq!(sent + failed, 50, "{progress}");
}
