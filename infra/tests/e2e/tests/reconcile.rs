//! Unknown batches settled from Plivo's records, through the whole local stack: the sender
//! times out, job-files reads the simulator's list API, and the batch ends `sent` (nobody
//! gets a second copy), is resent once (Plivo never took it), or stays `unknown` with its
//! alarm's metric (the records cannot be read). Delivery reports are off, so the records
//! alone decide.

use e2e::Stack;
use serde_json::{Value, json};

async fn start_job(stack: &Stack, recipients: &[String]) -> String {
    let (status, body) = stack
        .post(
            "/v1/bulk",
            &json!({"recipients": recipients, "text": "Your parcel is on its way"}),
            &[],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    body["job_id"].as_str().unwrap().to_owned()
}

fn batches(progress: &Value, what: &str) -> u64 {
    progress["batches"][what].as_u64().unwrap()
}

#[tokio::test]
async fn a_timeout_after_plivo_took_the_batch_is_settled_sent_and_nobody_gets_a_second_copy() {
    // Arrange: Plivo takes the request but answers after the sender's 2 s timeout.
    let stack = Stack::from_env();
    stack.sim_reset().await;
    stack
        .sim_config(json!({"reports": false, "slow_every": 1, "slow_ms": 4000}))
        .await;
    let recipients = e2e::numbers(7_700_000, 5);

    // Act
    let job_id = start_job(&stack, &recipients).await;
    let progress = stack
        .wait_for_job(&job_id, 120, |p| {
            p["status"] == "done" && batches(p, "reconciled") == 1
        })
        .await;

    // Assert: sent, found in the records, never resent; each recipient has one message.
    assert_eq!(
        (
            batches(&progress, "sent"),
            batches(&progress, "unknown"),
            batches(&progress, "resent")
        ),
        (1, 0, 0),
        "{progress}"
    );
    let stats = stack.sim_stats().await;
    assert_eq!(stats["outcomes"]["accepted"], 1, "{stats}");
    assert_eq!(stats["recipients_accepted"], 5, "{stats}");
    assert_eq!(stats["duplicates"], json!([]), "{stats}");
    // The message the records found (the first recipient's) is known by its uuid; the
    // results file says every recipient was taken by Plivo, none is left unknown.
    let messages = e2e::simulated_messages(&stack).await;
    let found = &messages[&recipients[0]][0];
    let (status, message) = stack.get(&format!("/v1/messages/{found}")).await;
    assert_eq!(status, 200, "{message}");
    assert_eq!(message["job_id"], job_id.as_str(), "{message}");
    assert_eq!(message["to"], recipients[0].as_str(), "{message}");
    let results = stack.results_file(&job_id).await;
    assert_eq!(
        results
            .lines()
            .skip(1)
            .filter(|l| l.split(',').nth(2) == Some("reconciled"))
            .count(),
        5,
        "{results}"
    );
}

#[tokio::test]
async fn a_timeout_before_plivo_took_anything_is_resent_once() {
    // Arrange: two batches (1,000 and 1); the second request to reach Plivo is held past the
    // timeout and dropped, never taken.
    let stack = Stack::from_env();
    stack.sim_reset().await;
    stack
        .sim_config(json!({"reports": false, "lost_every": 2, "slow_ms": 4000}))
        .await;
    let recipients = e2e::numbers(7_710_000, 1_001);

    // Act
    let job_id = start_job(&stack, &recipients).await;
    let progress = stack
        .wait_for_job(&job_id, 180, |p| {
            p["status"] == "done" && batches(p, "resent") == 1
        })
        .await;

    // Assert: both batches sent, the lost one once more; every recipient exactly once.
    assert_eq!(
        (
            batches(&progress, "sent"),
            batches(&progress, "unknown"),
            batches(&progress, "reconciled")
        ),
        (2, 0, 0),
        "{progress}"
    );
    let stats = stack.sim_stats().await;
    assert_eq!(stats["outcomes"]["lost"], 1, "{stats}");
    assert_eq!(stats["outcomes"]["accepted"], 2, "{stats}");
    assert_eq!(stats["recipients_accepted"], 1_001, "{stats}");
    assert_eq!(stats["distinct_recipients"], 1_001, "{stats}");
    assert_eq!(stats["duplicates"], json!([]), "{stats}");
}

#[tokio::test]
async fn when_plivos_records_cannot_be_read_the_batch_stays_unknown_and_alarms() {
    // Arrange: Plivo takes the request and answers late; its list API fails every time.
    let stack = Stack::from_env();
    stack.sim_reset().await;
    stack
        .sim_config(
            json!({"reports": false, "slow_every": 1, "slow_ms": 4000, "list_error_every": 1}),
        )
        .await;
    let alarms_before = e2e::metric_total("UnreconciledBatches");
    let recipients = e2e::numbers(7_720_000, 3);

    // Act: the settlement is tried six times, 3 s apart, then given up.
    let job_id = start_job(&stack, &recipients).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while e2e::metric_total("UnreconciledBatches") == alarms_before {
        assert!(
            std::time::Instant::now() < deadline,
            "no UnreconciledBatches metric in 120 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }

    // Assert: still unknown, never resent, sent to Plivo once.
    let (status, progress) = stack.get(&format!("/v1/bulk/{job_id}")).await;
    assert_eq!(status, 200, "{progress}");
    assert_eq!(
        (
            batches(&progress, "unknown"),
            batches(&progress, "sent"),
            batches(&progress, "resent")
        ),
        (1, 0, 0),
        "{progress}"
    );
    let stats = stack.sim_stats().await;
    assert_eq!(stats["outcomes"]["accepted"], 1, "{stats}");
    assert_eq!(stats["recipients_accepted"], 3, "{stats}");
}
