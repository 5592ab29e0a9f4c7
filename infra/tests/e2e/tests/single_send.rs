//! One SMS through the real path: local API → send-sms → Plivo simulator → DynamoDB (moto).

use e2e::Stack;
use serde_json::json;

#[tokio::test]
async fn a_single_send_reaches_plivo_once_and_can_be_looked_up() {
    let stack = Stack::from_env();
    stack.sim_reset().await;
    let text = "Hello from the end-to-end test €";

    let (status, body) = stack
        .post(
            "/v1/messages",
            &json!({"to": "+14155550123", "text": text, "reference": "e2e-1"}),
            &[],
        )
        .await;

    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "queued");
    assert_eq!(body["encoding"], "GSM-7");
    assert_eq!(body["segments"], 1);
    let uuid = body["message_uuid"]
        .as_str()
        .expect("a message uuid")
        .to_owned();

    let received = stack.sim_requests().await;
    assert_eq!(received.len(), 1, "{received:?}");
    let req = &received[0];
    assert_eq!(req["auth_ok"], true);
    assert_eq!(
        req["src"].as_str().unwrap().trim_start_matches('+'),
        "14155550100"
    );
    assert_eq!(req["dst"], json!(["14155550123"]));
    assert_eq!(req["text"], text);
    assert_eq!(req["method"], "POST");
    assert_eq!(
        req["url"],
        format!("{}/v1/callbacks/plivo/status", stack.public_base_url)
    );
    assert_eq!(req["message_uuids"], json!([uuid]));

    let (status, message) = stack.get(&format!("/v1/messages/{uuid}")).await;
    assert_eq!(status, 200, "{message}");
    assert_eq!(message["message_uuid"], uuid);
    assert_eq!(message["to"], "+14155550123");
    assert_eq!(message["reference"], "e2e-1");
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_reaches_plivo() {
    let stack = Stack::from_env();
    stack.sim_reset().await;

    let (status, body) = stack
        .post(
            "/v1/messages",
            &json!({"to": "0044 7700", "text": "hi"}),
            &[],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["field"], "to");

    let unauthenticated = stack
        .http
        .post(format!("{}/v1/messages", stack.api))
        .json(&json!({"to": "+14155550123", "text": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status().as_u16(), 401);

    assert!(stack.sim_requests().await.is_empty());
}

#[tokio::test]
async fn an_idempotent_retry_sends_nothing_more() {
    let stack = Stack::from_env();
    stack.sim_reset().await;
    let body = json!({"to": "+14155550124", "text": "once only"});

    let (first, a) = stack
        .post("/v1/messages", &body, &[("Idempotency-Key", "e2e-key-1")])
        .await;
    let (second, b) = stack
        .post("/v1/messages", &body, &[("Idempotency-Key", "e2e-key-1")])
        .await;

    assert_eq!((first, second), (202, 202));
    assert_eq!(a, b);
    assert_eq!(stack.sim_requests().await.len(), 1);
}
