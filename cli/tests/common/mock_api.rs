//! The wiremock side of the tests: the API's answers and what it was asked.

use serde_json::{Value, json};
use wiremock::{
    Mock, MockBuilder, MockServer, Request, ResponseTemplate,
    matchers::{method, path},
};

/// A mock of `METHOD PATH`, for more matchers and its answer.
pub fn on(verb: &str, at: impl Into<String>) -> MockBuilder {
    Mock::given(method(verb)).and(path(at))
}

/// An answer of `status` with the JSON `body`.
pub fn json_response(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

/// A mock of `METHOD PATH` that answers `status` with the JSON `body`.
pub fn answer(verb: &str, at: impl Into<String>, status: u16, body: Value) -> Mock {
    on(verb, at).respond_with(json_response(status, body))
}

/// A wiremock API with these mocks mounted.
pub async fn api_with(mocks: impl IntoIterator<Item = Mock>) -> MockServer {
    let api = MockServer::start().await;
    for mock in mocks {
        mock.mount(&api).await;
    }
    api
}

/// An API problem document (docs/api.md, "Errors") of type `/problems/{kind}`.
pub fn problem(status: u16, kind: &str, title: &str, detail: &str) -> Value {
    json!({"type": format!("/problems/{kind}"), "title": title, "status": status, "detail": detail})
}

/// Every request `api` received, in order.
pub async fn requests(api: &MockServer) -> Vec<Request> {
    api.received_requests()
        .await
        .expect("wiremock records requests")
}

/// How many of the requests `api` received are `verb`.
pub async fn count(api: &MockServer, verb: &str) -> usize {
    requests(api)
        .await
        .iter()
        .filter(|r| r.method.as_str() == verb)
        .count()
}
