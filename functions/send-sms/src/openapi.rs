//! `GET /v1/openapi.json`: the API's contract, docs/openapi.yaml, as JSON (build.rs converts
//! it at compile time). Served without a key, as API Gateway's own export would be: it says
//! what the API accepts and answers, nothing of a deployment's data or settings.

use lambda_http::{
    Body, Response,
    http::{Method, StatusCode},
};
use sms_core::{Problem, http::api};

/// The document, minified.
pub const DOCUMENT: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// The route's path segments.
pub fn is_route(segments: &[&str]) -> bool {
    segments == ["v1", "openapi.json"]
}

pub fn answer(method: &Method) -> Response<Body> {
    if method != Method::GET {
        return api::method_not_allowed("GET");
    }
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        // It changes only with a deployment; clients and code generators may keep it a while.
        .header("cache-control", "public, max-age=300")
        .body(Body::Text(DOCUMENT.to_owned()))
        .unwrap_or_else(|e| {
            Problem::internal("the document could not be answered", &e).into_response()
        })
}
