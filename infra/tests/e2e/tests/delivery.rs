//! Delivery tracking through the local stack: the simulator's signed reports drive messages
//! to their final status, forged reports are refused, and STOP replies suppress a number.

use e2e::Stack;
use serde_json::json;

#[tokio::test]
async fn real_reports_drive_every_message_of_a_bulk_job_to_its_final_status() {
    // Arrange: 35 deliverable numbers and 5 in the simulator's undeliverable range; each
    // message's reports arrive out of order.
    let stack = Stack::from_env();
    stack.sim_reset().await;
    stack.sim_config(json!({"report_mode": "shuffle"})).await;
    let mut recipients: Vec<String> = (0..35)
        .map(|i| format!("+1213{:07}", 2_000_000 + i))
        .collect();
    recipients.extend((0..5).map(|i| format!("+131255501{}", 10 + i)));

    // Act
    let (status, body) = stack
        .post(
            "/v1/bulk",
            &json!({"recipients": recipients, "text": "Your order shipped"}),
            &[],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let job_id = body["job_id"].as_str().unwrap().to_owned();
    let progress = stack
        .wait_for_job(&job_id, 300, |p| {
            e2e::all_batches_ended(p)
                && p["messages"]["delivered"] == 35
                && p["messages"]["undelivered"] == 5
        })
        .await;

    // Assert: every message counted once, by its final status.
    assert_eq!(
        progress["messages"],
        json!({"accepted_by_plivo": 40, "accepted_in_unconfirmed_batches": 0, "queued": 0, "sent": 0, "delivered": 35, "undelivered": 5, "failed": 0, "rejected": 0}),
        "{progress}"
    );
    // And what Plivo charged, each message once however many reports it had: 40 × 0.005.
    assert_eq!(
        progress["charged"],
        json!({"amount": "0.20", "units": 40}),
        "{progress}"
    );
    let request = &stack.sim_requests().await[0];
    let uuid = request["message_uuids"][0].as_str().unwrap();
    let (status, message) = stack.get(&format!("/v1/messages/{uuid}")).await;
    assert_eq!(status, 200);
    assert_eq!(message["job_id"], job_id.as_str());
    assert!(
        message["to"].as_str().unwrap().starts_with('+'),
        "the recipient comes from the report: {message}"
    );
}

#[tokio::test]
async fn a_single_send_is_tracked_to_delivered_even_with_every_report_twice() {
    let stack = Stack::from_env();
    stack.sim_reset().await;
    stack.sim_config(json!({"report_mode": "duplicate"})).await;
    let (status, body) = stack
        .post(
            "/v1/messages",
            &json!({"to": "+12135550100", "text": "Tracked"}),
            &[],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let message = stack
        .message_becomes(body["message_uuid"].as_str().unwrap(), "delivered")
        .await;
    assert_eq!(message["units"], 1);
}

#[tokio::test]
async fn forged_reports_are_refused_and_change_nothing() {
    let stack = Stack::from_env();
    stack.sim_reset().await;
    let (_, body) = stack
        .post(
            "/v1/messages",
            &json!({"to": "+12135550101", "text": "Real"}),
            &[],
        )
        .await;
    let uuid = body["message_uuid"].as_str().unwrap().to_owned();
    stack.message_becomes(&uuid, "delivered").await;

    let forged = [
        ("MessageUUID", uuid.as_str()),
        ("Status", "failed"),
        ("Sequence", "99"),
    ];
    assert_eq!(
        stack
            .post_signed("/v1/callbacks/plivo/status", &forged, "not-the-token")
            .await,
        403
    );
    let unsigned = stack
        .http
        .post(format!("{}/v1/callbacks/plivo/status", stack.api))
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 403);

    let (_, message) = stack.get(&format!("/v1/messages/{uuid}")).await;
    assert_eq!(message["status"], "delivered");
}

#[tokio::test]
async fn stop_suppresses_a_number_for_single_and_bulk_sends_until_start() {
    let stack = Stack::from_env();
    stack.sim_reset().await;
    let token = stack.plivo_auth_token.clone();
    let inbound = |text: &'static str| {
        [
            ("From", "12135550199"),
            ("To", "14155550100"),
            ("Text", text),
            ("Type", "sms"),
        ]
    };

    assert_eq!(
        stack
            .post_signed("/v1/callbacks/plivo/inbound", &inbound("STOP"), &token)
            .await,
        200
    );

    let (status, body) = stack
        .post(
            "/v1/messages",
            &json!({"to": "+12135550199", "text": "Hi"}),
            &[],
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = stack
        .post(
            "/v1/bulk",
            &json!({"recipients": ["+12135550199", "+12135550198"], "text": "Hi", "dry_run": true}),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["accepted"].clone(), body["suppressed"].clone()),
        (json!(1), json!(1))
    );

    assert_eq!(
        stack
            .post_signed("/v1/callbacks/plivo/inbound", &inbound("start"), &token)
            .await,
        200
    );
    let (status, body) = stack
        .post(
            "/v1/messages",
            &json!({"to": "+12135550199", "text": "Welcome back"}),
            &[],
        )
        .await;
    assert_eq!(status, 202, "{body}");
}
