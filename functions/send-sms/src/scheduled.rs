//! `POST /v1/messages` with `send_at`: the message becomes a scheduled job of one recipient
//! (docs/api.md, "Scheduled messages"), written now and sent at its time by the same path as
//! any scheduled bulk job (job-files starts it, the sender sends it). So it can be watched
//! (`GET /v1/bulk/{job_id}`) and cancelled (`POST /v1/bulk/{job_id}/cancel`) like one, and
//! it is sent exactly once by the same ledger.

use chrono::Utc;
use lambda_http::http::StatusCode;
use serde::Serialize;
use sms_core::{
    Encoding, Problem, ProblemKind,
    domain::{ids::JobId, start::SendAt},
    fanout,
    http::api::{self, IdempotencyKey},
    http::idempotency::{self, Answer, KeyFate},
    queue::BatchQueue,
    store::{CreateJob, IntakeCounts, JobStore, SuppressionList},
};
use tracing::{info, warn};

use crate::{App, SendMessage};

/// The 202 answer of a scheduled message.
#[derive(Debug, Serialize)]
struct Scheduled<'a> {
    job_id: &'a str,
    status: &'static str,
    to: &'a str,
    send_at: String,
    encoding: Encoding,
    segments: usize,
}

/// The job's id: with an `Idempotency-Key` it follows from the key and the request, so a
/// retry finds the job the first attempt wrote.
pub fn job_id(key: Option<&IdempotencyKey>, message: &SendMessage) -> JobId {
    match key {
        Some(k) => JobId::derived(&format!(
            "message:{}:{}",
            k.as_str(),
            idempotency::fingerprint(message)
        )),
        None => JobId::random(),
    }
}

pub async fn schedule<S, P, R, T>(
    message: &SendMessage,
    start: SendAt,
    job_id: &JobId,
    app: &App<S, P, R, T>,
) -> Answer
where
    S: JobStore + SuppressionList,
    T: BatchQueue,
{
    tracing::Span::current().record("job_id", job_id.as_str());
    match app.store.is_suppressed(&message.to).await {
        Ok(false) => {}
        Ok(true) => {
            return Answer::released(Problem::new(
                ProblemKind::Suppressed,
                format!(
                    "{} has opted out of messages from this service; nothing was scheduled",
                    message.to
                ),
            ));
        }
        Err(e) => {
            return Answer::released(Problem::internal(
                "the suppression list could not be read; nothing was scheduled",
                &e,
            ));
        }
    }
    // Written once: a retry after a lost schedule task finds the job and sends the task again.
    let existing = match app.store.get_job(job_id).await {
        Ok(job) => job,
        Err(e) => {
            return Answer::released(Problem::internal(
                "the message could not be scheduled; retry",
                &e,
            ));
        }
    };
    if existing.is_none() {
        let spec = sms_core::store::JobSpec {
            budget: None,
            quiet_hours: None,
            job_id: job_id.clone(),
            text: message.text.clone(),
            from: message.from.clone(),
            reference: message.reference.clone(),
            counts: IntakeCounts {
                accepted: 1,
                ..IntakeCounts::default()
            },
            callback_url: format!(
                "{}?job_id={job_id}",
                app.public_base_url.status_callback_url()
            ),
            expires_at: message.deadline.map(|d| d.time()),
            send_at: Some(start.time()),
            batches: vec![vec![message.to.clone()]],
            fallback: false,
        };
        match app.store.create_job(&spec, Utc::now()).await {
            Ok(CreateJob::Created) => {}
            Ok(CreateJob::Conflict) => {
                return Answer {
                    response: Problem::new(
                        ProblemKind::IdempotencyConflict,
                        "a request with this Idempotency-Key is still in progress; retry shortly",
                    )
                    .into_response(),
                    key: KeyFate::Keep,
                };
            }
            Err(e) => {
                return Answer::released(Problem::internal(
                    "the message could not be scheduled; nothing will be sent",
                    &e,
                ));
            }
        }
    }
    if let Err(e) = fanout::request_start(&app.tasks, job_id, start.time()).await {
        warn!(error = %e, "the schedule task could not be enqueued");
        return Answer::released(Problem::new(
            ProblemKind::Unavailable,
            format!(
                "the message was recorded as job {job_id} but its start could not be scheduled yet; retry the request with the same Idempotency-Key to finish it"
            ),
        ));
    }
    info!(send_at = %start.time(), "message scheduled");
    let mut response = api::json_response(
        StatusCode::ACCEPTED,
        &Scheduled {
            job_id: job_id.as_str(),
            status: "scheduled",
            to: message.to.as_str(),
            send_at: start
                .time()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            encoding: message.text.encoding(),
            segments: message.text.segments(),
        },
    );
    if let Ok(location) = format!("/v1/bulk/{job_id}").parse() {
        response.headers_mut().insert("location", location);
    }
    Answer::finished(response)
}
