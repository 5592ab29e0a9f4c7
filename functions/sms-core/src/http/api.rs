//! The HTTP edge shared by the API functions: authentication, JSON bodies with named errors,
//! idempotency keys, JSON answers and path matching. Raw request data stops here.

use std::{future::Future, sync::Arc};

use lambda_http::{Body, Request, RequestExt, Response, http::StatusCode};
use serde::{Serialize, de::DeserializeOwned};
use tracing::{Instrument, info, info_span};

use crate::{
    http::auth::{ApiKeys, AuthFailure, check_bearer},
    http::problem::{FieldError, Problem, ProblemKind},
    secrets::{SecretError, SecretProvider, ServiceSecret},
};

/// Serves one HTTP invocation: one span carrying the function, the request id, method and
/// path (and empty `job_id`, `message_uuid` and `outcome` for routes to fill in), with any
/// [`Problem`] answered as its problem document. Its one `answered` line carries them all, so
/// a route that records its outcome in the span needs no line of its own. Every outcome is an HTTP answer: an `Err` from a Lambda HTTP handler
/// would reach the caller as API Gateway's bare 502.
pub async fn serve<F, Fut>(req: &Request, function: &'static str, route: F) -> Response<Body>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Response<Body>, Problem>>,
{
    let request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let span = info_span!(
        "request",
        function,
        %request_id,
        method = %req.method(),
        path = %loggable_path(req.uri().path()),
        job_id = tracing::field::Empty,
        message_uuid = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );
    async move {
        let response = route().await.unwrap_or_else(Problem::into_response);
        info!(status = response.status().as_u16(), "answered");
        response
    }
    .instrument(span)
    .await
}

/// The service secret, or a 500 whose cause is logged (never shown: it may name the secret).
pub async fn service_secret<P: SecretProvider>(secrets: &P) -> Result<Arc<ServiceSecret>, Problem> {
    secrets.current().await.map_err(secret_unreadable)
}

/// The answer when the secret cannot be read: a 500, with the cause in the log only.
pub fn secret_unreadable(e: SecretError) -> Problem {
    Problem::internal(
        "the service's configuration could not be read; see the function's logs",
        &e,
    )
}

/// Answers 401 for a missing or malformed `Authorization` header and 403 for a wrong key.
pub fn authenticate(req: &Request, keys: &ApiKeys) -> Result<(), Problem> {
    let header = req
        .headers()
        .get("authorization")
        .map(|v| v.to_str().map_err(|_| AuthFailure::Malformed));
    let result = match header {
        None => check_bearer(None, keys),
        Some(Err(f)) => Err(f),
        Some(Ok(v)) => check_bearer(Some(v), keys),
    };
    result.map_err(|failure| match failure {
        AuthFailure::Missing => Problem::new(
            ProblemKind::Unauthorized,
            "send the API key as 'Authorization: Bearer <key>'",
        ),
        AuthFailure::Malformed => Problem::new(
            ProblemKind::Unauthorized,
            "the Authorization header must be 'Bearer <key>'",
        ),
        AuthFailure::Forbidden => Problem::new(ProblemKind::Forbidden, "the API key is not valid"),
    })
}

/// The raw body bytes, whatever form API Gateway delivered them in.
pub fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// Parses a JSON body into `T`, refusing non-JSON content types (415), bodies over `limit`
/// bytes (413), and anything `T` does not accept (400, naming the field and the reason).
pub fn read_json<T: DeserializeOwned>(req: &Request, limit: usize) -> Result<T, Problem> {
    if let Some(ct) = req.headers().get("content-type") {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or_default().trim();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(Problem::new(
                ProblemKind::UnsupportedMediaType,
                format!("the body must be application/json, not {essence}"),
            ));
        }
    }
    let body = body_bytes(req);
    if body.len() > limit {
        return Err(Problem::new(
            ProblemKind::PayloadTooLarge,
            format!("the body is {} bytes; the limit is {limit}", body.len()),
        ));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::invalid(
            "the request body is empty; send a JSON object",
            vec![],
        ));
    }
    // serde's derived structs also accept a JSON array of fields in order; the API's bodies
    // are objects only, so anything else is refused up front.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        let e = FieldError::new("body", "must be a JSON object");
        return Err(Problem::invalid("the body must be a JSON object", vec![e]));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = strip_position(&inner.to_string());
        if inner.is_syntax() || inner.is_eof() {
            Problem::invalid(format!("the body is not valid JSON: {inner}"), vec![])
        } else if path == "." {
            Problem::invalid(message.clone(), vec![FieldError::new("body", message)])
        } else {
            Problem::invalid(
                format!("{path}: {message}"),
                vec![FieldError::new(path, message)],
            )
        }
    })?;
    // Trailing data after the object is malformed JSON too.
    de.end()
        .map_err(|e| Problem::invalid(format!("the body is not valid JSON: {e}"), vec![]))?;
    Ok(value)
}

