//! API Gateway's HTTP API in front of `cargo lambda watch` (local_stack::api_gateway says
//! why, and what it does). `make dev` starts it on the API's port.
//!
//! Settings: `API_GATEWAY_ADDR` (where it listens, e.g. `127.0.0.1:3000`); `LAMBDA_URL`
//! (`cargo lambda watch`, e.g. `http://127.0.0.1:9000`); `ROUTES_MANIFEST` (the Cargo.toml
//! whose `[workspace.metadata.lambda.watch.router]` lists the routes).

use std::{collections::HashMap, sync::Arc};

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Request, State},
    response::{IntoResponse, Response},
};
use http::StatusCode;
use local_stack::{
    api_gateway::{self, Incoming, Routes},
    invoke::{InvokeError, Invoker},
};
use sms_core::config;
use tracing::{info, warn};

/// API Gateway's largest request payload.
const MAX_BODY: usize = 10 * 1024 * 1024;

struct Gateway {
    routes: Routes,
    /// One invoker per function the routes name.
    functions: HashMap<String, Invoker>,
    lambda_url: String,
    http: reqwest::Client,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    sms_core::telemetry::init();
    let addr = config::required("API_GATEWAY_ADDR")?;
    let lambda_url = config::required("LAMBDA_URL")?
        .trim_end_matches('/')
        .to_owned();
    let manifest = config::required("ROUTES_MANIFEST")?;
    let routes = Routes::from_cargo_toml(&std::fs::read_to_string(&manifest)?)
        .map_err(|e| format!("{manifest}: {e}"))?;
    let mut functions = HashMap::new();
    for name in routes.functions() {
        let url = format!("{lambda_url}/2015-03-31/functions/{name}/invocations");
        functions.insert(name.to_owned(), Invoker::new(url)?);
    }
    let gateway = Arc::new(Gateway {
        routes,
        functions,
        lambda_url,
        // As `Invoker`'s: an invocation queued behind a busy function must not be cut.
        http: reqwest::Client::builder().tcp_user_timeout(None).build()?,
    });
    let app = Router::new().fallback(serve).with_state(gateway);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    info!(%addr, "serving the API's routes");
    axum::serve(listener, app).await?;
    Ok(())
}

async fn serve(State(gateway): State<Arc<Gateway>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    // The invoke API and function URLs are cargo lambda watch's own.
    if path.starts_with("/2015-03-31/") || path.starts_with("/lambda-url/") {
        return pass_through(&gateway, req).await;
    }
    let Some((route, params)) = gateway.routes.find(&path) else {
        return reply(api_gateway::gateway_answer(StatusCode::NOT_FOUND));
    };
    let (parts, body) = req.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        return reply(api_gateway::gateway_answer(StatusCode::PAYLOAD_TOO_LARGE));
    };
    let event = api_gateway::event(
        route,
        params,
        Incoming {
            method: parts.method,
            path: &path,
            query: parts.uri.query(),
            headers: parts.headers,
            body: &body,
            request_id: uuid::Uuid::new_v4().to_string(),
        },
    );
    let Some(invoker) = gateway.functions.get(&route.function) else {
        return reply(api_gateway::gateway_answer(
            StatusCode::INTERNAL_SERVER_ERROR,
        ));
    };
    let event = match serde_json::to_value(&event) {
        Ok(event) => event,
        Err(_) => {
            return reply(api_gateway::gateway_answer(
                StatusCode::INTERNAL_SERVER_ERROR,
            ));
        }
    };
    match invoker.call(&event).await {
        Ok(answer) => reply(api_gateway::response(&answer)),
        Err(e @ (InvokeError::Failed { .. } | InvokeError::NotReached(_))) => {
            warn!(function = %route.function, error = %e, "the function gave no answer");
            reply(api_gateway::gateway_answer(
                StatusCode::INTERNAL_SERVER_ERROR,
            ))
        }
    }
}

fn reply(response: http::Response<Vec<u8>>) -> Response {
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, Body::from(body))
}

/// The request as it came, to cargo lambda watch, and its answer as it came back.
async fn pass_through(gateway: &Gateway, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let target = format!(
        "{}{}",
        gateway.lambda_url,
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut headers = parts.headers;
    headers.remove(http::header::HOST);
    let answer = gateway
        .http
        .request(parts.method, target)
        .headers(headers)
        .body(body)
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            warn!(error = %e, "cargo lambda watch did not answer");
            return StatusCode::BAD_GATEWAY.into_response();
        }
    };
    let status = answer.status();
    let mut headers = answer.headers().clone();
    // The body is whole here: its length is the new response's own.
    headers.remove(http::header::TRANSFER_ENCODING);
    headers.remove(http::header::CONTENT_LENGTH);
    let body = answer.bytes().await.unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}
