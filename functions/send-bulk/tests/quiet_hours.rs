//! `quiet_hours` on `POST /v1/bulk` (docs/api.md, "Quiet hours"): checked and named when
//! wrong; recipients batched by the zones their numbers place them in, each batch carrying
//! the hours; the status shows them with the recipients waiting. The real handler with the
//! in-memory store and queues.

use serde_json::{Value, json};
use sms_core::{
    domain::{bulk::BatchMessage, ids::JobId},
    store::JobStore,
};
use sms_test_support::{json_of, post_json};

mod common;
use common::TestApp;

fn app() -> TestApp {
    common::app(2)
}

async fn post(app: &TestApp, body: &Value) -> (u16, Value) {
    let response = send_bulk::handle(post_json("/v1/bulk", body, None), app).await;
    (response.status().as_u16(), json_of(&response))
}

#[tokio::test]
async fn recipients_are_batched_by_their_zones_and_each_batch_carries_the_hours() {
    let app = app();
    let recipients = [
        "+12125550101",
        "+442079460001",
        "+12125550102",
        "+12125550103",
        "+442079460002",
    ];

    let (code, body) = post(
        &app,
        &json!({"recipients": recipients, "text": "Doors open", "quiet_hours": {"from": "21:00", "to": "08:00"}}),
    )
    .await;

    assert_eq!(code, 202, "{body}");
    assert_eq!(body["batches"], 3);
    let mut batches: Vec<BatchMessage> = app
        .queue
        .bodies()
        .iter()
        .map(|b| BatchMessage::parse(b).unwrap())
        .collect();
    batches.sort_by_key(|b| b.batch);
    let numbers: Vec<Vec<&str>> = batches
        .iter()
        .map(|b| b.recipients.iter().map(|r| r.as_str()).collect())
        .collect();
    assert_eq!(
        numbers,
        [
            vec!["+12125550101", "+12125550102"],
            vec!["+12125550103"],
            vec!["+442079460001", "+442079460002"],
        ]
    );
    assert!(
        batches
            .iter()
            .all(|b| b.quiet_hours.map(|q| q.to_string()).as_deref() == Some("21:00-08:00"))
    );
    let job_id = JobId::parse(body["job_id"].as_str().unwrap()).unwrap();
    let job = app.store.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!(
        job.quiet_hours.map(|q| q.to_string()).as_deref(),
        Some("21:00-08:00")
    );

    let response =
        send_bulk::handle(sms_test_support::get(&format!("/v1/bulk/{job_id}")), &app).await;
    let status = json_of(&response);
    assert_eq!(
        status["quiet_hours"],
        json!({"hours": "21:00-08:00", "recipients_waiting": 0}),
        "{status}"
    );
}

#[tokio::test]
async fn without_quiet_hours_batches_keep_the_list_order() {
    let app = app();
    let (code, _) = post(
        &app,
        &json!({"recipients": ["+12125550101", "+442079460001", "+12125550102"], "text": "Hi"}),
    )
    .await;
    assert_eq!(code, 202);
    let first = BatchMessage::parse(&app.queue.bodies()[0]).unwrap();
    assert_eq!(first.recipients.len(), 2);
    assert_eq!(first.quiet_hours, None);
}

#[tokio::test]
async fn bad_quiet_hours_are_a_400_naming_them_and_nothing_is_enqueued() {
    let app = app();
    for (hours, field) in [
        (json!({"from": "25:00", "to": "08:00"}), "quiet_hours"),
        (json!({"from": "21:00", "to": "21:00"}), "quiet_hours"),
        (json!({"from": "21:00"}), "quiet_hours"),
        (
            json!({"from": "21:00", "to": "08:00", "until": "09:00"}),
            "quiet_hours.until",
        ),
        (json!("21:00-08:00"), "quiet_hours"),
    ] {
        let (code, problem) = post(
            &app,
            &json!({"recipients": ["+12125550101"], "text": "Hi", "quiet_hours": hours}),
        )
        .await;
        assert_eq!(code, 400, "{hours}: {problem}");
        assert_eq!(problem["type"], "/problems/invalid-request", "{problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{hours}: {problem}");
        assert!(
            problem.to_string().contains("quiet_hours"),
            "{hours}: {problem}"
        );
    }
    assert!(app.queue.bodies().is_empty());
}

#[tokio::test]
async fn a_dry_run_counts_who_would_wait_for_their_window_when_the_job_starts() {
    let app = app();
    // Tomorrow 22:00 UTC: night in London (quiet), afternoon in New York.
    let tomorrow = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    let send_at = tomorrow.and_hms_opt(22, 0, 0).unwrap().and_utc();
    let recipients = ["+12125550101", "+442079460001", "+442079460002"];
    let (code, body) = post(
        &app,
        &json!({"recipients": recipients, "text": "Doors open", "dry_run": true,
                "send_at": send_at.to_rfc3339(),
                "quiet_hours": {"from": "21:00", "to": "08:00"}}),
    )
    .await;

    assert_eq!(code, 200, "{body}");
    let opens = (tomorrow + chrono::Days::new(1))
        .and_hms_opt(8, 0, 0)
        .unwrap()
        .and_utc();
    assert_eq!(
        body["quiet_hours"],
        json!({"hours": "21:00-08:00", "recipients_waiting": 2,
               "next_window_opens_at": opens.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
               "recipients_never_sent": 0})
    );
    assert!(app.queue.bodies().is_empty());
}
