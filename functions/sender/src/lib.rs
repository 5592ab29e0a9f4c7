//! sender: hands each queued batch to Plivo in one request, with the batch-ledger rules of
//! `sms_core::store::BatchLedger` (docs/architecture.md, "A batch goes to Plivo at most
//! once"), and reports only the records worth another delivery as `batchItemFailures`.
//!
//! | ledger / Plivo says                    | batch ends     | the SQS record        |
//! |----------------------------------------|----------------|-----------------------|
//! | `sent`, `failed` or `unknown` already  | (unchanged)    | deleted               |
//! | `sending`, lease live                  | (unchanged)    | returned, retried     |
//! | `sending`, lease expired               | `unknown`      | deleted, metric       |
//! | job paused                             | `parked`       | deleted (a resume enqueues it again) |
//! | job's cap has no room for the batch    | `parked`, job paused (`budget`) | deleted (a resume enqueues it again) |
//! | quiet hours in the recipients' zones   | `parked`, deferred | deleted (the job's wake-up at the window enqueues it again) |
//! | job cancelled                          | `cancelled`    | deleted               |
//! | Plivo 202                              | `sent`         | deleted               |
//! | 429, 5xx, not connected (after retries)| back to `pending` | returned, retried  |
//! | no turn in the request budget          | back to `pending` | returned, retried  |
//! | 400, 403, 404; 401 after a re-read     | `failed`       | deleted               |
//! | timeout after sending                  | `unknown`      | deleted, metric       |
//! | malformed body or no ledger item       | (none)         | returned → dead-letter queue |
//!
//! An `unknown` batch is then settled from Plivo's records by job-files, unless
//! `UNKNOWN_OUTCOME=report` (docs/architecture.md, "An unknown batch is settled by Plivo's
//! records"): the sender asks for it, delayed, on the files queue.

use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, TimeZone, Utc};
use futures::future::join_all;
use lambda_runtime::LambdaEvent;
use sms_core::{
    PhoneNumber,
    config::UnknownOutcome,
    domain::provider::Provider,
    domain::{
        bulk::BatchMessage,
        ids::JobId,
        quiet_hours::{NoCommonWindow, QuietHours, Window},
        validity::Deadline,
        zones::{self, ZoneWindow},
    },
    fallback::{Fallback, FallbackError},
    fanout, metrics,
    pace::{FirstTurn, Pace},
    plivo::{FailureClass, OutboundMessage, PlivoClient, SendFailure},
    queue::BatchQueue,
    secrets::SecretProvider,
    store::{
        AcceptedMessage, BatchClaim, BatchLedger, BatchOutcome, CircuitState, ControlAnswer,
        ControlChange, JobControl, JobControls, MessageStore, Parking, PauseReason, PlivoCircuit,
        ProgressLog, StoreError, SuppressionList,
    },
};
use tracing::{Instrument, error, info, info_span, warn};

/// What the store must offer the sender.
pub trait SenderStore:
    BatchLedger + JobControls + MessageStore + ProgressLog + SuppressionList + PlivoCircuit
{
}
impl<T: BatchLedger + JobControls + MessageStore + ProgressLog + SuppressionList + PlivoCircuit>
    SenderStore for T
{
}

/// Claims of one record: a claim held by a pause can turn claimable again when the job is
/// resumed before the batch is parked.
const CLAIM_ROUNDS: u32 = 3;

pub struct App<S, P, R, T> {
    pub store: S,
    pub secrets: P,
    pub plivo: PlivoClient,
    /// The account's request budget, shared with every other sender and send-sms
    /// (`sms_core::pace`): what keeps the account under Plivo's request rate.
    pub pace: R,
    /// The job-files queue: where a batch waiting for its recipients' window asks for the
    /// job's wake-up, and an `unknown` batch asks to be settled.
    pub tasks: T,
    /// What becomes of an `unknown` batch (`UNKNOWN_OUTCOME`).
    pub unknown: UnknownOutcome,
    /// The fallback provider, for batches whose job may use it while Plivo's circuit is
    /// open (`FALLBACK`); None when it is off.
    pub fallback: Option<Fallback>,
}

