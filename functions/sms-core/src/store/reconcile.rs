//! Settling a batch whose outcome is unknown (docs/architecture.md, "An unknown batch is
//! settled by Plivo's records"): the ledger's last word on it once Plivo's records or its
//! reports have spoken.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::ids::JobId;

/// What the evidence says of an `unknown` batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Plivo has the batch: it ends `sent`, with the uuids of the records that proved it
    /// (Plivo takes a request whole, so one record proves them all; the others are known by
    /// their reports). Its messages count as Plivo's reports show them, as an unknown
    /// batch's always did.
    Sent { message_uuids: Vec<String> },
    /// Plivo has none of it: it is `pending` again, not enqueued, and marked `resent` so that
    /// it is settled at most once this way.
    Resend,
}

/// What settling did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Done,
    /// The batch is no longer `unknown` (settled already), has been resent once already
    /// (asked to resend), or has no job item: nothing changed.
    NotUnknown,
}

pub trait UnknownBatches: Send + Sync {
    /// Settles `unknown` batch `batch` of `job_id`, and the job's counts with it, atomically:
    /// `Sent` moves it from `batches_unknown` to `batches_sent` and counts it in
    /// `batches_reconciled`; `Resend` takes it out of `batches_unknown` (and so out of the
    /// ended batches) and counts it in `batches_resent`. Only an `unknown` batch is settled,
    /// and only one never resent may be resent.
    fn settle_unknown(
        &self,
        job_id: &JobId,
        batch: u32,
        settlement: &Settlement,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Settled, StoreError>> + Send;
}
