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

use super::{MessageStatus, StoreError};
use crate::{bulk::BatchRef, phone::PhoneNumber};

/// Counter items per job. DynamoDB sustains about 1,000 writes per second per item: 32 shards
/// carry a job's reports at up to ~30,000 per second.
pub const COUNTER_SHARDS: u32 = 32;

/// What a delivery report says about one message, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    pub message_uuid: String,
    pub status: MessageStatus,
    pub to: Option<PhoneNumber>,
    pub from: Option<PhoneNumber>,
    /// Plivo's per-message counter: within one status rank, a higher sequence is newer.
    pub sequence: Option<u64>,
    pub error_code: Option<String>,
    pub units: Option<u32>,
    pub total_rate: Option<String>,
    pub total_amount: Option<String>,
    pub mcc: Option<String>,
    pub mnc: Option<String>,
    pub parent_message_uuid: Option<String>,
    pub part_info: Option<String>,
    pub message_time: Option<String>,
    pub queued_time: Option<String>,
    pub sent_time: Option<String>,
    pub delivery_report_time: Option<String>,
}

/// The status and sequence a message has now, as far as reports go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrentStatus {
    pub status: MessageStatus,
    pub sequence: Option<u64>,
}

/// Whether `report` moves a message that is at `current` (None: no report yet).
pub fn advances(current: Option<CurrentStatus>, report: &DeliveryReport) -> bool {
    let Some(cur) = current else { return true };
    let (old, new) = (cur.status.rank(), report.status.rank());
    if new != old {
        return new > old;
    }
    match (cur.sequence, report.sequence) {
        (Some(a), Some(b)) => b > a,
        // Without sequences, only a different status of the same rank can tell news from a
        // repeat, and the first to arrive is kept.
        _ => false,
    }
}

/// What applying a report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportEffect {
    /// The message moved from `from` (None: no status recorded yet) to the report's status.
    Applied { from: Option<MessageStatus> },
    /// Duplicate or stale: nothing changed.
    Ignored,
}

/// The counter changes a move from `from` to `to` makes: the new status +1 and the old one
/// −1. `queued` is never counted (a job's queued count is what is left of the accepted), so a
/// move out of `queued` only adds, and a move within one status changes nothing.
pub fn count_changes(from: Option<MessageStatus>, to: MessageStatus) -> Vec<(MessageStatus, i64)> {
    let counted = |st: Option<MessageStatus>| st.filter(|s| *s != MessageStatus::Queued);
    let (old, new) = (counted(from), counted(Some(to)));
    if old == new {
        return Vec::new();
    }
    new.map(|s| (s, 1))
        .into_iter()
        .chain(old.map(|s| (s, -1)))
        .collect()
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

    fn report(status: MessageStatus, sequence: Option<u64>) -> DeliveryReport {
        DeliveryReport {
            message_uuid: "u".into(),
            status,
            to: None,
            from: None,
            sequence,
            error_code: None,
            units: None,
            total_rate: None,
            total_amount: None,
            mcc: None,
            mnc: None,
            parent_message_uuid: None,
            part_info: None,
            message_time: None,
            queued_time: None,
            sent_time: None,
            delivery_report_time: None,
        }
    }

    fn at(status: MessageStatus, sequence: Option<u64>) -> Option<CurrentStatus> {
        Some(CurrentStatus { status, sequence })
    }

    #[test]
    fn status_moves_only_forward_and_higher_sequences_win_within_a_rank() {
        use MessageStatus::*;
        assert!(advances(None, &report(Queued, Some(1))));
        assert!(advances(at(Queued, Some(1)), &report(Sent, Some(2))));
        assert!(advances(at(Sent, Some(2)), &report(Delivered, Some(3))));
        assert!(
            !advances(at(Delivered, Some(3)), &report(Sent, Some(2))),
            "late sent"
        );
        assert!(
            !advances(at(Delivered, Some(3)), &report(Queued, Some(1))),
            "late queued"
        );
        assert!(
            !advances(at(Delivered, Some(3)), &report(Delivered, Some(3))),
            "duplicate"
        );
        assert!(
            advances(at(Undelivered, Some(3)), &report(Delivered, Some(4))),
            "newer final"
        );
        assert!(
            !advances(at(Delivered, Some(4)), &report(Undelivered, Some(3))),
            "older final"
        );
        assert!(!advances(at(Sent, None), &report(Sent, None)));
    }

    #[test]
    fn only_real_moves_out_of_a_counted_status_change_counts() {
        use MessageStatus::*;
        assert_eq!(count_changes(None, Queued), []);
        assert_eq!(count_changes(Some(Queued), Queued), []);
        assert_eq!(count_changes(None, Delivered), [(Delivered, 1)]);
        assert_eq!(count_changes(Some(Queued), Sent), [(Sent, 1)]);
        assert_eq!(
            count_changes(Some(Sent), Delivered),
            [(Delivered, 1), (Sent, -1)]
        );
        assert_eq!(count_changes(Some(Sent), Sent), []);
    }

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(counter_shard("abc"), counter_shard("abc"));
        let used: std::collections::HashSet<_> = (0..1000)
            .map(|i| counter_shard(&format!("uuid-{i}")))
            .collect();
        assert_eq!(used.len(), COUNTER_SHARDS as usize);
    }
}
