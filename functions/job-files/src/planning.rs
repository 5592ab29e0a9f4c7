//! Planning a job from its upload (docs/architecture.md, "A job from an upload").
//!
//! | step | what can go wrong | then |
//! |---|---|---|
//! | claim the plan (lease to the deadline) | another invocation holds it | record returned, retried |
//! | the job item exists already | (a claim died after committing) | enqueue what is left, end |
//! | read the upload from the checkpoint, in chunks | upload gone or replaced | plan `failed` |
//! | rows → plan → screen → ledger items, rejects | a store error | record returned; the next claim resumes from the last checkpoint |
//! | row limit or deadline reached | | checkpoint saved, lease released, a task to go on enqueued |
//! | a capped plan's batches, as they are written | a country's price unavailable now | record returned, retried |
//! | end of file: no valid recipient, too many batches, over the cap | | rejects file written, plan `failed`, nothing enqueued |
//! | end of file | | rejects file, job item (commit), batches enqueued, plan `committed` |
//!
//! The ledger is written only through `put_batches`, which never rewrites a batch that moved
//! on, and nothing is enqueued before the job item exists: a claim that dies anywhere leaves
//! work a later claim redoes from the last checkpoint, never a batch sent twice.

use std::{
    collections::{BTreeMap, BTreeSet},
    ops::ControlFlow,
};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use sms_core::{
    MessageText,
    domain::{
        bulk::FileTask,
        estimate::{Budget, Rate, Reservation, Tally, tally_batch},
        ids::JobId,
        lookalike,
        plan::{Plan, PlannedBatch, REJECTS_HEADER, write_reject},
        rows::RowReader,
        template::Template,
    },
    fanout,
    files::{FileError, ObjectStore, keys},
    queue::{BatchQueue, QueueEntry},
    schedule::StartSchedules,
    store::{
        BatchState, CreateJob, IntakeCounts, JobBudget, JobControl, JobRecord, JobSpec,
        LedgerEntry, PlanCheckpoint, PlanClaim, PlanEnd, PlanRecord, PlanTallies,
        plans::{self, MAX_BATCHES_PER_JOB},
    },
};
use tracing::{error, info, warn};

use crate::{App, FilesStore, Pricing};

/// Added to the invocation's deadline: the claim must outlive any work this invocation does.
const LEASE_MARGIN: chrono::Duration = chrono::Duration::seconds(5);

/// Reading stops this long before the deadline, leaving time to write the last batches, the
/// checkpoint or the rejects file, commit and enqueue.
const STOP_BEFORE_DEADLINE: chrono::Duration = chrono::Duration::seconds(120);

/// How a plan task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanOutcome {
    /// The job is committed and every batch enqueued.
    Committed,
    /// Planning failed for good; nothing was enqueued.
    Failed(String),
    /// A checkpoint was saved and a task to go on was enqueued.
    Continued,
    /// Ended before, or another invocation holds it: nothing to do now.
    AlreadyEnded,
    Busy,
    /// No plan with this id: the task is malformed.
    Missing,
    /// Something failed that a later delivery may get past.
    Retry(String),
}

impl PlanOutcome {
    /// Whether the SQS record should come back.
    pub fn retry(&self) -> bool {
        matches!(self, Self::Busy | Self::Missing | Self::Retry(_))
    }
}

/// Why a step stopped.
enum Stop {
    Fail(String),
    Retry(String),
}

fn retry(what: &str, e: impl std::fmt::Display) -> Stop {
    Stop::Retry(format!("{what}: {e}"))
}

/// The claim this invocation holds.
struct Claim<'a> {
    job_id: &'a JobId,
    attempt: u32,
}

/// Where reading the file got to.
enum Read {
    /// Stopped early (row limit or deadline) at this checkpoint.
    Stopped(PlanCheckpoint),
    /// Read to the end.
    Finished(PlanCheckpoint),
}

pub async fn plan<
    S: FilesStore,
    F: ObjectStore,
    Q: BatchQueue,
    T: BatchQueue,
    C: StartSchedules,
