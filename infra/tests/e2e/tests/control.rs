//! Campaign control through the whole local stack: a pause stops Plivo requests within
//! seconds and a resume finishes the job with every recipient exactly once; a cancel leaves
//! every batch not yet sent `cancelled`, and nothing more reaches Plivo.
//!
//! The simulator answers each request after 1.5 s, so the job is still going when the test
//! changes its control: the sender's first invocation holds ten batches in flight, and the
//! job has fifty.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use e2e::Stack;
use serde_json::{Value, json};

const BATCHES: usize = 50;

/// A bulk job of `BATCHES` full batches against a slow simulator, once its first request
/// has reached Plivo.
async fn slow_job(stack: &Stack, first: usize, text: &str) -> (String, Vec<String>) {
    stack.sim_reset().await;
    stack
        .sim_config(json!({"reports": false, "slow_every": 1, "slow_ms": 1500}))
        .await;
    let recipients = e2e::numbers(first, BATCHES * 1000);
    let (status, body) = stack
        .post(
            "/v1/bulk",
            &json!({"recipients": recipients, "text": text}),
            &[],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let job_id = body["job_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(120);
    while requests(stack).await == 0 {
        assert!(Instant::now() < deadline, "no batch reached Plivo");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (job_id, recipients)
}

async fn requests(stack: &Stack) -> u64 {
    stack.sim_stats().await["requests"].as_u64().unwrap()
}

/// The Plivo requests after a control change settle within 5 s: none arrives later.
async fn requests_settle_within_5_s(stack: &Stack) -> u64 {
    tokio::time::sleep(Duration::from_secs(5)).await;
    let settled = requests(stack).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        requests(stack).await,
        settled,
        "Plivo got a request more than 5 s after the change"
    );
    settled
}

async fn control(stack: &Stack, job_id: &str, action: &str) -> Value {
    let (status, body) = stack
        .post(&format!("/v1/bulk/{job_id}/{action}"), &Value::Null, &[])
        .await;
    assert_eq!(status, 200, "{action}: {body}");
    body
}

#[tokio::test]
async fn a_pause_stops_plivo_requests_within_5_s_and_a_resume_sends_each_recipient_once() {
    let stack = Stack::from_env();
    let (job_id, recipients) = slow_job(&stack, 7_000_000, "Paused and resumed").await;

    let paused = control(&stack, &job_id, "pause").await;
    assert_eq!(paused["status"], "paused", "{paused}");
    let before_resume = requests_settle_within_5_s(&stack).await;
    assert!(
        (before_resume as usize) < BATCHES,
        "the pause came too late to hold anything back ({before_resume} requests)"
    );
    let (_, progress) = stack.get(&format!("/v1/bulk/{job_id}")).await;
    assert_eq!(progress["status"], "paused", "{progress}");
    assert_eq!(progress["paused_reason"], "requested", "{progress}");

    let resumed = control(&stack, &job_id, "resume").await;
    assert_eq!(resumed["changed"], true, "{resumed}");
    let progress = stack
        .wait_for_job(&job_id, 300, |p| p["status"] == "done")
        .await;

    assert_eq!(progress["batches"]["sent"], BATCHES, "{progress}");
    // Plivo's form of a number has no `+`.
    let sent: Vec<String> = e2e::accepted_destinations(&stack)
        .await
        .into_iter()
        .flatten()
        .map(|n| format!("+{n}"))
        .collect();
    let distinct: HashSet<&String> = sent.iter().collect();
    assert_eq!(sent.len(), distinct.len(), "a recipient got the text twice");
    assert!(
        distinct == recipients.iter().collect::<HashSet<_>>(),
        "not every recipient got the text: {} of {}",
        distinct.len(),
        recipients.len()
    );
}

#[tokio::test]
async fn a_cancel_leaves_every_unsent_batch_cancelled_and_sends_nothing_more() {
    let stack = Stack::from_env();
    let (job_id, _) = slow_job(&stack, 7_100_000, "Cancelled").await;

    let cancelled = control(&stack, &job_id, "cancel").await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    let sent = requests_settle_within_5_s(&stack).await;
    let progress = stack
        .wait_for_job(&job_id, 300, |p| {
            let b = &p["batches"];
            b["sent"].as_u64().unwrap() + b["cancelled"].as_u64().unwrap() == BATCHES as u64
        })
        .await;

    assert_eq!(progress["status"], "cancelled", "{progress}");
    let b = &progress["batches"];
    assert_eq!(b["sent"].as_u64().unwrap(), sent, "{progress}");
    assert!(b["cancelled"].as_u64().unwrap() > 0, "{progress}");
    assert_eq!(
        progress["recipients_cancelled"].as_u64().unwrap(),
        b["cancelled"].as_u64().unwrap() * 1000,
        "{progress}"
    );
    // Cancelling again changes nothing; resuming is refused.
    assert_eq!(control(&stack, &job_id, "cancel").await["changed"], false);
    let (status, problem) = stack
        .post(&format!("/v1/bulk/{job_id}/resume"), &Value::Null, &[])
        .await;
    assert_eq!(
        (status, &problem["type"]),
        (409, &json!("/problems/job-state"))
    );
    assert_eq!(requests(&stack).await, sent);
}
