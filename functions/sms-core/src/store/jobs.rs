//! Bulk jobs and the batch ledger (docs/architecture.md, "Data" and "Invariants").
//!
//! A job is written as its ledger items first and its job item last: the job item is the
//! commit marker. A job item that exists therefore has every ledger item, and a retried
//! request (same `Idempotency-Key`) that finds it only enqueues what was not enqueued yet.
//! A job item that does not exist means nothing was enqueued, so the ledger an earlier
//! attempt left may be rewritten, but only item by item where it is still untouched
//! ([`LedgerEntry::is_untouched`]); its items beyond the new batch count are removed, and
//! only batches below the committed `batches_total` are ever read back.
//!
//! A batch moves `pending` → `sending` (claimed with a lease) → `sent` | `failed` |
//! `unknown`, by conditional writes, so SQS redelivery, a Lambda retry or a timeout can
//! never hand the same batch to Plivo twice. A paused job's batches wait `parked`; a
//! cancelled job's unsent ones end `cancelled` (`store::control`).

use crate::domain::sender::Sender;
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    future::Future,
};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{MessageStatus, StoreError, control::JobControl};
use crate::domain::{
    estimate::{Budget, BudgetLeft, Reservation},
    ids::JobId,
    phone::PhoneNumber,
    quiet_hours::QuietHours,
    text::MessageText,
};

/// Everything needed to create a job and its ledger.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub job_id: JobId,
    pub text: MessageText,
    pub from: Sender,
    pub reference: Option<String>,
    pub counts: IntakeCounts,
    pub callback_url: String,
    /// When the job's messages stop being worth sending (`valid_for`, `expires_at`).
    pub expires_at: Option<DateTime<Utc>>,
    /// When the job starts (`send_at`); None: at once. A job with one is written
    /// `scheduled` and its batches are enqueued by its start.
    pub send_at: Option<DateTime<Utc>>,
    /// Local hours in which a recipient's batch waits (`quiet_hours`); its batches are cut by
    /// zone window (`zones::batch_by_window`).
    pub quiet_hours: Option<QuietHours>,
    /// Recipients of each batch, in batch order.
    pub batches: Vec<Vec<PhoneNumber>>,
    /// The job's caps (`max_cost`, `max_segments`) and each batch's share of them; None for
    /// a job without one.
    pub budget: Option<JobBudget>,
    /// Whether its batches may go through the fallback provider while Plivo's circuit is open.
    pub fallback: bool,
}

impl JobSpec {
    /// Batch `index`'s ledger entry as job creation writes it: `pending`, with its
    /// reservation if the job is capped.
    pub fn ledger_entry(&self, index: usize, recipients: &[PhoneNumber]) -> LedgerEntry {
        LedgerEntry {
            reservation: self
                .budget
                .as_ref()
                .and_then(|b| b.reservations.get(index).copied()),
            ..LedgerEntry::pending(index as u32, recipients.to_vec())
        }
    }
}

/// A capped job's caps and what each of its batches reserves of them when claimed, in batch
/// order (docs/architecture.md, "A budget's guard").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobBudget {
    pub caps: Budget,
    pub reservations: Vec<Reservation>,
}

/// What send-bulk made of the recipient list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IntakeCounts {
    pub accepted: u64,
    pub duplicates: u64,
    pub suppressed: u64,
    pub invalid: u64,
    /// Landlines among the recipients (`domain::numbering`), sent or skipped.
    pub landlines: u64,
    /// Of `landlines`, those not sent (`skip_landlines`); not in `accepted`.
    pub landlines_skipped: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchState {
    Pending,
    Sending,
    Sent,
    Failed,
    Unknown,
    /// Its job is paused: the queue message was let go, and a resume enqueues it again.
    Parked,
    /// Its job was cancelled before it was claimed: never sent.
    Cancelled,
}

impl BatchState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
            Self::Parked => "parked",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Sending,
            Self::Sent,
            Self::Failed,
            Self::Unknown,
            Self::Parked,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// A batch in a final state is never handed to Plivo again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Sent | Self::Failed | Self::Unknown | Self::Cancelled
        )
    }
}

