//! The API's contract (docs/openapi.yaml) against send-bulk's bodies: each operation documents
//! exactly the fields its handler accepts. The handler names them itself, in the 400 that an
//! unknown field gets (serde's "expected one of ..."), so a field added to the code or to the
//! document alone fails here.

use serde_json::{Value, json};
use sms_test_support::{contract, json_of, post_json};

mod common;
use common::TestApp;

fn app() -> TestApp {
    common::app(2)
}

async fn post(app: &TestApp, uri: &str, body: &Value) -> (u16, Value) {
    let response = send_bulk::handle(post_json(uri, body, None), app).await;
    (response.status().as_u16(), json_of(&response))
}

/// What the handler behind `uri` accepts, against what `operation_id` documents.
async fn assert_documented(app: &TestApp, uri: &str, operation_id: &str) {
    let (status, problem) = post(app, uri, &json!({"zz_no_such_field": 1})).await;
    assert_eq!(status, 400, "{problem}");

    let accepted = contract::accepted_fields(&problem);
    let documented = contract::request_fields(&contract::document(), operation_id);

    assert!(!accepted.is_empty(), "{problem}");
    assert_eq!(
        documented, accepted,
        "docs/openapi.yaml, {operation_id}'s body"
    );
}

#[tokio::test]
async fn a_bulk_job_documents_the_fields_it_takes() {
    assert_documented(&app(), "/v1/bulk", "createBulkJob").await;
}

#[tokio::test]
async fn an_upload_documents_the_fields_it_takes() {
    assert_documented(&app(), "/v1/uploads", "createUpload").await;
}

#[tokio::test]
async fn a_resume_documents_the_fields_it_takes() {
    let app = app();
    let (status, job) = post(
        &app,
        "/v1/bulk",
        &json!({"text": "Hi", "recipients": ["+14155550100"]}),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    let job_id = job["job_id"].as_str().unwrap();

    assert_documented(&app, &format!("/v1/bulk/{job_id}/resume"), "resumeJob").await;
}
