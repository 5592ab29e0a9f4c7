//! `smsctl send` and `smsctl message` against a wiremock API: what is sent, what is printed,
//! `--wait` polling and each exit status.

mod common;

use common::{bearer, smsctl};
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_json, header, method, path},
};

const UUID: &str = "4f8a0c3e-1111-4222-8333-944455556666";

fn accepted() -> Value {
    json!({"message_uuid": UUID, "to": "+14155550123", "status": "queued",
           "encoding": "GSM-7", "segments": 1})
}

fn message(status: &str) -> Value {
    json!({"message_uuid": UUID, "to": "+14155550123", "from": "+14155550100", "job_id": null,
           "reference": "order-1", "status": status, "sequence": null,
           "error_code": if status == "undelivered" { json!("70") } else { Value::Null },
           "encoding": "GSM-7", "segments": 1, "units": 1, "amount": "0.00500",
           "created_at": "2026-12-05T08:00:00Z", "updated_at": "2026-12-05T08:00:01Z"})
}

async fn api_accepting() -> MockServer {
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(202).set_body_json(accepted()))
        .mount(&api)
        .await;
    api
}

/// GET /v1/messages/{uuid} answers `queued` `n` times, then `last` for good.
async fn statuses(api: &MockServer, n: u64, last: &str) {
    Mock::given(method("GET"))
        .and(path(format!("/v1/messages/{UUID}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(message("queued")))
        .up_to_n_times(n)
        .mount(api)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/messages/{UUID}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(message(last)))
        .mount(api)
        .await;
}

#[tokio::test]
async fn send_posts_the_message_with_the_key_and_prints_uuid_status_encoding_and_segments() {
    let api = MockServer::start().await;
    let (name, value) = bearer();
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header(name, value.as_str()))
        .and(header("idempotency-key", "order-1-shipped"))
        .and(body_json(
            json!({"to": "+14155550123", "text": "Shipped", "from": "Acme",
                              "reference": "order-1"}),
        ))
        .respond_with(ResponseTemplate::new(202).set_body_json(accepted()))
        .expect(1)
        .mount(&api)
        .await;

    let run = smsctl(
        &api,
        &[
            "send",
            "--to",
            "+14155550123",
            "--text",
            "Shipped",
            "--from",
            "Acme",
            "--reference",
            "order-1",
            "--idempotency-key",
            "order-1-shipped",
        ],
    )
    .await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with(&format!("message {UUID} queued")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("GSM-7, 1 segment"), "{}", run.stdout);
}

#[tokio::test]
async fn send_wait_polls_until_delivered_and_exits_0() {
    let api = api_accepting().await;
    statuses(&api, 3, "delivered").await;

    let run = smsctl(
        &api,
        &["send", "--to", "+14155550123", "--text", "Hi", "--wait"],
    )
    .await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(&format!("message {UUID} delivered")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("charged   0.00500 (1 units)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("queued") && run.stderr.contains("delivered"),
        "{}",
        run.stderr
    );
    let polls = api
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "GET")
        .count();
    assert_eq!(polls, 4, "three times queued, then delivered");
}

#[tokio::test]
async fn send_wait_exits_4_when_the_message_ends_undelivered() {
    let api = api_accepting().await;
    statuses(&api, 1, "undelivered").await;

    let run = smsctl(
        &api,
        &["send", "--to", "+14155550123", "--text", "Hi", "--wait"],
    )
    .await;

    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("ended undelivered (error code 70)"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn send_wait_exits_5_when_its_timeout_runs_out() {
    let api = api_accepting().await;
    statuses(&api, u64::MAX, "delivered").await;

    let run = smsctl(
        &api,
        &[
            "send",
            "--to",
            "+14155550123",
            "--text",
            "Hi",
            "--wait",
            "--timeout",
            "300ms",
        ],
    )
    .await;

    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("smsctl message {UUID}")),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_scheduled_send_prints_its_job_and_how_to_follow_or_cancel_it() {
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(body_json(json!({"to": "+14155550123", "text": "Later",
                              "send_at": "2026-12-08T10:00:00-05:00"})))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "job_id": "7c2e", "status": "scheduled", "to": "+14155550123",
            "send_at": "2026-12-08T15:00:00Z", "encoding": "GSM-7", "segments": 1})))
        .mount(&api)
        .await;

    let run = smsctl(
        &api,
        &[
            "send",
            "--to",
            "+14155550123",
            "--text",
            "Later",
            "--send-at",
            "2026-12-08T10:00:00-05:00",
        ],
    )
    .await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("scheduled job 7c2e scheduled: to +14155550123 at 2026-12-08T15:00:00Z"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("smsctl job 7c2e --watch"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("smsctl cancel 7c2e"), "{}", run.stdout);
}

