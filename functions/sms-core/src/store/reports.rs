//! Delivery reports (docs/architecture.md, "Status only moves forward"): a message's status
//! only moves forward, and a job's counts change only when a message's status really changed.
//!
//! Status lives in the message's `STATUS` item, written only by [`ReportStore::apply_report`].
//! In DynamoDB each report is one `UpdateItem` whose condition is [`advances`] itself (the
//! status rank, then the sequence), so a repeated, late or concurrent report can never move a
//! message backwards: it fails the condition and changes nothing.
//!
//! A job's counts follow from the `STATUS` items' changes: each applied report changes the
//! item from an old state to a new one, and [`CountDelta::of`] is what that change adds to the
//! job's counters (statuses by [`count_changes`], *seen* in its batch on the message's first
//! report, the charge's difference). The in-memory store adds it at once; in DynamoDB the
//! table's stream carries every change to [`CountStore::apply_counts`] (function
//! report-counts), which adds a whole batch of changes to the counters at once, exactly once.
//!
//! Counters are spread over [`COUNTER_SHARDS`] items per job, by the message's batch
//! ([`batch_counter_shard`]), so each item stays small (what a write costs follows its size)
//! and concurrent count batches of one job rarely write the same item. A message's counts and
//! its *seen* mark go to the same shard item in one write, so the shards always hold, per
//! batch, at least as many seen messages as they count.

use std::{collections::BTreeMap, future::Future};

use chrono::{DateTime, Utc};

use super::{DeliveryReport, MessageStatus, StoreError};
use crate::domain::{
    bulk::BatchRef,
    ids::JobId,
    status::{Charge, count_changes},
};

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

/// The counter shard a bulk batch's changes are counted on.
pub fn batch_counter_shard(batch: u32) -> u32 {
    batch % COUNTER_SHARDS
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
    /// - With `batch`, the job's counts change by [`CountDelta::of`] the message's change: its
    ///   status counts by [`count_changes`], and its first applied report also counts it as
    ///   *seen* in its batch ([`StatusCounts::seen_by_batch`](super::StatusCounts)): a report
    ///   proves Plivo accepted the message, even from a batch whose send ended `unknown`. In
    ///   DynamoDB the counts follow a moment later, through the table's stream
    ///   ([`CountStore`]); the `STATUS` item keeps the job and batch for that.
    ///
    /// An error means nothing was written and the caller should have the report sent again.
    fn apply_report(
        &self,
        report: &DeliveryReport,
        batch: Option<&BatchRef>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ReportEffect, StoreError>> + Send;
}

/// What a message's `STATUS` item says, as far as a job's counts go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountedState {
    pub status: MessageStatus,
    pub charge: Charge,
}

/// One applied report of a bulk message: its `STATUS` item before (None: the message's first
/// report) and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub batch: BatchRef,
    pub old: Option<CountedState>,
    pub new: CountedState,
}

/// One counter item (a job and its shard) and what to add to it.
pub type CounterSum = ((JobId, u32), CountDelta);

/// What a set of status changes adds to one job's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountDelta {
    /// Per counted status (never `queued`), what to add.
    pub statuses: BTreeMap<MessageStatus, i64>,
    /// Per batch, messages seen for the first time.
    pub seen: BTreeMap<u32, i64>,
    pub charge: Charge,
}

impl CountDelta {
    /// What one change adds: the status moves ([`count_changes`]), +1 seen in its batch on
    /// the message's first report, and the charge's difference (a report without an amount
    /// keeps the stored one, so only a real change of it counts).
    pub fn of(change: &StatusChange) -> Self {
        let mut delta = Self::default();
        delta.add(change);
        delta
    }

    /// Adds one more change of the same job.
    pub fn add(&mut self, change: &StatusChange) {
        for (status, d) in count_changes(change.old.map(|o| o.status), change.new.status) {
            *self.statuses.entry(status).or_default() += d;
        }
        if change.old.is_none() {
            *self.seen.entry(change.batch.batch).or_default() += 1;
        }
        let before = change.old.map(|o| o.charge).unwrap_or_default();
        self.charge.micros += change.new.charge.micros - before.micros;
        self.charge.units += change.new.charge.units - before.units;
    }

    /// Whether adding it would change nothing.
    pub fn is_empty(&self) -> bool {
        self.statuses.values().all(|d| *d == 0)
            && self.seen.values().all(|d| *d == 0)
            && self.charge.is_zero()
    }

    /// The changes summed per counter item: per job, and within a job per
    /// [`batch_counter_shard`] of the message's batch, in order; sums that change nothing left
    /// out. A batch's *seen* count thus lives on one shard item, which stays small (a
    /// million-message job's 1,000 batches spread over 32 items), and a write costs what a
    /// small item costs.
    pub fn per_counter(changes: &[StatusChange]) -> Vec<CounterSum> {
        let mut items: BTreeMap<(JobId, u32), Self> = BTreeMap::new();
        for change in changes {
            let shard = batch_counter_shard(change.batch.batch);
            items
                .entry((change.batch.job_id.clone(), shard))
                .or_default()
                .add(change);
        }
        items.into_iter().filter(|(_, d)| !d.is_empty()).collect()
    }
}

/// One record of the table's stream, in stream order: its id, and the status change it
/// counts (None for a record that counts nothing, which still takes its place in the order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamedChange {
    pub record_id: String,
    pub change: Option<StatusChange>,
}

/// What [`CountStore::apply_counts`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CountsApplied {
    /// Counter items written.
    pub counters: usize,
    /// Records an earlier delivery had counted already, skipped.
    pub counted_before: usize,
}

