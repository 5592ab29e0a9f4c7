//! `POST /v1/bulk/{id}/results` and the results in `GET /v1/bulk/{id}`: the real handler
//! over the in-memory store, files and queues.

use chrono::Utc;
use lambda_http::{Body, Response};
use serde_json::{Value, json};
use sms_core::{
    PhoneNumber,
    domain::{bulk::FileTask, ids::JobId, plan::FileLayout, rows::FileFormat},
    files::keys,
    store::{
        PlanCheckpoint, PlanRecord, PlanState, PlanStore, ResultsClaim, ResultsEnd, ResultsStore,
    },
};
use sms_test_support::{json_of, post_json};

mod common;
use common::TestApp;

fn app() -> TestApp {
    common::app(1000)
}

async fn post(app: &TestApp, uri: &str, body: Value) -> (u16, Value) {
    let response: Response<Body> = send_bulk::handle(post_json(uri, &body, None), app).await;
    (response.status().as_u16(), json_of(&response))
}

async fn status(app: &TestApp, job_id: &str) -> Value {
    let response =
        send_bulk::handle(sms_test_support::get(&format!("/v1/bulk/{job_id}")), app).await;
    assert_eq!(response.status(), 200);
    json_of(&response)
}

fn tasks(app: &TestApp) -> Vec<FileTask> {
    app.tasks
        .bodies()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect()
}

async fn job(app: &TestApp) -> String {
    let recipients: Vec<String> = (0..3).map(|i| format!("+1415555{i:04}")).collect();
    let (status, body) = post(
        app,
        "/v1/bulk",
        json!({"text": "Hi", "recipients": recipients}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    body["job_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_request_starts_one_build_and_the_status_links_the_file_once_ready() {
    let app = app();
    let job_id = job(&app).await;
    let results = format!("/v1/bulk/{job_id}/results");

    let (code, body) = post(&app, &results, json!({})).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["results"]["state"], "building");
    assert_eq!(body["results"]["generation"], 1);
    assert!(body["results"].get("file").is_none());
    let id = JobId::parse(&job_id).unwrap();
    let task = FileTask::Results {
        job_id: id.clone(),
        generation: 1,
    };
    assert_eq!(tasks(&app), std::slice::from_ref(&task));

    // Asked again while building: the same build, its task sent again.
    let (code, body) = post(&app, &results, json!({})).await;
    assert_eq!((code, &body["results"]["generation"]), (202, &json!(1)));
    assert_eq!(tasks(&app), [task.clone(), task]);
    assert_eq!(status(&app, &job_id).await["results"]["state"], "building");

    // job-files ends the build.
    let now = Utc::now();
    let ResultsClaim::Claimed { attempt, record } = app
        .store
        .claim_results(&id, 1, now + chrono::Duration::minutes(1), now)
        .await
        .unwrap()
    else {
        panic!("not claimed")
    };
    let mut done = record.checkpoint.clone();
    done.rows = 3;
    app.store
        .end_results(&id, 1, attempt, &ResultsEnd::Ready, &done, now)
        .await
        .unwrap();
    let shown = status(&app, &job_id).await["results"].clone();
    assert_eq!(shown["state"], "ready");
    assert_eq!(shown["rows"], 3);
    assert_eq!(shown["file"]["method"], "GET");
    assert!(
        shown["file"]["url"]
            .as_str()
            .unwrap()
            .contains(&keys::results(&id))
    );

    // Asked once more: a new file, with whatever reports came since.
    let (code, body) = post(&app, &results, json!({})).await;
    assert_eq!(code, 202);
    assert_eq!(body["results"]["generation"], 2);
    assert_eq!(body["results"]["state"], "building");
}

#[tokio::test]
async fn only_a_committed_job_has_results() {
    let app = app();
    let (code, problem) = post(
        &app,
        &format!("/v1/bulk/{}/results", JobId::random()),
        json!({}),
    )
    .await;
    assert_eq!(code, 404, "{problem}");
    let (code, problem) = post(&app, "/v1/bulk/not-a-job/results", json!({})).await;
    assert_eq!(
        (code, &problem["errors"][0]["field"]),
        (400, &json!("job_id"))
    );

    let planning = JobId::random();
    let now = Utc::now();
    let mut plan = PlanRecord {
        quiet_hours: None,
        send_at: None,
        expires_at: None,
        job_id: planning.clone(),
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
    let (code, problem) = post(&app, &format!("/v1/bulk/{planning}/results"), json!({})).await;
    assert_eq!(code, 409, "{problem}");
    assert_eq!(problem["type"], "/problems/not-ready");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("still planning")
    );

    let failed = JobId::random();
    plan.job_id = failed.clone();
    plan.state = PlanState::Failed;
    app.store.create_plan(&plan).await.unwrap();
    let (code, problem) = post(&app, &format!("/v1/bulk/{failed}/results"), json!({})).await;
    assert_eq!(code, 409);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("failed planning")
    );

    assert!(tasks(&app).is_empty(), "nothing was started");
    let response = send_bulk::handle(
        sms_test_support::get(&format!("/v1/bulk/{planning}/results")),
        &app,
    )
    .await;
    assert_eq!(response.status(), 405);
}
