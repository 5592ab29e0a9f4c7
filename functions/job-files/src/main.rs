//! job-files: builds its clients once at cold start, then serves every SQS event.

use job_files::{App, Settings};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use sms_core::{config, domain::bulk, telemetry, wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let sdk = config::aws().await;
    let app = App {
        store: wiring::dynamo_store(&sdk)?,
        files: wiring::s3_files(&sdk)?,
        batches: wiring::sqs_queue(&sdk)?,
        tasks: wiring::files_queue(&sdk)?,
        settings: Settings {
            batch_size: bulk::batch_size(config::optional("PLIVO_BATCH_SIZE").as_deref()).map_err(
                |reason| config::ConfigError::Invalid {
                    name: "PLIVO_BATCH_SIZE",
                    reason,
                },
            )?,
            rows_per_invocation: match config::optional("PLANNER_ROWS_PER_INVOCATION") {
                None => Settings::DEFAULT_ROWS_PER_INVOCATION,
                Some(raw) => {
                    raw.parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or(config::ConfigError::Invalid {
                            name: "PLANNER_ROWS_PER_INVOCATION",
                            reason: format!("{raw:?} is not a positive whole number"),
                        })?
                }
            },
        },
    };
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, Error>(job_files::handle(event, app).await)
    }))
    .await
}
