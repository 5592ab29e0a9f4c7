//! status-callback: builds its clients once at cold start, then serves every invocation.

use std::convert::Infallible;

use lambda_http::{Error, Request, service_fn};
use sms_core::{config, telemetry, wiring};
use status_callback::App;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let sdk = config::aws().await;
    let app = App {
        store: wiring::dynamo_store(&sdk)?,
        secrets: wiring::secret_cache(&sdk)?,
        public_base_url: config::PublicBaseUrl::from_env()?,
        settings: config::CallbackSettings::from_env()?,
    };
    let app = &app;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(status_callback::handle(req, app).await)
    }))
    .await
}
