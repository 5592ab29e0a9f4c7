//! Provisions the local stack's resources in the emulator at `AWS_ENDPOINT_URL` and prints
//! the functions' settings as `KEY=VALUE` lines for the dev script to export.
//!
//! Reads: `SMS_TABLE`, `SMS_QUEUE_NAME`, `SMS_FILES_QUEUE_NAME`, `SMS_SECRET_ID`,
//! `SMS_BUCKET`, `SCHEDULE_GROUP`, `LOCAL_API_KEY`,
//! `PLIVO_AUTH_ID`, `PLIVO_AUTH_TOKEN`, `PLIVO_SRC`, `SQS_MAX_RECEIVE` and
//! `SQS_VISIBILITY_TIMEOUT` (all set with defaults by infra/local/dev.sh).

use std::process::ExitCode;

use sms_core::config;

async fn run() -> Result<Vec<(&'static str, String)>, Box<dyn std::error::Error>> {
    let sdk = config::aws().await;
    let table = config::required("SMS_TABLE")?;
    let queue = config::required("SMS_QUEUE_NAME")?;
    let files_queue = config::required("SMS_FILES_QUEUE_NAME")?;
    let secret_id = config::required("SMS_SECRET_ID")?;
    let bucket = config::required("SMS_BUCKET")?;
    let schedule_group = config::required("SCHEDULE_GROUP")?;
    let max_receive = config::optional("SQS_MAX_RECEIVE").map_or(Ok(3), |v| v.parse())?;
    let visibility = config::optional("SQS_VISIBILITY_TIMEOUT").map_or(Ok(60), |v| v.parse())?;
    let secret = serde_json::json!({
        "plivo_auth_id": config::required("PLIVO_AUTH_ID")?,
        "plivo_auth_token": config::required("PLIVO_AUTH_TOKEN")?,
        "plivo_src": config::required("PLIVO_SRC")?,
        "api_keys": [config::required("LOCAL_API_KEY")?],
    });
    // Refuse a seed the functions would refuse, before anything starts.
    sms_core::secrets::ServiceSecret::from_json(&secret_id, &secret.to_string())?;

    local_stack::table(&aws_sdk_dynamodb::Client::new(&sdk), &table).await?;
    let (queue_url, dlq_url) = local_stack::queue_with_dlq(
        &aws_sdk_sqs::Client::new(&sdk),
        &queue,
        max_receive,
        visibility,
    )
    .await?;
    // A plan may take a whole invocation: its task stays invisible as long as Lambda's
    // longest (the template sets six times that).
    let (files_queue_url, files_dlq_url) = local_stack::queue_with_dlq(
        &aws_sdk_sqs::Client::new(&sdk),
        &files_queue,
        max_receive,
        900,
    )
    .await?;
    local_stack::secret(
        &aws_sdk_secretsmanager::Client::new(&sdk),
        &secret_id,
        &secret.to_string(),
    )
    .await?;
    // moto's endpoint is an IP address: the bucket can only be named in the path.
    local_stack::bucket(&sms_core::files::s3_client(&sdk, true), &bucket).await?;
    local_stack::schedule_group(&aws_sdk_scheduler::Client::new(&sdk), &schedule_group).await?;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let files_queue_arn = local_stack::queue_arn(&sqs, &files_queue_url).await?;
    let files_dlq_arn = local_stack::queue_arn(&sqs, &files_dlq_url).await?;
    Ok(vec![
        ("SMS_FILES_QUEUE_ARN", files_queue_arn),
        ("SMS_FILES_DLQ_ARN", files_dlq_arn),
        ("SCHEDULE_GROUP", schedule_group),
        // moto does not check it; on AWS it is the template's SchedulerRole.
        (
            "SCHEDULER_ROLE_ARN",
            "arn:aws:iam::123456789012:role/sms-local-scheduler".to_owned(),
        ),
        ("SMS_QUEUE_URL", queue_url),
        ("SMS_DLQ_URL", dlq_url),
        ("SMS_FILES_QUEUE_URL", files_queue_url),
        ("SMS_FILES_DLQ_URL", files_dlq_url),
        ("SMS_BUCKET", bucket),
        ("S3_FORCE_PATH_STYLE", "true".to_owned()),
    ])
}

#[tokio::main]
async fn main() -> ExitCode {
    sms_core::telemetry::init();
    match run().await {
        Ok(settings) => {
            for (k, v) in settings {
                // The output is the program's product (read by the dev script), not a log.
                use std::io::Write;
                let _ = writeln!(std::io::stdout(), "{k}={v}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "local setup failed");
            ExitCode::FAILURE
        }
    }
}
