//! `smsctl send` and `smsctl message` against a wiremock API: what is sent, what is printed,
//! `--wait` polling and each exit status.

mod common;

use common::{Run, answer, api_with, bearer, count, json_response, on, problem, smsctl};
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_json, header},
};

const UUID: &str = "4f8a0c3e-1111-4222-8333-944455556666";
const TO: &str = "+14155550123";

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

/// A POST /v1/messages mock that accepts the message.
fn accepting() -> Mock {
    answer("POST", "/v1/messages", 202, accepted())
}

/// GET /v1/messages/{uuid} answers `queued` `n` times, then `last` for good.
async fn statuses(api: &MockServer, n: u64, last: &str) {
    let at = format!("/v1/messages/{UUID}");
    answer("GET", &at, 200, message("queued"))
        .up_to_n_times(n)
        .mount(api)
        .await;
    answer("GET", at, 200, message(last)).mount(api).await;
}

/// `smsctl send --to TO --text TEXT`, then `more`.
async fn send(api: &MockServer, text: &str, more: &[&str]) -> Run {
    smsctl(api, &[&["send", "--to", TO, "--text", text], more].concat()).await
}

#[tokio::test]
async fn send_posts_the_message_with_the_key_and_prints_uuid_status_encoding_and_segments() {
    let sent = json!({"to": "+14155550123", "text": "Shipped", "from": "Acme",
                      "reference": "order-1"});
    let api = MockServer::start().await;
    let (name, value) = bearer();
    on("POST", "/v1/messages")
        .and(header(name, value.as_str()))
        .and(header("idempotency-key", "order-1-shipped"))
        .and(body_json(sent))
        .respond_with(json_response(202, accepted()))
        .expect(1)
        .mount(&api)
        .await;

    let run = send(
        &api,
        "Shipped",
        &[
            "--from",
            "Acme",
            "--reference",
            "order-1",
            "--idempotency-key",
            "order-1-shipped",
        ],
    )
    .await;

    run.assert_code(0);
    run.assert_stdout_starts_with(&format!("message {UUID} queued"));
    run.assert_stdout_has("GSM-7, 1 segment");
}

#[tokio::test]
async fn send_wait_polls_until_delivered_and_exits_0() {
    let api = api_with([accepting()]).await;
    statuses(&api, 3, "delivered").await;

    let run = send(&api, "Hi", &["--wait"]).await;

    run.assert_code(0);
    run.assert_stdout_has(&format!("message {UUID} delivered"));
    run.assert_stdout_has("charged   0.00500 (1 units)");
    run.assert_stderr_has("queued");
    run.assert_stderr_has("delivered");
    assert_eq!(
        count(&api, "GET").await,
        4,
        "three times queued, then delivered"
    );
}

#[tokio::test]
async fn send_wait_exits_4_when_the_message_ends_undelivered() {
    let api = api_with([accepting()]).await;
    statuses(&api, 1, "undelivered").await;

    let run = send(&api, "Hi", &["--wait"]).await;

    run.assert_code(4);
    run.assert_stderr_has("ended undelivered (error code 70)");
}

#[tokio::test]
async fn send_wait_exits_5_when_its_timeout_runs_out() {
    let api = api_with([accepting()]).await;
    statuses(&api, u64::MAX, "delivered").await;

    let run = send(&api, "Hi", &["--wait", "--timeout", "300ms"]).await;

    run.assert_code(5);
    run.assert_stderr_has(&format!("smsctl message {UUID}"));
}

#[tokio::test]
async fn a_scheduled_send_prints_its_job_and_how_to_follow_or_cancel_it() {
    let scheduled = json!({"job_id": "7c2e", "status": "scheduled", "to": "+14155550123",
                           "send_at": "2026-12-08T15:00:00Z", "encoding": "GSM-7", "segments": 1});
    let api = MockServer::start().await;
    on("POST", "/v1/messages")
        .and(body_json(json!({"to": "+14155550123", "text": "Later",
                              "send_at": "2026-12-08T10:00:00-05:00"})))
        .respond_with(json_response(202, scheduled))
        .mount(&api)
        .await;

    let run = send(&api, "Later", &["--send-at", "2026-12-08T10:00:00-05:00"]).await;

    run.assert_code(0);
    run.assert_stdout_starts_with(
        "scheduled job 7c2e scheduled: to +14155550123 at 2026-12-08T15:00:00Z",
    );
    run.assert_stdout_has("smsctl job 7c2e --watch");
    run.assert_stdout_has("smsctl cancel 7c2e");
}