>(
    job_id: &JobId,
    app: &App<S, F, Q, T, C>,
    deadline: DateTime<Utc>,
) -> PlanOutcome {
    let lease_until = deadline + LEASE_MARGIN;
    let record = match app.store.claim_plan(job_id, lease_until, Utc::now()).await {
        Ok(PlanClaim::Claimed { plan, .. }) => *plan,
        Ok(PlanClaim::Busy { lease_until }) => {
            info!(%lease_until, "another invocation holds the plan; retrying later");
            return PlanOutcome::Busy;
        }
        Ok(PlanClaim::Ended(state)) => {
            info!(state = state.as_str(), "the plan has ended; nothing to do");
            return PlanOutcome::AlreadyEnded;
        }
        Ok(PlanClaim::Missing) => {
            error!("no plan for this job; the task goes to the dead-letter queue");
            return PlanOutcome::Missing;
        }
        Err(e) => return PlanOutcome::Retry(format!("claiming the plan: {e}")),
    };
    let claim = Claim {
        job_id,
        attempt: record.attempts,
    };
    match app.store.get_job(job_id).await {
        Ok(Some(job)) => {
            info!("the job was committed by an earlier claim; finishing its enqueue");
            return finish(app, &claim, &job, &record.checkpoint, deadline).await;
        }
        Ok(None) => {}
        Err(e) => return PlanOutcome::Retry(format!("reading the job: {e}")),
    }
    let outcome = match read(app, &claim, &record, deadline).await {
        Ok(Read::Stopped(checkpoint)) => {
            hand_on(app, &claim, &record.checkpoint, &checkpoint).await
        }
        Ok(Read::Finished(checkpoint)) => commit(app, &claim, &record, checkpoint, deadline).await,
        Err(stop) => Err(stop),
    };
    match outcome {
        Ok(done) => done,
        Err(Stop::Retry(reason)) => {
            warn!(%reason, "planning stopped; the next delivery resumes from the last checkpoint");
            PlanOutcome::Retry(reason)
        }
        Err(Stop::Fail(reason)) => fail(app, &claim, &record.checkpoint, reason).await,
    }
}

/// Reads the file from the plan's checkpoint until its end, the row limit or the deadline,
/// writing ledger items as batches fill up and rejects into a segment of the rejects file.
async fn read<S: FilesStore, F: ObjectStore, Q: BatchQueue, T: BatchQueue, C>(
    app: &App<S, F, Q, T, C>,
    claim: &Claim<'_>,
    record: &PlanRecord,
    deadline: DateTime<Utc>,
) -> Result<Read, Stop> {
    let template =
        Template::parse(&record.template).map_err(|e| Stop::Fail(format!("text {e}")))?;
    let header = (!record.header.is_empty()).then_some(record.header.as_slice());
    let (phone, bound) = record
        .layout
        .bind(header, &template)
        .map_err(|e| Stop::Fail(e.to_string()))?;
    let mut plan = Plan::new(phone, bound, app.settings.batch_size)
        .with_smart_encoding(record.smart_encoding)
        .with_zone_windows(record.quiet_hours.is_some())
        .with_skip_landlines(record.skip_landlines)
        .with_sender(&record.from);
    let from = record.checkpoint.clone();
    if from.counts.rows > 0 {
        let saved = read_whole(&app.files, &checkpoint_key(claim.job_id, from.records)).await?;
        plan.restore(&saved, from.counts)
            .map_err(|e| Stop::Retry(format!("the checkpoint: {e}")))?;
        info!(
            rows = from.counts.rows,
            batches = from.batches,
            "resuming from a checkpoint"
        );
    }
    let mut reader = RowReader::resume(
        record.layout.format,
        record.header.clone(),
        from.records,
        from.offset,
    );
    let mut ledger = Ledger {
        job_id: claim.job_id,
        next_batch: from.batches,
        personalised: template.is_personalised(),
        rejects: String::new(),
        budget: record.budget,
        tallies: from.tallies.clone(),
    };
    let upload_id = uuid::Uuid::parse_str(&record.upload_id)
        .map_err(|_| Stop::Fail("the job names no valid upload".into()))?;
    let upload = keys::upload(&upload_id);
    let mut body = app
        .files
        .read(&upload, &record.etag, from.offset, None)
        .await
        .map_err(upload_problem)?;
    let stop_at = deadline - STOP_BEFORE_DEADLINE;
    let limit = app.settings.rows_per_invocation;
    let mut rows = 0u64;
    let mut finished = true;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(upload_problem)?;
        let stopped = reader.feed_until(&chunk, &mut |row| {
            plan.row(row);
            rows += 1;
            if rows >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        ledger.write(app, &mut plan, false).await?;
        if stopped.is_some() || Utc::now() >= stop_at {
            finished = false;
            break;
        }
    }
    if finished {
        reader.finish(&mut |row| plan.row(row));
    }
    ledger.write(app, &mut plan, true).await?;
    let mut checkpoint = PlanCheckpoint {
        records: reader.records(),
        offset: reader.offset(),
        batches: ledger.next_batch,
        rejects_segments: from.rejects_segments,
        counts: plan.counts(),
        tallies: std::mem::take(&mut ledger.tallies),
    };
    if !ledger.rejects.is_empty() {
        app.files
            .put(
                &keys::rejects_segment(claim.job_id, checkpoint.rejects_segments),
                ledger.rejects.into_bytes(),
                "text/csv",
            )
            .await
            .map_err(|e| retry("writing rejects", e))?;
        checkpoint.rejects_segments += 1;
    }
    info!(
        rows,
        read_to = checkpoint.offset,
        batches = checkpoint.batches,
        finished,
        "rows read"
    );
    if finished {
        return Ok(Read::Finished(checkpoint));
    }
    app.files
        .put(
            &checkpoint_key(claim.job_id, checkpoint.records),
            plan.checkpoint(),
            "application/octet-stream",
        )
        .await
        .map_err(|e| retry("writing the checkpoint", e))?;
    Ok(Read::Stopped(checkpoint))
}

/// Batches and rejects as the plan produces them.
struct Ledger<'a> {
    job_id: &'a JobId,
    next_batch: u32,
    personalised: bool,
    /// Reject lines of this invocation.
    rejects: String,
    /// The job's caps; none: its batches reserve nothing and nothing is tallied.
    budget: Budget,
    /// A capped plan's tallies over the batches written, from the checkpoint on.
    tallies: PlanTallies,
}