/// Used when the invocation has no usable deadline (never on Lambda).
const FALLBACK_LEASE: Duration = Duration::from_secs(900);

/// Added to the invocation's deadline: the claim must outlive any work this invocation does.
const LEASE_MARGIN: chrono::Duration = chrono::Duration::seconds(5);

/// What to do with one SQS record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Handled for good: delete it.
    Done,
    /// Report it in `batchItemFailures`: SQS delivers it again, and after the queue's
    /// `maxReceiveCount` moves it to the dead-letter queue.
    Retry,
}

pub async fn handle<S, P, R, T>(
    event: LambdaEvent<SqsEvent>,
    app: &App<S, P, R, T>,
) -> SqsBatchResponse
where
    S: SenderStore,
    P: SecretProvider,
    R: Pace,
    T: BatchQueue,
{
    let request_id = event.context.request_id.clone();
    let lease_until = lease_until(event.context.deadline, Utc::now());
    // Every record at once: each waits for its turns in the shared budget, which (not the
    // number of records or invocations) is what keeps the account under Plivo's request rate.
    // Each batch keeps its own ledger rules; only the waiting overlaps.
    // The invocation's first turns are booked as one block (see `FirstTurn`). A record that
    // turns out to need no request (already ended, malformed) leaves its turn unused: a
    // moment of unused budget, never a request over it.
    let records = &event.payload.records;
    let turns = match app.pace.reserve(records.len()).await {
        Ok(turns) => turns,
        Err(e) => {
            warn!(error = %e, "no turns could be reserved; each request books its own");
            Vec::new()
        }
    };
    let dispositions = join_all(records.iter().enumerate().map(|(i, record)| {
        let message_id = record.message_id.clone().unwrap_or_default();
        let span = info_span!("batch", %request_id, %message_id, job_id = tracing::field::Empty, batch = tracing::field::Empty);
        let pace = FirstTurn::new(&app.pace, turns.get(i).copied());
        async move {
            let disposition = process(record, app, &pace, lease_until)
                .instrument(span)
                .await;
            (message_id, disposition)
        }
    }))
    .await;
    let mut response = SqsBatchResponse::default();
    for (message_id, disposition) in dispositions {
        if disposition == Disposition::Retry {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

fn lease_until(deadline_ms: u64, now: DateTime<Utc>) -> DateTime<Utc> {
    let deadline = i64::try_from(deadline_ms)
        .ok()
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        .filter(|d| *d > now)
        .unwrap_or_else(|| now + chrono::Duration::from_std(FALLBACK_LEASE).unwrap_or_default());
    deadline + LEASE_MARGIN
}

pub async fn process<S, P, R, T>(
    record: &SqsMessage,
    app: &App<S, P, R, T>,
    pace: &impl Pace,
    lease_until: DateTime<Utc>,
) -> Disposition
where
    S: SenderStore,
    P: SecretProvider,
    R: Pace,
    T: BatchQueue,
{
    let Some(body) = record.body.as_deref() else {
        error!("malformed record: no body; it goes to the dead-letter queue");
        return Disposition::Retry;
    };
    let batch = match BatchMessage::parse(body) {
        Ok(b) => b,
        Err(e) => {
            error!(error = %e, "malformed record; it goes to the dead-letter queue");
            return Disposition::Retry;
        }
    };
    let (job_id, index) = (&batch.job_id, batch.batch);
    let span = tracing::Span::current();
    span.record("job_id", job_id.as_str());
    span.record("batch", index);

    // Quiet hours: a batch whose recipients' window is closed waits for it, unclaimed.
    let mut no_window = None;
    if let Some(quiet) = batch.quiet_hours {
        match quiet_window(quiet, &batch, Utc::now()) {
            Ok(Window::Open { .. }) => {}
            Ok(Window::Waits { opens, .. }) => return defer(app, &batch, opens).await,
            Err(e) => no_window = Some(e),
        }
    }

    let attempt = match claim(app, &batch, lease_until).await {
        Ok(attempt) => attempt,
        Err(disposition) => return disposition,
    };
    if let Some(e) = no_window {
        warn!(quiet_hours = %batch.quiet_hours.map(|q| q.to_string()).unwrap_or_default(), "no hour is outside the quiet hours of every zone of the batch's recipients; not sent");
        let outcome = BatchOutcome::Failed {
            error: format!("{e}: with these quiet hours they are never sent"),
        };
        return finish(app, &batch, attempt, &outcome).await;
    }

    // The intake screened the recipients, but a batch can go days later (a scheduled job,
    // quiet hours, a pause): whoever opted out since is left out now.
    let (recipients, opted_out) = match screen(app, &batch).await {
        Ok(screened) => screened,
        Err(e) => {
            error!(error = %e, "the suppression list could not be read; nothing was sent");
            return release(app, job_id, index, attempt).await;
        }
    };
    if recipients.is_empty() {
        info!(
            opted_out = opted_out.len(),
            "every recipient has opted out since the intake; nothing sent"
        );
        let outcome = BatchOutcome::Sent {
            message_uuids: Vec::new(),
            invalid_numbers: Vec::new(),
            opted_out,
        };
        return finish(app, &batch, attempt, &outcome).await;
    }

    // A batch whose job may use the fallback provider goes through it while Plivo's circuit
    // is open: one provider or the other, never both, under the same claim.
    let fallback = app
        .fallback
        .as_ref()
        .filter(|f| f.policy.allows(batch.fallback));
    let circuit = match fallback {
        Some(_) => app.store.circuit(Utc::now()).await.unwrap_or_else(|e| {
            warn!(error = %e, "Plivo's circuit could not be read; trying Plivo");
            CircuitState::default()
        }),
        None => CircuitState::default(),
    };
    if let Some(fallback) = fallback.filter(|_| circuit.is_open()) {
        let Some(outcome) = send_by_fallback(fallback, &batch, &recipients, opted_out).await else {
            warn!("the fallback provider is unavailable too; nothing was sent");
            return release(app, job_id, index, attempt).await;
        };
        let disposition = finish(app, &batch, attempt, &outcome).await;
        if let BatchOutcome::Fallback { sent, .. } = &outcome {
            record_fallback_messages(app, &batch, fallback.policy.origination(), sent).await;
        }
        return disposition;
    }

    // Names the batch, so every report counts against it (see `BatchRef`).
    let callback_url = batch.plivo_callback_url();
    let outbound = OutboundMessage {
        expires_at: batch.expires_at.map(Deadline::at),
        src: &batch.from,
        dst: &recipients,
        text: &batch.text,
        callback_url: &callback_url,
    };
    let outcome = match app
        .plivo
        .send_refreshing_credentials(pace, &app.secrets, &outbound)
        .await
    {
        Ok(accepted) => {
            info!(accepted = accepted.message_uuid.len(), invalid = accepted.invalid_number.len(), api_id = %accepted.api_id, "Plivo accepted the batch");
            if circuit.failures > 0
                && let Err(e) = app.store.note_plivo_success().await
            {
                warn!(error = %e, "Plivo's circuit could not be told of the success");
            }
            metrics::count("RecipientsSubmitted", accepted.message_uuid.len() as u64);
            BatchOutcome::Sent {
                message_uuids: accepted.message_uuid,
                invalid_numbers: accepted.invalid_number,
                opted_out,
            }
        }
        Err(SendFailure::Secret(e)) => {
            error!(error = %e, "the service secret could not be read; nothing was sent");
            return release(app, job_id, index, attempt).await;
        }
        Err(SendFailure::Pace(e)) => {
            error!(error = %e, "no turn in the request budget; nothing was sent");
            return release(app, job_id, index, attempt).await;
        }
        Err(SendFailure::Plivo(e)) => match e.class() {
            FailureClass::Retryable => {
                warn!(error = %e, "Plivo unavailable after retries; nothing was sent");
                note_plivo_failure(app).await;
                return release(app, job_id, index, attempt).await;
            }
            FailureClass::Permanent | FailureClass::Unauthorized => {
                warn!(error = %e, "Plivo refused the batch");
                BatchOutcome::Failed {
                    error: e.to_string(),
                }
            }
            FailureClass::Unknown => {
                warn!(error = %e, "Plivo's answer never came; marking the batch unknown, not resending");
                BatchOutcome::Unknown {
                    reason: e.to_string(),
                }
            }
        },
    };
    let disposition = finish(app, &batch, attempt, &outcome).await;
    if let BatchOutcome::Sent { message_uuids, .. } = &outcome {
        record_messages(app, &batch, message_uuids).await;
    }
    disposition
}

/// Counts a batch Plivo could not take towards opening its circuit.
async fn note_plivo_failure<S: SenderStore, P, R, T>(app: &App<S, P, R, T>) {
    let rule = app.fallback.as_ref().map(|f| f.rule).unwrap_or_default();
    match app.store.note_plivo_failure(rule, Utc::now()).await {
        Ok(Some(until)) => {
            metrics::count("PlivoCircuitOpened", 1);
            warn!(%until, "Plivo keeps failing: its circuit is open");
        }
        Ok(None) => {}
        Err(e) => warn!(error = %e, "Plivo's failure could not be counted"),
    }
}

/// Hands the batch to the fallback provider, one recipient at a time at its rate. None when
/// it took none of them because it is unavailable: the batch is released, as when Plivo is.
/// Once it has taken some, a recipient it refuses is not sent, a recipient whose request got
/// no answer may have been sent (never again), and those after an outage are not sent.
async fn send_by_fallback(
    fallback: &Fallback,
    batch: &BatchMessage,
    recipients: &[PhoneNumber],
    opted_out: Vec<PhoneNumber>,
) -> Option<BatchOutcome> {
    let spacing = Duration::from_secs(1) / fallback.messages_per_second.max(1);
    let mut pace = tokio::time::interval(spacing);
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut sent, mut not_sent, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
    for (i, to) in recipients.iter().enumerate() {
        pace.tick().await;
        match fallback.sms.publish(to, batch.text.as_str()).await {
            Ok(id) => sent.push((to.clone(), id)),
            Err(FallbackError::Refused(why)) => {
                warn!(why = %why, "the fallback provider refused a recipient");
                not_sent.push(to.clone());
            }
            Err(FallbackError::Unavailable(why)) => {
                if sent.is_empty() && unknown.is_empty() && not_sent.is_empty() {
                    warn!(why = %why, "the fallback provider is unavailable");
                    return None;
                }
                warn!(why = %why, left = recipients.len() - i, "the fallback provider stopped taking messages; the rest are not sent");
                not_sent.extend(recipients[i..].iter().cloned());
                break;
            }
            Err(FallbackError::Unknown(why)) => {
                warn!(why = %why, left = recipients.len() - i - 1, "the fallback provider did not answer; that recipient may have it, the rest are not sent");
                unknown.push(to.clone());
                not_sent.extend(recipients[i + 1..].iter().cloned());
                break;
            }
        }
    }
    info!(
        sent = sent.len(),
        not_sent = not_sent.len(),
        unknown = unknown.len(),
        "the fallback provider took the batch"
    );
    metrics::count("FallbackRecipientsSent", sent.len() as u64);
    Some(BatchOutcome::Fallback {
        sent,
        not_sent,
        unknown,
        opted_out,
    })
}

/// One message item per recipient the fallback provider took, with its id and recipient.
async fn record_fallback_messages<S: MessageStore, P, R, T>(
    app: &App<S, P, R, T>,
    batch: &BatchMessage,
    from: Option<&sms_core::Sender>,
    sent: &[(PhoneNumber, String)],
) {
    let messages: Vec<_> = sent
        .iter()
        .map(|(to, id)| AcceptedMessage {
            message_uuid: id.clone(),
            to: Some(to.clone()),
            from: from.unwrap_or(&batch.from).clone(),
            job_id: Some(batch.job_id.clone()),
            reference: None,
            encoding: batch.text.encoding(),
            segments: batch.text.segments() as u32,
            provider: Provider::Sns,
        })
        .collect();
    if let Err(e) = app.store.record_accepted(&messages, Utc::now()).await {
        error!(error = %e, count = messages.len(), "the fallback's message items could not be written");
    }
}

/// The batch's recipients split into those to send and those who opted out since the
/// intake (in the batch's order).
async fn screen<S: SenderStore, P, R, T>(
    app: &App<S, P, R, T>,
    batch: &BatchMessage,
) -> Result<(Vec<PhoneNumber>, Vec<PhoneNumber>), StoreError> {
    let suppressed = app.store.suppressed_among(&batch.recipients).await?;
    if !suppressed.is_empty() {
        metrics::count("RecipientsOptedOutBeforeSending", suppressed.len() as u64);
    }
    Ok(batch
        .recipients
        .iter()
        .cloned()
        .partition(|r| !suppressed.contains(r)))
}

/// The batch's window under `quiet` at `now`: every recipient of a batch shares its zones
/// (the intake cut it so), so the first one speaks for all.
fn quiet_window(
    quiet: QuietHours,
    batch: &BatchMessage,
    now: DateTime<Utc>,
) -> Result<Window, NoCommonWindow> {
    let zones = batch
        .recipients
        .first()
        .map_or(ZoneWindow::UNKNOWN, zones::window_key)
        .zones();
    quiet.window(zones, now)
}

/// Parks a batch until its window `opens`, after asking for the job's wake-up then (a start
/// task, delivered by a one-time schedule: job-files sweeps the batch back onto the queue).
/// The wake-up is asked for first, so a parked batch always has one coming.
async fn defer<S: SenderStore, P, R, T: BatchQueue>(
    app: &App<S, P, R, T>,
    batch: &BatchMessage,
    opens: DateTime<Utc>,
) -> Disposition {
    if let Err(e) = fanout::request_start(&app.tasks, &batch.job_id, opens).await {
        warn!(error = %e, "the wake-up of a batch in quiet hours could not be asked for; retrying later");
        return Disposition::Retry;
    }
    let recipients = batch.recipients.len() as u64;
    match app
        .store
        .defer_batch(&batch.job_id, batch.batch, recipients, opens, Utc::now())
        .await
    {
        Ok(deferred) => {
            info!(%opens, deferred, "quiet hours in the recipients' zones; the batch waits for its window");
            Disposition::Done
        }
        Err(e) => {
            warn!(error = %e, "the batch could not be deferred; retrying later");
            Disposition::Retry
        }
    }
}

/// Claims the record's batch: its attempt, or what to do with the record instead.
async fn claim<S: SenderStore, P, R, T: BatchQueue>(
    app: &App<S, P, R, T>,
    batch: &BatchMessage,
    lease_until: DateTime<Utc>,
) -> Result<u32, Disposition> {
    let (job_id, index) = (&batch.job_id, batch.batch);
    for _ in 0..CLAIM_ROUNDS {
        match app
            .store
            .claim_batch(
                job_id,
                index,
                batch.reservation.as_ref(),
                lease_until,
                Utc::now(),
            )
            .await
        {
            Ok(BatchClaim::Claimed { attempt }) => return Ok(attempt),
            // Batches of a scheduled job are not enqueued before its start; one that is
            // (a retried request racing the start) waits parked like a paused job's.
            Ok(BatchClaim::Held(control @ (JobControl::Paused(_) | JobControl::Scheduled))) => {
                match app.store.park_batch(job_id, index).await {
                    Ok(Parking::Parked) => {
                        info!(
                            control = control.as_str(),
                            "batch parked until the job runs"
                        );
                        return Err(Disposition::Done);
                    }
                    Ok(Parking::NotPending) => {
                        info!(control = control.as_str(), "batch already parked or taken");
                        return Err(Disposition::Done);
                    }
                    // Resumed between the claim and the parking: claim again.
                    Ok(Parking::NotPaused) => continue,
                    Err(e) => {
                        warn!(error = %e, "the batch of a paused job could not be parked; retrying later");
                        return Err(Disposition::Retry);
                    }
                }
            }
            // Sending it could cross the job's cap: the job pauses (reason `budget`), and
            // the next round parks the batch like any paused job's.
            Ok(BatchClaim::OverBudget(left)) => {
                let pause = ControlChange::Pause(PauseReason::Budget);
                match app.store.change_control(job_id, pause, Utc::now()).await {
                    Ok(answer) => {
                        warn!(
                            max_cost = ?left.caps.max_cost.map(|m| m.to_string()),
                            max_segments = ?left.caps.max_segments,
                            cost_left = ?left.cost.map(|m| m.to_string()),
                            segments_left = ?left.segments,
                            changed = matches!(answer, ControlAnswer::Changed(_)),
                            "the batch could cross the job's cap; the job is paused (budget)"
                        );
                        continue;
                    }
                    Err(e) => {
                        warn!(error = %e, "the job over its cap could not be paused; retrying later");
                        return Err(Disposition::Retry);
                    }
                }
            }
            Ok(BatchClaim::Held(JobControl::Cancelled)) => {
                let recipients = batch.recipients.len() as u64;
                return match app
                    .store
                    .cancel_batch(job_id, index, recipients, Utc::now())
                    .await
                {
                    Ok(cancelled) => {
                        info!(cancelled, "job cancelled; batch not sent");
                        Err(Disposition::Done)
                    }
                    Err(e) => {
                        warn!(error = %e, "the batch of a cancelled job could not be ended; retrying later");
                        Err(Disposition::Retry)
                    }
                };
            }
            Ok(BatchClaim::Held(JobControl::Running)) => {
                warn!("the claim was held by a job that runs; retrying later");
                return Err(Disposition::Retry);
            }
            Ok(BatchClaim::Ended(state)) => {
                info!(%state, "batch already ended; skipping the redelivered record");
                return Err(Disposition::Done);
            }
            Ok(BatchClaim::Busy { lease_until }) => {
                info!(%lease_until, "batch is being sent by another invocation; retrying later");
                return Err(Disposition::Retry);
            }
            Ok(BatchClaim::LeaseExpired { attempt }) => {
                warn!(
                    attempt,
                    "a previous attempt ended without an outcome; marking the batch unknown, not resending"
                );
                let outcome = BatchOutcome::Unknown {
                reason:
                    "a previous attempt stopped while sending; Plivo may or may not have the batch"
                        .into(),
            };
                return Err(finish(app, batch, attempt, &outcome).await);
            }
            Ok(BatchClaim::Missing) => {
                error!("no ledger item for this batch; it goes to the dead-letter queue");
                return Err(Disposition::Retry);
            }
            Err(e) => {
                warn!(error = %e, "the ledger could not be claimed; retrying later");
                return Err(Disposition::Retry);
            }
        }
    }
    info!("the job's control kept changing; retrying later");
    Err(Disposition::Retry)
}

/// Records the outcome in the ledger, trying a few times: after Plivo answered, losing this
/// write would leave the batch to expire as `unknown`. Then counts the batch's recipients
/// into the job's progress.
async fn finish<S: SenderStore, P, R, T: BatchQueue>(
    app: &App<S, P, R, T>,
    batch: &BatchMessage,
    attempt: u32,
    outcome: &BatchOutcome,
) -> Disposition {
    let (job_id, index) = (&batch.job_id, batch.batch);
    if matches!(outcome, BatchOutcome::Unknown { .. }) {
        metrics::count("UnknownBatches", 1);
    }
    for retry in 0..3u32 {
        match app
            .store
            .finish_batch(job_id, index, attempt, outcome, Utc::now())
            .await
        {
            Ok(true) => {
                info!(state = %outcome.state(), "batch ended");
                if matches!(outcome, BatchOutcome::Unknown { .. }) {
                    settle_later(app, batch).await;
                }
                let recipients = batch.recipients.len() as u64;
                if let Err(e) = app
                    .store
                    .note_progress(job_id, recipients, Utc::now())
                    .await
                {
                    warn!(error = %e, "the job's progress sample was not counted");
                }
                return Disposition::Done;
            }
            Ok(false) => {
                warn!("the claim was no longer ours; leaving the ledger as it is");
                return Disposition::Done;
            }
            Err(e) => {
                error!(error = %e, retry, "the batch outcome could not be recorded");
                tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(retry))).await;
            }
        }
    }
    // Returning the record is safe: the next delivery finds the claim expired and records
    // `unknown`, never a second send.
    Disposition::Retry
}

/// Asks job-files to settle an `unknown` batch once Plivo's records have had time to show
/// it. Should the task not be taken, the batch stays `unknown`, as `report` leaves it, and
/// `UnreconciledBatches` says so.
async fn settle_later<S, P, R, T: BatchQueue>(app: &App<S, P, R, T>, batch: &BatchMessage) {
    let UnknownOutcome::Reconcile { delay_seconds } = app.unknown else {
        return;
    };
    if let Err(e) =
        fanout::request_reconcile(&app.tasks, &batch.job_id, batch.batch, 0, delay_seconds).await
    {
        metrics::count("UnreconciledBatches", 1);
        error!(error = %e, "the unknown batch's settlement could not be asked for; it stays unknown");
    }
}

async fn release<S: BatchLedger + MessageStore, P, R, T>(
    app: &App<S, P, R, T>,
    job_id: &JobId,
    index: u32,
    attempt: u32,
) -> Disposition {
    if let Err(e) = app.store.release_batch(job_id, index, attempt).await {
        // The claim then expires and the batch ends `unknown`: at most once still holds.
        error!(error = %e, "the claim could not be released");
    }
    Disposition::Retry
}

/// One message item per accepted uuid, tied to the job. The recipient is left to the
/// delivery report: Plivo does not promise the uuids in `dst` order.
async fn record_messages<S: MessageStore, P, R, T>(
    app: &App<S, P, R, T>,
    batch: &BatchMessage,
    uuids: &[String],
) {
    let messages: Vec<_> = uuids
        .iter()
        .map(|uuid| AcceptedMessage {
            message_uuid: uuid.clone(),
            to: None,
            from: batch.from.clone(),
            job_id: Some(batch.job_id.clone()),
            reference: None,
            encoding: batch.text.encoding(),
            segments: batch.text.segments() as u32,
            provider: sms_core::domain::provider::Provider::Plivo,
        })
        .collect();
    if let Err(e) = app.store.record_accepted(&messages, Utc::now()).await {
        // The ledger holds the uuids and delivery reports create the status items, so this
        // loses only the lookup facts (sender, encoding) of these messages.
        error!(error = %e, count = messages.len(), "message items could not be written");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_covers_the_invocation_deadline() {
        let now = Utc.timestamp_millis_opt(1_000_000).unwrap();
        assert_eq!(
            lease_until(1_060_000, now),
            Utc.timestamp_millis_opt(1_065_000).unwrap()
        );
        // No usable deadline: a long fallback, never an already-expired lease.
        assert!(lease_until(0, now) > now + chrono::Duration::seconds(60));
    }
}
