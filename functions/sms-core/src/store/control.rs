//! Campaign control: starting a scheduled job, pausing, resuming and cancelling a committed
//! job (docs/architecture.md, "A job's life").
//!
//! The job item's `control` says who may send its batches. Every change is one conditional
//! write on the job item, against the control it was read with and the job not being done,
//! so two changes never both win and a change never lands on a finished job. The ledger
//! follows the control, never the other way round:
//!
//! - a claim (`BatchLedger::claim_batch`) succeeds only while the job is `running`, checked in
//!   the same transaction as the claim, so once a pause or a cancel is written no batch is
//!   handed to Plivo that was not already claimed;
//! - the sender parks the batch of a paused (or not yet started) job (`pending` → `parked`,
//!   only while the job is still paused or scheduled) and lets the queue message go: a long
//!   pause never drives records to the dead-letter queue;
//! - a resume, or the start of a scheduled job, sweeps the ledger: `parked` → `pending`, and
//!   every `pending` batch not on the queue is enqueued;
//! - a cancel sweeps it too (and the sender does the same for each batch it receives):
//!   `pending` or `parked` → `cancelled`, counted on the job in the same transaction.
//!
//! A batch already `sending` is never touched: it finishes as it would have.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{JobRecord, StoreError};
use crate::domain::{estimate::Budget, ids::JobId};

/// Who may send a job's batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobControl {
    /// Waiting for its `send_at`: its batches are written but not enqueued, and its start
    /// (`ControlChange::Start`, from the job's one-time schedule) makes it running.
    Scheduled,
    /// Batches go to Plivo as the queue delivers them.
    Running,
    /// No batch is claimed; each one the queue delivers is parked until a resume.
    Paused(PauseReason),
    /// No batch is claimed again; every batch not sent ends `cancelled`. Final.
    Cancelled,
}

/// Why a job is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PauseReason {
    /// `POST /v1/bulk/{job_id}/pause`.
    Requested,
    /// The job's next batch would cross its budget cap.
    Budget,
}

impl PauseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Budget => "budget",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Requested, Self::Budget]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

impl JobControl {
    /// The job item's `control` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Running => "running",
            Self::Paused(_) => "paused",
            Self::Cancelled => "cancelled",
        }
    }

    /// The control of a job item's `control` and `pause_reason` attributes; a job written
    /// before controls existed has neither, and is running.
    pub fn parse(control: Option<&str>, reason: Option<&str>) -> Option<Self> {
        match control {
            None | Some("running") => Some(Self::Running),
            Some("scheduled") => Some(Self::Scheduled),
            Some("paused") => Some(Self::Paused(
                reason.map_or(Some(PauseReason::Requested), PauseReason::parse)?,
            )),
            Some("cancelled") => Some(Self::Cancelled),
            Some(_) => None,
        }
    }
}

/// A change asked of a job's control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlChange {
    /// A scheduled job's time came (job-files, on its schedule's task).
    Start,
    Pause(PauseReason),
    Resume,
    Cancel,
}

impl ControlChange {
    /// The route's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Pause(_) => "pause",
            Self::Resume => "resume",
            Self::Cancel => "cancel",
        }
    }

    /// What the change does to a job whose control is `from`: the state machine of
    /// docs/architecture.md ("A job's life"), in one place for both adapters. A done job
    /// (every batch ended) takes no change.
    pub fn verdict(self, from: JobControl, done: bool) -> Verdict {
        use JobControl::*;
        match (self, from) {
            // A start finds a job that already started, or that was cancelled before its
            // time: either way there is nothing left for it to do.
            (Self::Start, Running | Paused(_) | Cancelled) => Verdict::Unchanged,
            (Self::Pause(_), Paused(_)) | (Self::Resume, Running) | (Self::Cancel, Cancelled) => {
                Verdict::Unchanged
            }
            _ if done => Verdict::Refused,
            (Self::Start, Scheduled) | (Self::Resume, Paused(_)) => Verdict::Change(Running),
            (Self::Pause(reason), Running) => Verdict::Change(Paused(reason)),
            (Self::Cancel, Scheduled | Running | Paused(_)) => Verdict::Change(Cancelled),
            // Nothing has started to pause or resume: it waits for its time, or a cancel.
            (Self::Pause(_) | Self::Resume, Scheduled) => Verdict::Refused,
            (Self::Pause(_) | Self::Resume, Cancelled) => Verdict::Refused,
        }
    }
}

/// See [`ControlChange::verdict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Write this control.
    Change(JobControl),
    /// The job is already where the change would take it: nothing to write (the change is
    /// idempotent).
    Unchanged,
    /// Not allowed from the job's state.
    Refused,
}

/// The outcome of [`JobControls::change_control`], with the job as it is after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlAnswer {
    Changed(JobRecord),
    Unchanged(JobRecord),
    Refused(JobRecord),
    /// No job item.
    Missing,
}

