//! The batch queue port (docs/architecture.md, "The queue"), with its SQS adapter and, for
//! tests, an in-memory one beside it.

#[cfg(any(test, feature = "test-util"))]
mod memory;
mod sqs;

use std::future::Future;

#[cfg(any(test, feature = "test-util"))]
pub use memory::MemoryQueue;
pub use sqs::SqsQueue;

/// One message to enqueue; `id` is unique within a call and comes back for failed entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub id: String,
    pub body: String,
    /// Seconds before the message can be received (SQS's `DelaySeconds`, up to 900).
    pub delay_seconds: u32,
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
/// SQS's longest `DelaySeconds`.
pub const MAX_DELAY_SECONDS: u32 = 900;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize, size: usize) -> QueueEntry {
        QueueEntry {
            id: i.to_string(),
            body: "x".repeat(size),
            delay_seconds: 0,
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