impl fmt::Display for BatchState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One batch's ledger item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub batch: u32,
    pub state: BatchState,
    pub enqueued: bool,
    pub attempts: u32,
    pub lease_until: Option<DateTime<Utc>>,
    pub recipients: Vec<PhoneNumber>,
    /// The batch's own text (a personalised job's rendered text); None: the job's text.
    pub text: Option<MessageText>,
    pub message_uuids: Vec<String>,
    pub error: Option<String>,
    /// Parked until its recipients' window opens (quiet hours), not by a pause: its
    /// recipients are counted in the job's `recipients_waiting` until it is unparked.
    pub deferred: bool,
    /// A capped job's batch: what its first claim reserves of the job's caps.
    pub reservation: Option<Reservation>,
    /// Recipients who opted out after the job was accepted: the sender left them out.
    pub opted_out: Vec<PhoneNumber>,
    /// Sent through the fallback provider: who got which of `message_uuids`, and who may
    /// have.
    pub fallback: Option<FallbackSends>,
    /// When its latest claim began, and when it ended: the window in which Plivo's records
    /// of an `unknown` batch must lie.
    pub claimed_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Once `unknown`, then resent because Plivo's records proved it absent: never again.
    pub resent: bool,
    /// Once `unknown`, then found `sent` in Plivo's records or reports: its
    /// `message_uuids` are those found, not Plivo's whole answer.
    pub reconciled: bool,
}

impl LedgerEntry {
    /// A batch as job creation writes it: `pending`, never claimed nor enqueued.
    pub fn pending(batch: u32, recipients: Vec<PhoneNumber>) -> Self {
        Self {
            batch,
            state: BatchState::Pending,
            enqueued: false,
            attempts: 0,
            lease_until: None,
            recipients,
            text: None,
            message_uuids: Vec::new(),
            error: None,
            deferred: false,
            reservation: None,
            opted_out: Vec::new(),
            fallback: None,
            claimed_at: None,
            ended_at: None,
            resent: false,
            reconciled: false,
        }
    }

    /// A `pending` batch with a text of its own.
    pub fn pending_with_text(batch: u32, recipients: Vec<PhoneNumber>, text: MessageText) -> Self {
        Self {
            text: Some(text),
            ..Self::pending(batch, recipients)
        }
    }

    /// Never claimed nor enqueued: nothing can have sent it, so creating the job may rewrite
    /// or remove it.
    pub fn is_untouched(&self) -> bool {
        self.state == BatchState::Pending && self.attempts == 0 && !self.enqueued
    }

    /// Why a claim of this entry failed, as of `now`: it ended; a live claim holds it; or a
    /// claim's lease ran out without an outcome (the invocation died). A `pending` entry here
    /// was released between a failed claim and this read: busy, try again later.
    pub fn claim_refusal(&self, now: DateTime<Utc>) -> BatchClaim {
        match self.state {
            BatchState::Sending => match self.lease_until {
                Some(until) if until > now => BatchClaim::Busy { lease_until: until },
                _ => BatchClaim::LeaseExpired {
                    attempt: self.attempts,
                },
            },
            // Claimable again after a moment (a pending one lost only a race) or after a
            // resume: the queue message is let go either way by whoever parked it.
            BatchState::Pending | BatchState::Parked => BatchClaim::Busy { lease_until: now },
            done => BatchClaim::Ended(done),
        }
    }
}

/// What a batch sent through the fallback provider records, beside its `message_uuids`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FallbackSends {
    /// The recipient of each of the batch's `message_uuids`, in the same order.
    pub to: Vec<PhoneNumber>,
    /// Recipients whose request got no answer: the provider may have sent them.
    pub unknown: Vec<PhoneNumber>,
}

