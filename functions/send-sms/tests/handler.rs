//! send-sms handler tests: the real handler with the in-memory store, a fixed secret and a
//! wiremock Plivo. Arrange / Act / Assert.

use std::time::Duration;

use lambda_http::{Body, Request, http};
use send_sms::App;
use serde_json::{Value, json};
use sms_core::{
    PhoneNumber,
    config::PublicBaseUrl,
    plivo::{PlivoClient, PlivoConfig},
    queue::MemoryQueue,
    retry::RetryPolicy,
    secrets::{
        SecretCache, SecretError, SecretProvider, SecretSource, ServiceSecret, StaticSecret,
    },
    store::{MemoryStore, MessageStatus, MessageStore, SuppressionList, SuppressionSource},
};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_json, header, method, path},
};

use sms_test_support::{
    API_KEY, PLIVO_AUTH_ID as AUTH_ID, PLIVO_MESSAGE_PATH as PLIVO_PATH, fast_plivo, json_of,
    plivo_accepted, post_json, service_secret,
};

const TOKEN: &str = "plivo-token-never-logged";
const UUID: &str = "0b8a5f2e-8f2a-11ee-9a3c-0242ac120002";

fn secret() -> ServiceSecret {
    service_secret(TOKEN)
}

type TestApp =
    App<MemoryStore, SecretCache<StaticSecret>, sms_core::pace::Pacer<MemoryStore>, MemoryQueue>;

fn app(plivo: &MockServer) -> TestApp {
    App {
        store: MemoryStore::new(),
        secrets: SecretCache::new(StaticSecret(secret()), Duration::from_secs(60)),
        plivo: fast_plivo(&plivo.uri()),
        pace: sms_test_support::test_pace(),
        public_base_url: PublicBaseUrl::parse("https://sms.example.com").unwrap(),
        tasks: MemoryQueue::default(),
    }
}

/// A `POST /v1/messages` to finish with a body of the test's own making.
fn post() -> http::request::Builder {
    sms_test_support::request("POST", "https://sms.example.com/v1/messages")
        .header("content-type", "application/json")
}

fn send_req(body: Value) -> Request {
    post_json("https://sms.example.com/v1/messages", &body, None)
}

fn get_req(id: &str) -> Request {
    sms_test_support::get(&format!("https://sms.example.com/v1/messages/{id}"))
}

fn accepted(uuid: &str) -> ResponseTemplate {
    plivo_accepted(&[uuid])
}

async fn plivo_expecting(calls: u64, response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PLIVO_PATH))
        .respond_with(response)
        .expect(calls)
        .mount(&server)
        .await;
    server
}

fn valid_body() -> Value {
    json!({"to": "+14155550123", "text": "Your code is 123456", "reference": "order-7"})
}

#[tokio::test]
async fn a_valid_send_hands_plivo_one_correct_request_and_answers_202() {
    // Arrange
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PLIVO_PATH))
        .and(header(
            "authorization",
            "Basic TUFURVNUQUNDT1VOVDAwMDAwMDE6cGxpdm8tdG9rZW4tbmV2ZXItbG9nZ2Vk",
        ))
        .and(body_json(json!({
            "src": "14155550100",
            "dst": "14155550123",
            "text": "Your code is 123456",
            "url": "https://sms.example.com/v1/callbacks/plivo/status",
            "method": "POST",
        })))
        .respond_with(accepted(UUID))
        .expect(1)
        .mount(&plivo)
        .await;
    let app = app(&plivo);

    // Act
    let resp = send_sms::handle(send_req(valid_body()), &app).await;

    // Assert
    assert_eq!(resp.status(), 202);
    assert_eq!(
        json_of(&resp),
        json!({"message_uuid": UUID, "to": "+14155550123", "status": "queued", "encoding": "GSM-7", "segments": 1})
    );
    let stored = app.store.get_message(UUID).await.unwrap().unwrap();
    assert_eq!(stored.status, MessageStatus::Queued);
    assert_eq!(stored.to.as_ref().map(|n| n.as_str()), Some("+14155550123"));
    assert_eq!(stored.reference.as_deref(), Some("order-7"));
    assert_eq!(stored.encoding.as_deref(), Some("GSM-7"));
}

