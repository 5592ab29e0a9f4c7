//! Jobs planned from an uploaded file (docs/architecture.md, "A job from an upload").
//!
//! `POST /v1/bulk` with an `upload_id` writes only a plan item (`JOB#<id>` / `PLAN`, state
//! `planning`). The job-files function claims it with a lease, writes the ledger batch by
//! batch as it reads the file, saves a checkpoint whenever it must stop early, and ends the
//! plan: `committed` once it has written the job item with [`super::JobStore::commit_job`]
//! (still the commit marker: a job item that exists has every ledger item), or `failed`, in
//! which case no job item exists and nothing was or will be enqueued.

use std::{collections::BTreeMap, future::Future};

use chrono::{DateTime, Utc};

use super::{CreateJob, LedgerEntry, StoreError};
use crate::domain::{
    estimate::{Budget, Estimate, Rate, Tally},
    ids::JobId,
    plan::{FileLayout, PlanCounts},
    sender::Sender,
};

/// The plan's I/O step, the same for job-files and a dry run: screens the waiting candidates
/// against the suppression list once a chunk waits, or whatever waits when `last`, which
/// also closes every open batch. The ready batches and rejects are then the caller's.
pub async fn screen_plan<S: super::SuppressionList>(
    store: &S,
    plan: &mut crate::domain::plan::Plan,
    last: bool,
) -> Result<(), StoreError> {
    if plan.wants_screening() || (last && !plan.to_screen().is_empty()) {
        let suppressed = store.suppressed_among(plan.to_screen()).await?;
        plan.admit(&suppressed);
    }
    if last {
        plan.flush();
    }
    Ok(())
}

/// Most batches (Plivo requests) one job may have: the job item records each sent batch
/// (`JobRecord::sent_batches`, a few bytes each), and DynamoDB items hold 400 KB. At 1,000
/// recipients a batch that is 50 million recipients; it binds only files whose texts are
/// nearly all distinct.
pub const MAX_BATCHES_PER_JOB: u32 = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanState {
    Planning,
    Committed,
    Failed,
}

impl PlanState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planning => "planning",
            Self::Committed => "committed",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Planning, Self::Committed, Self::Failed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A capped plan's tallies over the batches written so far (docs/api.md, "Budget"): kept
/// with its checkpoint, so the estimate at the end covers every row whatever the number of
/// invocations. A few entries per destination country, however long the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanTallies {
    /// Recipients and segments per destination country.
    pub countries: BTreeMap<String, Tally>,
    /// The rate each country's batches were priced at (a plan with `max_cost`): asked once
    /// per country and kept, so every batch's reservation and the estimate use the same
    /// rate. Only `Priced` or `NotListed`: a price Plivo did not give now is asked again.
    pub rates: BTreeMap<String, Rate>,
}

impl PlanTallies {
    /// Adds one batch's tallies.
    pub fn add(&mut self, batch: &BTreeMap<&str, Tally>) {
        for (country, tally) in batch {
            let total = self.countries.entry((*country).to_owned()).or_default();
            total.recipients += tally.recipients;
            total.segments += tally.segments;
        }
    }

    /// The plan's estimate: the tallies at the kept rates.
    pub fn estimate(&self) -> Estimate {
        let tallies: BTreeMap<&str, Tally> = self
            .countries
            .iter()
            .map(|(country, tally)| (country.as_str(), *tally))
            .collect();
        Estimate::new(&tallies, &self.rates)
    }
}

/// Where a plan stopped: everything a later invocation needs to go on from there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanCheckpoint {
    /// Records read so far, the header included, and the byte offset just after them.
    pub records: u64,
    pub offset: u64,
    /// Ledger items written so far: the next batch's index.
    pub batches: u32,
    /// Rejects segments written so far (`files::keys::rejects_segment`).
    pub rejects_segments: u32,
    pub counts: PlanCounts,
    /// A capped plan's tallies (empty without a cap).
    pub tallies: PlanTallies,
}

/// A plan as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRecord {
    pub job_id: JobId,
    pub state: PlanState,
    pub upload_id: String,
    /// The upload's version when the job was accepted: planning reads only that one.
    pub etag: String,
    pub size: u64,
    pub layout: FileLayout,
    /// The text as sent, placeholders included.
    pub template: String,
    /// Send each rendered text, and the job's text, smart-encoded (`domain::lookalike`).
    pub smart_encoding: bool,
    /// Leave landlines out of the job (`domain::numbering`); they are counted either way.
    pub skip_landlines: bool,
    pub from: Sender,
    pub reference: Option<String>,
    pub callback_url: String,
    /// The job's deadline (`valid_for`, `expires_at`), for its job item.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the job starts (`send_at`), for its job item: planned at once, sent then.
    pub send_at: Option<DateTime<Utc>>,
    /// The job's quiet hours, for its job item; its batches are cut by zone window too.
    pub quiet_hours: Option<crate::domain::quiet_hours::QuietHours>,
    /// The job's header (CSV), read when the job was accepted.
    pub header: Vec<String>,
    /// The job's caps (`max_cost`, `max_segments`): checked against the whole file's
    /// estimate before the job is committed; none by default.
    pub budget: Budget,
    pub checkpoint: PlanCheckpoint,
    /// Claims so far; the lease of the current one.
    pub attempts: u32,
    pub lease_until: Option<DateTime<Utc>>,
    /// Why planning failed, for the caller.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PlanRecord {
    /// Data rows read so far.
    pub fn rows_read(&self) -> u64 {
        self.checkpoint.counts.rows
    }
}

/// The outcome of claiming a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanClaim {
    /// This invocation owns the plan until its lease ends; `attempt` identifies the claim.
    Claimed {
        attempt: u32,
        plan: Box<PlanRecord>,
    },
    /// Another invocation holds a live lease.
    Busy {
        lease_until: DateTime<Utc>,
    },
    /// The plan ended (`committed` or `failed`): nothing to do.
    Ended(PlanState),
    Missing,
}

/// How a claimed plan ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanEnd {
    Committed,
    Failed { reason: String },
}

pub trait PlanStore: Send + Sync {
    /// Writes a new plan (`planning`, no claim yet); `Conflict` if the job has one.
    fn create_plan(
        &self,
        plan: &PlanRecord,
    ) -> impl Future<Output = Result<CreateJob, StoreError>> + Send;

    fn get_plan(
        &self,
        job_id: &JobId,
    ) -> impl Future<Output = Result<Option<PlanRecord>, StoreError>> + Send;

    /// Claims a `planning` plan whose lease is absent or over (a dead invocation's claim is
    /// taken over: it wrote nothing past its last checkpoint that a new claim cannot
    /// rewrite), with a lease until `lease_until`.
    fn claim_plan(
        &self,
        job_id: &JobId,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<PlanClaim, StoreError>> + Send;

    /// Saves a checkpoint and extends the lease, if claim `attempt` still holds the plan.
    fn save_checkpoint(
        &self,
        job_id: &JobId,
        attempt: u32,
        checkpoint: &PlanCheckpoint,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Ends the plan, if claim `attempt` still holds it.
    fn end_plan(
        &self,
        job_id: &JobId,
        attempt: u32,
        end: &PlanEnd,
        checkpoint: &PlanCheckpoint,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Writes ledger items (`pending`), each where absent or untouched (see
    /// `LedgerEntry::is_untouched`); `Conflict` if one moved on. Nothing is enqueued before
    /// the job is committed, so a new claim may rewrite what a dead one wrote.
    fn put_batches(
        &self,
        job_id: &JobId,
        entries: &[LedgerEntry],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<CreateJob, StoreError>> + Send;
}
