//! Plays Lambda's DynamoDB event source mapping against the emulated table's stream, which
//! no emulator triggers: it reads every shard from its start (`TRIM_HORIZON`), keeps only the
//! records the template's `FilterCriteria` lets through (writes of bulk messages' `STATUS`
//! items), and invokes the real report-counts function (through `cargo lambda watch`'s invoke
//! API) with each batch as Lambda's DynamoDB event. A failed invocation is retried with the
//! same batch, as Lambda does (no bisecting), up to the template's `MaximumRetryAttempts`;
//! then the batch is logged and skipped, as Lambda sends it to the on-failure destination.
//!
//! Like Lambda with the template's `MaximumBatchingWindowInSeconds`, it gathers records until
//! a batch is full or the oldest has waited the window, so report-counts gets the batches it
//! gets on AWS (and the cost benchmark counts its writes as they would be). moto keeps one
//! shard per table's stream, so one gathering buffer keeps every record in its shard's order.
//!
//! Settings: `SMS_TABLE`, `AWS_ENDPOINT_URL` (the emulator), `AWS_REGION`;
//! `STREAM_INVOKE_URL` (report-counts' invoke endpoint); `POLLER_BATCH_SIZE` (records per
//! invocation, default 1000, the template's `BatchSize`); `POLLER_BATCHING_WINDOW_SECONDS`
//! (default 5, the template's `MaximumBatchingWindowInSeconds`).

use std::time::{Duration, Instant};

use local_stack::{invoke::Invoker, streams::TableStream};
use serde_json::{Value, json};
use sms_core::config;
use tracing::{error, info, warn};

/// The template's `MaximumRetryAttempts`.
const MAX_RETRIES: u32 = 20;

/// How often the stream is read when it had nothing new.
const IDLE: Duration = Duration::from_millis(300);

/// Whether the template's filter lets the record through: an insert or change of a `STATUS`
/// item whose new image names a job.
fn passes_filter(record: &Value) -> bool {
    matches!(record["eventName"].as_str(), Some("INSERT" | "MODIFY"))
        && record["dynamodb"]["Keys"]["sk"]["S"] == "STATUS"
        && record["dynamodb"]["NewImage"]["job_id"]["S"].is_string()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    sms_core::telemetry::init();
    let table = config::required("SMS_TABLE")?;
    let endpoint = config::required("AWS_ENDPOINT_URL")?;
    let region = config::optional("AWS_REGION").unwrap_or_else(|| "us-east-1".into());
    let invoker = Invoker::new(config::required("STREAM_INVOKE_URL")?)?;
    let batch_size: usize = match config::optional("POLLER_BATCH_SIZE") {
        Some(v) => v
            .parse()
            .map_err(|_| "POLLER_BATCH_SIZE must be a number")?,
        None => 1000,
    };
    let window = Duration::from_secs(
        config::optional("POLLER_BATCHING_WINDOW_SECONDS")
            .map(|v| v.parse::<u64>())
            .transpose()
            .map_err(|_| "POLLER_BATCHING_WINDOW_SECONDS must be a number")?
            .unwrap_or(5),
    );
    let mut stream = TableStream::new(endpoint, region, &table);
    info!(%table, batch_size, window_s = window.as_secs(), "polling the table's stream");
    // Records gathered for the next invocation, and when the first of them came.
    let mut gathered: Vec<Value> = Vec::new();
    let mut since: Option<Instant> = None;
    loop {
        let events = match stream.poll(batch_size).await {
            Ok(events) => events,
            Err(e) => {
                error!(error = %e, "reading the stream failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for event in events {
            let records = event["Records"].as_array().into_iter().flatten();
            gathered.extend(records.filter(|r| passes_filter(r)).cloned());
        }
        if !gathered.is_empty() {
            since.get_or_insert_with(Instant::now);
        }
        while gathered.len() >= batch_size {
            let batch: Vec<Value> = gathered.drain(..batch_size).collect();
            invoke(&invoker, batch).await;
        }
        if since.is_some_and(|t| t.elapsed() >= window) || (gathered.is_empty() && since.is_some())
        {
            if !gathered.is_empty() {
                invoke(&invoker, std::mem::take(&mut gathered)).await;
            }
            since = None;
        }
        tokio::time::sleep(IDLE).await;
    }
}

/// Invokes report-counts with one batch, retrying the same batch as Lambda does.
async fn invoke(invoker: &Invoker, records: Vec<Value>) {
    let count = records.len();
    let event = json!({ "Records": records });
    let mut attempt = 0;
    loop {
        match invoker.call(&event).await {
            Ok(_) => return,
            Err(e) if attempt < MAX_RETRIES => {
                attempt += 1;
                warn!(error = %e, attempt, "report-counts failed; retrying the same batch");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            Err(e) => {
                error!(error = %e, records = count, "report-counts gave up on a batch (Lambda's on-failure destination)");
                return;
            }
        }
    }
}