/// The job counters of the DynamoDB adapter, kept from the table's stream of `STATUS` changes.
pub trait CountStore: Send + Sync {
    /// Adds the records' changes to their jobs' counters, each record once however often it is
    /// delivered: the records are added a run at a time, each run with a mark named by its
    /// first record that says how many records it covered, so a delivery that starts where an
    /// earlier one started (Lambda's retry of a failed batch, whatever its length now) skips
    /// what was counted and counts the rest. An error means the caller must deliver the records
    /// again from the same first record; what was added is not added twice.
    fn apply_counts(
        &self,
        records: &[StreamedChange],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<CountsApplied, StoreError>> + Send;
}

/// The counter items one transaction may write beside its mark (DynamoDB takes 100 items).
pub const COUNTERS_PER_RUN: usize = 99;

/// The run of records from `start` that one transaction counts: as many records as keep its
/// counter items within [`COUNTERS_PER_RUN`] (at least one). Its end, and its sums per item.
pub fn next_run(records: &[StreamedChange], start: usize) -> (usize, Vec<CounterSum>) {
    let mut items = std::collections::BTreeSet::new();
    let mut end = start;
    while end < records.len() {
        if let Some(change) = &records[end].change {
            let item = (
                change.batch.job_id.clone(),
                batch_counter_shard(change.batch.batch),
            );
            if !items.contains(&item) && items.len() == COUNTERS_PER_RUN {
                break;
            }
            items.insert(item);
        }
        end += 1;
    }
    let changes: Vec<StatusChange> = records[start..end]
        .iter()
        .filter_map(|r| r.change.clone())
        .collect();
    (end, CountDelta::per_counter(&changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(
        old: Option<(MessageStatus, i64)>,
        new: (MessageStatus, i64),
        batch: u32,
    ) -> StatusChange {
        let state = |(status, micros): (MessageStatus, i64)| CountedState {
            status,
            charge: Charge { micros, units: 1 },
        };
        StatusChange {
            batch: BatchRef {
                job_id: JobId::parse("9a7d6c1e-0000-4000-8000-000000000001").unwrap(),
                batch,
            },
            old: old.map(state),
            new: state(new),
        }
    }

    #[test]
    fn a_batch_of_changes_sums_to_the_changes_one_by_one() {
        use MessageStatus::*;
        let changes = [
            change(None, (Queued, 7_900), 0),
            change(Some((Queued, 7_900)), (Sent, 7_900), 0),
            change(Some((Sent, 7_900)), (Delivered, 7_900), 0),
            change(None, (Delivered, 0), 3),
            change(Some((Delivered, 0)), (Undelivered, 100), 3),
        ];
        let items = CountDelta::per_counter(&changes);
        assert_eq!(
            items
                .iter()
                .map(|((_, shard), _)| *shard)
                .collect::<Vec<_>>(),
            [0, 3],
            "one counter item per batch's shard"
        );
        let (b0, b3) = (&items[0].1, &items[1].1);
        assert_eq!(b0.statuses, BTreeMap::from([(Sent, 0), (Delivered, 1)]));
        assert_eq!(
            b3.statuses,
            BTreeMap::from([(Delivered, 0), (Undelivered, 1)])
        );
        assert_eq!(
            (&b0.seen, &b3.seen),
            (&BTreeMap::from([(0, 1)]), &BTreeMap::from([(3, 1)]))
        );
        assert_eq!(
            (
                b0.charge.micros + b3.charge.micros,
                b0.charge.units + b3.charge.units
            ),
            (8_000, 2)
        );
        let one_by_one = changes.iter().fold(CountDelta::default(), |mut d, c| {
            d.add(c);
            d
        });
        assert_eq!(
            one_by_one.statuses,
            BTreeMap::from([(Sent, 0), (Delivered, 1), (Undelivered, 1)])
        );
        assert_eq!(one_by_one.seen, BTreeMap::from([(0, 1), (3, 1)]));
    }

    #[test]
    fn a_run_ends_before_its_hundredth_counter_item_and_skips_nothing() {
        use MessageStatus::*;
        let records: Vec<StreamedChange> = (0..150)
            .map(|i| StreamedChange {
                record_id: format!("r{i}"),
                // Every third record counts nothing; the others each name a job of their own.
                change: (i % 3 != 0).then(|| {
                    let mut c = change(None, (Sent, 0), 0);
                    c.batch.job_id =
                        JobId::parse(&format!("9a7d6c1e-0000-4000-8000-{i:012}")).unwrap();
                    c
                }),
            })
            .collect();
        let (end, items) = next_run(&records, 0);
        assert_eq!(items.len(), COUNTERS_PER_RUN);
        assert_eq!(
            end, 149,
            "99 counting records and the 50 before and between them"
        );
        let (rest, items) = next_run(&records, end);
        assert_eq!((rest, items.len()), (150, 1));
        assert_eq!(next_run(&records, 150).0, 150);
    }

    #[test]
    fn a_change_that_moves_nothing_counted_is_left_out() {
        use MessageStatus::*;
        let changes = [change(Some((Queued, 7_900)), (Queued, 7_900), 0)];
        assert!(CountDelta::per_counter(&changes).is_empty());
    }

    #[test]
    fn a_jobs_batches_spread_over_every_shard() {
        let used: std::collections::HashSet<_> = (0..1000).map(batch_counter_shard).collect();
        assert_eq!(used.len(), COUNTER_SHARDS as usize);
    }
}
