//! send-bulk's recipient files: `POST /v1/uploads` and `POST /v1/bulk` with `upload_id`, the
//! real handler over the in-memory store, files and queues.

use lambda_http::{Body, Response};
use serde_json::{Value, json};
use sms_core::{
    domain::{bulk::FileTask, ids::JobId, rows::FileFormat},
    files::keys,
    store::{PlanState, PlanStore},
};
use sms_test_support::{json_of, post_json};
use uuid::Uuid;

mod common;
use common::TestApp;

fn app() -> TestApp {
    common::app(1000)
}

async fn post(app: &TestApp, uri: &str, body: Value, key: Option<&str>) -> (u16, Value) {
    let response: Response<Body> = send_bulk::handle(post_json(uri, &body, key), app).await;
    (response.status().as_u16(), json_of(&response))
}

fn upload(app: &TestApp, bytes: &[u8]) -> String {
    let id = Uuid::new_v4();
    app.files.insert(&keys::upload(&id), bytes.to_vec());
    id.to_string()
}

const CSV: &str = "phone,first_name\n+14155550100,Ana\n+14155550101,\nbogus,Cy\n+14155550100,Ana\n";

#[tokio::test]
async fn an_upload_is_signed_for_its_exact_size_and_refused_beyond_the_limit() {
    let app = app();
    let (status, ticket) = post(&app, "/v1/uploads", json!({"size": 1234}), None).await;
    assert_eq!(status, 201, "{ticket}");
    let id = ticket["upload_id"].as_str().unwrap();
    assert!(Uuid::parse_str(id).is_ok());
    assert_eq!(ticket["method"], "PUT");
    assert!(
        ticket["url"]
            .as_str()
            .unwrap()
            .contains(&keys::upload(&Uuid::parse_str(id).unwrap()))
    );
    assert_eq!(ticket["headers"]["content-length"], "1234");
    assert_eq!(ticket["headers"]["content-type"], "text/csv");
    assert_eq!(ticket["max_bytes"], 1024 * 1024);
    assert!(ticket["expires_at"].is_string());

    let (status, problem) =
        post(&app, "/v1/uploads", json!({"size": 3_000_000_000u64}), None).await;
    assert_eq!(status, 413, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "size");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("3000000000 bytes")
    );
    for (body, field) in [
        (json!({}), "size"),
        (json!({"size": 0}), "size"),
        (
            json!({"size": 10, "content_type": "image/png"}),
            "content_type",
        ),
    ] {
        let (status, problem) = post(&app, "/v1/uploads", body.clone(), None).await;
        assert_eq!(
            (status, problem["errors"][0]["field"].as_str()),
            (400, Some(field)),
            "{body}"
        );
    }
    let (status, _) = post(&app, "/v1/uploads", json!({"size": 10, "extra": 1}), None).await;
    assert_eq!(status, 400, "unknown fields are refused");
}

