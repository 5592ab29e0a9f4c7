//! send-bulk: `POST /v1/bulk` and `GET /v1/bulk/{job_id}`.
//!
//! Bulk sending arrives with its own issue; until then the routes exist, check the API key
//! and answer 501, so clients and the local stack see a clear, well-formed refusal.

use std::convert::Infallible;

use lambda_http::{Body, Error, Request, Response, service_fn};
use sms_core::{Problem, ProblemKind, api, config, secrets::SecretProvider, telemetry, wiring};

async fn handle(req: Request, secrets: &impl SecretProvider) -> Response<Body> {
    let secret = match secrets.current().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "the service secret could not be loaded");
            return Problem::new(ProblemKind::Internal, "the service's configuration could not be read").into_response();
        }
    };
    if let Err(p) = api::authenticate(&req, &secret.api_keys) {
        return p.into_response();
    }
    Problem::new(ProblemKind::NotImplemented, "bulk sending is not available in this version").into_response()
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let sdk = config::aws().await;
    let secrets = wiring::secret_cache(&sdk)?;
    let secrets = &secrets;
    lambda_http::run(service_fn(move |req: Request| async move { Ok::<_, Infallible>(handle(req, secrets).await) })).await
}
