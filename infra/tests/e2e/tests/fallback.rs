//! The fallback provider through the whole local stack: Plivo (the simulator) fails every
//! request, the sender's batches spend their retries and open Plivo's circuit, and the job
//! that asked for the fallback is sent through SNS (moto's `Publish` to phone numbers):
//! every recipient once, by one provider only.

use std::collections::HashMap;

use e2e::Stack;
use serde_json::{Value, json};

/// The texts moto's SNS has sent, by number.
async fn sent_by_sns(stack: &Stack) -> HashMap<String, Vec<String>> {
    let moto = std::env::var("SMS_E2E_MOTO_URL").expect("with-stack.sh sets SMS_E2E_MOTO_URL");
    let data: Value = stack
        .http
        .get(format!("{moto}/moto-api/data.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut sent: HashMap<String, Vec<String>> = HashMap::new();
    for m in data["sns"]["SMS"].as_array().into_iter().flatten() {
        sent.entry(m["phone_number"].as_str().unwrap().to_owned())
            .or_default()
            .push(m["message"].as_str().unwrap().to_owned());
    }
    sent
}

#[tokio::test]
async fn while_plivo_fails_a_job_that_asked_is_sent_through_sns_each_recipient_once() {
    // Arrange: every request to Plivo fails with 503; three batches (1,000, 1,000 and 1).
    let stack = Stack::from_env();
    stack.sim_reset().await;
    stack
        .sim_config(json!({"reports": false, "server_error_every": 1, "server_error_status": 503}))
        .await;
    let recipients = e2e::numbers(7_800_000, 2_001);
    let text = "Flood warning: move to higher ground";

    // Act
    let (status, body) = stack
        .post(
            "/v1/bulk",
            &json!({"recipients": recipients, "text": text, "fallback": true}),
            &[],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let job_id = body["job_id"].as_str().unwrap().to_owned();
    let progress = stack
        .wait_for_job(&job_id, 300, |p| p["status"] == "done")
        .await;

    // Assert: every recipient got the text once, from SNS; Plivo took nothing.
    assert_eq!(progress["batches"]["sent"], 3, "{progress}");
    assert_eq!(
        progress["providers"],
        json!({"plivo": 0, "sns": 2_001}),
        "{progress}"
    );
    let sent = sent_by_sns(&stack).await;
    for number in &recipients {
        assert_eq!(
            sent.get(number).map(Vec::as_slice),
            Some([text.to_owned()].as_slice()),
            "{number}"
        );
    }
    let stats = stack.sim_stats().await;
    assert_eq!(stats["outcomes"]["accepted"], 0, "{stats}");
    assert!(
        stats["outcomes"]["server_error"].as_u64().unwrap() >= 3,
        "{stats}"
    );

    // Each message records its provider; the results file names each recipient's message.
    let results = stack.results_file(&job_id).await;
    let first = results.lines().nth(1).unwrap().to_owned();
    let fields: Vec<&str> = first.split(',').collect();
    assert_eq!(fields[2], "sent", "{first}");
    let (status, message) = stack.get(&format!("/v1/messages/{}", fields[1])).await;
    assert_eq!(status, 200, "{message}");
    assert_eq!(message["provider"], "sns", "{message}");
    assert_eq!(message["to"], fields[0], "{message}");
}
