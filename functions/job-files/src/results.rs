//! Building a job's results file (docs/architecture.md, "The results file").
//!
//! | step | what can go wrong | then |
//! |---|---|---|
//! | claim the generation (lease to the deadline) | another invocation holds it, or it ended | record dropped: the holder goes on |
//! | start the multipart upload, once per generation | S3 or the store fails | record returned, retried |
//! | read a page of the ledger and its messages' reports, write rows | a store error | record returned; the next claim resumes from the last checkpoint |
//! | a part's worth of rows | | part uploaded, checkpoint saved (next batch, rows, parts) |
//! | deadline near | | checkpoint released, a task to go on enqueued |
//! | every batch written | | last part, upload completed, build `ready` |
//!
//! A claim that dies after uploading a part but before saving its checkpoint leaves a part
//! the next claim uploads again under the same number, replacing it: the file has each row
//! once whatever the interleaving.

use chrono::{DateTime, Utc};
use sms_core::{
    domain::{bulk::FileTask, ids::JobId},
    files::{MAX_PART_NUMBER, MIN_PART_SIZE, ObjectStore, keys},
    queue::{BatchQueue, QueueEntry},
    store::{ResultsCheckpoint, ResultsClaim, ResultsEnd},
};
use tracing::{error, info, warn};

use crate::{
    App, FilesStore,
    outcomes::{RESULTS_HEADER, batch_outcomes, write_row},
};

/// Ledger items read at once: up to 20,000 rows at the default batch size.
const PAGE_BATCHES: u32 = 20;

/// Added to the invocation's deadline: the claim must outlive any work this invocation does.
const LEASE_MARGIN: chrono::Duration = chrono::Duration::seconds(5);

/// Writing stops this long before the deadline, leaving time to hand on.
const STOP_BEFORE_DEADLINE: chrono::Duration = chrono::Duration::seconds(60);

/// How a results task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultsOutcome {
    /// The file is complete and the build `ready`.
    Ready { rows: u64 },
    /// The build failed for good.
    Failed(String),
    /// A checkpoint was saved and a task to go on was enqueued.
    Continued,
    /// The generation ended, a newer one replaced it, or another invocation holds it.
    NothingToDo,
    /// No build for this job: the task is malformed.
    Missing,
    /// Something failed that a later delivery may get past.
    Retry(String),
}

impl ResultsOutcome {
    /// Whether the SQS record should come back.
    pub fn retry(&self) -> bool {
        matches!(self, Self::Missing | Self::Retry(_))
    }
}

/// The claim this invocation holds.
struct Claim<'a> {
    job_id: &'a JobId,
    generation: u32,
    attempt: u32,
}

fn retry(what: &str, e: impl std::fmt::Display) -> ResultsOutcome {
    ResultsOutcome::Retry(format!("{what}: {e}"))
}

pub async fn build_results<S: FilesStore, F: ObjectStore, Q, T: BatchQueue, C>(
    job_id: &JobId,
    generation: u32,
    app: &App<S, F, Q, T, C>,
    deadline: DateTime<Utc>,
) -> ResultsOutcome {
    let lease_until = deadline + LEASE_MARGIN;
    let record = match app
        .store
        .claim_results(job_id, generation, lease_until, Utc::now())
        .await
    {
        Ok(ResultsClaim::Claimed { record, .. }) => *record,
        Ok(ResultsClaim::Busy { lease_until }) => {
            info!(%lease_until, "another invocation is building this file");
            return ResultsOutcome::NothingToDo;
        }
        Ok(ResultsClaim::Ended) => {
            info!("this build ended or was replaced; nothing to do");
            return ResultsOutcome::NothingToDo;
        }
        Ok(ResultsClaim::Missing) => {
            error!("no results build for this job; the task goes to the dead-letter queue");
            return ResultsOutcome::Missing;
        }
        Err(e) => return retry("claiming the build", e),
    };
    let claim = Claim {
        job_id,
        generation,
        attempt: record.attempts,
    };
    match build(app, &claim, record.checkpoint, deadline, lease_until).await {
        Ok(outcome) => outcome,
        Err(Stop::End(outcome)) => outcome,
        Err(Stop::Fail(reason)) => {
            error!(%reason, "the results file cannot be built");
            let ended = app
                .store
                .end_results(
                    job_id,
                    generation,
                    claim.attempt,
                    &ResultsEnd::Failed {
                        reason: reason.clone(),
                    },
                    &ResultsCheckpoint::default(),
                    Utc::now(),
                )
                .await;
            match ended {
                Ok(_) => ResultsOutcome::Failed(reason),
                Err(e) => retry("recording the failure", e),
            }
        }
    }
}

