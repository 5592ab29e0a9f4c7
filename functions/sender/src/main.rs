//! sender: builds its clients once at cold start, then serves every SQS event.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use sender::App;
use sms_core::{config, plivo::PlivoClient, retry::RetryPolicy, telemetry, wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let sdk = config::aws().await;
    // Batches have the whole invocation to get through a rate limit: retry longer than the
    // synchronous send-sms does.
    let plivo = PlivoClient::new(wiring::plivo_config()?.with_retry(RetryPolicy {
        max_attempts: 6,
        base_delay: std::time::Duration::from_millis(500),
        max_delay: std::time::Duration::from_secs(8),
    }))?;
    let store = wiring::dynamo_store(&sdk)?;
    let app = App {
        pace: wiring::pacer(&store)?,
        store,
        secrets: wiring::secret_cache(&sdk)?,
        plivo,
        tasks: wiring::files_queue(&sdk)?,
        fallback: wiring::fallback(&sdk)?,
        unknown: config::UnknownOutcome::parse(
            config::optional("UNKNOWN_OUTCOME").as_deref(),
            config::optional("RECONCILE_DELAY_SECONDS").as_deref(),
        )?,
    };
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, Error>(sender::handle(event, app).await)
    }))
    .await
}
