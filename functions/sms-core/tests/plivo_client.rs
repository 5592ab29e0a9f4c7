//! `PlivoClient` against a wiremock server standing in for Plivo's Message API (docs/plivo.md):
//! the request on the wire, how every answer is classified (docs/plivo.md, "How each failure
//! is classified"), which failures are retried and how often, and the re-read of the secret
//! after a 401.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::json;
use sms_core::{
    MessageText, PhoneNumber,
    domain::validity::Deadline,
    plivo::{
        Accepted, FailureClass, OutboundMessage, PlivoClient, PlivoConfig, PlivoError, SendFailure,
    },
    retry::RetryPolicy,
    secrets::{PlivoCredentials, SecretError, SecretProvider, ServiceSecret},
};
use sms_test_support::test_pace;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{basic_auth, body_json, header, method, path},
};

const AUTH_ID: &str = "MAZDQ1ZJIYMDZKMMZKYM";
const TOKEN: &str = "plivo-token-never-shown-1234";
const FRESH_TOKEN: &str = "plivo-token-after-rotation-5678";
const CALLBACK: &str = "https://sms.example.com/v1/callbacks/plivo/status";
const MESSAGE_PATH: &str = "/v1/Account/MAZDQ1ZJIYMDZKMMZKYM/Message/";

/// A small, fast retry policy: three attempts, millisecond backoff.
const FAST_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    base_delay: Duration::from_millis(1),
    max_delay: Duration::from_millis(5),
};

fn client_for(base_url: &str) -> PlivoClient {
    client_with(base_url, |_| {})
}

fn client_with(base_url: &str, tweak: impl FnOnce(&mut PlivoConfig)) -> PlivoClient {
    let mut config = PlivoConfig::new(base_url);
    config.retry = FAST_RETRY;
    config.request_timeout = Duration::from_secs(5);
    tweak(&mut config);
    PlivoClient::new(config).expect("building the HTTP client")
}

fn creds() -> PlivoCredentials {
    PlivoCredentials::new(AUTH_ID, TOKEN)
}

/// What one send carries; `msg()` borrows it as the client's request type.
struct Fixture {
    src: sms_core::Sender,
    dst: Vec<PhoneNumber>,
    text: MessageText,
}

impl Fixture {
    fn new(dst: &[&str]) -> Self {
        Self {
            src: PhoneNumber::parse("+14155550100").unwrap().into(),
            dst: dst.iter().map(|d| PhoneNumber::parse(d).unwrap()).collect(),
            text: MessageText::parse("Your code is 123456").unwrap(),
        }
    }

    fn one() -> Self {
        Self::new(&["+14155550123"])
    }

    fn msg(&self) -> OutboundMessage<'_> {
        OutboundMessage {
            expires_at: None,
            src: &self.src,
            dst: &self.dst,
            text: &self.text,
            callback_url: CALLBACK,
        }
    }
}

fn accepted_body(uuids: &[&str]) -> serde_json::Value {
    json!({"api_id": "a6b5-api", "message": "message(s) queued", "message_uuid": uuids})
}

fn plivo_error(status: u16, error: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"api_id": "err-api-id", "error": error}))
}

/// No failure may show the auth token, neither in its message nor in `Debug`.
fn assert_no_token(e: &(impl std::fmt::Display + std::fmt::Debug)) {
    for shown in [e.to_string(), format!("{e:?}")] {
        assert!(!shown.contains(TOKEN), "token leaked: {shown}");
        assert!(!shown.contains(FRESH_TOKEN), "token leaked: {shown}");
    }
}

/// The Plivo failure of a send: these tests never fail on the budget or the secret.
fn plivo_failure(failure: SendFailure) -> PlivoError {
    match failure {
        SendFailure::Plivo(e) => e,
        other => panic!("expected a Plivo failure, got {other:?}"),
    }
}

async fn send_expecting_error(server: &MockServer) -> PlivoError {
    let fixture = Fixture::one();
    let err = client_for(&server.uri())
        .send(&test_pace(), &creds(), &fixture.msg())
        .await
        .map_err(plivo_failure)
        .expect_err("the send should fail");
    assert_no_token(&err);
    err
}

// ---------------------------------------------------------------------------------------
// The request on the wire and the 202 answer

