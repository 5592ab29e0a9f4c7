//! Ports for what the functions keep in DynamoDB (docs/architecture.md, "The table"), with a
//! DynamoDB adapter and an in-memory one for handler tests (feature `test-util`: never in a
//! Lambda). Handlers depend on the traits only.

mod circuit;
pub mod control;
mod dynamo;
mod jobs;
pub mod keys;
#[cfg(any(test, feature = "test-util"))]
mod memory;
mod pace;
pub mod plans;
pub mod progress;
mod reconcile;
mod reports;
pub mod results;

use crate::domain::sender::Sender;
use std::{collections::HashSet, future::Future};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::domain::bulk::BatchRef;
pub use circuit::{CircuitRule, CircuitState, PlivoCircuit};
pub use control::{
    ControlAnswer, ControlChange, JobControl, JobControls, Parking, PauseReason, Verdict,
};
pub use dynamo::{CONFLICT_RETRY, DynamoStore, schema, table_stream};
pub use jobs::{
    AcceptedByPlivo, BatchClaim, BatchLedger, BatchOutcome, BatchState, CreateJob, FallbackSends,
    IntakeCounts, JobBudget, JobRecord, JobSpec, JobStore, LedgerEntry, StatusCounts,
};
#[cfg(any(test, feature = "test-util"))]
pub use memory::MemoryStore;
pub use pace::{Booking, RequestSchedule};
pub use plans::{
    PlanCheckpoint, PlanClaim, PlanEnd, PlanRecord, PlanState, PlanStore, PlanTallies,
};
pub use progress::{ProgressLog, ProgressSample};
pub use reconcile::{Settled, Settlement, UnknownBatches};
pub use reports::{
    COUNTER_SHARDS, COUNTERS_PER_RUN, CountDelta, CountStore, CountedState, CounterSum,
    CountsApplied, ReportEffect, ReportStore, StatusChange, StreamedChange, batch_counter_shard,
    next_run,
};
pub use results::{
    ReportedStatus, ResultsCheckpoint, ResultsClaim, ResultsEnd, ResultsRecord, ResultsRequest,
    ResultsState, ResultsStore,
};

/// The status types the store ports speak; the rules over them live in `domain/status.rs`.
pub use crate::domain::status::{CurrentStatus, DeliveryReport, MessageStatus};

use crate::domain::{ids::JobId, phone::PhoneNumber, text::Encoding};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{operation} failed: {reason}")]
    Backend {
        operation: &'static str,
        reason: String,
    },
    #[error("stored item {key} is malformed: {reason}")]
    Corrupt { key: String, reason: String },
}

/// A message Plivo accepted, as the service first records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedMessage {
    pub message_uuid: String,
    /// Known for single sends; for bulk batches it is filled in from the delivery report,
    /// since Plivo does not promise uuids in `dst` order.
    pub to: Option<PhoneNumber>,
    pub from: Sender,
    pub job_id: Option<JobId>,
    pub reference: Option<String>,
    pub encoding: Encoding,
    pub segments: u32,
    /// Who handed it to the network.
    pub provider: crate::domain::provider::Provider,
}

/// A message as stored, with whatever delivery reports have added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageRecord {
    pub message_uuid: String,
    pub to: Option<PhoneNumber>,
    pub from: Option<Sender>,
    pub job_id: Option<JobId>,
    pub reference: Option<String>,
    pub status: MessageStatus,
    pub sequence: Option<u64>,
    pub error_code: Option<String>,
    pub encoding: Option<String>,
    pub segments: Option<u32>,
    pub units: Option<u32>,
    pub amount: Option<String>,
    /// Who handed it to the network. The fallback provider sends no delivery reports: its
    /// messages are `sent` once it took them, and stay so.
    pub provider: crate::domain::provider::Provider,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl MessageRecord {
    /// A message nothing is known of yet but its uuid: `queued`, first seen `now`.
    pub fn new_queued(message_uuid: &str, now: DateTime<Utc>) -> Self {
        Self {
            message_uuid: message_uuid.to_owned(),
            to: None,
            from: None,
            job_id: None,
            reference: None,
            status: MessageStatus::Queued,
            sequence: None,
            error_code: None,
            encoding: None,
            segments: None,
            units: None,
            amount: None,
            provider: crate::domain::provider::Provider::Plivo,
            created_at: now,
            updated_at: now,
        }
    }
}

pub trait MessageStore: Send + Sync {
    /// Records messages Plivo accepted. Their status starts as `queued`; if a delivery report
    /// got there first, its status is kept: recording never moves a message backwards.
    fn record_accepted(
        &self,
        messages: &[AcceptedMessage],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn get_message(
        &self,
        message_uuid: &str,
    ) -> impl Future<Output = Result<Option<MessageRecord>, StoreError>> + Send;
}

/// The answer stored under an idempotency key, replayed byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
    /// The answer's `Location` (a scheduled message's job), which a replay gives again.
    pub location: Option<String>,
}

/// What claiming a key found (see [`IdempotencyStore::claim_key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    /// The key was free (or expired): this request holds it now.
    Claimed,
    /// The same request finished before: answer with its response, do nothing else.
    Replay(StoredResponse),
    /// The key was used for a different request.
    Mismatch,
    /// The same request is still running, or ended without recording an outcome. A stale one
    /// may be taken over with [`IdempotencyStore::take_over_key`], passing this `started_at`.
    InProgress { started_at: DateTime<Utc> },
}

