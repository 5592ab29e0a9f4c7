//! Ports for what the functions keep in DynamoDB (DESIGN §4), with a DynamoDB adapter and an
//! in-memory one for handler tests. Handlers depend on the traits only.

mod dynamo;
mod dynamo_jobs;
mod dynamo_reports;
mod jobs;
mod memory;
mod reports;
pub mod schema;

use std::{collections::HashSet, fmt, future::Future};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::bulk::BatchRef;
pub use dynamo::{CONFLICT_RETRY, DynamoStore};
pub use jobs::{
    AcceptedByPlivo, BatchLedger, BatchOutcome, BatchState, ClaimOutcome, IntakeCounts, JobRecord,
    JobSpec, JobStore, LedgerEntry, StatusCounts,
};
pub use memory::MemoryStore;
pub use reports::{
    COUNTER_SHARDS, CurrentStatus, DeliveryReport, ReportEffect, ReportStore, advances,
    count_changes, counter_shard,
};

use crate::{phone::PhoneNumber, text::Encoding};

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

/// A message's delivery status. Status only moves forward: `queued` < `sent` < the finals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    Queued,
    Sent,
    Delivered,
    Undelivered,
    Failed,
    Rejected,
}

impl MessageStatus {
    pub const ALL: [Self; 6] = [
        Self::Queued,
        Self::Sent,
        Self::Delivered,
        Self::Undelivered,
        Self::Failed,
        Self::Rejected,
    ];

    /// Position in the forward-only order; the four final statuses share the top rank.
    pub fn rank(self) -> u8 {
        match self {
            Self::Queued => 0,
            Self::Sent => 1,
            Self::Delivered | Self::Undelivered | Self::Failed | Self::Rejected => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Undelivered => "undelivered",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message Plivo accepted, as the service first records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedMessage {
    pub message_uuid: String,
    /// Known for single sends; for bulk batches it is filled in from the delivery report,
    /// since Plivo does not promise uuids in `dst` order.
    pub to: Option<PhoneNumber>,
    pub from: PhoneNumber,
    pub job_id: Option<String>,
    pub reference: Option<String>,
    pub encoding: Encoding,
    pub segments: u32,
}

/// A message as stored, with whatever delivery reports have added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageRecord {
    pub message_uuid: String,
    pub to: Option<String>,
    pub from: Option<String>,
    pub job_id: Option<String>,
    pub reference: Option<String>,
    pub status: MessageStatus,
    pub sequence: Option<u64>,
    pub error_code: Option<String>,
    pub encoding: Option<String>,
    pub segments: Option<u32>,
    pub units: Option<u32>,
    pub amount: Option<String>,
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
}

/// What `begin` found under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// The key was free (or expired): this request owns it now.
    Started,
    /// The same request finished before: answer with its response, do nothing else.
    Replay(StoredResponse),
    /// The key was used for a different request.
    Mismatch,
    /// The same request is still running, or ended without recording an outcome.
    InProgress { started_at: DateTime<Utc> },
}

pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for a request with `request_hash`, or reports what holds it. Records are
    /// kept for [`IDEMPOTENCY_TTL_HOURS`].
    fn begin(
        &self,
        key: &str,
        request_hash: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<IdempotencyBegin, StoreError>> + Send;

    /// Stores the response for replay.
    fn complete(
        &self,
        key: &str,
        request_hash: &str,
        response: &StoredResponse,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Frees a key whose request ended with nothing sent, so a retry may try again.
    fn release(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

pub const IDEMPOTENCY_TTL_HOURS: i64 = 24;

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

    fn suppress(
        &self,
        number: &PhoneNumber,
        source: SuppressionSource,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn unsuppress(
        &self,
        number: &PhoneNumber,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
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
