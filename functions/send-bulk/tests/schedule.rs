//! `send_at` on `POST /v1/bulk` (docs/api.md, "Scheduled jobs"): checked and named when wrong;
//! a scheduled job is written with its batches but enqueues none of them, only the task that
//! arranges its start; its status is `scheduled` until then; it can be cancelled before its
//! start but not paused or resumed. The real handler with the in-memory store and queues.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sms_core::{
    domain::{bulk::FileTask, ids::JobId},
    store::{BatchState, JobControl, JobStore},
};
use sms_test_support::{json_of, post_json};

mod common;
use common::TestApp;

fn app() -> TestApp {
    common::app(2)
}

async fn post(app: &TestApp, uri: &str, body: &Value, key: Option<&str>) -> (u16, Value) {
    let response = send_bulk::handle(post_json(uri, body, key), app).await;
    (response.status().as_u16(), json_of(&response))
}

async fn status(app: &TestApp, job_id: &str) -> Value {
    let response =
        send_bulk::handle(sms_test_support::get(&format!("/v1/bulk/{job_id}")), app).await;
    assert_eq!(response.status(), 200);
    json_of(&response)
}

fn recipients(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("+1415555{i:04}")).collect()
}

fn tasks(app: &TestApp) -> Vec<FileTask> {
    app.tasks
        .bodies()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect()
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test]
async fn a_bad_send_at_is_a_400_naming_it_and_nothing_is_written() {
    let app = app();
    let far = stamp(Utc::now() + chrono::Duration::days(36));
    let soon = stamp(Utc::now() + chrono::Duration::hours(1));
    let earlier = stamp(Utc::now() + chrono::Duration::minutes(30));
    let cases = [
        (json!({"send_at": "next tuesday"}), "send_at", "RFC 3339"),
        (
            json!({"send_at": "2020-01-01T00:00:00Z"}),
            "send_at",
            "past",
        ),
        (json!({"send_at": far}), "send_at", "35 days"),
        (json!({"send_at": 1_700_000_000}), "", ""),
        (
            json!({"send_at": soon, "expires_at": earlier}),
            "expires_at",
            "after send_at",
        ),
    ];
    for (fields, field, says) in cases {
        let mut body = json!({"recipients": recipients(3), "text": "Doors open"});
        for (k, v) in fields.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (code, problem) = post(&app, "/v1/bulk", &body, None).await;
        assert_eq!(code, 400, "{fields}: {problem}");
        if !field.is_empty() {
            assert_eq!(problem["errors"][0]["field"], field, "{problem}");
            let message = problem["errors"][0]["message"].as_str().unwrap();
            assert!(message.contains(says), "{message}");
        } else {
            assert!(problem.to_string().contains("send_at"), "{problem}");
        }
    }
    assert!(app.queue.bodies().is_empty());
    assert!(app.tasks.bodies().is_empty());
}

#[tokio::test]
async fn a_scheduled_job_is_written_whole_and_only_its_start_is_arranged() {
    let app = app();
    let send_at = Utc::now() + chrono::Duration::hours(26);

    let (code, body) = post(
        &app,
        "/v1/bulk",
        &json!({"recipients": recipients(5), "text": "Doors open", "send_at": send_at.to_rfc3339()}),
        Some("launch-1"),
    )
    .await;

    assert_eq!(code, 202, "{body}");
    assert_eq!(body["status"], "scheduled");
    assert_eq!(body["send_at"], stamp(send_at));
    assert_eq!(body["batches"], 3);
    // The forecast counts from the start.
    let submitted: DateTime<Utc> = body["forecast"]["submitted_by"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        submitted >= send_at - chrono::Duration::seconds(1),
        "{body}"
    );
    // Nothing on the batch queue; one task, for job-files to make the schedule.
    assert!(app.queue.bodies().is_empty());
    let job_id = JobId::parse(body["job_id"].as_str().unwrap()).unwrap();
    let at = send_at;
    assert!(matches!(
        tasks(&app).as_slice(),
        [FileTask::Schedule { job_id: j, at: a }] if *j == job_id && *a == at
    ));
    let job = app.store.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!(job.control, JobControl::Scheduled);
    let ledger = app.store.ledger(&job_id).await.unwrap();
    assert_eq!(ledger.len(), 3);
    assert!(
        ledger
            .iter()
            .all(|e| e.state == BatchState::Pending && !e.enqueued)
    );

    let seen = status(&app, job_id.as_str()).await;
    assert_eq!(seen["status"], "scheduled", "{seen}");
    assert_eq!(seen["send_at"], stamp(send_at));
}

