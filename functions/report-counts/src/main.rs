//! report-counts: builds its client once at cold start, then serves every stream batch.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use sms_core::{config, store::table_stream::StreamEvent, telemetry, wiring};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let sdk = config::aws().await;
    let store = wiring::dynamo_store(&sdk)?;
    let store = &store;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<StreamEvent>| async move {
            // One span per invocation, as every function's.
            let span = tracing::info_span!(
                "request",
                function = "report-counts",
                request_id = %event.context.request_id
            );
            report_counts::handle(event.payload, store)
                .instrument(span)
                .await
                .map_err(Error::from)
        },
    ))
    .await
}