/// A job as stored, with its batch counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub job_id: JobId,
    /// Its encoding and segments are the job's (the item keeps them too, for people reading
    /// the table).
    pub text: MessageText,
    pub from: Sender,
    pub reference: Option<String>,
    pub counts: IntakeCounts,
    pub callback_url: String,
    /// When its messages stop being worth sending: no batch goes after it, and each one
    /// tells Plivo what is left (`domain::validity`).
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was asked to start (`send_at`), if it was scheduled.
    pub send_at: Option<DateTime<Utc>>,
    /// Its quiet hours, if it has them.
    pub quiet_hours: Option<QuietHours>,
    /// Recipients of the batches waiting, deferred, for their window to open; and the
    /// earliest opening a deferral recorded (`JobControls::defer_batch`).
    pub recipients_waiting: u64,
    pub next_window_at: Option<DateTime<Utc>>,
    pub batches_total: u32,
    pub batches_sent: u32,
    pub batches_failed: u32,
    pub batches_unknown: u32,
    /// Batches once `unknown`, then settled: found in Plivo's records or its reports
    /// (`sent`), or proved absent and enqueued again (`resent`).
    pub batches_reconciled: u32,
    pub batches_resent: u32,
    /// Messages the fallback provider took, and whether the job asked for it.
    pub messages_by_fallback: u64,
    pub fallback: bool,
    /// Messages Plivo accepted (one uuid each), summed over sent batches.
    pub messages_accepted: u64,
    /// The batches in `messages_accepted`, recorded by the same write. A number set on the
    /// job item, about 4 bytes per batch: the ~400 batches of the largest request at the
    /// default batch size take under 2 KB (only batches of 1 to 4 numbers could bring the
    /// largest requests near DynamoDB's 400 KB item limit).
    pub sent_batches: BTreeSet<u32>,
    /// Destinations Plivo reported in `invalid_number`.
    pub plivo_invalid: u64,
    /// Distinct texts among the recipients (1 unless the text is personalised) and the
    /// segments over every recipient.
    pub distinct_texts: u64,
    pub segments_total: u64,
    /// A capped job's caps and what is left of them to reserve (`BatchLedger::claim_batch`).
    pub budget: Option<BudgetLeft>,
    /// Who may send its batches (`store::control`), and since when.
    pub control: JobControl,
    pub control_changed_at: Option<DateTime<Utc>>,
    /// Batches that ended `cancelled`, and their recipients.
    pub batches_cancelled: u32,
    pub recipients_cancelled: u64,
    /// Recipients who opted out between the intake and their batch's turn, and so were
    /// not sent (`BatchOutcome::Sent::opted_out`).
    pub recipients_opted_out: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl JobRecord {
    /// The job as committing `spec` at `now` writes it: no batch ended yet.
    pub fn new(spec: &JobSpec, now: DateTime<Utc>) -> Self {
        Self {
            job_id: spec.job_id.clone(),
            text: spec.text.clone(),
            from: spec.from.clone(),
            reference: spec.reference.clone(),
            counts: spec.counts,
            callback_url: spec.callback_url.clone(),
            expires_at: spec.expires_at,
            send_at: spec.send_at,
            quiet_hours: spec.quiet_hours,
            recipients_waiting: 0,
            next_window_at: None,
            batches_total: spec.batches.len() as u32,
            batches_sent: 0,
            batches_failed: 0,
            batches_unknown: 0,
            batches_reconciled: 0,
            batches_resent: 0,
            messages_by_fallback: 0,
            fallback: spec.fallback,
            messages_accepted: 0,
            sent_batches: BTreeSet::new(),
            plivo_invalid: 0,
            distinct_texts: 1,
            segments_total: spec.counts.accepted * spec.text.segments() as u64,
            budget: spec.budget.as_ref().map(|b| BudgetLeft::full(b.caps)),
            control: match spec.send_at {
                Some(_) => JobControl::Scheduled,
                None => JobControl::Running,
            },
            control_changed_at: None,
            batches_cancelled: 0,
            recipients_cancelled: 0,
            recipients_opted_out: 0,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn batches_ended(&self) -> u32 {
        self.batches_sent + self.batches_failed + self.batches_unknown + self.batches_cancelled
    }

    /// Every batch ended: nothing of the job is left to send or to cancel.
    pub fn is_done(&self) -> bool {
        self.batches_ended() >= self.batches_total
    }

    /// The messages Plivo is known to have accepted for this job: those of the sent batches
    /// (Plivo's answer listed them) and those seen in delivery reports of every other batch
    /// (one whose answer never came, `unknown`, or has not been recorded yet).
    ///
    /// Exact whatever the interleaving of reads and writes: a message counted in `counts` is
    /// either in a sent batch, and so in `messages_accepted`, or was seen in its batch on the
    /// same counter item, in the same write that first counted it. So the per-status counts
    /// never exceed this figure, and `queued` (what is left) is never negative.
    pub fn accepted_by_plivo(&self, counts: &StatusCounts) -> AcceptedByPlivo {
        let unconfirmed = counts
            .seen_by_batch
            .iter()
            .filter(|(batch, _)| !self.sent_batches.contains(batch))
            .map(|(_, seen)| *seen)
            .sum::<u64>();
        AcceptedByPlivo {
            total: self.messages_accepted + unconfirmed,
            unconfirmed,
        }
    }
}

/// See [`JobRecord::accepted_by_plivo`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AcceptedByPlivo {
    pub total: u64,
    /// Of `total`, those known only from delivery reports: their batch is not `sent`.
    pub unconfirmed: u64,
}

/// Message counts by current status, summed over a job's counter shards. Statuses other than
/// `queued` are counted as reports move messages; `queued` is what is left of the accepted
/// (see [`JobRecord::accepted_by_plivo`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub sent: i64,
    pub delivered: i64,
    pub undelivered: i64,
    pub failed: i64,
    pub rejected: i64,
    /// Messages with at least one applied report, by the batch their callback URL names.
    pub seen_by_batch: BTreeMap<u32, u64>,
    /// What the reports charged the job's messages, summed once per message.
    pub charged: crate::domain::status::Charge,
}