impl Ledger<'_> {
    /// Screens what waits (all of it when `last`, which also closes every open batch), writes
    /// the batches that are ready and keeps the rejects.
    async fn write<S: FilesStore, F, Q, T, C>(
        &mut self,
        app: &App<S, F, Q, T, C>,
        plan: &mut Plan,
        last: bool,
    ) -> Result<(), Stop> {
        plans::screen_plan(&app.store, plan, last)
            .await
            .map_err(|e| retry("reading the suppression list", e))?;
        for reject in plan.take_rejects() {
            write_reject(&reject, &mut self.rejects);
        }
        let ready = plan.take_ready();
        if ready.is_empty() {
            return Ok(());
        }
        if self.next_batch as usize + ready.len() > MAX_BATCHES_PER_JOB as usize {
            return Err(Stop::Fail(format!(
                "the file needs more than {MAX_BATCHES_PER_JOB} Plivo requests (one per \
                 distinct text, per {} recipients); split it into several jobs",
                app.settings.batch_size
            )));
        }
        let reservations = self.reserve(&app.pricing, &ready).await?;
        let entries: Vec<LedgerEntry> = ready
            .into_iter()
            .zip(reservations)
            .map(|(batch, reservation)| {
                let index = self.next_batch;
                self.next_batch += 1;
                let entry = if self.personalised {
                    LedgerEntry::pending_with_text(index, batch.recipients, batch.text)
                } else {
                    LedgerEntry::pending(index, batch.recipients)
                };
                LedgerEntry {
                    reservation,
                    ..entry
                }
            })
            .collect();
        match app
            .store
            .put_batches(self.job_id, &entries, Utc::now())
            .await
        {
            Ok(CreateJob::Created) => Ok(()),
            Ok(CreateJob::Conflict) => Err(Stop::Retry(
                "a ledger item moved on: another claim got further".into(),
            )),
            Err(e) => Err(retry("writing the ledger", e)),
        }
    }
}