#[tokio::test]
async fn the_from_field_overrides_the_default_sender_and_ucs2_is_reported() {
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PLIVO_PATH))
        .and(wiremock::matchers::body_partial_json(
            json!({"src": "447700900001"}),
        ))
        .respond_with(accepted(UUID))
        .expect(1)
        .mount(&plivo)
        .await;
    let app = app(&plivo);
    let text = "Привет! ".repeat(10);

    let resp = send_sms::handle(
        send_req(json!({"to": "+14155550123", "text": text, "from": "+447700900001"})),
        &app,
    )
    .await;

    assert_eq!(resp.status(), 202);
    let body = json_of(&resp);
    assert_eq!(body["encoding"], "UCS-2");
    assert_eq!(body["segments"], 2);
}

#[tokio::test]
async fn a_sender_id_or_a_powerpack_goes_to_plivo_as_such_and_is_the_messages_from() {
    let pack = "d35f2e82-d387-427f-8594-6fa07613c43a";
    for (from, on_the_wire) in [
        ("Acme Alerts", json!({"src": "Acme Alerts"})),
        (pack, json!({"powerpack_uuid": pack})),
    ] {
        let plivo = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(PLIVO_PATH))
            .and(wiremock::matchers::body_partial_json(on_the_wire))
            .respond_with(accepted(UUID))
            .expect(1)
            .mount(&plivo)
            .await;
        let app = app(&plivo);

        let resp = send_sms::handle(
            send_req(json!({"to": "+447400123456", "text": "Hi", "from": from})),
            &app,
        )
        .await;

        assert_eq!(resp.status(), 202, "{from}");
        let sent = &plivo.received_requests().await.unwrap()[0];
        let sent: Value = serde_json::from_slice(&sent.body).unwrap();
        // Plivo takes one of the two, never both.
        assert!(sent.get("src").is_none() || sent.get("powerpack_uuid").is_none());
        let stored = app.store.get_message(UUID).await.unwrap().unwrap();
        assert_eq!(stored.from.unwrap().as_str(), from);
    }
}

#[tokio::test]
async fn a_sender_id_to_a_us_or_canadian_number_is_a_400_naming_to() {
    for to in ["+14155550123", "+16135550123"] {
        assert_refused_without_sending(
            send_req(json!({"to": to, "text": "Hi", "from": "Acme"})),
            400,
            Some("to"),
            "where carriers take no message from a sender ID (Acme)",
        )
        .await;
    }
}

#[tokio::test]
async fn a_from_that_is_no_sender_is_a_400_naming_from() {
    for from in ["Acme-Alerts", "Acme Alerts 24", "12345", "+1415"] {
        assert_refused_without_sending(
            send_req(json!({"to": "+447400123456", "text": "Hi", "from": from})),
            400,
            Some("from"),
            "from ",
        )
        .await;
    }
}

