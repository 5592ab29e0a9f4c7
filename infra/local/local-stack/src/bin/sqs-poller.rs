//! Plays Lambda's SQS event source mapping against the emulated queue, the one piece no
//! emulator provides: it receives batches, invokes the real sender function (through
//! `cargo lambda watch`'s invoke API) with a real SQS event, and deletes only the records
//! the function did not report in `batchItemFailures`. Records it returns become visible
//! again after the visibility timeout, and the queue's redrive policy moves poison ones to
//! the dead-letter queue.
//!
//! Settings: `SMS_QUEUE_URL`; `SENDER_INVOKE_URL` (the function's invoke endpoint), or
//! `POLLER_QUEUE_URL` and `POLLER_INVOKE_URL` for another queue and function (job-files);
//! `POLLER_BATCH_SIZE` (1 to 10, default 10); `POLLER_VISIBILITY_TIMEOUT` (seconds, default
//! 30); `POLLER_CONCURRENCY` (concurrent invocations, like `MaximumConcurrency`, default 2);
//! An invocation may take as long as the sender needs (see `local_stack::invoke` for why the
//! poller never cuts one short).

use std::time::Duration;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use local_stack::invoke::Invoker;
use serde_json::{Value, json};
use sms_core::config;
use tracing::{error, info};

struct Poller {
    sqs: aws_sdk_sqs::Client,
    sender: Invoker,
    queue_url: String,
    queue_arn: String,
    region: String,
    batch_size: i32,
    visibility: i32,
}

fn setting<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, config::ConfigError> {
    match config::optional(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| config::ConfigError::Invalid {
            name,
            reason: format!("{v:?} is not a number"),
        }),
    }
}

impl Poller {
    /// The event Lambda would deliver for these messages.
    fn event(&self, messages: &[aws_sdk_sqs::types::Message]) -> Value {
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let attributes: serde_json::Map<String, Value> = m
                    .attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.as_str().to_owned(), json!(v)))
                            .collect()
                    })
                    .unwrap_or_default();
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": attributes,
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": self.region,
                })
            })
            .collect();
        json!({ "Records": records })
    }

    async fn run_once(&self) -> Result<usize, String> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size)
            .visibility_timeout(self.visibility)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = messages
            .iter()
            .filter_map(|m| m.message_id().map(str::to_owned))
            .collect();
        let failed = self.sender.invoke(&self.event(&messages), &ids).await;
        let done: Vec<_> = messages
            .iter()
            .filter(|m| m.message_id().is_some_and(|id| !failed.contains(id)))
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle().map(str::to_owned))
                    .build()
                    .ok()
            })
            .collect();
        info!(
            received = messages.len(),
            returned = failed.len(),
            deleted = done.len(),
            "batch handled"
        );
        if !done.is_empty() {
            self.sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(done))
                .send()
                .await
                .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        }
        Ok(messages.len())
    }

    async fn run(&self) {
        loop {
            if let Err(e) = self.run_once().await {
                error!(error = %e, "polling failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    sms_core::telemetry::init();
    let sdk = config::aws().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    // One poller per queue and function: the batch queue and the sender by default, or any
    // other pair (the files queue and job-files) through the POLLER_ names.
    let queue_url = match config::optional("POLLER_QUEUE_URL") {
        Some(url) => url,
        None => config::required("SMS_QUEUE_URL")?,
    };
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .unwrap_or_default();
    let batch_size: i32 = setting("POLLER_BATCH_SIZE", 10)?;
    if !(1..=10).contains(&batch_size) {
        return Err("POLLER_BATCH_SIZE must be 1 to 10".into());
    }
    let poller = Poller {
        sqs,
        sender: Invoker::new(match config::optional("POLLER_INVOKE_URL") {
            Some(url) => url,
            None => config::required("SENDER_INVOKE_URL")?,
        })?,
        region: sdk
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into()),
        batch_size,
        visibility: setting("POLLER_VISIBILITY_TIMEOUT", 30)?,
        queue_url,
        queue_arn,
    };
    let concurrency: usize = setting("POLLER_CONCURRENCY", 2)?;
    info!(concurrency, batch_size, queue = %poller.queue_url, "polling the queue");
    let workers = (0..concurrency.max(1)).map(|_| poller.run());
    futures::future::join_all(workers).await;
    Ok(())
}