#[tokio::test]
async fn a_refused_send_prints_the_problem_with_each_field_and_exits_3() {
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("content-type", "application/problem+json")
                .set_body_json(json!({
                    "type": "/problems/invalid-request", "title": "Invalid request", "status": 400,
                    "detail": "to must start with '+' followed by the country code (E.164)",
                    "errors": [{"field": "to", "message": "must start with '+' followed by the country code (E.164)"}]})),
        )
        .mount(&api)
        .await;

    let run = smsctl(&api, &["send", "--to", "0044 7700", "--text", "Hi"]).await;

    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "smsctl: the API refused the request: 400 Invalid request\n  \
         to must start with '+' followed by the country code (E.164)\n  \
         - to: must start with '+' followed by the country code (E.164)\n  \
         (/problems/invalid-request)\n"
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[tokio::test]
async fn with_output_json_a_problem_is_the_one_document_on_stdout() {
    let api = MockServer::start().await;
    let problem = json!({"type": "/problems/recipient-suppressed", "title": "Recipient opted out",
                         "status": 422, "detail": "the recipient opted out; nothing was sent"});
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(422).set_body_json(problem.clone()))
        .mount(&api)
        .await;

    let run = smsctl(
        &api,
        &[
            "--output",
            "json",
            "send",
            "--to",
            "+14155550123",
            "--text",
            "Hi",
        ],
    )
    .await;

    assert_eq!(run.code, 3);
    assert_eq!(run.json(), problem);
}

#[tokio::test]
async fn with_output_json_send_wait_prints_only_the_final_message() {
    let api = api_accepting().await;
    statuses(&api, 1, "delivered").await;

    let run = smsctl(
        &api,
        &[
            "--output",
            "json",
            "send",
            "--to",
            "+14155550123",
            "--text",
            "Hi",
            "--wait",
        ],
    )
    .await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json(), message("delivered"));
}

#[tokio::test]
async fn a_failure_of_the_service_exits_1_after_no_repeat_of_an_unkeyed_send() {
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({
            "type": "/problems/plivo-unavailable", "title": "Plivo is unavailable", "status": 503,
            "detail": "nothing was sent"})))
        .expect(1)
        .mount(&api)
        .await;

    let run = smsctl(&api, &["send", "--to", "+14155550123", "--text", "Hi"]).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the service failed: 503 Plivo is unavailable"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_keyed_send_is_repeated_after_a_503_as_the_api_allows() {
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("idempotency-key", "k-1"))
        .respond_with(ResponseTemplate::new(202).set_body_json(accepted()))
        .expect(1)
        .mount(&api)
        .await;

    let run = smsctl(
        &api,
        &[
            "send",
            "--to",
            "+14155550123",
            "--text",
            "Hi",
            "--idempotency-key",
            "k-1",
        ],
    )
    .await;

    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[tokio::test]
async fn no_answer_at_all_exits_1() {
    // A port nothing listens on: bound, then let go.
    let uri = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let home = common::Dir::new("no-answer");
    let mut cmd = common::command(&home);
    cmd.env("SMS_API_URL", &uri)
        .env("SMS_API_KEY", common::KEY)
        .args(["send", "--to", "+14155550123", "--text", "Hi"]);
    let run = common::finish(&mut cmd).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("no answer from"), "{}", run.stderr);
}

#[tokio::test]
async fn message_shows_one_message_and_with_wait_follows_it() {
    let api = MockServer::start().await;
    statuses(&api, 1, "delivered").await;

    let once = smsctl(&api, &["message", UUID]).await;
    assert_eq!(once.code, 0, "{}", once.stderr);
    assert!(
        once.stdout.starts_with(&format!("message {UUID} queued")),
        "{}",
        once.stdout
    );

    let waited = smsctl(&api, &["message", UUID, "--wait"]).await;
    assert_eq!(waited.code, 0, "{}", waited.stderr);
    assert!(
        waited
            .stdout
            .starts_with(&format!("message {UUID} delivered")),
        "{}",
        waited.stdout
    );
}