/// The outcome of [`JobControls::park_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parking {
    /// The batch waits, `parked`, for a resume (or the job's start).
    Parked,
    /// The job is neither paused nor scheduled: claim the batch again.
    NotPaused,
    /// The batch is not `pending` (claimed or ended meanwhile): nothing to park.
    NotPending,
}

pub trait JobControls: Send + Sync {
    /// Applies `change` to the job by [`ControlChange::verdict`], with one conditional write
    /// against the control and progress it read; a write that loses to another change or to
    /// the last batch ending is decided again on the job as it then is.
    fn change_control(
        &self,
        job_id: &JobId,
        change: ControlChange,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ControlAnswer, StoreError>> + Send;

    /// Raises a capped job's caps to `caps` (a cap the job does not have, or a lower one,
    /// is left as it is), adding the difference to what is left of them; the job as it is
    /// after, or None without a job item. Written against the caps it read, so two raises
    /// never add the same difference twice.
    fn raise_budget(
        &self,
        job_id: &JobId,
        caps: Budget,
    ) -> impl Future<Output = Result<Option<JobRecord>, StoreError>> + Send;

    /// `pending` → `parked`, only while the job is paused or scheduled (checked in the same
    /// write).
    fn park_batch(
        &self,
        job_id: &JobId,
        batch: u32,
    ) -> impl Future<Output = Result<Parking, StoreError>> + Send;

    /// `parked` → `pending`, not enqueued: a resumed job's sweep enqueues it again. False
    /// when the batch is not parked. A batch parked by [`JobControls::defer_batch`] gives
    /// back its `deferred` recipients to the job's `recipients_waiting` in the same write.
    fn unpark_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        deferred: Option<u64>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// `pending` → `parked` because its recipients' quiet hours hold until `opens`: counts its
    /// `recipients` in the job's `recipients_waiting` in the same transaction, and records
    /// `opens` as the job's `next_window_at` unless an earlier one is recorded and still
    /// ahead. The job's wake-up at `opens` (a start task, by its schedule) sweeps it back.
    /// False when the batch is not `pending`.
    fn defer_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        recipients: u64,
        opens: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// `pending` or `parked` → `cancelled` for a cancelled job, counting the batch and its
    /// `recipients` on the job item in the same transaction. False when the batch is in
    /// another state (sending or ended), or the job is not cancelled.
    fn cancel_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        recipients: u64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    use ControlChange::*;
    use JobControl::*;

    #[test]
    fn the_state_machine() {
        let paused = Paused(PauseReason::Requested);
        let cases = [
            (
                Pause(PauseReason::Requested),
                Running,
                false,
                Verdict::Change(paused),
            ),
            (
                Pause(PauseReason::Requested),
                paused,
                false,
                Verdict::Unchanged,
            ),
            (
                Pause(PauseReason::Budget),
                paused,
                false,
                Verdict::Unchanged,
            ),
            (
                Pause(PauseReason::Requested),
                Cancelled,
                false,
                Verdict::Refused,
            ),
            (
                Pause(PauseReason::Requested),
                Running,
                true,
                Verdict::Refused,
            ),
            (Resume, paused, false, Verdict::Change(Running)),
            (Resume, Running, false, Verdict::Unchanged),
            (Resume, Running, true, Verdict::Unchanged),
            (Resume, Cancelled, false, Verdict::Refused),
            (Resume, paused, true, Verdict::Refused),
            (Cancel, Running, false, Verdict::Change(Cancelled)),
            (Cancel, paused, false, Verdict::Change(Cancelled)),
            (Cancel, Cancelled, false, Verdict::Unchanged),
            (Cancel, Cancelled, true, Verdict::Unchanged),
            (Cancel, Running, true, Verdict::Refused),
            (Start, Scheduled, false, Verdict::Change(Running)),
            (Start, Running, false, Verdict::Unchanged),
            (Start, paused, false, Verdict::Unchanged),
            (Start, Cancelled, false, Verdict::Unchanged),
            (Cancel, Scheduled, false, Verdict::Change(Cancelled)),
            (
                Pause(PauseReason::Requested),
                Scheduled,
                false,
                Verdict::Refused,
            ),
            (Resume, Scheduled, false, Verdict::Refused),
        ];
        for (change, from, done, expected) in cases {
            assert_eq!(
                change.verdict(from, done),
                expected,
                "{change:?} from {from:?}, done: {done}"
            );
        }
    }

    #[test]
    fn controls_round_trip_through_their_attributes() {
        for control in [
            Scheduled,
            Running,
            Paused(PauseReason::Requested),
            Paused(PauseReason::Budget),
            Cancelled,
        ] {
            let reason = match control {
                Paused(r) => Some(r.as_str()),
                _ => None,
            };
            assert_eq!(
                JobControl::parse(Some(control.as_str()), reason),
                Some(control)
            );
        }
        assert_eq!(JobControl::parse(None, None), Some(Running));
        assert_eq!(JobControl::parse(Some("paused"), Some("bored")), None);
        assert_eq!(JobControl::parse(Some("asleep"), None), None);
    }
}
