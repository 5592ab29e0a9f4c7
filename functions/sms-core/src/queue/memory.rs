//! An in-memory [`BatchQueue`] for handler tests.

use std::sync::Mutex;

use super::{BatchQueue, QueueEntry, QueueError};

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
