//! sender: takes batches off the queue and hands them to Plivo.
//!
//! Batch sending arrives with its own issue. Until then no route enqueues anything, so any
//! record here is unexpected: each is reported as failed, which returns it to SQS and, after
//! the redrive policy's receive count, to the dead-letter queue. Nothing is dropped.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use sms_core::telemetry;

async fn handle(event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    let mut response = SqsBatchResponse::default();
    for record in event.payload.records {
        let id = record.message_id.unwrap_or_default();
        tracing::warn!(message_id = %id, "no sender is deployed in this version; returning the record to the queue");
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    lambda_runtime::run(service_fn(handle)).await
}