/// Why a step stopped: with this outcome, or for good (the build fails).
enum Stop {
    End(ResultsOutcome),
    Fail(String),
}

impl<E: std::fmt::Display> From<(&str, E)> for Stop {
    fn from((what, e): (&str, E)) -> Self {
        Stop::End(retry(what, e))
    }
}

/// The rows not in a part yet, and where they end.
struct Pending {
    text: String,
    next_batch: u32,
    rows: u64,
}

async fn build<S: FilesStore, F: ObjectStore, Q, T: BatchQueue, C>(
    app: &App<S, F, Q, T, C>,
    claim: &Claim<'_>,
    mut saved: ResultsCheckpoint,
    deadline: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<ResultsOutcome, Stop> {
    let key = keys::results(claim.job_id);
    let job = app
        .store
        .get_job(claim.job_id)
        .await
        .map_err(|e| Stop::from(("reading the job", e)))?
        .ok_or_else(|| Stop::Fail("the job has no committed ledger".into()))?;
    let upload = match saved.upload.clone() {
        Some(upload) => upload,
        None => {
            let upload = app
                .files
                .start_multipart(&key, "text/csv")
                .await
                .map_err(|e| Stop::from(("starting the file", e)))?;
            saved.upload = Some(upload.clone());
            save(app, claim, &saved, lease_until).await?;
            upload
        }
    };
    let mut pending = Pending {
        text: if saved.parts == 0 {
            RESULTS_HEADER.to_owned()
        } else {
            String::new()
        },
        next_batch: saved.next_batch,
        rows: saved.rows,
    };
    while pending.next_batch < job.batches_total {
        if Utc::now() + STOP_BEFORE_DEADLINE > deadline {
            return hand_on(app, claim, &saved).await;
        }
        let end = job
            .batches_total
            .min(pending.next_batch.saturating_add(PAGE_BATCHES));
        write_page(app, claim.job_id, pending.next_batch..end, &mut pending).await?;
        if pending.text.len() >= MIN_PART_SIZE {
            saved = upload_part(app, &key, &upload, &saved, &mut pending).await?;
            save(app, claim, &saved, lease_until).await?;
        }
    }
    if !pending.text.is_empty() {
        saved = upload_part(app, &key, &upload, &saved, &mut pending).await?;
    }
    app.files
        .complete_multipart(&key, &upload)
        .await
        .map_err(|e| Stop::from(("completing the file", e)))?;
    let ended = app
        .store
        .end_results(
            claim.job_id,
            claim.generation,
            claim.attempt,
            &ResultsEnd::Ready,
            &saved,
            Utc::now(),
        )
        .await
        .map_err(|e| Stop::from(("recording the file as ready", e)))?;
    if !ended {
        warn!("the build was taken over before it ended; leaving it to its new holder");
        return Ok(ResultsOutcome::NothingToDo);
    }
    info!(rows = saved.rows, parts = saved.parts, "results file ready");
    Ok(ResultsOutcome::Ready { rows: saved.rows })
}

/// Appends the rows of batches `batches` to `pending`.
async fn write_page<S: FilesStore, F, Q, T, C>(
    app: &App<S, F, Q, T, C>,
    job_id: &JobId,
    batches: std::ops::Range<u32>,
    pending: &mut Pending,
) -> Result<(), Stop> {
    let page = app
        .store
        .ledger_range(job_id, batches.clone())
        .await
        .map_err(|e| Stop::from(("reading the ledger", e)))?;
    if page.len() != batches.len() {
        return Err(Stop::Fail(format!(
            "the ledger lacks batches of {}..{}",
            batches.start, batches.end
        )));
    }
    let uuids: Vec<String> = page
        .iter()
        .flat_map(|e| e.message_uuids.iter().cloned())
        .collect();
    let reported = app
        .store
        .reported(&uuids)
        .await
        .map_err(|e| Stop::from(("reading the reports", e)))?;
    for entry in &page {
        for outcome in batch_outcomes(entry, &reported) {
            write_row(&outcome, &mut pending.text);
            pending.rows += 1;
        }
    }
    pending.next_batch = batches.end;
    Ok(())
}

/// Uploads the pending rows as the next part; the checkpoint they bring the build to.
async fn upload_part<S, F: ObjectStore, Q, T, C>(
    app: &App<S, F, Q, T, C>,
    key: &str,
    upload: &str,
    saved: &ResultsCheckpoint,
    pending: &mut Pending,
) -> Result<ResultsCheckpoint, Stop> {
    let part = saved.parts + 1;
    if part > MAX_PART_NUMBER {
        return Err(Stop::Fail(format!(
            "the file would need more than {MAX_PART_NUMBER} parts"
        )));
    }
    let body = std::mem::take(&mut pending.text).into_bytes();
    app.files
        .upload_part(key, upload, part, body)
        .await
        .map_err(|e| Stop::from(("uploading a part", e)))?;
    Ok(ResultsCheckpoint {
        next_batch: pending.next_batch,
        rows: pending.rows,
        parts: part,
        upload: Some(upload.to_owned()),
    })
}

async fn save<S: FilesStore, F, Q, T, C>(
    app: &App<S, F, Q, T, C>,
    claim: &Claim<'_>,
    checkpoint: &ResultsCheckpoint,
    lease_until: DateTime<Utc>,
) -> Result<(), Stop> {
    let saved = app
        .store
        .save_results_checkpoint(
            claim.job_id,
            claim.generation,
            claim.attempt,
            checkpoint,
            lease_until,
            Utc::now(),
        )
        .await
        .map_err(|e| Stop::from(("saving the checkpoint", e)))?;
    if saved {
        Ok(())
    } else {
        warn!("the build was taken over; leaving it to its new holder");
        Err(Stop::End(ResultsOutcome::NothingToDo))
    }
}

/// Releases the claim at `saved` and enqueues a task to go on from there.
async fn hand_on<S: FilesStore, F, Q, T: BatchQueue, C>(
    app: &App<S, F, Q, T, C>,
    claim: &Claim<'_>,
    saved: &ResultsCheckpoint,
) -> Result<ResultsOutcome, Stop> {
    // A lease already over: the task handed on may claim the build at once.
    save(app, claim, saved, Utc::now() - chrono::Duration::seconds(1)).await?;
    let task = FileTask::Results {
        job_id: claim.job_id.clone(),
        generation: claim.generation,
    };
    let body = serde_json::to_string(&task).map_err(|e| Stop::from(("encoding the task", e)))?;
    let refused = app
        .tasks
        .send_batch(&[QueueEntry {
            id: "0".into(),
            body,
            delay_seconds: 0,
        }])
        .await
        .map_err(|e| Stop::from(("enqueueing the next task", e)))?;
    if !refused.is_empty() {
        // The record comes back instead; its next delivery resumes from the checkpoint.
        return Err(Stop::End(ResultsOutcome::Retry(
            "the next task was refused by SQS".into(),
        )));
    }
    info!(
        rows = saved.rows,
        "checkpoint saved; the file goes on in a new invocation"
    );
    Ok(ResultsOutcome::Continued)
}
