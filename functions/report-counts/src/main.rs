//! report-counts: builds its client once at cold start, then serves every stream batch.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use sms_core::{config, store::table_stream::StreamEvent, telemetry, wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let sdk = config::aws().await;
    let store = wiring::dynamo_store(&sdk)?;
    let store = &store;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<StreamEvent>| async move {
            report_counts::handle(event.payload, store)
                .await
                .map_err(Error::from)
        },
    ))
    .await
}
