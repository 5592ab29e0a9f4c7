//! `POST /v1/bulk/{id}/pause`, `/resume` and `/cancel`, and what `GET /v1/bulk/{id}` shows of
//! them: the real handler over the in-memory store and queues.

use chrono::Utc;
use lambda_http::{Body, Response};
use serde_json::{Value, json};
use sms_core::{
    PhoneNumber,
    domain::{bulk::FileTask, ids::JobId, plan::FileLayout, rows::FileFormat},
    store::{
        BatchClaim, BatchLedger, JobControls, JobStore, Parking, PlanCheckpoint, PlanRecord,
        PlanState, PlanStore,
    },
};
use sms_test_support::{json_of, post_json};

mod common;
use common::TestApp;

fn app() -> TestApp {
    common::app(2)
}

async fn post(app: &TestApp, uri: &str) -> (u16, Value) {
    let response: Response<Body> = send_bulk::handle(post_json(uri, &Value::Null, None), app).await;
    (response.status().as_u16(), json_of(&response))
}

async fn status(app: &TestApp, job_id: &str) -> Value {
    let response =
        send_bulk::handle(sms_test_support::get(&format!("/v1/bulk/{job_id}")), app).await;
    assert_eq!(response.status(), 200);
    json_of(&response)
}

fn sweeps(app: &TestApp) -> usize {
    app.tasks
        .bodies()
        .iter()
        .filter(|b| matches!(serde_json::from_str(b), Ok(FileTask::Sweep { from: 0, .. })))
        .count()
}

/// A job of 5 recipients in 3 batches (2, 2, 1).
async fn job(app: &TestApp) -> String {
    let recipients: Vec<String> = (0..5).map(|i| format!("+1415555{i:04}")).collect();
    let response = send_bulk::handle(
        post_json(
            "/v1/bulk",
            &json!({"text": "Hi", "recipients": recipients}),
            None,
        ),
        app,
    )
    .await;
    let body = json_of(&response);
    assert_eq!(response.status(), 202, "{body}");
    body["job_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn pause_resume_and_cancel_each_answer_the_job_as_it_then_is() {
    let app = app();
    let job_id = job(&app).await;
    let at = |action: &str| format!("/v1/bulk/{job_id}/{action}");

    let (code, body) = post(&app, &at("pause")).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["action"], "pause");
    assert_eq!(body["changed"], true);
    assert_eq!(body["status"], "paused");
    assert_eq!(body["paused_reason"], "requested");
    assert!(body["control_changed_at"].is_string());
    let seen = status(&app, &job_id).await;
    assert_eq!(seen["status"], "paused");
    assert_eq!(seen["paused_reason"], "requested");
    // Pausing needs no sweep: the sender parks what it is handed.
    assert_eq!(sweeps(&app), 0);

    let (code, again) = post(&app, &at("pause")).await;
    assert_eq!((code, &again["changed"]), (200, &json!(false)));

    let (code, body) = post(&app, &at("resume")).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        (&body["changed"], &body["status"]),
        (&json!(true), &json!("queued"))
    );
    assert!(body.get("paused_reason").is_none());
    assert_eq!(sweeps(&app), 1);
    // Asked again: unchanged, and the sweep is sent again (a lost one is revived).
    let (code, body) = post(&app, &at("resume")).await;
    assert_eq!((code, &body["changed"]), (200, &json!(false)));
    assert_eq!(sweeps(&app), 2);

    let (code, body) = post(&app, &at("cancel")).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        (&body["changed"], &body["status"]),
        (&json!(true), &json!("cancelled"))
    );
    assert_eq!(sweeps(&app), 3);
    let seen = status(&app, &job_id).await;
    assert_eq!(seen["status"], "cancelled");
}

#[tokio::test]
async fn the_status_counts_cancelled_batches_and_their_recipients() {
    let app = app();
    let job_id = job(&app).await;
    let id = JobId::parse(&job_id).unwrap();
    let now = Utc::now();
    // Batch 0 in flight when the job is paused, then cancelled; batch 1 parked meanwhile.
    let BatchClaim::Claimed { .. } = app
        .store
        .claim_batch(&id, 0, None, now + chrono::Duration::seconds(60), now)
        .await
        .unwrap()
    else {
        panic!("claimable")
    };
    assert_eq!(post(&app, &format!("/v1/bulk/{job_id}/pause")).await.0, 200);
    assert_eq!(app.store.park_batch(&id, 1).await.unwrap(), Parking::Parked);
    assert_eq!(
        post(&app, &format!("/v1/bulk/{job_id}/cancel")).await.0,
        200
    );
    // What the sweep does to the unsent batches.
    assert!(app.store.cancel_batch(&id, 1, 2, Utc::now()).await.unwrap());
    assert!(app.store.cancel_batch(&id, 2, 1, Utc::now()).await.unwrap());

    let seen = status(&app, &job_id).await;
    assert_eq!(seen["status"], "cancelled");
    assert_eq!(seen["batches"]["cancelled"], 2);
    assert_eq!(seen["batches"]["total"], 3);
    assert_eq!(seen["recipients_cancelled"], 3);
}