impl StatusCounts {
    pub fn get(&self, status: MessageStatus) -> i64 {
        match status {
            MessageStatus::Queued => 0,
            MessageStatus::Sent => self.sent,
            MessageStatus::Delivered => self.delivered,
            MessageStatus::Undelivered => self.undelivered,
            MessageStatus::Failed => self.failed,
            MessageStatus::Rejected => self.rejected,
        }
    }

    pub fn add(&mut self, status: MessageStatus, n: i64) {
        match status {
            MessageStatus::Queued => {}
            MessageStatus::Sent => self.sent += n,
            MessageStatus::Delivered => self.delivered += n,
            MessageStatus::Undelivered => self.undelivered += n,
            MessageStatus::Failed => self.failed += n,
            MessageStatus::Rejected => self.rejected += n,
        }
    }

    pub fn beyond_queued(&self) -> i64 {
        self.sent + self.delivered + self.undelivered + self.failed + self.rejected
    }
}

pub trait JobStore: Send + Sync {
    /// Looks a job up.
    fn get_job(
        &self,
        job_id: &JobId,
    ) -> impl Future<Output = Result<Option<JobRecord>, StoreError>> + Send;

    /// Step one of [`JobStore::create_job`]: writes the ledger items (all `pending`), each
    /// only where absent or untouched, and removes untouched items beyond the spec's batches
    /// (left by an earlier attempt whose list was longer). `Conflict` when an item has been
    /// claimed or enqueued: another attempt got further, and this one must not go on.
    fn write_ledger(
        &self,
        spec: &JobSpec,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<CreateJob, StoreError>> + Send;

    /// Step two of [`JobStore::create_job`] (and the last step of a plan): writes the job
    /// item, the commit marker, if there is none (`Conflict` if there is).
    fn commit_job(
        &self,
        job: &JobRecord,
    ) -> impl Future<Output = Result<CreateJob, StoreError>> + Send;

    /// Creates a job: its ledger, then its job item. An existing job is never changed: it
    /// is refused up front, or (created meanwhile by another attempt) by the ledger's or
    /// the job item's condition. `Conflict` means this call enqueued nothing and must not;
    /// another attempt has the job.
    fn create_job(
        &self,
        spec: &JobSpec,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<CreateJob, StoreError>> + Send {
        async move {
            if self.get_job(&spec.job_id).await?.is_some() {
                return Ok(CreateJob::Conflict);
            }
            match self.write_ledger(spec, now).await? {
                CreateJob::Created => self.commit_job(&JobRecord::new(spec, now)).await,
                CreateJob::Conflict => Ok(CreateJob::Conflict),
            }
        }
    }

    /// The ledger items of a committed job, in batch order: batches below its
    /// `batches_total` only. No job item, no ledger.
    fn ledger(
        &self,
        job_id: &JobId,
    ) -> impl Future<Output = Result<Vec<LedgerEntry>, StoreError>> + Send;

    /// The ledger items of batches `batches` (a range below the committed job's
    /// `batches_total`, which the caller read), in batch order: a page of a large ledger.
    fn ledger_range(
        &self,
        job_id: &JobId,
        batches: std::ops::Range<u32>,
    ) -> impl Future<Output = Result<Vec<LedgerEntry>, StoreError>> + Send;

    /// Records that a batch's queue message was accepted by SQS. A missing ledger item is an
    /// error, in every adapter: the batch was never part of a committed job, so saying it was
    /// enqueued would hide a message the sender can only send to the dead-letter queue.
    fn mark_enqueued(
        &self,
        job_id: &JobId,
        batch: u32,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Message counts by status over the job's counter shards.
    fn status_counts(
        &self,
        job_id: &JobId,
    ) -> impl Future<Output = Result<StatusCounts, StoreError>> + Send;
}

/// The outcome of creating a job (or one of its steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateJob {
    Created,
    /// The job exists, or another attempt's ledger has moved on: nothing was committed.
    Conflict,
}

/// What `mark_enqueued` answers, in every adapter, for a batch without a ledger item.
pub(crate) fn missing_ledger_item(job_id: &JobId, batch: u32) -> StoreError {
    StoreError::Backend {
        operation: "UpdateItem",
        reason: format!("job {job_id} has no ledger item for batch {batch}"),
    }
}

/// The outcome of trying to claim a batch for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchClaim {
    /// This invocation owns the batch until `lease_until`; `attempt` identifies the claim.
    Claimed { attempt: u32 },
    /// The batch already ended: nothing to do.
    Ended(BatchState),
    /// Another invocation holds a live lease: try again later.
    Busy { lease_until: DateTime<Utc> },
    /// A claim's lease ran out without an outcome: Plivo may or may not have the batch.
    LeaseExpired { attempt: u32 },
    /// No ledger item, or no job item: the message does not belong to any job.
    Missing,
    /// The batch is `pending` but its job does not let it be sent now (paused or cancelled).
    Held(JobControl),
    /// The batch is `pending` and its job runs, but what is left of the job's caps has no
    /// room for the batch's reservation: sending it could cross the cap.
    OverBudget(BudgetLeft),
}

/// How a claimed batch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Handed to Plivo (or, when every recipient had opted out, to no one).
    Sent {
        message_uuids: Vec<String>,
        invalid_numbers: Vec<String>,
        /// Recipients the sender left out: they opted out after the intake screened them.
        opted_out: Vec<PhoneNumber>,
    },
    /// Handed to the fallback provider, one message per recipient.
    Fallback {
        /// Each recipient it took, with its message id.
        sent: Vec<(PhoneNumber, String)>,
        /// Recipients it refused, or not tried once it stopped taking messages.
        not_sent: Vec<PhoneNumber>,
        /// Recipients whose request got no answer: it may have sent them; never again.
        unknown: Vec<PhoneNumber>,
        opted_out: Vec<PhoneNumber>,
    },
    Failed {
        error: String,
    },
    Unknown {
        reason: String,
    },
}

