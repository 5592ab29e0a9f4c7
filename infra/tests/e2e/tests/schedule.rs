//! Scheduled jobs through the whole local stack (send-bulk → job-files → the local stand-in
//! for EventBridge Scheduler → job-files → the sender → the simulator): a job scheduled two
//! minutes ahead waits `scheduled`, nothing of it reaches Plivo before its time, and it starts
//! at its time and reaches every recipient once but the one who replied STOP while it
//! waited; a job cancelled before its start sends nothing, ever.

use std::collections::HashSet;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use e2e::Stack;
use serde_json::{Value, json};

async fn schedule(stack: &Stack, recipients: &[String], send_at: DateTime<Utc>) -> String {
    let (status, body) = stack
        .post(
            "/v1/bulk",
            &json!({
                "recipients": recipients,
                "text": "The doors open now",
                "send_at": send_at.to_rfc3339(),
            }),
            &[],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "scheduled", "{body}");
    body["job_id"].as_str().unwrap().to_owned()
}

/// The simulator's requests for any of `numbers`: when each was received, and its numbers.
async fn requests_for(
    stack: &Stack,
    numbers: &HashSet<String>,
) -> Vec<(DateTime<Utc>, Vec<String>)> {
    stack
        .sim_requests()
        .await
        .iter()
        .filter(|r| r["outcome"] == "accepted")
        .map(|r| {
            let dst: Vec<String> = r["dst"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| format!("+{}", d.as_str().unwrap().trim_start_matches('+')))
                .collect();
            let at: DateTime<Utc> = r["received_at"].as_str().unwrap().parse().unwrap();
            (at, dst)
        })
        .filter(|(_, dst)| dst.iter().any(|d| numbers.contains(d)))
        .collect()
}

#[tokio::test]
async fn a_job_scheduled_two_minutes_ahead_starts_then_and_a_cancelled_one_never_does() {
    // Arrange: one job at +2 min, another at +1 min that is cancelled before its start.
    let stack = Stack::from_env();
    stack.sim_reset().await;
    stack.sim_config(json!({"reports": false})).await;
    let now = Utc::now().trunc_subsecs(0);
    let kept = e2e::numbers(7_000_000, 2_500);
    let dropped = e2e::numbers(7_100_000, 1_500);
    let send_at = now + Duration::minutes(2);
    let cancel_at = now + Duration::minutes(1);

    // Act
    let job_id = schedule(&stack, &kept, send_at).await;
    let cancelled_id = schedule(&stack, &dropped, cancel_at).await;
    let (status, cancelled) = stack
        .post(
            &format!("/v1/bulk/{cancelled_id}/cancel"),
            &Value::Null,
            &[],
        )
        .await;

    // Assert: before its time the job waits, and nothing of either reaches Plivo.
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let (_, waiting) = stack.get(&format!("/v1/bulk/{job_id}")).await;
    assert_eq!(waiting["status"], "scheduled", "{waiting}");
    assert_eq!(
        waiting["send_at"],
        send_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let (status, paused) = stack
        .post(&format!("/v1/bulk/{job_id}/pause"), &Value::Null, &[])
        .await;
    assert_eq!(status, 409, "{paused}");
    // A recipient opts out while the job waits: the intake screened them, the sender must.
    let stopped = &kept[17];
    let from = stopped.trim_start_matches('+');
    let stop = [
        ("From", from),
        ("To", "14155550100"),
        ("Text", "STOP"),
        ("Type", "sms"),
    ];
    let token = stack.plivo_auth_token.clone();
    assert_eq!(
        stack
            .post_signed("/v1/callbacks/plivo/inbound", &stop, &token)
            .await,
        200
    );

    // Assert: it started at its time and reached everyone once, but the one who opted out.
    let progress = stack
        .wait_for_job(&job_id, 420, e2e::all_batches_ended)
        .await;
    assert_eq!(progress["status"], "done", "{progress}");
    assert_eq!(progress["batches"]["sent"], 3, "{progress}");
    assert_eq!(progress["recipients_opted_out"], 1, "{progress}");
    let mut kept_set: HashSet<String> = kept.iter().cloned().collect();
    let requests = requests_for(&stack, &kept_set).await;
    let first = requests.iter().map(|(at, _)| *at).min().unwrap();
    assert!(
        first >= send_at,
        "a batch reached Plivo at {first}, before {send_at}"
    );
    // On time: the schedule fires within a second of its time locally; the rest is the
    // files and batch queues' polling. A minute is far more than that takes.
    assert!(
        first - send_at < Duration::minutes(1),
        "the job started at {first}, a minute after {send_at}"
    );
    let sent: Vec<String> = requests.into_iter().flat_map(|(_, d)| d).collect();
    assert_eq!(sent.len(), kept.len() - 1, "no recipient twice");
    kept_set.remove(stopped);
    assert_eq!(sent.into_iter().collect::<HashSet<_>>(), kept_set);

    // Assert: the cancelled job's time came and went; it sent nothing and ended cancelled.
    let dropped_set: HashSet<String> = dropped.iter().cloned().collect();
    assert!(requests_for(&stack, &dropped_set).await.is_empty());
    let (_, gone) = stack.get(&format!("/v1/bulk/{cancelled_id}")).await;
    assert_eq!(gone["status"], "cancelled", "{gone}");
    assert_eq!(gone["batches"]["cancelled"], 2, "{gone}");
    assert_eq!(gone["recipients_cancelled"], 1_500, "{gone}");
}
