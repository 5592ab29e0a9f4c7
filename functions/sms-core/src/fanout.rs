//! Fanning a committed job's batches out through the batch queue (docs/architecture.md, "A
//! bulk job", step 4): one queue message per batch, `SendMessageBatch` ten at a time,
//! re-sending only what SQS did not take, and each batch marked enqueued in the ledger once
//! SQS has it. Used by send-bulk (a job from a request) and job-files (a job from an upload).
//! A scheduled job enqueues none of them: only the task that arranges its start.

use futures::{StreamExt, stream};
use tracing::{error, warn};

use crate::{
    domain::{
        bulk::{BatchMessage, FileTask},
        ids::JobId,
    },
    queue::{BatchQueue, QueueEntry, plan_calls},
    retry::RetryPolicy,
    store::{JobRecord, JobStore, LedgerEntry},
};

/// SendMessageBatch calls in flight at once.
const ENQUEUE_CONCURRENCY: usize = 8;

/// The queue message of a ledger entry of `job`: the entry's own text if it has one.
pub fn batch_message(job: &JobRecord, entry: LedgerEntry) -> BatchMessage {
    BatchMessage {
        expires_at: job.expires_at,
        quiet_hours: job.quiet_hours,
        job_id: job.job_id.clone(),
        batch: entry.batch,
        from: job.from.clone(),
        text: entry.text.unwrap_or_else(|| job.text.clone()),
        recipients: entry.recipients,
        callback_url: job.callback_url.clone(),
        reservation: entry.reservation,
        fallback: job.fallback,
    }
}

/// Enqueues `messages` (batches of `job_id`) and marks each enqueued; returns how many could
/// not be enqueued after retries. A batch enqueued twice (a retry after a lost mark) is
/// harmless: the ledger's claim lets only one delivery send it.
pub async fn enqueue_batches<Q: BatchQueue, S: JobStore>(
    queue: &Q,
    store: &S,
    job_id: &JobId,
    messages: Vec<BatchMessage>,
) -> usize {
    let mut entries = Vec::with_capacity(messages.len());
    let mut unencoded = 0;
    for message in messages {
        match serde_json::to_string(&message) {
            Ok(body) => entries.push(QueueEntry {
                id: message.batch.to_string(),
                body,
                delay_seconds: 0,
            }),
            Err(e) => {
                error!(error = %e, batch = message.batch, "a batch message could not be encoded");
                unencoded += 1;
            }
        }
    }
    let calls: Vec<_> = plan_calls(&entries)
        .into_iter()
        .map(|call| send_with_retries(queue, store, call, job_id))
        .collect();
    let failed: usize = stream::iter(calls)
        .buffer_unordered(ENQUEUE_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .sum();
    failed + unencoded
}

/// One SendMessageBatch, re-sending only the entries SQS did not take.
async fn send_with_retries<Q: BatchQueue, S: JobStore>(
    queue: &Q,
    store: &S,
    call: &[QueueEntry],
    job_id: &JobId,
) -> usize {
    let retry = RetryPolicy {
        max_attempts: 5,
        ..RetryPolicy::default()
    };
    let mut remaining: Vec<QueueEntry> = call.to_vec();
    for attempt in 1..=retry.max_attempts {
        let refused = match queue.send_batch(&remaining).await {
            Ok(ids) => ids,
            Err(e) => {
                warn!(error = %e, attempt, "SendMessageBatch failed");
                remaining.iter().map(|e| e.id.clone()).collect()
            }
        };
        for entry in remaining.iter().filter(|e| !refused.contains(&e.id)) {
            if let Ok(batch) = entry.id.parse::<u32>()
                && let Err(e) = store.mark_enqueued(job_id, batch).await
            {
                // Only costs a duplicate queue message on a resumed request; the ledger's
                // claim keeps that from sending twice.
                warn!(error = %e, batch, "a batch could not be marked enqueued");
            }
        }
        remaining.retain(|e| refused.contains(&e.id));
        if remaining.is_empty() {
            return 0;
        }
        if attempt < retry.max_attempts {
            tokio::time::sleep(retry.delay(attempt)).await;
        }
    }
    remaining.len()
}

/// Puts one task on the files queue, to be received after `delay_seconds`; `what` names it
/// in the error.
async fn send_task<T: BatchQueue>(
    tasks: &T,
    task: &FileTask,
    delay_seconds: u32,
    what: &str,
) -> Result<(), String> {
    let body = serde_json::to_string(task).map_err(|e| e.to_string())?;
    match tasks
        .send_batch(&[QueueEntry {
            id: "0".into(),
            body,
            delay_seconds,
        }])
        .await
    {
        Ok(refused) if refused.is_empty() => Ok(()),
        Ok(_) => Err(format!("SQS refused the {what} task")),
        Err(e) => Err(e.to_string()),
    }
}

/// Puts the task that arranges a scheduled job's start on the files queue (job-files makes
/// the job's one-time schedule: docs/architecture.md, "A scheduled job"). Sending it again
/// is harmless, so a retried request simply does.
pub async fn request_start<T: BatchQueue>(
    tasks: &T,
    job_id: &JobId,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), String> {
    let task = FileTask::Schedule {
        job_id: job_id.clone(),
        at,
    };
    send_task(tasks, &task, 0, "schedule").await
}

/// Puts the task that settles an `unknown` batch on the files queue, to be received after
/// `delay_seconds` (Plivo's records of a send are not instant). Sending it twice is
/// harmless: a settled batch is left as it is.
pub async fn request_reconcile<T: BatchQueue>(
    tasks: &T,
    job_id: &JobId,
    batch: u32,
    round: u32,
    delay_seconds: u32,
) -> Result<(), String> {
    let task = FileTask::Reconcile {
        job_id: job_id.clone(),
        batch,
        round,
    };
    send_task(tasks, &task, delay_seconds, "reconcile").await
}