#[tokio::test]
async fn send_posts_plivos_message_request_with_basic_auth_and_json_body() {
    // Arrange
    let server = MockServer::start().await;
    let fixture = Fixture::new(&["+14155550123", "+447700900123"]);
    Mock::given(method("POST"))
        .and(path(MESSAGE_PATH))
        .and(basic_auth(AUTH_ID, TOKEN))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "src": "14155550100",
            "dst": "14155550123<447700900123",
            "text": "Your code is 123456",
            "url": CALLBACK,
            "method": "POST",
        })))
        .respond_with(ResponseTemplate::new(202).set_body_json(accepted_body(&["u-1", "u-2"])))
        .expect(1)
        .mount(&server)
        .await;

    // Act
    let outcome = client_for(&server.uri())
        .send(&test_pace(), &creds(), &fixture.msg())
        .await;

    // Assert
    assert_eq!(
        outcome.unwrap(),
        Accepted {
            api_id: "a6b5-api".into(),
            message: "message(s) queued".into(),
            message_uuid: vec!["u-1".into(), "u-2".into()],
            invalid_number: vec![],
        }
    );
}

#[tokio::test]
async fn a_sender_id_goes_as_src_and_a_powerpack_as_powerpack_uuid_without_src() {
    let pack = "d35f2e82-d387-427f-8594-6fa07613c43a";
    for (from, sender_fields) in [
        ("Acme", json!({"src": "Acme"})),
        (pack, json!({"powerpack_uuid": pack})),
    ] {
        let server = MockServer::start().await;
        let mut body = json!({
            "dst": "447700900123",
            "text": "Your code is 123456",
            "url": CALLBACK,
            "method": "POST",
        });
        body.as_object_mut()
            .unwrap()
            .extend(sender_fields.as_object().unwrap().clone());
        Mock::given(method("POST"))
            .and(path(MESSAGE_PATH))
            .and(body_json(body))
            .respond_with(ResponseTemplate::new(202).set_body_json(accepted_body(&["u-1"])))
            .expect(1)
            .mount(&server)
            .await;
        let fixture = Fixture {
            src: sms_core::Sender::parse(from).unwrap(),
            ..Fixture::new(&["+447700900123"])
        };

        let outcome = client_for(&server.uri())
            .send(&test_pace(), &creds(), &fixture.msg())
            .await;

        assert_eq!(outcome.unwrap().message_uuid, ["u-1"], "{from}");
    }
}

#[tokio::test]
async fn a_message_with_a_deadline_tells_plivo_what_is_left_and_none_goes_once_too_little_is() {
    // Arrange: ten minutes left; the request must carry message_expiry of at most 600 s.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGE_PATH))
        .respond_with(ResponseTemplate::new(202).set_body_json(accepted_body(&["u-1"])))
        .expect(1)
        .mount(&server)
        .await;
    let fixture = Fixture::one();
    let now = chrono::Utc::now();
    let in_time = OutboundMessage {
        expires_at: Some(Deadline::after(600, now).unwrap()),
        ..fixture.msg()
    };
    // A deadline 3 s away: less than Plivo's 5 s minimum.
    let too_late = OutboundMessage {
        expires_at: Some(Deadline::at(now + chrono::Duration::seconds(3))),
        ..fixture.msg()
    };
    let client = client_for(&server.uri());

    // Act
    client.send(&test_pace(), &creds(), &in_time).await.unwrap();
    let expired = client
        .send(&test_pace(), &creds(), &too_late)
        .await
        .map_err(plivo_failure)
        .unwrap_err();

    // Assert
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "the late message never reached Plivo");
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    let expiry = body["message_expiry"].as_u64().unwrap();
    assert!((598..=600).contains(&expiry), "{body}");
    assert!(matches!(expired, PlivoError::Expired), "{expired:?}");
    assert_eq!(expired.class(), FailureClass::Permanent);
}