#[tokio::test]
async fn bad_files_get_a_clear_answer_and_change_nothing() {
    let app = app();
    let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".to_vec();
    png.extend([0u8; 64]);
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"upload_id": Uuid::new_v4().to_string(), "text": "Hi"}),
            "upload_id",
            "never uploaded",
        ),
        (
            json!({"upload_id": "not-an-id", "text": "Hi"}),
            "upload_id",
            "POST /v1/uploads",
        ),
        (
            json!({"upload_id": upload(&app, b""), "text": "Hi"}),
            "upload_id",
            "empty",
        ),
        (
            json!({"upload_id": upload(&app, &png), "text": "Hi"}),
            "upload_id",
            "not text",
        ),
        (
            json!({"upload_id": upload(&app, b"phone,first_name\n"), "text": "Hi"}),
            "upload_id",
            "no rows",
        ),
        (
            json!({"upload_id": upload(&app, b"phone,first_name\n\n\n"), "text": "Hi"}),
            "upload_id",
            "no rows",
        ),
        (
            json!({"upload_id": upload(&app, b"mobile,name\n+14155550100,A\n"), "text": "Hi"}),
            "upload_id",
            "no phone column",
        ),
        (
            json!({"upload_id": upload(&app, b"mobile,name\n+14155550100,A\n"), "text": "Hi", "phone_column": "cell"}),
            "phone_column",
            "no column \"cell\"",
        ),
        (
            json!({"upload_id": upload(&app, CSV.as_bytes()), "text": "Hi {{last_name}}"}),
            "text",
            "{{last_name}}",
        ),
        (
            json!({"upload_id": upload(&app, CSV.as_bytes()), "text": "Hi {{first_name"}),
            "text",
            "never closed",
        ),
        (
            json!({"upload_id": upload(&app, b"+14155550100\n"), "text": "Hi {{name}}", "format": "lines"}),
            "text",
            "no columns",
        ),
        (
            json!({"upload_id": upload(&app, CSV.as_bytes()), "recipients": ["+14155550100"], "text": "Hi"}),
            "upload_id",
            "cannot both",
        ),
        (
            json!({"recipients": ["+14155550100"], "text": "Hi", "phone_column": "x"}),
            "phone_column",
            "only with upload_id",
        ),
        (
            json!({"upload_id": upload(&app, b"+14155550100\n"), "text": "Hi", "format": "lines", "phone_column": "x"}),
            "phone_column",
            "a list of lines has none",
        ),
        (
            json!({"upload_id": upload(&app, CSV.as_bytes()), "text": "Hi", "format": "xml"}),
            "format",
            "",
        ),
    ];
    for (body, field, words) in cases {
        let (status, problem) = post(&app, "/v1/bulk", body.clone(), Some("k")).await;
        assert_eq!(status, 400, "{body} → {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{body} → {problem}");
        let message = problem["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains(words),
            "{body}: {message:?} should say {words:?}"
        );
    }
    assert!(app.tasks.bodies().is_empty(), "no plan was started");
    assert!(app.queue.bodies().is_empty());
}

#[tokio::test]
async fn a_job_from_an_upload_is_planning_at_once_and_its_task_is_queued_once() {
    let app = app();
    let upload_id = upload(&app, CSV.as_bytes());
    let body =
        json!({"upload_id": upload_id, "text": "Hi {{first_name|there}}", "reference": "spring"});
    let (status, answer) = post(&app, "/v1/bulk", body.clone(), Some("key-1")).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "planning");
    assert_eq!(answer["upload_id"], upload_id.as_str());
    let job_id = JobId::parse(answer["job_id"].as_str().unwrap()).unwrap();

    let tasks = app.tasks.bodies();
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        serde_json::from_str::<FileTask>(&tasks[0]).unwrap(),
        FileTask::Plan {
            job_id: job_id.clone()
        }
    );
    let plan = app.store.get_plan(&job_id).await.unwrap().unwrap();
    assert_eq!(plan.state, PlanState::Planning);
    assert_eq!(plan.header, ["phone", "first_name"]);
    assert_eq!((plan.checkpoint.records, plan.checkpoint.offset), (1, 17));
    assert_eq!(plan.layout.format, FileFormat::Csv);
    assert_eq!(plan.template, "Hi {{first_name|there}}");
    assert_eq!(plan.reference.as_deref(), Some("spring"));
    assert!(
        app.queue.bodies().is_empty(),
        "nothing is enqueued before planning"
    );

    // The same request again replays the answer and starts nothing more.
    let (status, again) = post(&app, "/v1/bulk", body, Some("key-1")).await;
    assert_eq!((status, &again), (202, &answer));
    assert_eq!(app.tasks.bodies().len(), 1);

    let response =
        send_bulk::handle(sms_test_support::get(&format!("/v1/bulk/{job_id}")), &app).await;
    let progress = json_of(&response);
    assert_eq!(response.status(), 200, "{progress}");
    assert_eq!(progress["status"], "planning");
    assert_eq!(progress["planning"]["state"], "planning");
    assert_eq!(progress["planning"]["upload_id"], upload_id.as_str());
}

