//! send-sms: builds its clients once at cold start, then serves every invocation.

use std::convert::Infallible;

use lambda_http::{Error, Request, service_fn};
use send_sms::App;
use sms_core::{config, telemetry, wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let sdk = config::aws().await;
    let store = wiring::dynamo_store(&sdk)?;
    let app = App {
        pace: wiring::pacer(&store)?,
        store,
        secrets: wiring::secret_cache(&sdk)?,
        plivo: wiring::plivo_client()?,
        public_base_url: config::PublicBaseUrl::from_env()?,
        tasks: wiring::files_queue(&sdk)?,
    };
    let app = &app;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(send_sms::handle(req, app).await)
    }))
    .await
}