#[tokio::test]
async fn the_authorization_header_is_basic_auth_of_id_and_token() {
    // Arrange
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_json(accepted_body(&["u-1"])))
        .expect(1)
        .mount(&server)
        .await;

    // Act
    client_for(&server.uri())
        .send(&test_pace(), &creds(), &Fixture::one().msg())
        .await
        .unwrap();

    // Assert
    let requests = server.received_requests().await.unwrap();
    let auth = requests[0]
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    // base64("MAZDQ1ZJIYMDZKMMZKYM:plivo-token-never-shown-1234")
    assert_eq!(
        auth,
        "Basic TUFaRFExWkpJWU1EWktNTVpLWU06cGxpdm8tdG9rZW4tbmV2ZXItc2hvd24tMTIzNA=="
    );
}

#[tokio::test]
async fn a_base_url_with_a_trailing_slash_gives_the_same_path() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGE_PATH))
        .respond_with(ResponseTemplate::new(202).set_body_json(accepted_body(&["u-1"])))
        .expect(1)
        .mount(&server)
        .await;

    let outcome = client_for(&format!("{}/", server.uri()))
        .send(&test_pace(), &creds(), &Fixture::one().msg())
        .await;

    assert!(outcome.is_ok(), "{outcome:?}");
}

#[tokio::test]
async fn a_202_with_invalid_numbers_lists_them() {
    // Arrange
    let server = MockServer::start().await;
    let fixture = Fixture::new(&["+14155550123", "+14155550999"]);
    Mock::given(method("POST"))
        .and(path(MESSAGE_PATH))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "api_id": "a1",
            "message": "message(s) queued",
            "message_uuid": ["u-1"],
            "invalid_number": ["14155550999"],
        })))
        .expect(1)
        .mount(&server)
        .await;

    // Act
    let accepted = client_for(&server.uri())
        .send(&test_pace(), &creds(), &fixture.msg())
        .await
        .unwrap();

    // Assert
    assert_eq!(accepted.message_uuid, vec!["u-1".to_owned()]);
    assert_eq!(accepted.invalid_number, vec!["14155550999".to_owned()]);
}

// ---------------------------------------------------------------------------------------
// Permanent failures: not retried

#[tokio::test]
async fn refusals_400_403_404_are_permanent_carry_plivos_text_and_are_not_retried() {
    for status in [400u16, 403, 404] {
        // Arrange
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(MESSAGE_PATH))
            .respond_with(plivo_error(status, "invalid src number"))
            .expect(1)
            .named(format!("Plivo answering {status}"))
            .mount(&server)
            .await;

        // Act
        let err = send_expecting_error(&server).await;

        // Assert
        assert_eq!(
            err,
            PlivoError::Refused {
                status,
                api_id: Some("err-api-id".into()),
                error: "invalid src number".into(),
            },
            "{status}"
        );
        assert_eq!(err.class(), FailureClass::Permanent, "{status}");
        assert!(err.to_string().contains("invalid src number"), "{err}");
        // `server` drops here and checks it was called exactly once.
    }
}

#[tokio::test]
async fn numbers_in_plivos_error_sentences_are_masked() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(plivo_error(400, "14155550123 is not a valid destination"))
        .expect(1)
        .mount(&server)
        .await;

    let err = send_expecting_error(&server).await;

    let shown = err.to_string();
    assert!(
        shown.contains("*******0123 is not a valid destination"),
        "{shown}"
    );
    assert!(!shown.contains("14155550123"), "{shown}");
    assert!(!err.public_detail().contains("14155550123"));
}

#[tokio::test]
async fn a_401_is_unauthorized_and_not_retried() {
    // Arrange: Plivo's 401 may lack api_id.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"error": "Authentication failed"})),
        )
        .expect(1)
        .mount(&server)
        .await;

    // Act
    let err = send_expecting_error(&server).await;

    // Assert
    assert_eq!(
        err,
        PlivoError::Unauthorized {
            error: "Authentication failed".into()
        }
    );
    assert_eq!(err.class(), FailureClass::Unauthorized);
}

#[tokio::test]
async fn an_html_error_body_becomes_the_error_text() {
    // Arrange
    let server = MockServer::start().await;
    let html = "<html><body><h1>403 Forbidden</h1></body></html>";
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_raw(format!("{html}\n"), "text/html"))
        .expect(1)
        .mount(&server)
        .await;

    // Act
    let err = send_expecting_error(&server).await;

    // Assert
    assert_eq!(
        err,
        PlivoError::Refused {
            status: 403,
            api_id: None,
            error: html.into()
        }
    );
}