/// serde_json appends " at line 1 column 42" to data errors; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// A validated `Idempotency-Key` header value: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    pub fn from_request(req: &Request) -> Result<Option<Self>, Problem> {
        let Some(value) = req.headers().get("idempotency-key") else {
            return Ok(None);
        };
        let value = value
            .to_str()
            .map_err(|_| Problem::field("Idempotency-Key", "must be visible ASCII"))?;
        Self::parse(value).map(Some)
    }

    pub fn parse(value: &str) -> Result<Self, Problem> {
        let invalid = |why: &str| Problem::field("Idempotency-Key", why);
        let value = value.trim();
        if value.is_empty() || value.len() > Self::MAX_LEN {
            return Err(invalid("must be 1 to 255 characters"));
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid("must be visible ASCII without spaces"));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A JSON answer with the given status.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    match serde_json::to_string(body) {
        Ok(text) => Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::Text(text))
            .unwrap_or_else(|_| Response::new(Body::Empty)),
        Err(e) => Problem::internal("the response could not be encoded", &e).into_response(),
    }
}

/// Longest path logged; the routes' own paths are far shorter.
const LOGGED_PATH_MAX: usize = 80;

/// The request path as the invocation's span records it. The path is the caller's to choose
/// (any bytes, any length), so it is cut short and anything outside the characters routes use
/// becomes `_`: no log injection, no unbounded line, nothing hidden in escapes.
pub fn loggable_path(path: &str) -> String {
    let mut shown: String = path
        .chars()
        .take(LOGGED_PATH_MAX)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "/-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if path.chars().count() > LOGGED_PATH_MAX {
        shown.push_str("...");
    }
    shown
}

/// The path's segments with empty ones dropped, so `/v1/messages/` and `/v1/messages` match
/// alike. Under `cargo lambda watch` a function-URL request arrives without its prefix, so
/// routes are matched on their trailing segments.
pub fn path_segments(req: &Request) -> Vec<&str> {
    req.uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

/// The route a request is for: `collection` for `.../<name>`, `item` for `.../<name>/<id>`.
#[derive(Debug, PartialEq, Eq)]
pub enum Route<'a> {
    Collection,
    Item(&'a str),
    Unknown,
}

pub fn match_route<'a>(segments: &[&'a str], name: &str) -> Route<'a> {
    match segments {
        [.., last] if *last == name => Route::Collection,
        [.., parent, id] if *parent == name => Route::Item(id),
        _ => Route::Unknown,
    }
}

pub fn method_not_allowed(allowed: &str) -> Response<Body> {
    let mut resp = Problem::new(
        ProblemKind::MethodNotAllowed,
        format!("this route accepts {allowed}"),
    )
    .into_response();
    if let Ok(v) = allowed.parse() {
        resp.headers_mut().insert("allow", v);
    }
    resp
}

