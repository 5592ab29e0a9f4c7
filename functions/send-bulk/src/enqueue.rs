//! Creates a job and fans its batches out through the queue, or finishes a job that an
//! earlier attempt (same `Idempotency-Key`) left half-enqueued.

use chrono::{DateTime, Utc};
use lambda_http::http::StatusCode;
use sms_core::{
    Problem, ProblemKind,
    domain::{
        bulk::{BatchMessage, RecipientList},
        ids::JobId,
        start::SendAt,
    },
    fanout,
    http::api,
    http::idempotency::{Answer, KeyFate},
    queue::BatchQueue,
    secrets::SecretProvider,
    store::{BatchState, CreateJob, IntakeCounts, JobSpec},
};
use tracing::{info, warn};

use crate::{
    App, BulkRequest, BulkStore, Summary,
    forecast::{Forecast, stamp},
    intake,
};

/// A batch to enqueue: its index, recipients and reservation of the job's caps.
type ToEnqueue = (
    u32,
    Vec<sms_core::PhoneNumber>,
    Option<sms_core::domain::estimate::Reservation>,
);

/// What the answer says about the job: the same whichever attempt gives it.
struct Committed {
    counts: IntakeCounts,
    batches: usize,
    /// When the job was created: what the forecast counts from, so a resumed request
    /// answers exactly as the first attempt did.
    created_at: chrono::DateTime<Utc>,
}

pub async fn run<S: BulkStore, Q: BatchQueue, P: SecretProvider, F, T: BatchQueue>(
    request: &BulkRequest,
    job_id: &JobId,
    app: &App<S, Q, P, F, T>,
) -> Answer {
    // The key: finished once every batch is on the queue (or was before); released when
    // unfinished, so a retry resumes the same job where this one stopped; kept when another
    // attempt holds the job, so once that claim is stale a retry takes it over and resumes
    // from what that attempt committed.
    let callback_url = format!(
        "{}?job_id={job_id}",
        app.public_base_url.status_callback_url()
    );
    let existing = match app.store.get_job(job_id).await {
        Ok(job) => job,
        Err(e) => {
            return Answer::released(Problem::internal(
                "the job could not be read; nothing was enqueued",
                &e,
            ));
        }
    };

    let ((invalid, landlines), committed, to_enqueue) = match existing {
        Some(job) => {
            // A retry of a request whose first attempt created the job: enqueue only what it
            // did not, from the ledger (not from a new screening, which could batch differently).
            info!(batches = job.batches_total, "resuming an existing job");
            let ledger = match app.store.ledger(job_id).await {
                Ok(l) => l,
                Err(e) => {
                    return Answer::released(Problem::internal(
                        "the job's ledger could not be read",
                        &e,
                    ));
                }
            };
            let pending: Vec<ToEnqueue> = ledger
                .into_iter()
                .filter(|e| e.state == BatchState::Pending && !e.enqueued)
                .map(|e| (e.batch, e.recipients, e.reservation))
                .collect();
            // The listed entries (invalid, landlines) follow from the request alone (its
            // fingerprint is the first attempt's), the rest from the job: the answer is the
            // first attempt's, byte for byte.
            let committed = Committed {
                counts: job.counts,
                batches: job.batches_total as usize,
                created_at: job.created_at,
            };
            let list = RecipientList::parse(&request.recipients, request.skip_landlines);
            ((list.invalid, list.landlines), committed, pending)
        }
        None => {
            let intake = match intake::screen(request, &app.store, app.batch_size).await {
                Ok(i) => i,
                Err(p) => return Answer::released(p),
            };
            // A job that cannot hand its last batch to Plivo before its messages expire is
            // refused before anything is written: it would leave recipients out.
            if let Some(deadline) = request.deadline {
                let from = starts_at(request, Utc::now());
                let forecast = Forecast::new(
                    intake.batches.len() as u64,
                    intake.counts().accepted,
                    app.rates,
                    from,
                );
                if let (_, Some(why)) = forecast.against(deadline, from) {
                    return Answer::released(Problem::new(ProblemKind::ValidityTooShort, why));
                }
            }
            // Likewise a job whose estimate is over its cap.
            let budget = match crate::budget::check(request, &intake, app).await {
                Ok(budget) => budget,
                Err(problem) => return Answer::released(problem),
            };
            let spec = JobSpec {
                expires_at: request.deadline.map(|d| d.time()),
                send_at: request.start.map(SendAt::time),
                quiet_hours: request.quiet_hours,
                job_id: job_id.clone(),
                text: request.text.clone(),
                from: request.from.clone(),
                reference: request.reference.clone(),
                counts: intake.counts(),
                callback_url: callback_url.clone(),
                batches: intake.batches,
                budget,
                fallback: request.fallback,
            };
            let created_at = Utc::now();
            match app.store.create_job(&spec, created_at).await {
                Ok(CreateJob::Created) => {}
                Ok(CreateJob::Conflict) => {
                    warn!("another attempt with this Idempotency-Key holds the job");
                    return Answer {
                        response: Problem::new(
                            ProblemKind::IdempotencyConflict,
                            "a request with this Idempotency-Key is still in progress; \
                             retry shortly",
                        )
                        .into_response(),
                        key: KeyFate::Keep,
                    };
                }
                Err(e) => {
                    // The job item is written last and only then is anything enqueued.
                    return Answer::released(Problem::internal(
                        "the job could not be created; nothing was enqueued",
                        &e,
                    ));
                }
            }
            let committed = Committed {
                counts: spec.counts,
                batches: spec.batches.len(),
                created_at,
            };
            let reservations = spec.budget.map(|b| b.reservations).unwrap_or_default();
            let all = spec
                .batches
                .into_iter()
                .enumerate()
                .map(|(i, r)| (i as u32, r, reservations.get(i).copied()))
                .collect();
            ((intake.invalid, intake.landlines), committed, all)
        }
    };

    let listed = crate::intake::Listed {
        invalid: &invalid,
        landlines: &landlines,
    };
    // A scheduled job's batches wait in the ledger: its start enqueues them, so only the
    // task that arranges the start goes now (again on a retry: arranging it is idempotent).
    if let Some(start) = request.start {
        if let Err(problem) = schedule(job_id, start, app).await {
            return Answer::released(problem);
        }
        info!(send_at = %start.time(), "job scheduled");
        return answer(request, job_id, listed, &committed, app);
    }
    let total = to_enqueue.len();
    let failed = enqueue(request, job_id, &callback_url, to_enqueue, app).await;
    info!(enqueued = total - failed, failed, "batches enqueued");
    if failed > 0 {
        return Answer::released(Problem::new(
            ProblemKind::Unavailable,
            format!(
                "job {job_id} was created but {failed} of its batches could not be enqueued; \
                 retry the request with the same Idempotency-Key to finish it"
            ),
        ));
    }
    answer(request, job_id, listed, &committed, app)
}

