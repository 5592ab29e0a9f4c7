//! Text previews and smart encoding on `POST /v1/bulk` (docs/api.md, "Text previews and
//! smart encoding"): the real handler with the in-memory store, files and queues.

use serde_json::{Value, json};
use sms_core::{
    Encoding,
    domain::{bulk::BatchMessage, ids::JobId},
    files::keys,
    store::{JobStore, PlanStore},
};
use sms_test_support::{json_of, post_json};
use uuid::Uuid;

mod common;
use common::TestApp;

fn app() -> TestApp {
    common::app(1000)
}

async fn post(app: &TestApp, body: &Value, key: Option<&str>) -> (u16, Value) {
    let response = send_bulk::handle(post_json("/v1/bulk", body, key), app).await;
    (response.status().as_u16(), json_of(&response))
}

fn queued(app: &TestApp) -> Vec<BatchMessage> {
    app.queue
        .bodies()
        .iter()
        .map(|b| BatchMessage::parse(b).unwrap())
        .collect()
}

fn upload(app: &TestApp, bytes: &str) -> String {
    let id = Uuid::new_v4();
    app.files
        .insert(&keys::upload(&id), bytes.as_bytes().to_vec());
    id.to_string()
}

/// 100 characters, one of them a curly apostrophe: two UCS-2 segments, one GSM-7 segment
/// once the apostrophe is straight.
fn curly_text() -> String {
    let text = format!("It\u{2019}s {}", "a".repeat(95));
    assert_eq!(text.chars().count(), 100);
    text
}

const RECIPIENTS: [&str; 3] = ["+14155550100", "+14155550101", "+14155550102"];

#[tokio::test]
async fn a_dry_run_names_the_character_that_forces_ucs2_and_its_cheaper_gsm7_form() {
    let app = app();
    let text = curly_text();
    let (status, answer) = post(
        &app,
        &json!({"recipients": RECIPIENTS, "text": text, "dry_run": true}),
        None,
    )
    .await;

    assert_eq!(status, 200, "{answer}");
    // Without smart encoding the job would send the text as given: UCS-2, two segments each.
    assert_eq!(
        (
            &answer["encoding"],
            &answer["segments"],
            &answer["segments_total"]
        ),
        (&json!("UCS-2"), &json!(2), &json!(6))
    );
    assert_eq!(answer["texts_count"], 1);
    assert_eq!(
        answer["texts"],
        json!([{
            "text": text,
            "encoding": "UCS-2",
            "segments": 2,
            "ucs2_characters": [{"character": "\u{2019}", "code_point": "U+2019", "position": 2, "replacement": "'"}],
            "ucs2_characters_count": 1,
            "smart_encoding": {"text": format!("It's {}", "a".repeat(95)), "encoding": "GSM-7", "segments": 1},
        }])
    );
    assert!(answer["forecast"].is_object(), "{answer}");
    assert!(app.queue.bodies().is_empty());
}

#[tokio::test]
async fn a_job_with_smart_encoding_enqueues_the_replaced_text_and_counts_it() {
    let app = app();
    let text = curly_text();
    let body = json!({"recipients": RECIPIENTS, "text": text, "smart_encoding": true});

    // Its dry run says what the job will send, and still shows the text as given.
    let mut dry = body.clone();
    dry["dry_run"] = json!(true);
    let (_, preview) = post(&app, &dry, None).await;
    assert_eq!(
        (&preview["encoding"], &preview["segments"]),
        (&json!("GSM-7"), &json!(1))
    );
    assert_eq!(preview["texts"][0]["text"], text.as_str());

    let (status, answer) = post(&app, &body, Some("smart-1")).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        (
            &answer["encoding"],
            &answer["segments"],
            &answer["segments_total"]
        ),
        (&json!("GSM-7"), &json!(1), &json!(3))
    );
    assert!(answer.get("texts").is_none(), "previews are a dry run's");
    let batches = queued(&app);
    assert_eq!(batches.len(), 1);
    let sent = &batches[0].text;
    assert_eq!(sent.as_str(), format!("It's {}", "a".repeat(95)));
    assert_eq!((sent.encoding(), sent.segments()), (Encoding::Gsm7, 1));
    let job_id = JobId::parse(answer["job_id"].as_str().unwrap()).unwrap();
    let job = app.store.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!(job.text.as_str(), sent.as_str());
}