impl BatchOutcome {
    pub fn state(&self) -> BatchState {
        match self {
            Self::Sent { .. } | Self::Fallback { .. } => BatchState::Sent,
            Self::Failed { .. } => BatchState::Failed,
            Self::Unknown { .. } => BatchState::Unknown,
        }
    }
}

pub trait BatchLedger: Send + Sync {
    /// Claims `pending` → `sending` with a lease, or reports why not. A capped job's batch
    /// brings its `reservation`: its first claim takes it from what is left of the job's caps
    /// in the same write, and only if it fits (`OverBudget` if not); a claim after a release
    /// finds it taken already (a released batch keeps its reservation, as it may be sent).
    fn claim_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        reservation: Option<&Reservation>,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<BatchClaim, StoreError>> + Send;

    /// Ends the claim `attempt` with `outcome` and counts it on the job, atomically (a `sent`
    /// batch adds its messages to `messages_accepted` and its index to `sent_batches`).
    /// Returns false and changes nothing when the claim is no longer this invocation's or the
    /// job item is missing. A write that conflicts with concurrent ones is retried with
    /// backoff; an error means nothing was written.
    fn finish_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        attempt: u32,
        outcome: &BatchOutcome,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Gives a claim back (`sending` → `pending`) when nothing reached Plivo, so a later
    /// delivery of the queue message may try again.
    fn release_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        attempt: u32,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
