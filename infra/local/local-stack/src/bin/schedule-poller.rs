//! Plays EventBridge Scheduler against the emulator: every second, the due one-time
//! schedules of `SCHEDULE_GROUP` are delivered to their target queues and deleted
//! (`local_stack::schedules`). moto keeps schedules but never fires them, as it never plays
//! an SQS event source mapping (the sqs-poller does that).

use std::time::Duration;

use sms_core::config;
use tracing::error;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    sms_core::telemetry::init();
    let group = match config::required("SCHEDULE_GROUP") {
        Ok(g) => g,
        Err(e) => {
            error!(error = %e, "schedule-poller is not configured");
            return std::process::ExitCode::FAILURE;
        }
    };
    let sdk = config::aws().await;
    let scheduler = aws_sdk_scheduler::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    loop {
        if let Err(e) =
            local_stack::schedules::fire_due(&scheduler, &sqs, &group, chrono::Utc::now()).await
        {
            error!(error = %e, "listing the schedules failed; trying again");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
