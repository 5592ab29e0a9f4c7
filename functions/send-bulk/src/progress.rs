//! `GET /v1/bulk/{job_id}`: a job's progress, by batch and by message status.

use lambda_http::{Body, Response, http::StatusCode};
use serde::Serialize;
use sms_core::{
    Problem, ProblemKind,
    domain::ids::JobId,
    http::api,
    store::{JobRecord, JobStore, MessageStatus, StatusCounts},
};

#[derive(Debug, Serialize)]
pub struct JobProgress<'a> {
    pub job_id: &'a str,
    pub status: &'static str,
    pub accepted: u64,
    pub batches: BatchCounts,
    pub messages: MessageCounts,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize)]
pub struct BatchCounts {
    pub total: u32,
    pub sent: u32,
    pub failed: u32,
    pub unknown: u32,
}

/// Each message counted once, by its current status: `queued` to `rejected` sum to
/// `accepted_by_plivo`, the messages Plivo is known to have accepted for the job (see
/// [`JobRecord::accepted_by_plivo`]).
#[derive(Debug, Serialize)]
pub struct MessageCounts {
    pub accepted_by_plivo: u64,
    /// Of `accepted_by_plivo`, those known only from their delivery reports: their batch has
    /// no recorded Plivo answer (it ended `unknown`, or its outcome is still being written).
    pub accepted_in_unconfirmed_batches: u64,
    pub queued: i64,
    pub sent: i64,
    pub delivered: i64,
    pub undelivered: i64,
    pub failed: i64,
    pub rejected: i64,
}

pub fn progress<'a>(job: &'a JobRecord, counts: &StatusCounts) -> JobProgress<'a> {
    let accepted = job.accepted_by_plivo(counts);
    let status = if job.batches_ended() >= job.batches_total {
        "done"
    } else if job.batches_ended() > 0 {
        "sending"
    } else {
        "queued"
    };
    JobProgress {
        job_id: job.job_id.as_str(),
        status,
        accepted: job.counts.accepted,
        batches: BatchCounts {
            total: job.batches_total,
            sent: job.batches_sent,
            failed: job.batches_failed,
            unknown: job.batches_unknown,
        },
        messages: MessageCounts {
            accepted_by_plivo: accepted.total,
            accepted_in_unconfirmed_batches: accepted.unconfirmed,
            // Never negative (see `accepted_by_plivo`), so nothing to clamp: a negative
            // figure here would be a bug to see, not to hide.
            queued: accepted.total as i64 - counts.beyond_queued(),
            sent: counts.get(MessageStatus::Sent),
            delivered: counts.get(MessageStatus::Delivered),
            undelivered: counts.get(MessageStatus::Undelivered),
            failed: counts.get(MessageStatus::Failed),
            rejected: counts.get(MessageStatus::Rejected),
        },
        created_at: job.created_at.to_rfc3339(),
        updated_at: job.updated_at.to_rfc3339(),
    }
}

pub async fn report<S: JobStore>(job_id: &str, store: &S) -> Result<Response<Body>, Problem> {
    let job_id = JobId::parse(job_id)
        .map_err(|_| Problem::field("job_id", "must be a UUID as returned by POST /v1/bulk"))?;
    let job_id = &job_id;
    let internal =
        |e: sms_core::store::StoreError| Problem::internal("the job could not be read; retry", &e);
    let job = store
        .get_job(job_id)
        .await
        .map_err(internal)?
        .ok_or_else(|| Problem::new(ProblemKind::NotFound, format!("no job {job_id}")))?;
    let counts = store.status_counts(job_id).await.map_err(internal)?;
    Ok(api::json_response(StatusCode::OK, &progress(&job, &counts)))
}