impl Ledger<'_> {
    /// Each ready batch's reservation, as a list's batches get theirs at intake (none
    /// without a cap), and its tallies added to the plan's. The reservation is written with
    /// the batch, since the ledger is final once the job is committed; so a country is priced
    /// when its first batch is written (with `max_cost`), and that rate kept for the rest.
    async fn reserve(
        &mut self,
        pricing: &Pricing,
        ready: &[PlannedBatch],
    ) -> Result<Vec<Option<Reservation>>, Stop> {
        if !self.budget.is_set() {
            return Ok(vec![None; ready.len()]);
        }
        // Each recipient with the segments of the text it is sent: texts vary by row.
        let tallies: Vec<BTreeMap<&'static str, Tally>> = ready
            .iter()
            .map(|batch| tally_batch(&batch.recipients, batch.text.segments() as u64))
            .collect();
        if self.budget.max_cost.is_some() {
            let unpriced: BTreeSet<&str> = tallies
                .iter()
                .flat_map(|t| t.keys().copied())
                .filter(|country| !self.tallies.rates.contains_key(*country))
                .collect();
            if !unpriced.is_empty() {
                for (country, rate) in pricing.rates(unpriced).await {
                    // Not kept: the task comes back and the country is asked again, rather
                    // than the job failing for a price Plivo did not give now.
                    if let Rate::Unavailable(why) = &rate {
                        return Err(Stop::Retry(format!(
                            "max_cost cannot be checked now: Plivo's price for {country} could \
                             not be read: {why}"
                        )));
                    }
                    self.tallies.rates.insert(country, rate);
                }
            }
        }
        Ok(tallies
            .iter()
            .map(|batch| {
                self.tallies.add(batch);
                Some(Reservation::of(&self.budget, batch, &self.tallies.rates))
            })
            .collect())
    }
}

/// Saves the checkpoint with the lease released, then enqueues a task that goes on from it.
async fn hand_on<S: FilesStore, F: ObjectStore, Q, T: BatchQueue, C>(
    app: &App<S, F, Q, T, C>,
    claim: &Claim<'_>,
    previous: &PlanCheckpoint,
    checkpoint: &PlanCheckpoint,
) -> Result<PlanOutcome, Stop> {
    let now = Utc::now();
    // A lease already over: the task handed on may claim the plan at once.
    let released = now - chrono::Duration::seconds(1);
    let saved = app
        .store
        .save_checkpoint(claim.job_id, claim.attempt, checkpoint, released, now)
        .await
        .map_err(|e| retry("saving the checkpoint", e))?;
    if !saved {
        warn!("the claim was taken over; leaving the plan to its new holder");
        return Ok(PlanOutcome::AlreadyEnded);
    }
    if previous.counts.rows > 0 {
        // No claim can resume from it any more; the lifecycle rule would remove it too.
        let _ = app
            .files
            .delete(&checkpoint_key(claim.job_id, previous.records))
            .await;
    }
    let task = FileTask::Plan {
        job_id: claim.job_id.clone(),
    };
    let body = serde_json::to_string(&task).map_err(|e| retry("encoding the task", e))?;
    let refused = app
        .tasks
        .send_batch(&[QueueEntry {
            id: "0".into(),
            body,
            delay_seconds: 0,
        }])
        .await
        .map_err(|e| retry("enqueueing the next task", e))?;
    if !refused.is_empty() {
        // The record comes back instead; its next delivery resumes from the checkpoint.
        return Err(Stop::Retry("the next task was refused by SQS".into()));
    }
    info!(
        rows = checkpoint.counts.rows,
        "checkpoint saved; planning goes on in a new invocation"
    );
    Ok(PlanOutcome::Continued)
}