#[tokio::test]
async fn an_html_body_on_a_5xx_is_the_error_text_too() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(502).set_body_raw("<html>Bad Gateway</html>", "text/html"),
        )
        .expect(u64::from(FAST_RETRY.max_attempts))
        .mount(&server)
        .await;

    let err = send_expecting_error(&server).await;

    assert_eq!(
        err,
        PlivoError::ServerError {
            status: 502,
            error: "<html>Bad Gateway</html>".into()
        }
    );
}

// ---------------------------------------------------------------------------------------
// Retryable failures: retried up to max_attempts, then the last error

#[tokio::test]
async fn a_429_is_retried_up_to_max_attempts_then_rate_limited() {
    // Arrange
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGE_PATH))
        .respond_with(plivo_error(429, "too many requests"))
        .expect(u64::from(FAST_RETRY.max_attempts))
        .mount(&server)
        .await;

    // Act
    let err = send_expecting_error(&server).await;

    // Assert
    assert_eq!(
        err,
        PlivoError::RateLimited {
            error: "too many requests".into()
        }
    );
    assert_eq!(err.class(), FailureClass::Retryable);
}

#[tokio::test]
async fn a_500_and_a_503_are_retried_up_to_max_attempts_then_server_error() {
    for status in [500u16, 503] {
        // Arrange
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(MESSAGE_PATH))
            .respond_with(plivo_error(status, "internal error"))
            .expect(u64::from(FAST_RETRY.max_attempts))
            .named(format!("Plivo answering {status}"))
            .mount(&server)
            .await;

        // Act
        let err = send_expecting_error(&server).await;

        // Assert
        assert_eq!(
            err,
            PlivoError::ServerError {
                status,
                error: "internal error".into()
            }
        );
        assert_eq!(err.class(), FailureClass::Retryable);
    }
}

#[tokio::test]
async fn the_number_of_attempts_follows_the_policy() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .expect(5)
        .mount(&server)
        .await;
    let client = client_with(&server.uri(), |c| c.retry.max_attempts = 5);

    let err = client
        .send(&test_pace(), &creds(), &Fixture::one().msg())
        .await
        .map_err(plivo_failure)
        .unwrap_err();

    // An empty body gives the status's reason phrase.
    assert_eq!(
        err,
        PlivoError::ServerError {
            status: 503,
            error: "Service Unavailable".into()
        }
    );
}

#[tokio::test]
async fn send_once_never_retries() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(plivo_error(503, "busy"))
        .expect(1)
        .mount(&server)
        .await;

    let err = client_for(&server.uri())
        .send_once(&creds(), &Fixture::one().msg())
        .await
        .unwrap_err();

    assert_eq!(err.class(), FailureClass::Retryable);
}

#[tokio::test]
async fn a_503_then_a_202_succeeds_on_the_second_attempt() {
    // Arrange
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGE_PATH))
        .respond_with(plivo_error(503, "try again"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(MESSAGE_PATH))
        .respond_with(ResponseTemplate::new(202).set_body_json(accepted_body(&["u-after-retry"])))
        .expect(1)
        .mount(&server)
        .await;

    // Act
    let accepted = client_for(&server.uri())
        .send(&test_pace(), &creds(), &Fixture::one().msg())
        .await
        .unwrap();

    // Assert
    assert_eq!(accepted.message_uuid, vec!["u-after-retry".to_owned()]);
}

// ---------------------------------------------------------------------------------------
// Transport failures

#[tokio::test]
async fn a_server_slower_than_the_request_timeout_is_an_unknown_outcome_and_not_retried() {
    // Arrange
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(202)
                .set_body_json(accepted_body(&["u-late"]))
                .set_delay(Duration::from_secs(3)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = client_with(&server.uri(), |c| {
        c.request_timeout = Duration::from_millis(200)
    });

    // Act
    let err = client
        .send(&test_pace(), &creds(), &Fixture::one().msg())
        .await
        .map_err(plivo_failure)
        .unwrap_err();

    // Assert
    assert!(matches!(err, PlivoError::OutcomeUnknown { .. }), "{err:?}");
    assert_eq!(err.class(), FailureClass::Unknown);
    assert_no_token(&err);
    assert_no_account_url(&err);
}

#[tokio::test]
async fn an_unreadable_202_is_an_unknown_outcome_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_string("<html>queued?</html>"))
        .expect(1)
        .mount(&server)
        .await;

    let err = send_expecting_error(&server).await;

    assert_eq!(err.class(), FailureClass::Unknown, "{err:?}");
}

