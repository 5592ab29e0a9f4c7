//! Volume through the local stack: send-bulk → SQS (moto) → poller → sender → simulator.
//! Runs last of the end-to-end files (cargo orders them by name): moto's transactions copy
//! its tables, so everything after 25,000 messages would only be slower.

use std::collections::HashSet;

use e2e::Stack;
use serde_json::{Value, json};

#[tokio::test]
async fn a_25000_recipient_job_reaches_every_valid_recipient_exactly_once() {
    // Arrange: 24,500 distinct numbers, 250 repeats and 250 invalid entries.
    let stack = Stack::from_env();
    stack.sim_reset().await;
    stack.sim_config(json!({"reports": false})).await;
    let valid = e2e::numbers(1_000_000, 24_500);
    let mut recipients: Vec<Value> = valid.iter().cloned().map(Value::from).collect();
    for i in 0..250 {
        recipients.insert(i * 90, json!(valid[i * 7].clone()));
        recipients.insert(
            i * 90 + 1,
            if i % 2 == 0 {
                json!(format!("1212{i:07}"))
            } else {
                json!(i)
            },
        );
    }
    assert_eq!(recipients.len(), 25_000);

    // Act: with a key, as a client sending a campaign would (and the harness may resend it).
    let (status, body) = stack
        .post(
            "/v1/bulk",
            &json!({"recipients": recipients, "text": "Big sale today"}),
            &[("Idempotency-Key", "e2e-volume-1")],
        )
        .await;

    // Assert: the intake report.
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        (
            body["accepted"].clone(),
            body["duplicates"].clone(),
            body["batches"].clone()
        ),
        (json!(24_500), json!(250), json!(25))
    );
    assert_eq!(body["invalid"].as_array().unwrap().len(), 250);
    assert_eq!(body["invalid_count"], 250);
    let job_id = body["job_id"].as_str().unwrap().to_owned();

    // Assert: the job ends, every batch sent.
    let progress = stack
        .wait_for_job(&job_id, 600, e2e::all_batches_ended)
        .await;
    assert_eq!(progress["status"], "done");
    assert_eq!(
        progress["batches"],
        json!({"total": 25, "sent": 25, "failed": 0, "unknown": 0, "cancelled": 0, "reconciled": 0, "resent": 0})
    );
    assert_eq!(progress["messages"]["queued"], 24_500, "{progress}");

    // Assert: the simulator saw every valid recipient exactly once, ≤ 1,000 per request.
    let requests = e2e::accepted_destinations(&stack).await;
    assert!(requests.iter().all(|d| d.len() <= 1000));
    let sent: Vec<String> = requests
        .into_iter()
        .flatten()
        .map(|d| format!("+{d}"))
        .collect();
    assert_eq!(sent.len(), 24_500, "no recipient twice");
    assert_eq!(
        sent.into_iter().collect::<HashSet<_>>(),
        valid.into_iter().collect::<HashSet<_>>()
    );
}