pub fn not_found(req: &Request) -> Response<Body> {
    Problem::new(
        ProblemKind::NotFound,
        format!("no route for {}", req.uri().path()),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn logged_paths_are_bounded_and_plain() {
        assert_eq!(
            loggable_path("/v1/messages/0b8a5f2e-8f2a-11ee-9a3c-0242ac120002"),
            "/v1/messages/0b8a5f2e-8f2a-11ee-9a3c-0242ac120002"
        );
        assert_eq!(loggable_path("/v1/%0a\"evil\" é"), "/v1/_0a_evil___");
        let long = format!("/{}", "a".repeat(10_000));
        let shown = loggable_path(&long);
        assert_eq!(shown.len(), LOGGED_PATH_MAX + 3);
        assert!(shown.ends_with("..."));
    }

    use lambda_http::http;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body1 {
        to: String,
        list: Vec<String>,
    }

    fn req(body: &str) -> Request {
        http::Request::builder()
            .header("content-type", "application/json")
            .body(Body::Text(body.into()))
            .unwrap()
    }

    fn problem(body: &str) -> Problem {
        read_json::<Body1>(&req(body), 1024).unwrap_err()
    }

    #[test]
    fn names_the_field_of_a_wrong_type() {
        let p = problem(r#"{"to": 5, "list": []}"#);
        assert_eq!(p.status, 400);
        assert_eq!(p.errors[0].field, "to");
        assert!(p.errors[0].message.contains("invalid type"), "{p:?}");
        let p = problem(r#"{"to": "x", "list": ["a", 3]}"#);
        assert_eq!(p.errors[0].field, "list[1]");
    }

    #[test]
    fn names_unknown_and_missing_fields() {
        let p = problem(r#"{"to": "x", "list": [], "extra": 1}"#);
        assert!(p.detail.contains("unknown field `extra`"), "{p:?}");
        let p = problem(r#"{"list": []}"#);
        assert!(p.detail.contains("missing field `to`"), "{p:?}");
    }

    #[test]
    fn refuses_non_json_empty_oversized_and_wrong_media_type() {
        assert!(problem("not json").detail.contains("must be a JSON object"));
        assert!(problem("{not json").detail.contains("not valid JSON"));
        assert!(
            problem(r#"["x", []]"#)
                .detail
                .contains("must be a JSON object")
        );
        assert!(
            problem(r#"{"to":"x","list":[]} trailing"#)
                .detail
                .contains("not valid JSON")
        );
        assert!(problem("").detail.contains("empty"));
        let big = format!(r#"{{"to":"{}","list":[]}}"#, "x".repeat(2000));
        assert_eq!(problem(&big).status, 413);
        let r = http::Request::builder()
            .header("content-type", "text/plain")
            .body(Body::Text("{}".into()))
            .unwrap();
        assert_eq!(read_json::<Body1>(&r, 1024).unwrap_err().status, 415);
    }

    /// API Gateway hands over a body that is not UTF-8 base64-encoded, so it arrives as
    /// bytes: refused as a 400 like any other body that is not JSON, never a 500.
    #[test]
    fn a_body_that_is_not_utf8_is_a_400() {
        let binary = |bytes: &[u8]| {
            let r = http::Request::builder()
                .header("content-type", "application/json")
                .body(Body::Binary(bytes.to_vec()))
                .unwrap();
            read_json::<Body1>(&r, 1024).unwrap_err()
        };

        let bare = binary(&[0xff, 0x02]);
        assert_eq!(
            (bare.status, bare.type_uri.as_str()),
            (400, "/problems/invalid-request")
        );
        assert_eq!(bare.errors[0].field, "body");

        let inside = binary(b"{\"to\": \"\xff\", \"list\": []}");
        assert_eq!(
            (inside.status, inside.type_uri.as_str()),
            (400, "/problems/invalid-request")
        );
        assert!(inside.detail.contains("not valid JSON"), "{inside:?}");
    }

    #[test]
    fn routes_match_on_trailing_segments() {
        assert_eq!(
            match_route(&["v1", "messages"], "messages"),
            Route::Collection
        );
        assert_eq!(
            match_route(&["v1", "messages", "abc"], "messages"),
            Route::Item("abc")
        );
        assert_eq!(
            match_route(&["messages", "abc"], "messages"),
            Route::Item("abc")
        );
        assert_eq!(match_route(&["v1", "other"], "messages"), Route::Unknown);
        assert_eq!(match_route(&[], "messages"), Route::Unknown);
    }

    #[test]
    fn idempotency_keys_are_bounded_visible_ascii() {
        let with = |v: &str| {
            http::Request::builder()
                .header("idempotency-key", v)
                .body(Body::Empty)
                .unwrap()
        };
        assert_eq!(
            IdempotencyKey::from_request(&with("abc-123"))
                .unwrap()
                .unwrap()
                .as_str(),
            "abc-123"
        );
        assert!(IdempotencyKey::from_request(&with(&"k".repeat(256))).is_err());
        assert!(IdempotencyKey::from_request(&with("a b")).is_err());
        let none = http::Request::builder().body(Body::Empty).unwrap();
        assert_eq!(IdempotencyKey::from_request(&none).unwrap(), None);
    }
}
