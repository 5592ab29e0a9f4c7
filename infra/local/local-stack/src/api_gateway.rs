//! API Gateway's HTTP API, played in front of `cargo lambda watch` (binary `api-gateway`,
//! started by `make dev` on the API's port). `cargo lambda watch` has an HTTP router of its
//! own, but it is not API Gateway: it answers a route's other methods with its own 404, and
//! it fails with a 500 of its own, before any function runs, on a JSON body that is not UTF-8.
//! On AWS the function sees every request of its routes (`ANY` routes, template.yaml) and a
//! body that is not text arrives base64-encoded. This stand-in does what API Gateway does:
//!
//! - it matches the request's path against the routes of Cargo.toml's
//!   `[workspace.metadata.lambda.watch.router]` (the local copy of template.yaml's routes),
//!   answering `404 {"message":"Not Found"}` when none matches, as API Gateway does;
//! - it turns the request into a payload format 2.0 event: headers, query, path parameters,
//!   the body as text when it is text, base64 otherwise;
//! - it invokes the function through `cargo lambda watch`'s invoke API, and turns its answer
//!   into the HTTP response (`500 {"message":"Internal Server Error"}` when the function
//!   fails, as API Gateway does).
//!
//! Everything else (the invoke API itself, `/lambda-url/...` function URLs) is passed to
//! `cargo lambda watch` as it came, so every local tool keeps one address.

use std::collections::HashMap;

use aws_lambda_events::apigw::{
    ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
    ApiGatewayV2httpRequestContextHttpDescription,
};
use base64::Engine as _;
use chrono::Utc;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;

/// One route: its path pattern (`/v1/bulk/{job_id}`) and the function that serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub pattern: String,
    pub function: String,
}

/// The routes, in the order they are tried: literal paths before patterns with parameters, as
/// API Gateway prefers the most specific route.
#[derive(Debug, Clone, Default)]
pub struct Routes(Vec<Route>);

impl Routes {
    /// The router table of a Cargo.toml. A path maps to a function (every method), or, in
    /// cargo-lambda's other form, to `[{ method, function }]`: every method of those goes to
    /// the function that serves the path, so a wrong method reaches it and gets its 405.
    pub fn from_cargo_toml(text: &str) -> Result<Self, String> {
        let manifest: toml::Value = toml::from_str(text).map_err(|e| e.to_string())?;
        let router = ["workspace", "metadata", "lambda", "watch", "router"]
            .iter()
            .try_fold(&manifest, |v, key| v.get(key))
            .and_then(toml::Value::as_table)
            .ok_or("Cargo.toml has no [workspace.metadata.lambda.watch.router]")?;
        let mut routes = Vec::new();
        for (pattern, target) in router {
            let function = match target {
                toml::Value::String(function) => function.clone(),
                toml::Value::Array(targets) => targets
                    .iter()
                    .find_map(|t| t.get("function").and_then(toml::Value::as_str))
                    .ok_or_else(|| format!("route {pattern} names no function"))?
                    .to_owned(),
                _ => return Err(format!("route {pattern}: a function or a list of them")),
            };
            routes.push(Route {
                pattern: pattern.clone(),
                function,
            });
        }
        routes.sort_by_key(|r| (r.pattern.matches('{').count(), r.pattern.clone()));
        Ok(Self(routes))
    }

    /// Every function a route names, once.
    pub fn functions(&self) -> std::collections::BTreeSet<&str> {
        self.0.iter().map(|r| r.function.as_str()).collect()
    }

    /// The route `path` is for, with its path parameters.
    pub fn find(&self, path: &str) -> Option<(&Route, HashMap<String, String>)> {
        let given: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.0.iter().find_map(|route| {
            let pattern: Vec<&str> = route.pattern.trim_start_matches('/').split('/').collect();
            if pattern.len() != given.len() {
                return None;
            }
            let mut params = HashMap::new();
            for (p, g) in pattern.iter().zip(&given) {
                match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) if !g.is_empty() => {
                        params.insert(name.to_owned(), (*g).to_owned());
                    }
                    Some(_) => return None,
                    None if p == g => {}
                    None => return None,
                }
            }
            Some((route, params))
        })
    }
}

/// What API Gateway hands the function for a request.
pub struct Incoming<'a> {
    pub method: Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: HeaderMap,
    pub body: &'a [u8],
    pub request_id: String,
}

/// Bodies API Gateway passes as text: text types and JSON, when they are UTF-8. Anything else
/// is base64-encoded, so no byte is lost or refused before the function sees it.
fn as_text<'b>(headers: &HeaderMap, body: &'b [u8]) -> Option<&'b str> {
    let media = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let textual = media.is_empty()
        || media.starts_with("text/")
        || media.contains("json")
        || media.contains("xml")
        || media.starts_with("application/x-www-form-urlencoded")
        || media.starts_with("application/javascript");
    if textual {
        std::str::from_utf8(body).ok()
    } else {
        None
    }
}