async fn assert_refused_without_sending(
    req: Request,
    status: u16,
    field: Option<&str>,
    detail_has: &str,
) {
    let plivo = plivo_expecting(0, accepted(UUID)).await;
    let app = app(&plivo);
    let resp = send_sms::handle(req, &app).await;
    assert_eq!(resp.status(), status);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let body = json_of(&resp);
    assert_eq!(body["status"], status);
    if let Some(field) = field {
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
    assert!(
        body["detail"].as_str().unwrap().contains(detail_has),
        "{body}"
    );
    assert!(app.store.messages().is_empty());
}

#[tokio::test]
async fn bad_input_of_every_kind_is_a_named_4xx_and_nothing_is_sent() {
    let cases: Vec<(Value, Option<&str>, &str)> = vec![
        (
            json!({"to": "4155550123", "text": "hi"}),
            Some("to"),
            "must start with '+'",
        ),
        (
            json!({"to": "+1415555", "text": "hi"}),
            Some("to"),
            "8 to 15 digits",
        ),
        // `+1 555 0100`, and an area code not in use: E.164 in form, no one's number.
        (
            json!({"to": "+15550100", "text": "hi"}),
            Some("to"),
            "to is not a valid number for +1 (US, AG, AI and 22 more): no such area code or number range",
        ),
        (
            json!({"to": "+15555550100", "text": "hi"}),
            Some("to"),
            "no such area code",
        ),
        (
            json!({"to": "+4420712345", "text": "hi"}),
            Some("to"),
            "is not a valid number for +44 (GB, GG, IM, JE): 8 digits after +44, where numbers there have 7, 9 or 10",
        ),
        (
            json!({"to": "+14155550123", "text": "hi", "skip_landlines": 1}),
            Some("skip_landlines"),
            "invalid type",
        ),
        (
            json!({"to": "+14155550123", "text": ""}),
            Some("text"),
            "must not be empty",
        ),
        (
            json!({"to": "+14155550123", "text": "a".repeat(1601)}),
            Some("text"),
            "at most 1600",
        ),
        (
            json!({"to": "+14155550123", "text": "ж".repeat(738)}),
            Some("text"),
            "at most 737",
        ),
        (
            json!({"to": "+14155550123", "text": "hi", "from": "send-er"}),
            Some("from"),
            "as a sender ID may hold only letters",
        ),
        (
            json!({"to": "+14155550123", "text": "hi", "reference": "r".repeat(257)}),
            Some("reference"),
            "at most 256",
        ),
        (
            json!({"to": 14155550123u64, "text": "hi"}),
            Some("to"),
            "invalid type",
        ),
        (
            json!({"to": "+14155550123", "text": "hi", "txt": "x"}),
            Some("txt"),
            "unknown field `txt`",
        ),
        (
            json!({"to": "+14155550123", "text": "hi", "smart_encoding": "yes"}),
            Some("smart_encoding"),
            "invalid type",
        ),
        (json!({"text": "hi"}), Some("body"), "missing field `to`"),
        (
            json!(["+14155550123", "hi"]),
            Some("body"),
            "must be a JSON object",
        ),
    ];
    for (body, field, detail) in cases {
        assert_refused_without_sending(send_req(body), 400, field, detail).await;
    }
    // Several bad fields are all reported.
    let plivo = plivo_expecting(0, accepted(UUID)).await;
    let resp = send_sms::handle(send_req(json!({"to": "x", "text": " "})), &app(&plivo)).await;
    let fields: Vec<_> = json_of(&resp)["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].clone())
        .collect();
    assert_eq!(fields, vec![json!("to"), json!("text")]);
}

#[tokio::test]
async fn malformed_bodies_and_media_types_are_refused() {
    let raw = |body: &str, ct: &str| {
        http::Request::builder()
            .method("POST")
            .uri("/v1/messages")
            .header("content-type", ct)
            .header("authorization", format!("Bearer {API_KEY}"))
            .body(Body::Text(body.into()))
            .unwrap()
    };
    assert_refused_without_sending(
        raw("{not json", "application/json"),
        400,
        None,
        "not valid JSON",
    )
    .await;
    assert_refused_without_sending(raw("", "application/json"), 400, None, "empty").await;
    assert_refused_without_sending(
        raw("to=+1", "application/x-www-form-urlencoded"),
        415,
        None,
        "application/json",
    )
    .await;
    let big = json!({"to": "+14155550123", "text": "a".repeat(70_000)}).to_string();
    assert_refused_without_sending(raw(&big, "application/json"), 413, None, "limit").await;
}

#[tokio::test]
async fn missing_or_malformed_credentials_are_401_and_a_wrong_key_is_403() {
    let with_auth = |auth: Option<&str>| {
        let mut b = http::Request::builder()
            .method("POST")
            .uri("/v1/messages")
            .header("content-type", "application/json");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(Body::Text(valid_body().to_string())).unwrap()
    };
    assert_refused_without_sending(with_auth(None), 401, None, "Bearer").await;
    assert_refused_without_sending(with_auth(Some(API_KEY)), 401, None, "Bearer").await;
    assert_refused_without_sending(with_auth(Some("Basic abc")), 401, None, "Bearer").await;
    assert_refused_without_sending(with_auth(Some("Bearer wrong-key")), 403, None, "not valid")
        .await;
}

#[tokio::test]
async fn a_suppressed_recipient_is_refused_with_422_and_nothing_is_sent() {
    let plivo = plivo_expecting(0, accepted(UUID)).await;
    let app = app(&plivo);
    let to = PhoneNumber::parse("+14155550123").unwrap();
    app.store
        .suppress(&to, SuppressionSource::Keyword, chrono::Utc::now())
        .await
        .unwrap();

    let resp = send_sms::handle(send_req(valid_body()), &app).await;

    assert_eq!(resp.status(), 422);
    assert_eq!(json_of(&resp)["type"], "/problems/recipient-suppressed");
}

#[tokio::test]
async fn a_landline_is_refused_with_422_naming_to_only_when_skip_landlines_is_set() {
    // A London landline: with skip_landlines, a 422 and nothing sent.
    let landline = json!({"to": "+442071234567", "text": "hi", "skip_landlines": true});
    assert_refused_without_sending(
        send_req(landline.clone()),
        422,
        Some("to"),
        "to is a landline in GB (+44): it cannot receive SMS, and skip_landlines is set",
    )
    .await;
    let plivo = plivo_expecting(0, accepted(UUID)).await;
    let resp = send_sms::handle(send_req(landline), &app(&plivo)).await;
    assert_eq!(json_of(&resp)["type"], "/problems/recipient-landline");

    // A UK mobile, and a US number (libphonenumber cannot tell landline from mobile there),
    // are sent with it; the landline is sent without it, as ever.
    for (to, skip) in [
        ("+447400123456", true),
        ("+14155550123", true),
        ("+442071234567", false),
    ] {
        let plivo = plivo_expecting(1, accepted(UUID)).await;
        let body = json!({"to": to, "text": "hi", "skip_landlines": skip});
        let resp = send_sms::handle(send_req(body), &app(&plivo)).await;
        assert_eq!(resp.status(), 202, "{to} {skip}: {}", json_of(&resp));
    }
}

fn with_key(body: Value, key: &str) -> Request {
    post()
        .header("idempotency-key", key)
        .body(Body::Text(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn a_repeated_idempotency_key_replays_the_first_answer_and_sends_nothing() {
    let plivo = plivo_expecting(1, accepted(UUID)).await;
    let app = app(&plivo);

    let first = send_sms::handle(with_key(valid_body(), "k-1"), &app).await;
    let second = send_sms::handle(with_key(valid_body(), "k-1"), &app).await;

    assert_eq!(first.status(), 202);
    assert_eq!(second.status(), 202);
    assert_eq!(json_of(&first), json_of(&second));
    assert_eq!(second.headers()["idempotent-replayed"], "true");
}

#[tokio::test]
async fn the_same_key_with_a_different_body_is_409() {
    let plivo = plivo_expecting(1, accepted(UUID)).await;
    let app = app(&plivo);

    send_sms::handle(with_key(valid_body(), "k-2"), &app).await;
    let other = json!({"to": "+14155550199", "text": "Your code is 123456"});
    let resp = send_sms::handle(with_key(other, "k-2"), &app).await;

    assert_eq!(resp.status(), 409);
    assert_eq!(json_of(&resp)["type"], "/problems/idempotency-conflict");
}

#[tokio::test]
async fn smart_encoding_sends_gsm7_lookalikes_and_is_part_of_the_key() {
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PLIVO_PATH))
        .and(wiremock::matchers::body_partial_json(
            json!({"text": "It's here - see you..."}),
        ))
        .respond_with(accepted(UUID))
        .expect(1)
        .mount(&plivo)
        .await;
    let app = app(&plivo);
    let body = json!({"to": "+14155550123", "text": "It\u{2019}s here \u{2014} see you\u{2026}", "smart_encoding": true});

    let resp = send_sms::handle(with_key(body.clone(), "smart-1"), &app).await;

    assert_eq!(resp.status(), 202);
    let answer = json_of(&resp);
    assert_eq!(
        (&answer["encoding"], &answer["segments"]),
        (&json!("GSM-7"), &json!(1))
    );
    let mut plain = body;
    plain["smart_encoding"] = json!(false);
    let other = send_sms::handle(with_key(plain, "smart-1"), &app).await;
    assert_eq!(other.status(), 409, "another request under the same key");
}

#[tokio::test]
async fn plivo_refusing_is_502_with_its_reason() {
    let refused = ResponseTemplate::new(400)
        .set_body_json(json!({"api_id": "x", "error": "src is not a valid sender"}));
    let plivo = plivo_expecting(1, refused).await;
    let resp = send_sms::handle(send_req(valid_body()), &app(&plivo)).await;
    assert_eq!(resp.status(), 502);
    assert!(
        json_of(&resp)["detail"]
            .as_str()
            .unwrap()
            .contains("src is not a valid sender")
    );
}

#[tokio::test]
async fn plivo_unavailable_after_retries_is_503_and_the_key_can_be_retried() {
    let plivo = plivo_expecting(3, ResponseTemplate::new(503)).await;
    let app = app(&plivo);
    let resp = send_sms::handle(with_key(valid_body(), "k-3"), &app).await;
    assert_eq!(resp.status(), 503);
    plivo.verify().await;

    // Nothing was sent, so the key was released: the retry goes through to Plivo.
    plivo.reset().await;
    Mock::given(method("POST"))
        .respond_with(accepted(UUID))
        .expect(1)
        .mount(&plivo)
        .await;
    let retry = send_sms::handle(with_key(valid_body(), "k-3"), &app).await;
    assert_eq!(retry.status(), 202);
}

#[tokio::test]
async fn without_a_turn_in_the_budget_nothing_is_sent_and_the_key_can_be_retried() {
    use sms_core::store::RequestSchedule;
    // Arrange: a budget whose next turn is hours away.
    let plivo = plivo_expecting(0, accepted(UUID)).await;
    let mut app = app(&plivo);
    let schedule = MemoryStore::new();
    schedule
        .hold_back(
            chrono::Utc::now() + chrono::Duration::hours(2),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    app.pace = sms_core::pace::Pacer::new(schedule, sms_core::pace::RequestRate::DEFAULT);

    // Act
    let resp = send_sms::handle(with_key(valid_body(), "k-budget"), &app).await;

    // Assert: a 500 that says nothing was sent, and Plivo never called.
    assert_eq!(resp.status(), 500);
    let body = json_of(&resp);
    assert_eq!(
        body["detail"],
        "the request budget could not be read; nothing was sent, retry"
    );
    plivo.verify().await;

    // The key was released: once the budget has turns again, the retry is sent.
    plivo.reset().await;
    Mock::given(method("POST"))
        .respond_with(accepted(UUID))
        .expect(1)
        .mount(&plivo)
        .await;
    app.pace = sms_test_support::test_pace();
    let retry = send_sms::handle(with_key(valid_body(), "k-budget"), &app).await;
    assert_eq!(retry.status(), 202);
}

#[tokio::test]
async fn a_plivo_timeout_is_an_unknown_outcome_not_resent_even_on_retry() {
    let slow = accepted(UUID).set_delay(Duration::from_secs(2));
    let plivo = plivo_expecting(1, slow).await;
    let app = app(&plivo);
    let first = send_sms::handle(with_key(valid_body(), "k-4"), &app).await;
    let again = send_sms::handle(with_key(valid_body(), "k-4"), &app).await;
    assert_eq!(first.status(), 504);
    assert_eq!(again.status(), 504);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
}

#[tokio::test]
async fn plivo_reporting_the_number_invalid_is_502() {
    let body = json!({"api_id": "a", "message": "message(s) queued", "message_uuid": [], "invalid_number": ["14155550123"]});
    let plivo = plivo_expecting(1, ResponseTemplate::new(202).set_body_json(body)).await;
    let resp = send_sms::handle(send_req(valid_body()), &app(&plivo)).await;
    assert_eq!(resp.status(), 502);
    assert!(
        json_of(&resp)["detail"]
            .as_str()
            .unwrap()
            .contains("invalid destination")
    );
}

#[tokio::test]
async fn get_reports_a_sent_message_and_404s_an_unknown_one() {
    let plivo = plivo_expecting(1, accepted(UUID)).await;
    let app = app(&plivo);
    send_sms::handle(send_req(valid_body()), &app).await;

    let found = send_sms::handle(get_req(UUID), &app).await;
    assert_eq!(found.status(), 200);
    let body = json_of(&found);
    assert_eq!(body["message_uuid"], UUID);
    assert_eq!(body["status"], "queued");
    assert_eq!(body["to"], "+14155550123");

    let missing = send_sms::handle(get_req("6f1c7d1e-0000-4000-8000-000000000000"), &app).await;
    assert_eq!(missing.status(), 404);
    let bad = send_sms::handle(get_req("not-a-uuid"), &app).await;
    assert_eq!(bad.status(), 400);
    assert_eq!(json_of(&bad)["errors"][0]["field"], "message_uuid");
}

#[tokio::test]
async fn wrong_methods_and_unknown_paths_are_answered_not_panicked() {
    let plivo = plivo_expecting(0, accepted(UUID)).await;
    let app = app(&plivo);
    let req = |m: &str, p: &str| {
        http::Request::builder()
            .method(m)
            .uri(p)
            .header("authorization", format!("Bearer {API_KEY}"))
            .body(Body::Empty)
            .unwrap()
    };
    assert_eq!(
        send_sms::handle(req("DELETE", "/v1/messages"), &app)
            .await
            .status(),
        405
    );
    assert_eq!(
        send_sms::handle(req("POST", &format!("/v1/messages/{UUID}")), &app)
            .await
            .status(),
        405
    );
    assert_eq!(
        send_sms::handle(req("GET", "/v1/elsewhere"), &app)
            .await
            .status(),
        404
    );
}

struct BrokenSecret;
impl SecretSource for BrokenSecret {
    async fn fetch(&self) -> Result<ServiceSecret, SecretError> {
        Err(SecretError::Malformed {
            secret_id: "sms/test".into(),
            reason: "api_keys must list at least one key".into(),
        })
    }
}

#[tokio::test]
async fn an_unreadable_secret_is_a_500_problem_not_a_crash() {
    let plivo = plivo_expecting(0, accepted(UUID)).await;
    let base = app(&plivo);
    let app = App {
        store: base.store,
        secrets: SecretCache::new(BrokenSecret, Duration::from_secs(60)),
        plivo: base.plivo,
        pace: sms_test_support::test_pace(),
        public_base_url: base.public_base_url,
        tasks: MemoryQueue::default(),
    };
    assert!(app.secrets.current().await.is_err());
    let resp = send_sms::handle(send_req(valid_body()), &app).await;
    assert_eq!(resp.status(), 500);
    assert!(!json_of(&resp).to_string().contains("api_keys"));
}

#[tokio::test]
async fn a_malformed_idempotency_key_is_a_named_400_and_nothing_is_sent() {
    for key in ["has space", &"k".repeat(256)] {
        let req = post()
            .header("idempotency-key", key)
            .body(Body::Text(valid_body().to_string()))
            .unwrap();
        assert_refused_without_sending(req, 400, Some("Idempotency-Key"), "Idempotency-Key").await;
    }
}

/// A secret source whose reads succeed or fail as scripted, then succeed.
struct ScriptedSecret {
    reads: std::sync::atomic::AtomicUsize,
    failing_read: usize,
}

impl SecretSource for ScriptedSecret {
    async fn fetch(&self) -> Result<ServiceSecret, SecretError> {
        let read = self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if read == self.failing_read {
            return Err(SecretError::Unavailable {
                secret_id: "sms/test".into(),
                reason: "throttled".into(),
            });
        }
        Ok(secret())
    }
}

#[tokio::test]
async fn two_401s_free_the_key_so_a_retry_after_fixing_the_credentials_sends() {
    // Plivo refuses the credentials twice: before and after the secret is re-read.
    let plivo = plivo_expecting(2, ResponseTemplate::new(401)).await;
    let app = app(&plivo);
    let first = send_sms::handle(with_key(valid_body(), "k-401"), &app).await;
    assert_eq!(first.status(), 502);
    assert!(
        json_of(&first)["detail"]
            .as_str()
            .unwrap()
            .contains("nothing was sent")
    );
    plivo.verify().await;

    // Nothing was sent, so the answer was not kept: the retry reaches Plivo again.
    plivo.reset().await;
    Mock::given(method("POST"))
        .respond_with(accepted(UUID))
        .expect(1)
        .mount(&plivo)
        .await;
    let retry = send_sms::handle(with_key(valid_body(), "k-401"), &app).await;
    assert_eq!(retry.status(), 202);
    assert!(retry.headers().get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn a_401_then_an_unreadable_secret_frees_the_key() {
    let plivo = plivo_expecting(1, ResponseTemplate::new(401)).await;
    let base = app(&plivo);
    // Read 1 (first request) works; read 2 (the re-read after Plivo's 401) fails.
    let app = App {
        store: base.store,
        secrets: SecretCache::new(
            ScriptedSecret {
                reads: Default::default(),
                failing_read: 2,
            },
            Duration::from_secs(60),
        ),
        plivo: base.plivo,
        pace: sms_test_support::test_pace(),
        public_base_url: base.public_base_url,
        tasks: MemoryQueue::default(),
    };
    let first = send_sms::handle(with_key(valid_body(), "k-401-secret"), &app).await;
    assert_eq!(first.status(), 500);
    plivo.verify().await;

    plivo.reset().await;
    Mock::given(method("POST"))
        .respond_with(accepted(UUID))
        .expect(1)
        .mount(&plivo)
        .await;
    let retry = send_sms::handle(with_key(valid_body(), "k-401-secret"), &app).await;
    assert_eq!(retry.status(), 202);
    assert!(retry.headers().get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn an_unreachable_plivo_is_503_with_a_fixed_sentence_and_no_url() {
    // Nothing listens on port 1 of the loopback: the connection is refused, nothing is sent.
    let mut cfg = PlivoConfig::new("http://127.0.0.1:1");
    cfg.retry = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
    };
    let plivo = plivo_expecting(0, accepted(UUID)).await;
    let base = app(&plivo);
    let app = App {
        plivo: PlivoClient::new(cfg).unwrap(),
        pace: sms_test_support::test_pace(),
        ..base
    };
    let resp = send_sms::handle(send_req(valid_body()), &app).await;
    assert_eq!(resp.status(), 503);
    let body = json_of(&resp).to_string();
    assert!(body.contains("Plivo could not be reached"), "{body}");
    for leak in [AUTH_ID, "127.0.0.1", "http", "Message/"] {
        assert!(!body.contains(leak), "{leak} in {body}");
    }
}

#[tokio::test]
async fn a_code_with_a_validity_tells_plivo_what_is_left_and_a_bad_one_is_named() {
    // Arrange
    let plivo = plivo_expecting(1, accepted(UUID)).await;
    let app = app(&plivo);
    let mut body = valid_body();
    body["valid_for"] = json!(300);
    let mut bad = valid_body();
    bad["expires_at"] = json!("in five minutes");

    // Act
    let sent = send_sms::handle(send_req(body), &app).await;
    let refused = send_sms::handle(send_req(bad), &app).await;

    // Assert
    assert_eq!(sent.status(), 202);
    let request = &plivo.received_requests().await.unwrap()[0];
    let on_the_wire: Value = serde_json::from_slice(&request.body).unwrap();
    let expiry = on_the_wire["message_expiry"].as_u64().unwrap();
    assert!((298..=300).contains(&expiry), "{on_the_wire}");
    assert_eq!(refused.status(), 400);
    assert_eq!(json_of(&refused)["errors"][0]["field"], "expires_at");
}