/// At the end of the file: the rejects file, then the job item, then its batches.
async fn commit<S: FilesStore, F: ObjectStore, Q: BatchQueue, T: BatchQueue, C: StartSchedules>(
    app: &App<S, F, Q, T, C>,
    claim: &Claim<'_>,
    record: &PlanRecord,
    checkpoint: PlanCheckpoint,
    deadline: DateTime<Utc>,
) -> Result<PlanOutcome, Stop> {
    write_rejects_file(&app.files, claim.job_id, checkpoint.rejects_segments).await?;
    let counts = checkpoint.counts;
    if counts.accepted == 0 {
        let reason = format!(
            "no valid recipient is left: {} rows, {} rejected (see the rejects file), {} \
             duplicates, {} opted out, {} landlines skipped",
            counts.rows,
            counts.rejected,
            counts.duplicates,
            counts.suppressed,
            counts.landlines_skipped
        );
        return Ok(fail(app, claim, &checkpoint, reason).await);
    }
    // The job's text: what batches without a text of their own send (a file without
    // placeholders), so smart-encoded as each rendered text was.
    let text = if record.smart_encoding {
        lookalike::replace(&record.template)
    } else {
        std::borrow::Cow::Borrowed(record.template.as_str())
    };
    let text = MessageText::parse(text).map_err(|e| Stop::Fail(format!("text {e}")))?;
    // The whole file against its cap, before the job exists: over it, nothing is enqueued.
    let budget = if record.budget.is_set() {
        let estimate = checkpoint.tallies.estimate();
        if let Err(over) = record.budget.check(&estimate) {
            info!(%over, "job refused: over its cap");
            return Ok(fail(app, claim, &checkpoint, over.to_string()).await);
        }
        Some(JobBudget {
            caps: record.budget,
            // Each batch's is on its ledger item already, written with the batch; the
            // spec's list serves only a job whose ledger is written from it.
            reservations: Vec::new(),
        })
    } else {
        None
    };
    let spec = JobSpec {
        budget,
        quiet_hours: record.quiet_hours,
        expires_at: record.expires_at,
        send_at: record.send_at,
        job_id: claim.job_id.clone(),
        text,
        from: record.from.clone(),
        reference: record.reference.clone(),
        counts: IntakeCounts {
            accepted: counts.accepted,
            duplicates: counts.duplicates,
            suppressed: counts.suppressed,
            invalid: counts.rejected,
            landlines: counts.landlines,
            landlines_skipped: counts.landlines_skipped,
        },
        callback_url: record.callback_url.clone(),
        batches: Vec::new(),
        fallback: false,
    };
    let job = JobRecord {
        batches_total: checkpoint.batches,
        distinct_texts: counts.distinct_texts,
        segments_total: counts.segments,
        ..JobRecord::new(&spec, Utc::now())
    };
    let job = match app.store.commit_job(&job).await {
        Ok(CreateJob::Created) => job,
        // Committed meanwhile by a claim that took over: enqueue from what it committed.
        Ok(CreateJob::Conflict) => match app.store.get_job(claim.job_id).await {
            Ok(Some(committed)) => committed,
            Ok(None) => return Err(Stop::Retry("the job item vanished".into())),
            Err(e) => return Err(retry("reading the job", e)),
        },
        Err(e) => return Err(retry("committing the job", e)),
    };
    info!(
        batches = job.batches_total,
        accepted = counts.accepted,
        distinct_texts = counts.distinct_texts,
        "job committed"
    );
    let _ = app
        .files
        .delete(&checkpoint_key(claim.job_id, record.checkpoint.records))
        .await;
    Ok(finish(app, claim, &job, &checkpoint, deadline).await)
}

/// Enqueues every batch of the committed job not yet enqueued, then ends the plan.
async fn finish<S: FilesStore, F, Q: BatchQueue, T: BatchQueue, C: StartSchedules>(
    app: &App<S, F, Q, T, C>,
    claim: &Claim<'_>,
    job: &JobRecord,
    checkpoint: &PlanCheckpoint,
    deadline: DateTime<Utc>,
) -> PlanOutcome {
    // A scheduled job's batches wait for its start, which enqueues them.
    if let (JobControl::Scheduled, Some(at)) = (job.control, job.send_at) {
        let arranged = crate::arrange_start(claim.job_id, at, app, deadline).await;
        if arranged.retry() {
            return PlanOutcome::Retry(format!("arranging the job's start: {arranged:?}"));
        }
        return end(app, claim, checkpoint).await;
    }
    let ledger = match app.store.ledger(claim.job_id).await {
        Ok(ledger) => ledger,
        Err(e) => return PlanOutcome::Retry(format!("reading the ledger: {e}")),
    };
    let messages: Vec<_> = ledger
        .into_iter()
        .filter(|e| e.state == BatchState::Pending && !e.enqueued)
        .map(|e| fanout::batch_message(job, e))
        .collect();
    let total = messages.len();
    let failed = fanout::enqueue_batches(&app.batches, &app.store, claim.job_id, messages).await;
    info!(enqueued = total - failed, failed, "batches enqueued");
    if failed > 0 {
        return PlanOutcome::Retry(format!("{failed} batches could not be enqueued"));
    }
    end(app, claim, checkpoint).await
}