/// The payload format 2.0 event of `request` on `route`.
pub fn event(
    route: &Route,
    path_parameters: HashMap<String, String>,
    request: Incoming<'_>,
) -> ApiGatewayV2httpRequest {
    let route_key = format!("ANY {}", route.pattern);
    let (body, is_base64_encoded) = if request.body.is_empty() {
        (None, false)
    } else {
        match as_text(&request.headers, request.body) {
            Some(text) => (Some(text.to_owned()), false),
            None => (
                Some(base64::engine::general_purpose::STANDARD.encode(request.body)),
                true,
            ),
        }
    };
    let cookies = request
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split("; ").map(str::to_owned))
        .collect::<Vec<_>>();
    let mut headers = request.headers.clone();
    headers.remove(http::header::COOKIE);
    let domain = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let user_agent = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let now = Utc::now();
    // The event types are `#[non_exhaustive]`: built from their defaults, field by field.
    let mut http_description = ApiGatewayV2httpRequestContextHttpDescription::default();
    http_description.method = request.method;
    http_description.path = Some(request.path.to_owned());
    http_description.protocol = Some("HTTP/1.1".into());
    http_description.source_ip = Some("127.0.0.1".into());
    http_description.user_agent = user_agent;

    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some(route_key.clone());
    context.account_id = Some("000000000000".into());
    context.stage = Some("$default".into());
    context.request_id = Some(request.request_id);
    context.apiid = Some("local".into());
    context.domain_name = domain;
    context.domain_prefix = Some("local".into());
    context.time = Some(now.format("%d/%b/%Y:%T %z").to_string());
    context.time_epoch = now.timestamp_millis();
    context.http = http_description;

    let mut event = ApiGatewayV2httpRequest::default();
    event.version = Some("2.0".into());
    event.route_key = Some(route_key);
    event.raw_path = Some(request.path.to_owned());
    event.raw_query_string = request.query.map(str::to_owned);
    event.cookies = (!cookies.is_empty()).then_some(cookies);
    event.query_string_parameters = request
        .query
        .unwrap_or_default()
        .parse()
        .unwrap_or_default();
    event.path_parameters = path_parameters;
    event.headers = headers;
    event.body = body;
    event.is_base64_encoded = is_base64_encoded;
    event.request_context = context;
    event
}