/// A loopback address with nothing listening: the connection is refused.
fn refused_base_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn a_refused_connection_is_not_sent_and_retried() {
    // Arrange: backoffs of at least 20 ms then 40 ms (half of each exponential step is fixed)
    // between the three attempts, so the send takes at least 60 ms only if it retried.
    let policy = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(40),
        max_delay: Duration::from_secs(1),
    };
    let client = client_with(&refused_base_url(), |c| c.retry = policy);
    let started = Instant::now();

    // Act
    let err = client
        .send(&test_pace(), &creds(), &Fixture::one().msg())
        .await
        .map_err(plivo_failure)
        .unwrap_err();

    // Assert
    let elapsed = started.elapsed();
    assert!(matches!(err, PlivoError::NotSent { .. }), "{err:?}");
    assert_eq!(err.class(), FailureClass::Retryable);
    assert!(
        elapsed >= Duration::from_millis(60),
        "no retry happened: {elapsed:?}"
    );
    assert_no_token(&err);
}

#[tokio::test]
async fn a_refused_connection_with_no_retry_policy_returns_at_once() {
    let client = client_with(&refused_base_url(), |c| c.retry = RetryPolicy::NONE);

    let err = client
        .send(&test_pace(), &creds(), &Fixture::one().msg())
        .await
        .map_err(plivo_failure)
        .unwrap_err();

    assert!(matches!(err, PlivoError::NotSent { .. }), "{err:?}");
    assert_no_account_url(&err);
}

/// Transport errors name the URL they failed on, and Plivo's carries the account's auth id:
/// neither may reach a log line or an API answer.
fn assert_no_account_url(err: &PlivoError) {
    for shown in [err.to_string(), format!("{err:?}"), err.public_detail()] {
        assert!(!shown.contains(AUTH_ID), "auth id in {shown}");
        assert!(!shown.contains("/Message/"), "URL in {shown}");
    }
}

// ---------------------------------------------------------------------------------------
// send_refreshing_credentials: one re-read of the secret after a 401

fn secret_with_token(token: &str) -> Arc<ServiceSecret> {
    let json = json!({
        "plivo_auth_id": AUTH_ID,
        "plivo_auth_token": token,
        "plivo_src": "+14155550100",
        "api_keys": ["api-key-1-0123456789abcdef0123456789"],
    });
    Arc::new(ServiceSecret::from_json("test/secret", &json.to_string()).unwrap())
}

/// Holds a stale token until `refresh`, which returns the rotated one and is counted.
struct RotatingSecret {
    stale: Arc<ServiceSecret>,
    fresh: Arc<ServiceSecret>,
    refreshes: AtomicUsize,
}

impl RotatingSecret {
    fn new() -> Self {
        Self {
            stale: secret_with_token(TOKEN),
            fresh: secret_with_token(FRESH_TOKEN),
            refreshes: AtomicUsize::new(0),
        }
    }
    fn refreshes(&self) -> usize {
        self.refreshes.load(Ordering::SeqCst)
    }
}

impl SecretProvider for RotatingSecret {
    async fn current(&self) -> Result<Arc<ServiceSecret>, SecretError> {
        Ok(if self.refreshes() == 0 {
            self.stale.clone()
        } else {
            self.fresh.clone()
        })
    }
    async fn refresh(&self) -> Result<Arc<ServiceSecret>, SecretError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        Ok(self.fresh.clone())
    }
    async fn refresh_if_older(
        &self,
        _min_age: std::time::Duration,
    ) -> Result<Arc<ServiceSecret>, SecretError> {
        self.refresh().await
    }
}