#[tokio::test]
async fn a_dry_run_of_an_upload_renders_the_first_rows_and_counts_all_without_writing() {
    let app = app();
    let upload_id = upload(&app, CSV.as_bytes());
    let (status, answer) = post(
        &app,
        "/v1/bulk",
        json!({"upload_id": upload_id, "text": "Hi {{first_name|there}} ✓", "dry_run": true}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "dry_run");
    assert_eq!(
        answer["rows"],
        json!({"rows": 4, "accepted": 2, "duplicates": 1, "suppressed": 0, "rejected": 1, "landlines": 0, "landlines_skipped": 0, "distinct_texts": 2, "segments": 2})
    );
    assert_eq!(
        answer["samples"],
        json!([
            {"row": 2, "to": "+14155550100", "text": "Hi Ana ✓", "encoding": "UCS-2", "segments": 1},
            {"row": 3, "to": "+14155550101", "text": "Hi there ✓", "encoding": "UCS-2", "segments": 1},
        ])
    );
    assert_eq!(answer["forecast"]["plivo_requests"], 2);
    assert_eq!(answer["complete"], true);
    assert!(app.tasks.bodies().is_empty());
    assert!(
        app.files.keys().iter().all(|k| k.starts_with("uploads/")),
        "nothing written"
    );
}

#[tokio::test]
async fn a_dry_run_of_a_long_file_plans_its_start_and_says_so() {
    let app = app();
    // Rows of about 1 KiB, past DRY_RUN_MAX_BYTES.
    let pad = "x".repeat(1000);
    let rows = (send_bulk::uploads::DRY_RUN_MAX_BYTES / 1000) as usize + 100;
    let mut csv = String::from("phone,pad\n");
    for i in 0..rows {
        csv.push_str(&format!("+1415{:07},{pad}\n", 2_000_000 + i));
    }
    let upload_id = upload(&app, csv.as_bytes());
    let (status, answer) = post(
        &app,
        "/v1/bulk",
        json!({"upload_id": upload_id, "text": "Hi", "dry_run": true}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["complete"], false);
    let read = answer["rows"]["rows"].as_u64().unwrap();
    assert!(read > 16_000 && read < rows as u64, "{read} of {rows} rows");
    assert_eq!(
        answer["rows"]["rejected"], 0,
        "no row cut in half is counted"
    );
}

#[tokio::test]
async fn an_upload_with_skip_landlines_counts_them_in_a_dry_run_and_keeps_the_flag_with_its_plan() {
    // A London landline, a US number, an area code not in use.
    let app = app();
    let csv = b"phone\n+44 20 7123 4567\n+1 415 555 0100\n+1 555 555 0100\n";
    let upload_id = upload(&app, csv);
    let body = json!({"upload_id": upload_id, "text": "Hi", "skip_landlines": true});
    let mut dry = body.clone();
    dry["dry_run"] = json!(true);
    let (status, answer) = post(&app, "/v1/bulk", dry, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["rows"],
        json!({"rows": 3, "accepted": 1, "duplicates": 0, "suppressed": 0, "rejected": 1, "landlines": 1, "landlines_skipped": 1, "distinct_texts": 1, "segments": 1})
    );

    let (status, answer) = post(&app, "/v1/bulk", body.clone(), Some("skip-1")).await;
    assert_eq!(status, 202, "{answer}");
    let job_id = JobId::parse(answer["job_id"].as_str().unwrap()).unwrap();
    let plan = app.store.get_plan(&job_id).await.unwrap().unwrap();
    assert!(plan.skip_landlines);
    // The same key without the flag is another request.
    let mut plain = body;
    plain["skip_landlines"] = json!(false);
    let (status, _) = post(&app, "/v1/bulk", plain, Some("skip-1")).await;
    assert_eq!(status, 409);
}