/// An answer of API Gateway's own, as it words them.
pub fn gateway_answer(status: StatusCode) -> http::Response<Vec<u8>> {
    let message = status.canonical_reason().unwrap_or("Error");
    let mut response = http::Response::new(
        serde_json::json!({ "message": message })
            .to_string()
            .into_bytes(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The HTTP response of a function's answer (payload format 2.0: `statusCode`, `headers`,
/// `multiValueHeaders`, `cookies`, `body`, `isBase64Encoded`, each but the first optional), or
/// API Gateway's 500 when the answer is not one.
pub fn response(answer: &str) -> http::Response<Vec<u8>> {
    let broken = || gateway_answer(StatusCode::INTERNAL_SERVER_ERROR);
    let Ok(answer) = serde_json::from_str::<Value>(answer) else {
        return broken();
    };
    let Some(status) = answer["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
    else {
        return broken();
    };
    let text = answer["body"].as_str().unwrap_or_default();
    let body = if answer["isBase64Encoded"].as_bool().unwrap_or(false) {
        match base64::engine::general_purpose::STANDARD.decode(text) {
            Ok(bytes) => bytes,
            Err(_) => return broken(),
        }
    } else {
        text.as_bytes().to_vec()
    };
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let single = answer["headers"].as_object().into_iter().flatten();
    let multi = answer["multiValueHeaders"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(name, values)| {
            values
                .as_array()
                .into_iter()
                .flatten()
                .map(move |v| (name, v))
        });
    for (name, value) in single.chain(multi) {
        if let (Ok(name), Some(Ok(value))) = (
            http::HeaderName::try_from(name.as_str()),
            value.as_str().map(HeaderValue::from_str),
        ) {
            headers.append(name, value);
        }
    }
    for cookie in answer["cookies"].as_array().into_iter().flatten() {
        if let Some(Ok(value)) = cookie.as_str().map(HeaderValue::from_str) {
            headers.append(http::header::SET_COOKIE, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
[workspace.metadata.lambda.watch.router]
"/v1/messages" = "send-sms"
"/v1/messages/{message_uuid}" = "send-sms"
"/v1/openapi.json" = "send-sms"
"/v1/bulk/{job_id}/pause" = [{ method = "POST", function = "send-bulk" }]
"/v1/bulk/{job_id}" = [{ method = "GET", function = "send-bulk" }]
"#;

    fn routes() -> Routes {
        Routes::from_cargo_toml(MANIFEST).unwrap()
    }

    fn incoming<'a>(content_type: &str, body: &'a [u8]) -> Incoming<'a> {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_str(content_type).unwrap());
        headers.insert("host", HeaderValue::from_static("127.0.0.1:3000"));
        headers.insert("cookie", HeaderValue::from_static("a=1; b=2"));
        Incoming {
            method: Method::TRACE,
            path: "/v1/bulk/j-1/pause",
            query: Some("x=1&x=2&y="),
            headers,
            body,
            request_id: "r-1".into(),
        }
    }

    #[test]
    fn a_path_finds_its_route_whatever_the_form_and_a_literal_wins() {
        let routes = routes();

        let (route, params) = routes.find("/v1/bulk/j-1/pause").unwrap();
        assert_eq!(route.function, "send-bulk");
        assert_eq!(params["job_id"], "j-1");

        let (route, params) = routes.find("/v1/openapi.json").unwrap();
        assert_eq!(route.pattern, "/v1/openapi.json");
        assert!(params.is_empty());

        assert_eq!(
            routes.find("/v1/messages/abc").unwrap().0.pattern,
            "/v1/messages/{message_uuid}"
        );
        assert!(routes.find("/v1/bulk/j-1/pause/more").is_none());
        assert!(routes.find("/v1/bulk//pause").is_none());
        assert!(routes.find("/v2/messages").is_none());
        assert_eq!(
            routes.functions().into_iter().collect::<Vec<_>>(),
            ["send-bulk", "send-sms"]
        );
    }

    #[test]
    fn a_text_body_goes_as_text_and_anything_else_as_base64() {
        let route = routes().find("/v1/bulk/j-1/pause").unwrap().0.clone();

        let text = event(
            &route,
            HashMap::new(),
            incoming("application/json", b"{\"a\":1}"),
        );
        assert_eq!(text.body.as_deref(), Some("{\"a\":1}"));
        assert!(!text.is_base64_encoded);

        // Not UTF-8, though labelled JSON: API Gateway hands it over, the function refuses it.
        let bytes = event(
            &route,
            HashMap::new(),
            incoming("application/json", &[0xff, 0x02]),
        );
        assert_eq!(bytes.body.as_deref(), Some("/wI="));
        assert!(bytes.is_base64_encoded);

        let binary = event(
            &route,
            HashMap::new(),
            incoming("application/octet-stream", b"abc"),
        );
        assert!(binary.is_base64_encoded);
    }

    #[test]
    fn the_event_carries_what_the_function_reads() {
        let route = routes().find("/v1/bulk/j-1/pause").unwrap().0.clone();
        let mut params = HashMap::new();
        params.insert("job_id".to_owned(), "j-1".to_owned());

        let event = event(&route, params, incoming("application/json", b""));
        let json = serde_json::to_value(&event).unwrap();

        assert_eq!(json["version"], "2.0");
        assert_eq!(json["routeKey"], "ANY /v1/bulk/{job_id}/pause");
        assert_eq!(json["rawPath"], "/v1/bulk/j-1/pause");
        assert_eq!(json["rawQueryString"], "x=1&x=2&y=");
        assert_eq!(json["pathParameters"]["job_id"], "j-1");
        assert_eq!(json["requestContext"]["http"]["method"], "TRACE");
        assert_eq!(json["requestContext"]["stage"], "$default");
        assert_eq!(json["requestContext"]["domainName"], "127.0.0.1:3000");
        assert_eq!(json["cookies"], serde_json::json!(["a=1", "b=2"]));
        assert!(json["headers"].get("cookie").is_none());
        assert!(json.get("body").is_none_or(serde_json::Value::is_null));
    }

    #[test]
    fn the_functions_answer_becomes_the_response_and_a_broken_one_a_500() {
        let answer = serde_json::json!({
            "statusCode": 405,
            "headers": {"allow": "GET", "content-type": "application/problem+json"},
            "body": "{\"status\":405}",
            "isBase64Encoded": false,
        });

        let response = response(&answer.to_string());

        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], "GET");
        assert_eq!(response.body(), b"{\"status\":405}");

        let broken = super::response("not an answer");
        assert_eq!(broken.status(), 500);
        assert_eq!(broken.body(), br#"{"message":"Internal Server Error"}"#);
        assert_eq!(
            gateway_answer(StatusCode::NOT_FOUND).body(),
            br#"{"message":"Not Found"}"#
        );
    }
}