#[tokio::test]
async fn a_401_rereads_the_secret_once_and_retries_with_the_new_token() {
    // Arrange
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(basic_auth(AUTH_ID, TOKEN))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"error": "Authentication failed"})),
        )
        .expect(1)
        .named("stale token")
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(basic_auth(AUTH_ID, FRESH_TOKEN))
        .respond_with(ResponseTemplate::new(202).set_body_json(accepted_body(&["u-rotated"])))
        .expect(1)
        .named("fresh token")
        .mount(&server)
        .await;
    let secrets = RotatingSecret::new();

    // Act
    let accepted = client_for(&server.uri())
        .send_refreshing_credentials(&test_pace(), &secrets, &Fixture::one().msg())
        .await
        .unwrap();

    // Assert
    assert_eq!(accepted.message_uuid, vec!["u-rotated".to_owned()]);
    assert_eq!(secrets.refreshes(), 1);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    // base64("MAZDQ1ZJIYMDZKMMZKYM:plivo-token-after-rotation-5678")
    assert_eq!(
        requests[1].headers.get("authorization").unwrap(),
        "Basic TUFaRFExWkpJWU1EWktNTVpLWU06cGxpdm8tdG9rZW4tYWZ0ZXItcm90YXRpb24tNTY3OA=="
    );
}

#[tokio::test]
async fn a_second_401_after_the_reread_is_unauthorized_with_exactly_one_refresh() {
    // Arrange
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(basic_auth(AUTH_ID, TOKEN))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"error": "Authentication failed"})),
        )
        .expect(1)
        .named("stale token")
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(basic_auth(AUTH_ID, FRESH_TOKEN))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"error": "Authentication failed"})),
        )
        .expect(1)
        .named("fresh token")
        .mount(&server)
        .await;
    let secrets = RotatingSecret::new();

    // Act
    let err = client_for(&server.uri())
        .send_refreshing_credentials(&test_pace(), &secrets, &Fixture::one().msg())
        .await
        .unwrap_err();

    // Assert
    assert!(
        matches!(&err, SendFailure::Plivo(PlivoError::Unauthorized { .. })),
        "{err:?}"
    );
    assert_eq!(secrets.refreshes(), 1);
    assert_no_token(&err);
}

#[tokio::test]
async fn other_failures_do_not_reread_the_secret() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(plivo_error(400, "invalid dst"))
        .expect(1)
        .mount(&server)
        .await;
    let secrets = RotatingSecret::new();

    let err = client_for(&server.uri())
        .send_refreshing_credentials(&test_pace(), &secrets, &Fixture::one().msg())
        .await
        .unwrap_err();

    assert!(
        matches!(
            &err,
            SendFailure::Plivo(PlivoError::Refused { status: 400, .. })
        ),
        "{err:?}"
    );
    assert_eq!(secrets.refreshes(), 0);
    assert_no_token(&err);
}

#[tokio::test]
async fn credentials_debug_output_hides_the_token() {
    let shown = format!("{:?} {:?}", creds(), secret_with_token(TOKEN));
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(shown.contains(AUTH_ID), "{shown}");
}

/// A budget that counts what the client asks of it, and can refuse every turn.
#[derive(Default)]
struct CountingPace {
    turns: AtomicUsize,
    rate_limited: AtomicUsize,
    refuse: bool,
}

impl sms_core::pace::Pace for CountingPace {
    async fn wait_turn(&self) -> Result<(), sms_core::pace::PaceError> {
        self.turns.fetch_add(1, Ordering::SeqCst);
        if self.refuse {
            return Err(sms_core::pace::PaceError::TooFar(Duration::from_secs(3600)));
        }
        Ok(())
    }

    async fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::SeqCst);
    }

    async fn reserve(
        &self,
        count: usize,
    ) -> Result<Vec<chrono::DateTime<chrono::Utc>>, sms_core::pace::PaceError> {
        Ok(vec![chrono::Utc::now(); count])
    }
}