#[tokio::test]
async fn a_retry_arranges_the_start_again_and_answers_the_same() {
    let app = app();
    let body = json!({
        "recipients": recipients(3),
        "text": "Doors open",
        "send_at": stamp(Utc::now() + chrono::Duration::hours(3)),
    });
    // The first attempt's schedule task is refused by SQS: a 503, the key released.
    app.tasks.refuse_ids.lock().unwrap().insert("0".into());
    let (code, problem) = post(&app, "/v1/bulk", &body, Some("k-2")).await;
    assert_eq!(code, 503, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("could not be scheduled"),
        "{problem}"
    );

    app.tasks.refuse_ids.lock().unwrap().clear();
    let (code, first) = post(&app, "/v1/bulk", &body, Some("k-2")).await;
    assert_eq!(code, 202, "{first}");
    let (code, replayed) = post(&app, "/v1/bulk", &body, Some("k-2")).await;
    assert_eq!((code, &replayed), (202, &first));
    assert_eq!(tasks(&app).len(), 1);
    assert!(app.queue.bodies().is_empty());
}

#[tokio::test]
async fn a_scheduled_job_can_be_cancelled_but_not_paused_or_resumed() {
    let app = app();
    let send_at = Utc::now() + chrono::Duration::hours(3);
    let (_, body) = post(
        &app,
        "/v1/bulk",
        &json!({"recipients": recipients(3), "text": "Doors open", "send_at": stamp(send_at)}),
        None,
    )
    .await;
    let job_id = body["job_id"].as_str().unwrap().to_owned();

    for action in ["pause", "resume"] {
        let (code, problem) = post(
            &app,
            &format!("/v1/bulk/{job_id}/{action}"),
            &Value::Null,
            None,
        )
        .await;
        assert_eq!(code, 409, "{problem}");
        assert_eq!(problem["type"], "/problems/job-state");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains("has not started") && detail.contains(&stamp(send_at)),
            "{detail}"
        );
    }

    let (code, cancelled) = post(
        &app,
        &format!("/v1/bulk/{job_id}/cancel"),
        &Value::Null,
        None,
    )
    .await;
    assert_eq!(code, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    // The cancel's sweep (job-files cancels the batches and removes the schedule).
    assert!(
        tasks(&app)
            .iter()
            .any(|t| matches!(t, FileTask::Sweep { from: 0, .. }))
    );
    assert!(app.queue.bodies().is_empty());
}

#[tokio::test]
async fn valid_for_counts_from_the_start() {
    let app = app();
    let send_at = Utc::now() + chrono::Duration::hours(5);
    let (code, body) = post(
        &app,
        "/v1/bulk",
        &json!({"recipients": recipients(2), "text": "Doors open", "send_at": stamp(send_at), "valid_for": 600}),
        None,
    )
    .await;
    assert_eq!(code, 202, "{body}");
    let job_id = JobId::parse(body["job_id"].as_str().unwrap()).unwrap();
    let job = app.store.get_job(&job_id).await.unwrap().unwrap();
    let expires_at = job.expires_at.unwrap();
    let start = DateTime::parse_from_rfc3339(&stamp(send_at))
        .unwrap()
        .with_timezone(&Utc);
    assert!(
        (expires_at - start - chrono::Duration::seconds(600))
            .num_seconds()
            .abs()
            <= 1,
        "{expires_at} vs {start}"
    );
    assert_eq!(body["forecast"]["fits_validity"], true, "{body}");
}
