//! Plivo faults during a bulk job (429s, 503s, answers after the sender's timeout): nobody
//! gets the text twice, and every batch ends `sent` or `failed`: those Plivo took but answered
//! too late end `unknown` and are then settled `sent` from Plivo's records.

use std::collections::HashSet;

use e2e::Stack;
use serde_json::json;

#[tokio::test]
async fn faults_never_send_anyone_the_text_twice_and_every_batch_ends() {
    // Arrange: every 3rd request is rate-limited, every 4th fails with 503, every 5th is
    // accepted but answered after the sender's timeout.
    let stack = Stack::from_env();
    stack.sim_reset().await;
    stack
        .sim_config(json!({"reports": false, "rate_limit_every": 3, "server_error_every": 4, "server_error_status": 503, "slow_every": 5, "slow_ms": 4000}))
        .await;
    let recipients = e2e::numbers(2_000_000, 8_000);

    // Act
    let (status, body) = stack
        .post(
            "/v1/bulk",
            &json!({"recipients": recipients, "text": "Fault drill"}),
            &[],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let job_id = body["job_id"].as_str().unwrap().to_owned();
    let progress = stack
        .wait_for_job(&job_id, 600, |p| {
            e2e::all_batches_ended(p) && p["batches"]["unknown"] == 0
        })
        .await;

    // Assert: nobody twice; the slow answers were settled `sent` (not resent); all batches
    // ended.
    let sent: Vec<String> = e2e::accepted_destinations(&stack)
        .await
        .into_iter()
        .flatten()
        .collect();
    let distinct: HashSet<_> = sent.iter().collect();
    assert_eq!(
        sent.len(),
        distinct.len(),
        "a recipient was sent the text twice"
    );
    let b = &progress["batches"];
    assert!(b["reconciled"].as_u64().unwrap() >= 1, "{progress}");
    assert_eq!(b["resent"], 0, "{progress}");
    assert_eq!(b["failed"], 0, "{progress}");
    let stats = stack.sim_stats().await;
    assert!(
        stats["outcomes"]["rate_limited"].as_u64().unwrap() >= 1,
        "{stats}"
    );
    assert!(
        stats["outcomes"]["server_error"].as_u64().unwrap() >= 1,
        "{stats}"
    );
    // Batches Plivo accepted = the sent ones (the slow answers, accepted too, included).
    assert_eq!(
        stats["outcomes"]["accepted"].as_u64().unwrap(),
        b["sent"].as_u64().unwrap(),
        "{stats} {progress}"
    );
}
