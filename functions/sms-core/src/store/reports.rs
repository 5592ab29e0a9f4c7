//! Delivery reports (docs/architecture.md, "Status only moves forward"): a message's status
//! only moves forward, and a job's counts change only when a message's status really changed.
//!
//! Status lives in the message's `STATUS` item, written only here. Each report is applied
//! by reading that item and writing it back on the condition that it is still what was read
//! (optimistic concurrency), in one transaction with the job's counter shard: so a repeated,
//! late or concurrent report can never count twice or move a message backwards.
//!
//! Counters are spread over [`COUNTER_SHARDS`] items per job, picked by message uuid, so
//! the reports of a million-message job do not all write one item. A message's counts and
//! its *seen* mark (its first report, counted per batch) live on the same shard item, so
//! each shard always holds, per batch, at least as many seen messages as it counts.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::{DeliveryReport, MessageStatus, StoreError};
use crate::domain::bulk::BatchRef;

/// Counter items per job. DynamoDB sustains about 1,000 writes per second per item: 32 shards
/// carry a job's reports at up to ~30,000 per second.
pub const COUNTER_SHARDS: u32 = 32;

/// What applying a report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportEffect {
    /// The message moved from `from` (None: no status recorded yet) to the report's status.
    Applied { from: Option<MessageStatus> },
    /// Duplicate or stale: nothing changed.
    Ignored,
}

pub fn counter_shard(message_uuid: &str) -> u32 {
    // FNV-1a: stable across processes and versions, unlike std's randomised hasher.
    let mut h: u32 = 0x811c_9dc5;
    for b in message_uuid.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % COUNTER_SHARDS
}

pub trait ReportStore: Send + Sync {
    /// Applies a report to the message and, for a bulk message, to its job's counts, in one
    /// atomic step. Every adapter follows the same rules:
    ///
    /// - The report applies only if it [`advances`] the message; otherwise nothing changes.
    /// - An applied report replaces the status and the fields it carries; a field it lacks
    ///   keeps its stored value (a report without `Sequence` keeps the stored sequence, so the
    ///   next report is still compared against it), except `error_code`: it belongs to the
    ///   status it came with, so a report without one clears it.
    /// - With `batch`, the job's status counts change by [`count_changes`], and the message's
    ///   first applied report also counts it as *seen* in its batch
    ///   ([`StatusCounts::seen_by_batch`](super::StatusCounts)): a report proves Plivo
    ///   accepted the message, even from a batch whose send ended `unknown`.
    ///
    /// A write that conflicts with concurrent ones is retried with backoff; an error means
    /// nothing was written and the caller should have the report sent again.
    fn apply_report(
        &self,
        report: &DeliveryReport,
        batch: Option<&BatchRef>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ReportEffect, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(counter_shard("abc"), counter_shard("abc"));
        let used: std::collections::HashSet<_> = (0..1000)
            .map(|i| counter_shard(&format!("uuid-{i}")))
            .collect();
        assert_eq!(used.len(), COUNTER_SHARDS as usize);
    }
}
