//! send-bulk: builds its clients once at cold start, then serves every invocation.

use std::convert::Infallible;

use lambda_http::{Error, Request, service_fn};
use send_bulk::App;
use sms_core::{config, telemetry, wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let sdk = config::aws().await;
    let app = App {
        store: wiring::dynamo_store(&sdk)?,
        queue: wiring::sqs_queue(&sdk)?,
        secrets: wiring::secret_cache(&sdk)?,
        files: wiring::s3_files(&sdk)?,
        tasks: wiring::files_queue(&sdk)?,
        max_upload_bytes: config::positive(
            "MAX_UPLOAD_BYTES",
            config::optional("MAX_UPLOAD_BYTES").as_deref(),
            send_bulk::uploads::DEFAULT_MAX_UPLOAD_BYTES,
        )?,
        prices: wiring::prices()?,
        fallback: sms_core::fallback::FallbackPolicy::is_enabled(
            config::optional("FALLBACK").as_deref(),
        )?,
        public_base_url: config::PublicBaseUrl::from_env()?,
        batch_size: wiring::batch_size()?,
        rates: send_bulk::forecast::Rates {
            requests: wiring::request_rate()?,
            account_mps: config::optional("PLIVO_ACCOUNT_MPS").map_or(
                Ok(send_bulk::forecast::Rates::DEFAULT_ACCOUNT_MPS),
                |raw| {
                    send_bulk::forecast::Rates::parse_mps(&raw).map_err(|reason| {
                        config::ConfigError::Invalid {
                            name: "PLIVO_ACCOUNT_MPS",
                            reason,
                        }
                    })
                },
            )?,
        },
    };
    let app = &app;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(send_bulk::handle(req, app).await)
    }))
    .await
}
