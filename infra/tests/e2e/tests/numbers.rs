//! The numbering plans through the local stack: numbers no one can have are reported and never
//! sent, and with `skip_landlines` a landline never reaches the Plivo simulator while the
//! job's status counts it.

use std::collections::HashSet;

use e2e::Stack;
use serde_json::json;

#[tokio::test]
async fn with_skip_landlines_the_simulator_never_sees_a_landline_and_the_job_counts_it() {
    // Arrange: three New York numbers, two London landlines, a UK mobile and `+1 555 555
    // 0100` (no such area code).
    let stack = Stack::from_env();
    stack.sim_reset().await;
    let mut recipients = e2e::numbers(5_000_000, 3);
    recipients.extend(["+442071234567", "+442079460123"].map(String::from));
    recipients.push("+447400123456".into());
    recipients.push("+15555550100".into());

    // Act
    let (status, body) = stack
        .post(
            "/v1/bulk",
            &json!({"recipients": recipients, "text": "Your order shipped", "skip_landlines": true}),
            &[],
        )
        .await;

    // Assert: the answer reports the landlines and the impossible number by index.
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 4, "{body}");
    assert_eq!(
        (
            body["landline_count"].clone(),
            body["landlines_skipped"].clone()
        ),
        (json!(2), json!(2))
    );
    let indices: Vec<_> = body["landlines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, [3, 4]);
    assert_eq!(
        body["invalid"],
        json!([{"index": 6, "value": "+15555550100", "reason": "is not a valid number for +1 (US, AG, AI and 22 more): no such area code or number range"}])
    );
    let job_id = body["job_id"].as_str().unwrap().to_owned();
    let progress = stack
        .wait_for_job(&job_id, 120, e2e::all_batches_ended)
        .await;
    assert_eq!(
        (
            progress["accepted"].clone(),
            progress["landlines"].clone(),
            progress["landlines_skipped"].clone()
        ),
        (json!(4), json!(2), json!(2)),
        "{progress}"
    );

    // The simulator was sent the four others, never a landline nor the impossible number
    // (of this request's numbers: a batch of an earlier test may still arrive).
    let listed: HashSet<&String> = recipients.iter().collect();
    let sent: HashSet<String> = e2e::accepted_destinations(&stack)
        .await
        .into_iter()
        .flatten()
        .map(|d| format!("+{}", d.trim_start_matches('+')))
        .filter(|d| listed.contains(d))
        .collect();
    let mut expected: HashSet<String> = e2e::numbers(5_000_000, 3).into_iter().collect();
    expected.insert("+447400123456".into());
    assert_eq!(sent, expected);

    // A single send to a landline with skip_landlines is refused before Plivo.
    let (status, problem) = stack
        .post(
            "/v1/messages",
            &json!({"to": "+442071234567", "text": "hi", "skip_landlines": true}),
            &[],
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "to");
    assert!(
        !e2e::accepted_destinations(&stack)
            .await
            .into_iter()
            .flatten()
            .any(|d| d.trim_start_matches('+') == "442071234567"),
        "the landline reached the simulator"
    );
}