/// An idempotency key is held by an `owner`: a random token that each request claiming the
/// key (first, or by taking over a stale claim) picks for itself. Only the holder may record
/// an outcome or free the key, so a request that lost the key can never undo the winner's.
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for a request with `request_hash`, held by `owner`, or reports what holds
    /// it. Records are kept for [`IDEMPOTENCY_TTL_HOURS`].
    fn claim_key(
        &self,
        key: &str,
        request_hash: &str,
        owner: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<KeyClaim, StoreError>> + Send;

    /// Takes over a key whose request ended without an outcome: replaces the in-progress
    /// record for `request_hash` that `claim_key` reported as started at `stale_started_at` with
    /// one held by `owner`, started `now`. One conditional write: of concurrent callers that
    /// read the same record exactly one wins (`true`); the others, and a caller whose record
    /// has changed since (finished, released, taken over), get `false` and change nothing.
    fn take_over_key(
        &self,
        key: &str,
        request_hash: &str,
        stale_started_at: DateTime<Utc>,
        owner: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores the response for replay if `owner` still holds the key in progress. Returns
    /// false (and changes nothing) when it does not: another request took the key over.
    fn finish_key(
        &self,
        key: &str,
        request_hash: &str,
        owner: &str,
        response: &StoredResponse,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Frees a key whose request ended with nothing sent, so a retry may try again; only if
    /// `owner` still holds it in progress (never another request's claim or a stored answer).
    fn release_key(
        &self,
        key: &str,
        owner: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

pub use keys::IDEMPOTENCY_TTL_HOURS;

/// Why a number is on the suppression list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionSource {
    /// The recipient replied with an opt-out keyword.
    Keyword,
    /// Plivo reported error 200: the destination opted out.
    PlivoError200,
    /// Added through the API or by an operator.
    Api,
}

impl SuppressionSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Keyword => "keyword",
            Self::PlivoError200 => "plivo_error_200",
            Self::Api => "api",
        }
    }
}

/// A change to a number's place on the suppression list, and when it happened.
///
/// Changes are ordered per number: one applies only if it happened after the change on
/// record, so a late or replayed START can never undo a later STOP. Opt-ins are kept as a
/// record ("not suppressed", with its time) rather than deleted, so the order survives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuppressionChange<'a> {
    pub number: &'a PhoneNumber,
    pub suppressed: bool,
    pub source: SuppressionSource,
    /// When the change happened (for an inbound message: when Plivo received it).
    pub at: DateTime<Utc>,
    /// The inbound message that asked for it: each message is applied once.
    pub message_uuid: Option<&'a str>,
}

impl SuppressionChange<'_> {
    /// The rule both adapters keep: a change applies only over an older one (or none). Times
    /// are compared in microseconds, the precision DynamoDB keeps.
    pub fn supersedes(&self, recorded_micros: Option<i64>) -> bool {
        recorded_micros.is_none_or(|recorded| recorded < self.at.timestamp_micros())
    }
}

/// What became of a [`SuppressionChange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOutcome {
    Applied,
    /// The same inbound message was applied before (a replay or Plivo's retry).
    Duplicate,
    /// A change that happened later is on record; this one is ignored.
    Stale,
}

pub trait SuppressionList: Send + Sync {
    fn is_suppressed(
        &self,
        number: &PhoneNumber,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The numbers of `numbers` that are suppressed, read in batches (not one read each).
    fn suppressed_among(
        &self,
        numbers: &[PhoneNumber],
    ) -> impl Future<Output = Result<HashSet<PhoneNumber>, StoreError>> + Send;

    /// Applies `change` unless a later one is on record or its message was applied before.
    /// The message's once-record and the number's new state are written together: either
    /// both or neither. `now` dates the once-record ([`Sighting::retention`]).
    fn change(
        &self,
        change: &SuppressionChange<'_>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ChangeOutcome, StoreError>> + Send;

    /// Suppresses `number` as of `now` (Plivo's error 200, the API, an operator).
    fn suppress(
        &self,
        number: &PhoneNumber,
        source: SuppressionSource,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            let change = SuppressionChange {
                number,
                suppressed: true,
                source,
                at: now,
                message_uuid: None,
            };
            self.change(&change, now).await.map(|_| ())
        }
    }
}

/// Something that must be acted on once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sighting<'a> {
    /// A V2 signature's nonce. V2 does not sign the body, so a nonce vouches for one request.
    SignatureNonce(&'a str),
    /// An inbound message, by Plivo's `MessageUUID`.
    InboundMessage(&'a str),
}

impl Sighting<'_> {
    /// The record's partition key.
    pub fn key(&self) -> String {
        match self {
            Self::SignatureNonce(nonce) => keys::nonce(nonce),
            Self::InboundMessage(uuid) => keys::inbound(uuid),
        }
    }

    /// How long the record is kept.
    pub fn retention(&self) -> keys::Retention {
        match self {
            Self::SignatureNonce(_) => keys::Retention::Nonce,
            Self::InboundMessage(_) => keys::Retention::InboundMessage,
        }
    }
}

pub trait SeenOnce: Send + Sync {
    /// Records `sighting` at `now`: true the first time, false while an unexpired record of
    /// it exists. Concurrent callers: exactly one gets true.
    fn first_sighting(
        &self,
        sighting: Sighting<'_>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_ranks_only_move_forward_through_sent_to_finals() {
        use MessageStatus::*;
        assert!(Queued.rank() < Sent.rank());
        for f in [Delivered, Undelivered, Failed, Rejected] {
            assert!(Sent.rank() < f.rank());
        }
        assert_eq!(MessageStatus::parse("DELIVERED"), Some(Delivered));
        assert_eq!(MessageStatus::parse("bogus"), None);
    }
}
