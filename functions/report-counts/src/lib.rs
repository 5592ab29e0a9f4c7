//! report-counts: the job counters of `GET /v1/bulk/{id}` (and a capped job's charges), kept
//! from the table's stream of `STATUS` items (docs/architecture.md, "A delivery report").
//!
//! Lambda hands over the stream's records a batch at a time, each shard's in order, filtered
//! to `STATUS` items that were written (template.yaml). The batch is summed per counter item
//! and added in one transaction per run of records (up to 99 counter items), with a mark named
//! by the run's first record saying how many records it covered, so a batch delivered again
//! (Lambda retries a failed batch from its first record until it succeeds or leaves the
//! stream) adds only what was not added. An error fails the invocation: nothing of the batch
//! is lost.

use chrono::Utc;
use serde::Serialize;
use sms_core::store::{
    CountStore, StoreError,
    table_stream::{StreamEvent, apply_stream_event},
};
use tracing::info;

/// What an invocation did: its answer (Lambda's DynamoDB event source reads only whether it
/// failed) and its one log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counted {
    /// Records in the batch.
    pub records: usize,
    /// Status changes of bulk messages among them.
    pub changes: usize,
    /// Counter items written.
    pub counters: usize,
    /// Records an earlier delivery had counted (a retry), skipped.
    pub counted_before: usize,
}

/// Adds the event's status changes to their jobs' counters; an error has the batch retried.
pub async fn handle<S: CountStore>(event: StreamEvent, store: &S) -> Result<Counted, StoreError> {
    let outcome = apply_stream_event(store, &event, Utc::now()).await?;
    let counted = Counted {
        records: outcome.records,
        changes: outcome.changes,
        counters: outcome.applied.counters,
        counted_before: outcome.applied.counted_before,
    };
    info!(
        records = counted.records,
        changes = counted.changes,
        counters = counted.counters,
        counted_before = counted.counted_before,
        "counted"
    );
    Ok(counted)
}
