//! A job's results file (docs/architecture.md, "The results file"): one row per recipient of
//! the ledger with what became of its message, built by job-files in pages.
//!
//! The build is recorded in one item, `JOB#<job id>` / `RESULTS`. Each request for a file
//! starts a new *generation* unless one is building; job-files claims the generation with a
//! lease, writes the file as a multipart upload part by part, saves a checkpoint after each
//! part (the next batch, the rows so far, the parts uploaded), and ends it `ready` or
//! `failed`. A claim that dies is taken over from the last checkpoint: the parts after it are
//! uploaded again under the same numbers, which replaces them, so no row is written twice.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{MessageStatus, StoreError};
use crate::domain::{ids::JobId, phone::PhoneNumber};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultsState {
    Building,
    Ready,
    Failed,
}

impl ResultsState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Building => "building",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Building, Self::Ready, Self::Failed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// How far a build got: the rows of every batch below `next_batch` are in the parts uploaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultsCheckpoint {
    pub next_batch: u32,
    pub rows: u64,
    pub parts: u32,
    /// The multipart upload the parts belong to, once started.
    pub upload: Option<String>,
}

/// A results build as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultsRecord {
    pub job_id: JobId,
    /// 1 for the job's first file, then one more for each new request.
    pub generation: u32,
    pub state: ResultsState,
    pub checkpoint: ResultsCheckpoint,
    /// Claims of this generation so far; the lease of the current one.
    pub attempts: u32,
    pub lease_until: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a request for a results file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultsRequest {
    /// A new generation was started.
    Started(ResultsRecord),
    /// A generation is building: it is the answer (a second build would only race it).
    Building(ResultsRecord),
}

/// The outcome of claiming a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultsClaim {
    Claimed {
        attempt: u32,
        record: Box<ResultsRecord>,
    },
    /// Another invocation holds a live lease on this generation.
    Busy {
        lease_until: DateTime<Utc>,
    },
    /// This generation ended, or a newer one replaced it: nothing to do.
    Ended,
    Missing,
}

/// How a claimed build ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultsEnd {
    Ready,
    Failed { reason: String },
}

/// What the delivery reports have said of a message: its `STATUS` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedStatus {
    pub message_uuid: String,
    pub to: Option<PhoneNumber>,
    pub status: MessageStatus,
    pub error_code: Option<String>,
    pub units: Option<u32>,
    pub amount: Option<String>,
    pub updated_at: DateTime<Utc>,
}

pub trait ResultsStore: Send + Sync {
    /// Starts a new generation (`building`, no claim, an empty checkpoint) unless one is
    /// building, which is returned instead. Concurrent requests start one generation.
    fn request_results(
        &self,
        job_id: &JobId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ResultsRequest, StoreError>> + Send;

    fn get_results(
        &self,
        job_id: &JobId,
    ) -> impl Future<Output = Result<Option<ResultsRecord>, StoreError>> + Send;

    /// Claims `generation` while it is `building` and its lease is absent or over.
    fn claim_results(
        &self,
        job_id: &JobId,
        generation: u32,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ResultsClaim, StoreError>> + Send;

    /// Saves a checkpoint and sets the lease, if claim `attempt` of `generation` still holds
    /// the build.
    fn save_results_checkpoint(
        &self,
        job_id: &JobId,
        generation: u32,
        attempt: u32,
        checkpoint: &ResultsCheckpoint,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Ends the build with its last checkpoint, if claim `attempt` of `generation` still
    /// holds it.
    fn end_results(
        &self,
        job_id: &JobId,
        generation: u32,
        attempt: u32,
        end: &ResultsEnd,
        checkpoint: &ResultsCheckpoint,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// What reports said of each of `message_uuids` that has a report, in no set order, read
    /// in batches (not one read each). Messages without a report are left out.
    fn reported(
        &self,
        message_uuids: &[String],
    ) -> impl Future<Output = Result<Vec<ReportedStatus>, StoreError>> + Send;
}