#[tokio::test]
async fn the_flag_is_part_of_the_request_an_idempotency_key_stands_for() {
    let app = app();
    let body = json!({"recipients": RECIPIENTS, "text": curly_text()});
    let (status, _) = post(&app, &body, Some("flag-1")).await;
    assert_eq!(status, 202);

    let mut smart = body.clone();
    smart["smart_encoding"] = json!(true);
    let (status, problem) = post(&app, &smart, Some("flag-1")).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "/problems/idempotency-conflict");

    // Off, whether absent or false, is the request it always was: the same job, replayed.
    let mut off = body.clone();
    off["smart_encoding"] = json!(false);
    let (status, _) = post(&app, &off, Some("flag-1")).await;
    assert_eq!(status, 202);
    assert_eq!(queued(&app).len(), 1);

    let parse = |body: &Value| {
        let body: send_bulk::BulkRequestBody = serde_json::from_value(body.clone()).unwrap();
        let src = sms_core::Sender::parse("+14155550999").unwrap();
        send_bulk::BulkRequest::parse(body, &src).unwrap()
    };
    let key = sms_core::http::api::IdempotencyKey::parse("k").unwrap();
    let id = |body: &Value| send_bulk::job_id(Some(&key), &parse(body));
    assert_eq!(id(&body), id(&off));
    assert_ne!(id(&body), id(&smart));
}

#[tokio::test]
async fn a_bad_type_for_smart_encoding_is_a_400_naming_it() {
    let app = app();
    let upload_id = upload(&app, "phone\n+14155550100\n");
    for body in [
        json!({"recipients": RECIPIENTS, "text": "hi", "smart_encoding": "yes"}),
        json!({"upload_id": upload_id, "text": "hi", "smart_encoding": 1}),
    ] {
        let (status, problem) = post(&app, &body, None).await;
        assert_eq!(status, 400, "{problem}");
        assert_eq!(problem["errors"][0]["field"], "smart_encoding", "{problem}");
    }
    assert!(app.queue.bodies().is_empty() && app.tasks.bodies().is_empty());
}

const CSV: &str = "phone,name\n\
+14155550100,O\u{2019}Neil\n\
+14155550101,O'Neil\n\
+14155550102,Zo\u{eb}\n\
+14155550103,O\u{2019}Neil\n\
+14155550104,O\u{2019}Neil\n";

#[tokio::test]
async fn an_upload_dry_run_previews_each_distinct_text_as_rendered() {
    let app = app();
    let upload_id = upload(&app, CSV);
    let body =
        json!({"upload_id": upload_id, "text": "Hi {{name}} \u{2013} see you", "dry_run": true});
    let (status, answer) = post(&app, &body, None).await;

    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["texts_count"], 3);
    let texts = answer["texts"].as_array().unwrap();
    let shown: Vec<(&str, &str, Option<&str>)> = texts
        .iter()
        .map(|t| {
            (
                t["text"].as_str().unwrap(),
                t["encoding"].as_str().unwrap(),
                t["smart_encoding"]["encoding"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("Hi O\u{2019}Neil \u{2013} see you", "UCS-2", Some("GSM-7")),
            ("Hi O'Neil \u{2013} see you", "UCS-2", Some("GSM-7")),
            ("Hi Zo\u{eb} \u{2013} see you", "UCS-2", Some("UCS-2")),
        ]
    );
    let positions: Vec<(&Value, &Value)> = texts[0]["ucs2_characters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (&c["position"], &c["replacement"]))
        .collect();
    assert_eq!(
        positions,
        [(&json!(4), &json!("'")), (&json!(10), &json!("-"))]
    );
    assert_eq!(
        texts[2]["ucs2_characters"][0],
        json!({"character": "\u{eb}", "code_point": "U+00EB", "position": 5, "replacement": null})
    );
    assert_eq!(answer["rows"]["distinct_texts"], 3);

    // With smart encoding, the two O'Neil texts are one text sent, and samples show it.
    let mut smart = body.clone();
    smart["smart_encoding"] = json!(true);
    let (_, answer) = post(&app, &smart, None).await;
    assert_eq!(
        answer["texts_count"], 3,
        "previews show the texts as rendered"
    );
    assert_eq!(answer["rows"]["distinct_texts"], 2);
    assert_eq!(answer["samples"][0]["text"], "Hi O'Neil - see you");
    assert_eq!(answer["samples"][0]["encoding"], "GSM-7");
    assert_eq!(answer["forecast"]["plivo_requests"], 2);
    assert!(app.tasks.bodies().is_empty());
}

#[tokio::test]
async fn an_upload_job_keeps_the_flag_with_its_plan_for_job_files() {
    let app = app();
    let upload_id = upload(&app, CSV);
    let body = json!({"upload_id": upload_id, "text": "Hi {{name}}", "smart_encoding": true});
    let (status, answer) = post(&app, &body, Some("upload-smart")).await;
    assert_eq!(status, 202, "{answer}");
    let job_id = JobId::parse(answer["job_id"].as_str().unwrap()).unwrap();
    let plan = app.store.get_plan(&job_id).await.unwrap().unwrap();
    assert!(plan.smart_encoding);
    assert_eq!(plan.template, "Hi {{name}}", "the text as given");

    // The same key without the flag is another request.
    let mut plain = body.clone();
    plain["smart_encoding"] = json!(false);
    let (status, _) = post(&app, &plain, Some("upload-smart")).await;
    assert_eq!(status, 409);
}
