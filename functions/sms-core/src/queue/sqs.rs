//! [`BatchQueue`] over SQS: one SendMessageBatch call per [`super::plan_calls`] slice.

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use super::{BatchQueue, MAX_DELAY_SECONDS, QueueEntry, QueueError};

pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

impl BatchQueue for SqsQueue {
    async fn send_batch(&self, entries: &[QueueEntry]) -> Result<Vec<String>, QueueError> {
        let request = entries
            .iter()
            .map(|e| {
                SendMessageBatchRequestEntry::builder()
                    .id(&e.id)
                    .message_body(&e.body)
                    .set_delay_seconds(
                        i32::try_from(e.delay_seconds.min(MAX_DELAY_SECONDS))
                            .ok()
                            .filter(|d| *d > 0),
                    )
                    .build()
                    .map_err(|err| QueueError {
                        operation: "SendMessageBatch",
                        reason: err.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(request))
            .send()
            .await
            .map_err(|e| QueueError {
                operation: "SendMessageBatch",
                reason: aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
            })?;
        Ok(out.failed.into_iter().map(|f| f.id).collect())
    }
}