/// When the job's sending starts: its `send_at`, or `now`.
fn starts_at(request: &BulkRequest, now: DateTime<Utc>) -> DateTime<Utc> {
    request.start.map_or(now, SendAt::time)
}

/// The 202: the same whichever attempt gives it.
fn answer<P, Q, S, F, T>(
    request: &BulkRequest,
    job_id: &JobId,
    listed: crate::intake::Listed<'_>,
    committed: &Committed,
    app: &App<S, Q, P, F, T>,
) -> Answer {
    let mut summary = Summary::new(
        Some(job_id.as_str()),
        if request.start.is_some() {
            "scheduled"
        } else {
            "queued"
        },
        committed.counts,
        committed.batches,
        listed,
        request.text.encoding(),
        request.text.segments(),
    );
    summary.send_at = request.start.map(|at| stamp(at.time()));
    let from = starts_at(request, committed.created_at);
    let mut forecast = Forecast::new(
        committed.batches as u64,
        committed.counts.accepted,
        app.rates,
        from,
    );
    if let Some(deadline) = request.deadline {
        forecast = forecast.against(deadline, from).0;
    }
    Answer {
        response: api::json_response(StatusCode::ACCEPTED, &forecast.beside(&summary)),
        key: KeyFate::Finish,
    }
}

/// Puts the task that arranges the job's start on the files queue.
async fn schedule<S, Q, P, F, T: BatchQueue>(
    job_id: &JobId,
    start: SendAt,
    app: &App<S, Q, P, F, T>,
) -> Result<(), Problem> {
    fanout::request_start(&app.tasks, job_id, start.time())
        .await
        .map_err(|e| {
            warn!(error = %e, "the schedule task could not be enqueued");
            Problem::new(
                ProblemKind::Unavailable,
                format!(
                    "job {job_id} was created but its start could not be scheduled yet; retry the request with the same Idempotency-Key to finish it"
                ),
            )
        })
}

/// Enqueues the batches; returns how many could not be enqueued after retries.
async fn enqueue<S: BulkStore, Q: BatchQueue, P: SecretProvider, F, T>(
    request: &BulkRequest,
    job_id: &JobId,
    callback_url: &str,
    batches: Vec<ToEnqueue>,
    app: &App<S, Q, P, F, T>,
) -> usize {
    let messages = batches
        .into_iter()
        .map(|(batch, recipients, reservation)| BatchMessage {
            reservation,
            quiet_hours: request.quiet_hours,
            expires_at: request.deadline.map(|d| d.time()),
            job_id: job_id.clone(),
            batch,
            from: request.from.clone(),
            text: request.text.clone(),
            recipients,
            callback_url: callback_url.to_owned(),
            fallback: request.fallback,
        })
        .collect();
    fanout::enqueue_batches(&app.queue, &app.store, job_id, messages).await
}