/// Ends the plan `committed`: its job is written and its batches enqueued or scheduled.
async fn end<S: FilesStore, F, Q, T, C>(
    app: &App<S, F, Q, T, C>,
    claim: &Claim<'_>,
    checkpoint: &PlanCheckpoint,
) -> PlanOutcome {
    match app
        .store
        .end_plan(
            claim.job_id,
            claim.attempt,
            &PlanEnd::Committed,
            checkpoint,
            Utc::now(),
        )
        .await
    {
        Ok(true) => PlanOutcome::Committed,
        // Taken over after its lease: the new holder finds everything enqueued and ends it.
        Ok(false) => PlanOutcome::AlreadyEnded,
        Err(e) => PlanOutcome::Retry(format!("ending the plan: {e}")),
    }
}

async fn fail<S: FilesStore, F, Q, T, C>(
    app: &App<S, F, Q, T, C>,
    claim: &Claim<'_>,
    checkpoint: &PlanCheckpoint,
    reason: String,
) -> PlanOutcome {
    warn!(%reason, "planning failed; nothing was enqueued");
    let end = PlanEnd::Failed {
        reason: reason.clone(),
    };
    match app
        .store
        .end_plan(claim.job_id, claim.attempt, &end, checkpoint, Utc::now())
        .await
    {
        Ok(true) => PlanOutcome::Failed(reason),
        Ok(false) => PlanOutcome::AlreadyEnded,
        Err(e) => PlanOutcome::Retry(format!("recording the failure: {e}")),
    }
}

/// The rejects file from this plan's segments: a header line and every segment's lines in
/// order, uploaded in parts of at least S3's minimum. No segment, no file.
async fn write_rejects_file<F: ObjectStore>(
    files: &F,
    job_id: &JobId,
    segments: u32,
) -> Result<(), Stop> {
    if segments == 0 {
        return Ok(());
    }
    let key = keys::rejects(job_id);
    let mut part = REJECTS_HEADER.as_bytes().to_vec();
    if segments == 1 {
        part.extend(read_whole(files, &keys::rejects_segment(job_id, 0)).await?);
        files
            .put(&key, part, "text/csv")
            .await
            .map_err(|e| retry("writing the rejects file", e))?;
    } else {
        let upload = files
            .start_multipart(&key, "text/csv")
            .await
            .map_err(|e| retry("starting the rejects file", e))?;
        let mut number = 1;
        for segment in 0..segments {
            part.extend(read_whole(files, &keys::rejects_segment(job_id, segment)).await?);
            if part.len() >= PART_BYTES || segment + 1 == segments {
                files
                    .upload_part(&key, &upload, number, std::mem::take(&mut part))
                    .await
                    .map_err(|e| retry("writing the rejects file", e))?;
                number += 1;
            }
        }
        files
            .complete_multipart(&key, &upload)
            .await
            .map_err(|e| retry("completing the rejects file", e))?;
    }
    for segment in 0..segments {
        let _ = files.delete(&keys::rejects_segment(job_id, segment)).await;
    }
    Ok(())
}

/// Parts of the rejects file: above S3's 5 MiB minimum for all but the last.
const PART_BYTES: usize = 8 * 1024 * 1024;

/// The checkpoint saved after `records` records: named by them, so a claim that resumes from
/// an older checkpoint item never reads a newer file.
fn checkpoint_key(job_id: &JobId, records: u64) -> String {
    format!("{}-{records:012}", keys::checkpoint(job_id))
}

async fn read_whole<F: ObjectStore>(files: &F, key: &str) -> Result<Vec<u8>, Stop> {
    let info = files
        .head(key)
        .await
        .map_err(|e| retry("reading a planning file", e))?
        .ok_or_else(|| Stop::Retry(format!("{key} is missing")))?;
    let mut body = files
        .read(key, &info.etag, 0, None)
        .await
        .map_err(|e| retry("reading a planning file", e))?;
    let mut bytes = Vec::with_capacity(info.size as usize);
    while let Some(chunk) = body.next().await {
        bytes.extend_from_slice(&chunk.map_err(|e| retry("reading a planning file", e))?);
    }
    Ok(bytes)
}

/// What a failure to read the upload means for the plan.
fn upload_problem(e: FileError) -> Stop {
    match e {
        FileError::Missing { .. } => Stop::Fail(
            "the upload is gone (uploads expire; see docs/api.md): upload the file again".into(),
        ),
        FileError::Changed { .. } => {
            Stop::Fail("the upload was replaced after the job was accepted: start a new job".into())
        }
        other => retry("reading the upload", other),
    }
}
