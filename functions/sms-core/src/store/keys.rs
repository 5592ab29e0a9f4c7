//! Every key of the table and how long each kind of record is kept (docs/architecture.md,
//! "The table"). The in-memory store keys and expires its records by the same rules, so
//! the two adapters cannot drift apart on either.
//!
//! | partition (`pk`)     | sort (`sk`)                    | kept                     |
//! |----------------------|--------------------------------|--------------------------|
//! | `MSG#<uuid>`         | `MSG` (facts), `STATUS`        | [`Retention::Message`]   |
//! | `JOB#<job id>`       | `JOB`, `PLAN`, `RESULTS`, `BATCH#<index>`, `COUNT#<shard>` | [`Retention::Message`] |
//! | `JOB#<job id>`       | `RATE#<epoch seconds>`         | [`Retention::ProgressSample`] |
//! | `IDEM#<scope>:<key>` | `IDEM`                         | [`Retention::Idempotency`] |
//! | `OPTOUT#<number>`    | `OPTOUT`                       | for ever                 |
//! | `NONCE#<nonce>`, `INBOUND#<uuid>` | `SEEN`            | [`Retention::Nonce`], [`Retention::InboundMessage`] |
//! | `PACE#plivo`         | `PACE`                         | for ever (one item)      |
//! | `CIRCUIT#plivo`      | `CIRCUIT`                      | for ever (one item)      |
//! | `COUNTED#<record id>` | `SEEN`                        | [`Retention::CountBatch`] |

use chrono::{DateTime, Duration, Utc};

use crate::domain::{ids::JobId, phone::PhoneNumber};

/// How long a message's items, and a job's, are kept after they were first written.
pub const MESSAGE_RETENTION_DAYS: i64 = 90;

/// How long an idempotency record is kept: the window in which a key replays its answer.
pub const IDEMPOTENCY_TTL_HOURS: i64 = 24;

/// The item attribute DynamoDB's TTL reads (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// What a record is kept for, and so how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Messages and jobs, their ledger and counters.
    Message,
    /// An `Idempotency-Key`'s record.
    Idempotency,
    /// A V2 signature's nonce. Plivo retries a callback within hours; after a day a replayed
    /// V2 request is what the signature check cannot refuse, which is why V2 is off by
    /// default (docs/plivo.md).
    Nonce,
    /// An inbound message's once-record. After a week the suppression record's own ordering
    /// still refuses an older change.
    InboundMessage,
    /// A job's 10-second progress sample: read only for the last minute's rate.
    ProgressSample,
    /// The mark that a batch of the table's stream was added to the job counters
    /// (`store::CountStore`): a stream keeps its records 24 hours, so no batch can come again
    /// after two days.
    CountBatch,
}

impl Retention {
    pub fn duration(self) -> Duration {
        match self {
            Self::Message => Duration::days(MESSAGE_RETENTION_DAYS),
            Self::Idempotency => Duration::hours(IDEMPOTENCY_TTL_HOURS),
            Self::Nonce => Duration::days(1),
            Self::InboundMessage => Duration::days(7),
            Self::ProgressSample => Duration::days(1),
            Self::CountBatch => Duration::days(2),
        }
    }

    /// When a record of this kind written at `now` expires.
    pub fn expires(self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + self.duration()
    }
}

pub const MESSAGE_FACTS: &str = "MSG";
pub const MESSAGE_STATUS: &str = "STATUS";
pub const IDEMPOTENCY: &str = "IDEM";
pub const OPTOUT: &str = "OPTOUT";
pub const SEEN: &str = "SEEN";
pub const JOB: &str = "JOB";
/// A job planned from an upload: its plan and checkpoint (`store::plans`).
pub const PLAN: &str = "PLAN";
/// A job's results file: its build and checkpoint (`store::results`).
pub const RESULTS: &str = "RESULTS";
/// The sort-key prefix of a job's counter shards.
pub const COUNTER_PREFIX: &str = "COUNT#";
/// The account's schedule of Plivo requests (`store::RequestSchedule`): one item, shared by
/// every function that calls Plivo.
pub const PACE_PARTITION: &str = "PACE#plivo";
pub const PACE: &str = "PACE";
/// Plivo's circuit (`store::PlivoCircuit`): one item, shared by every sender.
pub const CIRCUIT_PARTITION: &str = "CIRCUIT#plivo";
pub const CIRCUIT: &str = "CIRCUIT";

pub fn message(uuid: &str) -> String {
    format!("MSG#{uuid}")
}

/// `record_key` is the route's scope and the client's key (`http::idempotency::record_key`).
pub fn idempotency(record_key: &str) -> String {
    format!("IDEM#{record_key}")
}

pub fn optout(number: &PhoneNumber) -> String {
    format!("OPTOUT#{number}")
}

pub fn nonce(nonce: &str) -> String {
    format!("NONCE#{nonce}")
}

pub fn inbound(message_uuid: &str) -> String {
    format!("INBOUND#{message_uuid}")
}

pub fn job(job_id: &JobId) -> String {
    format!("JOB#{job_id}")
}

/// A ledger item's sort key: the index zero-padded, so a job's items sort in batch order.
pub fn batch(index: u32) -> String {
    format!("BATCH#{index:06}")
}

/// The highest batch index [`batch`] can spell.
pub const LAST_BATCH: u32 = 999_999;

/// A progress sample's sort key: its start, zero-padded so samples sort in time order.
pub fn progress_sample(start: DateTime<Utc>) -> String {
    format!("RATE#{:012}", start.timestamp().max(0))
}

/// The partition of the mark that a run of the table's stream starting at record `record_id`
/// was counted (`store::CountStore`).
pub fn counted(record_id: &str) -> String {
    format!("COUNTED#{record_id}")
}

pub fn counter(shard: u32) -> String {
    format!("{COUNTER_PREFIX}{shard:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_keys_sort_in_batch_order() {
        let mut keys: Vec<String> = [10, 2, 999_999, 0, 100_000].map(batch).into();
        keys.sort();
        assert_eq!(
            keys,
            [
                "BATCH#000000",
                "BATCH#000002",
                "BATCH#000010",
                "BATCH#100000",
                "BATCH#999999"
            ]
        );
        assert_eq!(batch(LAST_BATCH).len(), batch(0).len());
    }

    #[test]
    fn retention_grows_from_nonce_to_message() {
        let now = Utc::now();
        assert_eq!(
            Retention::Idempotency.expires(now) - now,
            Duration::hours(24)
        );
        assert!(Retention::Nonce.duration() < Retention::InboundMessage.duration());
        assert!(Retention::InboundMessage.duration() < Retention::Message.duration());
    }
}
