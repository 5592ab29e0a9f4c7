//! job-files: builds its clients once at cold start, then serves every SQS event.

use job_files::{App, Pricing, ReconcileSettings, Records, Settings};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use sms_core::{config, telemetry, wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let sdk = config::aws().await;
    let app = App {
        store: wiring::dynamo_store(&sdk)?,
        files: wiring::s3_files(&sdk)?,
        batches: wiring::sqs_queue(&sdk)?,
        tasks: wiring::files_queue(&sdk)?,
        schedules: wiring::start_schedules(&sdk)?,
        // A capped upload's estimate, priced as send-bulk prices a list's.
        pricing: Pricing {
            prices: wiring::prices()?,
            secrets: Some(Box::new(wiring::secret_cache(&sdk)?)),
        },
        // Unknown batches, settled from Plivo's records.
        records: Records {
            plivo: wiring::plivo_client()?,
            secrets: Box::new(wiring::secret_cache(&sdk)?),
            settings: ReconcileSettings::after(
                config::positive(
                    "RECONCILE_DELAY_SECONDS",
                    config::optional("RECONCILE_DELAY_SECONDS").as_deref(),
                    ReconcileSettings::default().settle_after_seconds.into(),
                )?
                .try_into()?,
            ),
        },
        settings: Settings {
            batch_size: wiring::batch_size()?,
            rows_per_invocation: config::positive(
                "PLANNER_ROWS_PER_INVOCATION",
                config::optional("PLANNER_ROWS_PER_INVOCATION").as_deref(),
                Settings::DEFAULT_ROWS_PER_INVOCATION,
            )?,
        },
    };
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, Error>(job_files::handle(event, app).await)
    }))
    .await
}
