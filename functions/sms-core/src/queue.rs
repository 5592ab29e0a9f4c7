//! The batch queue port (docs/architecture.md, "The queue") with its SQS adapter and an
//! in-memory one for tests.

use std::{future::Future, sync::Mutex};

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

/// One message to enqueue; `id` is unique within a call and comes back for failed entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub id: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {reason}")]
pub struct QueueError {
    pub operation: &'static str,
    pub reason: String,
}

/// SQS's limits on one SendMessageBatch call.
pub const MAX_ENTRIES_PER_CALL: usize = 10;
pub const MAX_BYTES_PER_CALL: usize = 256 * 1024;

pub trait BatchQueue: Send + Sync {
    /// Sends up to [`MAX_ENTRIES_PER_CALL`] entries totalling at most [`MAX_BYTES_PER_CALL`]
    /// bytes; returns the ids of the entries SQS did not take.
    fn send_batch(
        &self,
        entries: &[QueueEntry],
    ) -> impl Future<Output = Result<Vec<String>, QueueError>> + Send;
}

/// Cuts entries into SendMessageBatch calls: at most 10 entries and 256 KiB each.
pub fn plan_calls(entries: &[QueueEntry]) -> Vec<&[QueueEntry]> {
    let mut calls = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, e) in entries.iter().enumerate() {
        let size = e.body.len();
        if i > start && (i - start == MAX_ENTRIES_PER_CALL || bytes + size > MAX_BYTES_PER_CALL) {
            calls.push(&entries[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < entries.len() {
        calls.push(&entries[start..]);
    }
    calls
}

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

/// Keeps what was enqueued; can be told to refuse entries, to test partial failures.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    pub sent: Mutex<Vec<QueueEntry>>,
    /// Entry ids refused on every call, as SQS reports failed entries.
    pub refuse_ids: Mutex<std::collections::HashSet<String>>,
}

impl MemoryQueue {
    pub fn bodies(&self) -> Vec<String> {
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|e| e.body.clone())
            .collect()
    }
}

impl BatchQueue for MemoryQueue {
    async fn send_batch(&self, entries: &[QueueEntry]) -> Result<Vec<String>, QueueError> {
        let refuse = self.refuse_ids.lock().unwrap_or_else(|p| p.into_inner());
        let mut failed = Vec::new();
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        for e in entries {
            if refuse.contains(&e.id) {
                failed.push(e.id.clone());
            } else {
                sent.push(e.clone());
            }
        }
        Ok(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize, size: usize) -> QueueEntry {
        QueueEntry {
            id: i.to_string(),
            body: "x".repeat(size),
        }
    }

    #[test]
    fn calls_hold_at_most_ten_entries_and_256_kib() {
        let small: Vec<_> = (0..25).map(|i| entry(i, 100)).collect();
        let sizes: Vec<_> = plan_calls(&small).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [10, 10, 5]);

        let big: Vec<_> = (0..10).map(|i| entry(i, 60 * 1024)).collect();
        let calls = plan_calls(&big);
        assert!(
            calls
                .iter()
                .all(|c| c.iter().map(|e| e.body.len()).sum::<usize>() <= MAX_BYTES_PER_CALL)
        );
        assert_eq!(calls.iter().map(|c| c.len()).sum::<usize>(), 10);
        assert_eq!(calls[0].len(), 4);
        assert!(plan_calls(&[]).is_empty());
    }
}