#[tokio::test]
async fn every_attempt_waits_for_its_turn_and_each_429_slows_the_budget() {
    // Arrange: two 429s, then accepted.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(plivo_error(429, "too many requests"))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_json(accepted_body(&["u-1"])))
        .mount(&server)
        .await;
    let pace = CountingPace::default();

    // Act
    client_for(&server.uri())
        .send(&pace, &creds(), &Fixture::one().msg())
        .await
        .unwrap();

    // Assert: a turn before each of the three requests, a slowdown after each 429.
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    assert_eq!(pace.turns.load(Ordering::SeqCst), 3);
    assert_eq!(pace.rate_limited.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_429_on_the_last_attempt_slows_the_budget_too() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(plivo_error(429, "too many requests"))
        .mount(&server)
        .await;
    let pace = CountingPace::default();

    let err = client_for(&server.uri())
        .send(&pace, &creds(), &Fixture::one().msg())
        .await
        .map_err(plivo_failure)
        .unwrap_err();

    assert!(matches!(err, PlivoError::RateLimited { .. }), "{err:?}");
    let attempts = FAST_RETRY.max_attempts as usize;
    assert_eq!(pace.turns.load(Ordering::SeqCst), attempts);
    assert_eq!(pace.rate_limited.load(Ordering::SeqCst), attempts);
}

#[tokio::test]
async fn without_a_turn_nothing_reaches_plivo() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_json(accepted_body(&["u-1"])))
        .expect(0)
        .mount(&server)
        .await;
    let pace = CountingPace {
        refuse: true,
        ..CountingPace::default()
    };

    let err = client_for(&server.uri())
        .send(&pace, &creds(), &Fixture::one().msg())
        .await
        .unwrap_err();

    assert!(matches!(err, SendFailure::Pace(_)), "{err:?}");
    assert_eq!(pace.turns.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------------------
// Plivo's records of what it sent (the Message list API)

#[tokio::test]
async fn records_are_listed_with_plivos_filters_and_read_from_its_answer() {
    use sms_core::plivo::records::RecordQuery;
    use wiremock::matchers::query_param;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(MESSAGE_PATH))
        .and(basic_auth(AUTH_ID, TOKEN))
        .and(query_param("message_direction", "outbound"))
        .and(query_param("to_number", "447700900123"))
        .and(query_param("from_number", "14155550100"))
        .and(query_param(
            "message_time__gte",
            "2026-12-05 01:00:00.000000",
        ))
        .and(query_param(
            "message_time__lte",
            "2026-12-05 01:02:00.000000",
        ))
        .and(query_param("limit", "20"))
        .and(query_param("offset", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "api_id": "a1",
            "meta": {"limit": 20, "offset": 0, "total_count": 21, "previous": null,
                     "next": format!("{MESSAGE_PATH}?limit=20&offset=20")},
            "objects": [{
                "message_uuid": "u-1", "to_number": "447700900123",
                "from_number": "14155550100", "message_state": "delivered",
                "message_time": "2026-12-05 06:31:00.250000+05:30", "units": "2",
                "message_direction": "outbound", "error_code": "000"
            }]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let to = PhoneNumber::parse("+447700900123").unwrap();
    let after = chrono::DateTime::parse_from_rfc3339("2026-12-05T01:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);

    let page = client_for(&server.uri())
        .list_records(
            &creds(),
            &RecordQuery {
                to: &to,
                from: Some("14155550100"),
                after,
                before: after + chrono::Duration::minutes(2),
                offset: 0,
            },
        )
        .await
        .unwrap();

    assert_eq!((page.total, page.more), (21, true));
    let record = &page.records[0];
    assert_eq!(
        (record.message_uuid.as_str(), record.state.as_str()),
        ("u-1", "delivered")
    );
    assert_eq!(record.to.as_ref(), Some(&to));
    assert_eq!(record.units, Some(2));
    assert_eq!(
        record.sent_at,
        Some(after + chrono::Duration::milliseconds(60_250))
    );
}

#[tokio::test]
async fn a_refused_or_unreadable_listing_is_classified_like_a_send() {
    use sms_core::plivo::records::RecordQuery;
    let to = PhoneNumber::parse("+447700900123").unwrap();
    let query = RecordQuery {
        to: &to,
        from: None,
        after: chrono::Utc::now(),
        before: chrono::Utc::now(),
        offset: 0,
    };
    for (answer, class) in [
        (
            plivo_error(429, "too many requests"),
            FailureClass::Retryable,
        ),
        (plivo_error(503, "unavailable"), FailureClass::Retryable),
        (plivo_error(400, "invalid limit"), FailureClass::Permanent),
        (
            ResponseTemplate::new(200).set_body_string("<html>"),
            FailureClass::Retryable,
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(answer)
            .mount(&server)
            .await;
        let err = client_for(&server.uri())
            .list_records(&creds(), &query)
            .await
            .unwrap_err();
        assert_eq!(err.class(), class, "{err}");
        assert_no_token(&err);
    }
}