#[tokio::test]
async fn a_change_the_job_state_refuses_is_a_409_naming_why() {
    let app = app();
    let job_id = job(&app).await;
    assert_eq!(
        post(&app, &format!("/v1/bulk/{job_id}/cancel")).await.0,
        200
    );

    for action in ["pause", "resume"] {
        let (code, body) = post(&app, &format!("/v1/bulk/{job_id}/{action}")).await;
        assert_eq!(code, 409, "{action}: {body}");
        assert_eq!(body["type"], "/problems/job-state");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains(action) && detail.contains("cancelled"),
            "{detail}"
        );
    }
    let (code, body) = post(&app, &format!("/v1/bulk/{job_id}/cancel")).await;
    assert_eq!((code, &body["changed"]), (200, &json!(false)));
}

#[tokio::test]
async fn a_done_job_cannot_be_paused_or_cancelled() {
    let app = app();
    let job_id = job(&app).await;
    let id = JobId::parse(&job_id).unwrap();
    for batch in 0..3 {
        let now = Utc::now();
        let BatchClaim::Claimed { attempt } = app
            .store
            .claim_batch(&id, batch, None, now + chrono::Duration::seconds(60), now)
            .await
            .unwrap()
        else {
            panic!("claimable")
        };
        let failed = sms_core::store::BatchOutcome::Failed {
            error: "refused".into(),
        };
        assert!(
            app.store
                .finish_batch(&id, batch, attempt, &failed, now)
                .await
                .unwrap()
        );
    }
    for action in ["pause", "cancel"] {
        let (code, body) = post(&app, &format!("/v1/bulk/{job_id}/{action}")).await;
        assert_eq!(code, 409, "{action}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("every batch has ended")
        );
    }
    assert_eq!(status(&app, &job_id).await["status"], "done");
    assert_eq!(sweeps(&app), 0);
}

#[tokio::test]
async fn unknown_jobs_bad_ids_and_other_methods_are_answered() {
    let app = app();
    let missing = JobId::random();
    let (code, body) = post(&app, &format!("/v1/bulk/{missing}/pause")).await;
    assert_eq!((code, &body["type"]), (404, &json!("/problems/not-found")));

    let (code, body) = post(&app, "/v1/bulk/not-a-uuid/cancel").await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["errors"][0]["field"], "job_id");

    let job_id = job(&app).await;
    let get = send_bulk::handle(
        sms_test_support::get(&format!("/v1/bulk/{job_id}/pause")),
        &app,
    )
    .await;
    assert_eq!(get.status(), 405);
    assert_eq!(
        app.store
            .get_job(&JobId::parse(&job_id).unwrap())
            .await
            .unwrap()
            .unwrap()
            .control_changed_at,
        None
    );
}

#[tokio::test]
async fn a_sweep_that_cannot_be_queued_is_a_503_and_a_retry_finishes_it() {
    let app = app();
    let job_id = job(&app).await;
    app.tasks.refuse_ids.lock().unwrap().insert("0".into());

    let (code, body) = post(&app, &format!("/v1/bulk/{job_id}/cancel")).await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["type"], "/problems/unavailable");
    // The cancel itself holds: no batch of it is claimed from now on.
    let id = JobId::parse(&job_id).unwrap();
    assert_eq!(
        app.store.get_job(&id).await.unwrap().unwrap().control,
        sms_core::store::JobControl::Cancelled
    );

    app.tasks.refuse_ids.lock().unwrap().clear();
    let (code, body) = post(&app, &format!("/v1/bulk/{job_id}/cancel")).await;
    assert_eq!((code, &body["changed"]), (200, &json!(false)));
    assert_eq!(sweeps(&app), 1);
}

#[tokio::test]
async fn a_job_still_planning_has_nothing_to_pause_yet() {
    let app = app();
    let job_id = JobId::random();
    let now = Utc::now();
    let plan = PlanRecord {
        quiet_hours: None,
        send_at: None,
        expires_at: None,
        job_id: job_id.clone(),
        state: PlanState::Planning,
        upload_id: uuid::Uuid::new_v4().to_string(),
        etag: "\"e\"".into(),
        size: 10,
        layout: FileLayout {
            format: FileFormat::Csv,
            phone_column: None,
        },
        template: "Hi".into(),
        smart_encoding: false,
        skip_landlines: false,
        from: PhoneNumber::parse("+14155550999").unwrap().into(),
        reference: None,
        callback_url: "https://sms.example.com/cb".into(),
        header: vec!["phone".into()],
        budget: Default::default(),
        checkpoint: PlanCheckpoint::default(),
        attempts: 0,
        lease_until: None,
        error: None,
        created_at: now,
        updated_at: now,
    };
    app.store.create_plan(&plan).await.unwrap();
    let (code, body) = post(&app, &format!("/v1/bulk/{job_id}/pause")).await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["type"], "/problems/not-ready");
}