#[tokio::test]
async fn a_refused_send_prints_the_problem_with_each_field_and_exits_3() {
    let mut refusal = problem(
        400,
        "invalid-request",
        "Invalid request",
        "to must start with '+' followed by the country code (E.164)",
    );
    refusal["errors"] = json!([{"field": "to",
        "message": "must start with '+' followed by the country code (E.164)"}]);
    let api = MockServer::start().await;
    on("POST", "/v1/messages")
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("content-type", "application/problem+json")
                .set_body_json(refusal),
        )
        .mount(&api)
        .await;

    let run = smsctl(&api, &["send", "--to", "0044 7700", "--text", "Hi"]).await;

    run.assert_code(3);
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
    let suppressed = problem(
        422,
        "recipient-suppressed",
        "Recipient opted out",
        "the recipient opted out; nothing was sent",
    );
    let api = api_with([answer("POST", "/v1/messages", 422, suppressed.clone())]).await;

    let run = smsctl(
        &api,
        &["--output", "json", "send", "--to", TO, "--text", "Hi"],
    )
    .await;

    run.assert_code(3);
    assert_eq!(run.json(), suppressed);
}

#[tokio::test]
async fn with_output_json_send_wait_prints_only_the_final_message() {
    let api = api_with([accepting()]).await;
    statuses(&api, 1, "delivered").await;

    let run = smsctl(
        &api,
        &[
            "--output", "json", "send", "--to", TO, "--text", "Hi", "--wait",
        ],
    )
    .await;

    run.assert_code(0);
    assert_eq!(run.json(), message("delivered"));
}

#[tokio::test]
async fn a_failure_of_the_service_exits_1_after_no_repeat_of_an_unkeyed_send() {
    let unavailable = problem(
        503,
        "plivo-unavailable",
        "Plivo is unavailable",
        "nothing was sent",
    );
    let api = api_with([answer("POST", "/v1/messages", 503, unavailable).expect(1)]).await;

    let run = send(&api, "Hi", &[]).await;

    run.assert_code(1);
    run.assert_stderr_has("the service failed: 503 Plivo is unavailable");
}

#[tokio::test]
async fn a_keyed_send_is_repeated_after_a_503_as_the_api_allows() {
    let api = MockServer::start().await;
    on("POST", "/v1/messages")
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&api)
        .await;
    on("POST", "/v1/messages")
        .and(header("idempotency-key", "k-1"))
        .respond_with(json_response(202, accepted()))
        .expect(1)
        .mount(&api)
        .await;

    let run = send(&api, "Hi", &["--idempotency-key", "k-1"]).await;

    run.assert_code(0);
}

#[tokio::test]
async fn no_answer_at_all_exits_1() {
    // A port nothing listens on: bound, then let go.
    let uri = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let home = common::Dir::new("no-answer");
    let run = common::finish(
        common::command_against(&home, &uri, common::KEY)
            .args(["send", "--to", TO, "--text", "Hi"]),
    )
    .await;
    run.assert_code(1);
    run.assert_stderr_has("no answer from");
}

#[tokio::test]
async fn message_shows_one_message_and_with_wait_follows_it() {
    let api = MockServer::start().await;
    statuses(&api, 1, "delivered").await;

    let once = smsctl(&api, &["message", UUID]).await;
    once.assert_code(0);
    once.assert_stdout_starts_with(&format!("message {UUID} queued"));

    let waited = smsctl(&api, &["message", UUID, "--wait"]).await;
    waited.assert_code(0);
    waited.assert_stdout_starts_with(&format!("message {UUID} delivered"));
}
