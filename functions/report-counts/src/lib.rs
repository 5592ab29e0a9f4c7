//! report-counts: the job counters of `GET /v1/bulk/{id}` (and a capped job's charges), kept
//! from the table's stream of `STATUS` items (docs/architecture.md, "A delivery report").
//!
//! Lambda hands over the stream's records a batch at a time, each shard's in order, filtered
//! to `STATUS` items that were written (template.yaml). The whole batch is summed per job and
//! added in one transaction per 99 jobs with a mark named by the batch's records, so a batch
//! retried after a failure (Lambda retries the same records until they succeed or leave the
//! stream) is added once. An error fails the invocation: nothing of the batch is lost, and the
//! retry adds only what is not added yet.

use chrono::Utc;
use serde::Serialize;
use sms_core::store::{
    CountStore, CountsApplied, StoreError,
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
    /// Whether the batch had been counted before (a retry).
    pub again: bool,
}

/// Adds the event's status changes to their jobs' counters; an error has the batch retried.
pub async fn handle<S: CountStore>(event: StreamEvent, store: &S) -> Result<Counted, StoreError> {
    let outcome = apply_stream_event(store, &event, Utc::now()).await?;
    let (counters, again) = match outcome.applied {
        CountsApplied::Applied { counters } => (counters, false),
        CountsApplied::AppliedBefore => (0, true),
    };
    let counted = Counted {
        records: outcome.records,
        changes: outcome.changes,
        counters,
        again,
    };
    info!(
        records = counted.records,
        changes = counted.changes,
        counters,
        again,
        "counted"
    );
    Ok(counted)
}
