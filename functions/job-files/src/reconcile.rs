//! `reconcile`: settling a batch whose outcome is unknown (docs/architecture.md, "An unknown
//! batch is settled by Plivo's records"). The sender asks for it, delayed, when it records a
//! batch `unknown` (a timeout after the request may have reached Plivo, or a claim whose
//! invocation died).
//!
//! Plivo takes a request whole: it answers one uuid per valid destination, or refuses the
//! request. So one trace of the batch at Plivo proves that every recipient has the text, and
//! a recipient without any proves that none has. The evidence, cheapest first:
//!
//! 1. **Reports.** Each report names its batch in its callback URL, and the job counts the
//!    messages each batch has been *seen* in. One seen message: Plivo took the batch.
//! 2. **Plivo's records** of up to [`PROBES`] recipients, one at a time: outbound records to
//!    the number, from the batch's sender, made between the claim and the outcome (with
//!    [`CLOCK_MARGIN`] either side), of as many units as the text has segments, and whose
//!    uuid no other send of this service holds (another job's message to the same number
//!    from the same sender in the same minutes has its uuid stored, with its job). A
//!    recipient who opted out since the intake is not probed: the sender left them out.
//!
//! | evidence | the batch |
//! |---|---|
//! | a report, or a record of a probed recipient | `sent` (`batches_reconciled`), the records' uuids kept |
//! | no record for any probed recipient, the records old enough to be complete | `pending` again and enqueued: sent once more, and never resent again (`batches_resent`) |
//! | records unreadable | asked again after [`ReconcileSettings::retry_delay_seconds`], at most [`ReconcileSettings::max_rounds`] times; then left `unknown` (`UnreconciledBatches`, an alarm) |
//! | a resent batch `unknown` again | `sent` on evidence as above; otherwise left `unknown` |
//!
//! A wrong "sent" can only keep a recipient from a text; a resend happens only on proof of
//! absence. Every step is a conditional write: repeated or overlapping tasks settle a batch
//! once.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sms_core::{
    PhoneNumber,
    domain::{ids::JobId, sender::Sender},
    fanout, metrics,
    plivo::{
        FailureClass, PlivoClient,
        records::{MessageRecord, RecordQuery},
    },
    queue::BatchQueue,
    store::{AcceptedMessage, BatchState, JobRecord, LedgerEntry, Settled, Settlement},
};
use tracing::{error, info, warn};

use crate::{App, Credentials, FilesStore};

/// Recipients probed in Plivo's records: more than one, in case Plivo refused a number as
/// invalid (it keeps no record of those), and few, as the list API allows 20 requests a
/// minute.
pub const PROBES: usize = 3;

/// Pages of one recipient's records read at most: a number gets few texts in minutes.
const MAX_PAGES: u32 = 5;

/// Added to either end of the claim's window: Plivo's clock and ours may differ.
pub const CLOCK_MARGIN: chrono::Duration = chrono::Duration::seconds(60);

/// A claim lives at most the sender's 15 minutes and a margin: the window of a batch whose
/// claim time was not kept.
const LONGEST_CLAIM: chrono::Duration = chrono::Duration::minutes(16);

/// Plivo's records, for settling unknown batches.
pub struct Records {
    pub plivo: PlivoClient,
    pub secrets: Box<dyn Credentials>,
    pub settings: ReconcileSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileSettings {
    /// How old a batch's outcome must be before the absence of records proves anything
    /// (`RECONCILE_DELAY_SECONDS`): Plivo's records are not instant.
    pub settle_after_seconds: u32,
    /// The delay before trying again when the records could not be read.
    pub retry_delay_seconds: u32,
    /// Tries before a batch is left `unknown` for an operator.
    pub max_rounds: u32,
}

impl ReconcileSettings {
    /// Settling `delay` seconds after the outcome, and trying again as often: six tries in
    /// all, twelve minutes with the template's default.
    pub fn after(delay: u32) -> Self {
        Self {
            settle_after_seconds: delay,
            retry_delay_seconds: delay,
            max_rounds: 6,
        }
    }
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        Self::after(sms_core::config::UnknownOutcome::DEFAULT_DELAY_SECONDS)
    }
}

/// How a reconcile task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReconcileOutcome {
    /// Plivo has the batch: it is `sent`, with the uuids found in its records.
    Sent { message_uuids: Vec<String> },
    /// Plivo has none of it: enqueued again.
    Resent,
    /// Nothing to settle: the batch is not `unknown` (settled already, or never was).
    NotUnknown,
    /// Too early, or the records could not be read: asked again, later.
    Again { round: u32, why: String },
    /// No evidence either way after every try, or none after its one resend: left `unknown`.
    LeftUnknown(String),
    /// No job or no such batch: the task is malformed.
    Missing,
    /// Something failed that a later delivery may get past.
    Retry(String),
}

impl ReconcileOutcome {
    /// Whether the SQS record should come back.
    pub fn retry(&self) -> bool {
        matches!(self, Self::Missing | Self::Retry(_))
    }
}

fn retry(what: &str, e: impl std::fmt::Display) -> ReconcileOutcome {
    ReconcileOutcome::Retry(format!("{what}: {e}"))
}

/// What Plivo's records and reports say of a batch.
enum Evidence {
    /// The uuids found, each with the recipient whose record it is.
    Taken(Vec<(String, PhoneNumber)>),
    Absent,
    /// The records could not be read, or are too young to prove an absence.
    Unreadable(String),
}

pub async fn reconcile<S, F, Q, T, C>(
    job_id: &JobId,
    batch: u32,
    round: u32,
    app: &App<S, F, Q, T, C>,
) -> ReconcileOutcome
where
    S: FilesStore,
    Q: BatchQueue,
    T: BatchQueue,
{
    let job = match app.store.get_job(job_id).await {
        Ok(Some(job)) => job,
        Ok(None) => return ReconcileOutcome::Missing,
        Err(e) => return retry("reading the job", e),
    };
    let entry = match app.store.ledger_range(job_id, batch..batch + 1).await {
        Ok(entries) => match entries.into_iter().next() {
            Some(entry) => entry,
            None => return ReconcileOutcome::Missing,
        },
        Err(e) => return retry("reading the ledger", e),
    };
    match entry.state {
        BatchState::Unknown => {}
        // Resent, and its queue message lost before SQS took it: enqueue it again.
        BatchState::Pending if entry.resent && !entry.enqueued => {
            return enqueue_again(app, &job, entry).await;
        }
        _ => return ReconcileOutcome::NotUnknown,
    }
    let outcome = match evidence(app, &job, &entry).await {
        Evidence::Taken(found) => settle_sent(app, &job, &entry, found).await,
        Evidence::Absent if entry.resent => {
            ReconcileOutcome::LeftUnknown("resent once already and unknown again".into())
        }
        Evidence::Absent => match settle(app, &job, batch, &Settlement::Resend).await {
            Ok(Settled::Done) => {
                metrics::count("BatchesResent", 1);
                let pending = LedgerEntry {
                    state: BatchState::Pending,
                    resent: true,
                    ..entry
                };
                enqueue_again(app, &job, pending).await
            }
            Ok(Settled::NotUnknown) => ReconcileOutcome::NotUnknown,
            Err(outcome) => outcome,
        },
        Evidence::Unreadable(why) if round + 1 < app.records.settings.max_rounds => {
            ask_again(app, job_id, batch, round + 1, why).await
        }
        Evidence::Unreadable(why) => {
            ReconcileOutcome::LeftUnknown(format!("Plivo's records could not be read: {why}"))
        }
    };
    match &outcome {
        ReconcileOutcome::LeftUnknown(why) => {
            metrics::count("UnreconciledBatches", 1);
            error!(why = %why, "the unknown batch could not be settled; it stays unknown");
        }
        ReconcileOutcome::Sent { message_uuids } => {
            info!(
                found = message_uuids.len(),
                "Plivo has the unknown batch; it is sent"
            );
        }
        ReconcileOutcome::Resent => {
            info!("Plivo has none of the unknown batch; it goes again, once");
        }
        ReconcileOutcome::Again { round, why } => {
            warn!(round, why = %why, "the unknown batch is settled later");
        }
        _ => {}
    }
    outcome
}

async fn evidence<S: FilesStore, F, Q, T, C>(
    app: &App<S, F, Q, T, C>,
    job: &JobRecord,
    entry: &LedgerEntry,
) -> Evidence {
    match app.store.status_counts(&job.job_id).await {
        Ok(counts)
            if counts
                .seen_by_batch
                .get(&entry.batch)
                .is_some_and(|s| *s > 0) =>
        {
            return Evidence::Taken(Vec::new());
        }
        Ok(_) => {}
        Err(e) => return Evidence::Unreadable(format!("the job's counts: {e}")),
    }
    let ended = entry.ended_at.unwrap_or_else(Utc::now);
    let complete_after =
        ended + chrono::Duration::seconds(i64::from(app.records.settings.settle_after_seconds));
    let window = Window {
        after: entry.claimed_at.unwrap_or(ended - LONGEST_CLAIM) - CLOCK_MARGIN,
        before: ended + CLOCK_MARGIN,
    };
    let probes = match probes(app, entry).await {
        Ok(p) => p,
        Err(why) => return Evidence::Unreadable(why),
    };
    let secret = match app.records.secrets.secret().await {
        Ok(secret) => secret,
        Err(e) => return Evidence::Unreadable(format!("the service secret: {e}")),
    };
    let text = entry.text.as_ref().unwrap_or(&job.text);
    let wanted = Wanted {
        job_id: &job.job_id,
        from: &job.from,
        units: text.segments() as u32,
        window,
    };
    let mut found = Vec::new();
    for to in &probes {
        match records_of(app, &secret.plivo, to, &wanted).await {
            Ok(uuids) => found.extend(uuids.into_iter().map(|u| (u, to.clone()))),
            Err(why) => return Evidence::Unreadable(why),
        }
        if !found.is_empty() {
            return Evidence::Taken(found);
        }
    }
    if Utc::now() < complete_after {
        return Evidence::Unreadable(format!(
            "no record yet, and Plivo's records may not be complete before {complete_after}"
        ));
    }
    Evidence::Absent
}

/// The recipients to look for: the first [`PROBES`] not on the suppression list now.
async fn probes<S: FilesStore, F, Q, T, C>(
    app: &App<S, F, Q, T, C>,
    entry: &LedgerEntry,
) -> Result<Vec<PhoneNumber>, String> {
    let suppressed: HashSet<PhoneNumber> = app
        .store
        .suppressed_among(&entry.recipients)
        .await
        .map_err(|e| format!("the suppression list: {e}"))?
        .into_iter()
        .collect();
    Ok(entry
        .recipients
        .iter()
        .filter(|r| !suppressed.contains(*r))
        .take(PROBES)
        .cloned()
        .collect())
}

#[derive(Debug, Clone, Copy)]
struct Window {
    after: DateTime<Utc>,
    before: DateTime<Utc>,
}

/// What a record of the batch looks like.
struct Wanted<'a> {
    job_id: &'a JobId,
    from: &'a Sender,
    units: u32,
    window: Window,
}

impl Wanted<'_> {
    /// Whether `record`, to the probed number and in the window, has the batch's sender and
    /// length: a number or a sender ID is filed as sent; a Powerpack's pick is any number.
    fn matches(&self, record: &MessageRecord) -> bool {
        // What Plivo was sent as `src` is what it files (a Powerpack's is its pick).
        let from = self.from.plivo_src().is_none_or(|src| record.from == src);
        from && record.units.is_none_or(|u| u == self.units)
    }
}

/// The uuids of `to`'s records that can only be the batch's.
async fn records_of<S: FilesStore, F, Q, T, C>(
    app: &App<S, F, Q, T, C>,
    creds: &sms_core::secrets::PlivoCredentials,
    to: &PhoneNumber,
    wanted: &Wanted<'_>,
) -> Result<Vec<String>, String> {
    let from = match wanted.from {
        Sender::Number(n) => Some(n.digits()),
        _ => None,
    };
    let mut uuids = Vec::new();
    for page in 0..MAX_PAGES {
        let query = RecordQuery {
            to,
            from,
            after: wanted.window.after,
            before: wanted.window.before,
            offset: page * sms_core::plivo::records::PAGE_LIMIT,
        };
        let listed = app
            .records
            .plivo
            .list_records(creds, &query)
            .await
            .map_err(|e| match e.class() {
                FailureClass::Retryable => format!("Plivo's list API: {e}"),
                _ => format!("Plivo's list API refused: {e}"),
            })?;
        for record in listed.records.iter().filter(|r| wanted.matches(r)) {
            // A uuid stored with another job, or with none (a single send), is another
            // send's; one stored with this job was seen in this batch's reports.
            match app.store.get_message(&record.message_uuid).await {
                Ok(None) => uuids.push(record.message_uuid.clone()),
                Ok(Some(m)) if m.job_id.as_ref() == Some(wanted.job_id) => {
                    uuids.push(record.message_uuid.clone());
                }
                Ok(Some(_)) => {}
                Err(e) => return Err(format!("reading message {}: {e}", record.message_uuid)),
            }
        }
        if !listed.more {
            break;
        }
    }
    Ok(uuids)
}

async fn settle<S: FilesStore, F, Q, T, C>(
    app: &App<S, F, Q, T, C>,
    job: &JobRecord,
    batch: u32,
    settlement: &Settlement,
) -> Result<Settled, ReconcileOutcome> {
    app.store
        .settle_unknown(&job.job_id, batch, settlement, Utc::now())
        .await
        .map_err(|e| retry("settling the batch", e))
}

async fn settle_sent<S: FilesStore, F, Q, T, C>(
    app: &App<S, F, Q, T, C>,
    job: &JobRecord,
    entry: &LedgerEntry,
    found: Vec<(String, PhoneNumber)>,
) -> ReconcileOutcome {
    let message_uuids: Vec<String> = found.iter().map(|(uuid, _)| uuid.clone()).collect();
    let settlement = Settlement::Sent {
        message_uuids: message_uuids.clone(),
    };
    match settle(app, job, entry.batch, &settlement).await {
        Ok(Settled::Done) => {}
        Ok(Settled::NotUnknown) => return ReconcileOutcome::NotUnknown,
        Err(outcome) => return outcome,
    }
    metrics::count("BatchesReconciled", 1);
    let text = entry.text.as_ref().unwrap_or(&job.text);
    let messages: Vec<_> = found
        .into_iter()
        .map(|(message_uuid, to)| AcceptedMessage {
            message_uuid,
            to: Some(to),
            from: job.from.clone(),
            job_id: Some(job.job_id.clone()),
            reference: None,
            encoding: text.encoding(),
            segments: text.segments() as u32,
            provider: sms_core::domain::provider::Provider::Plivo,
        })
        .collect();
    if let Err(e) = app.store.record_accepted(&messages, Utc::now()).await {
        // Their reports still count, by the batch their callback URL names.
        warn!(error = %e, "the found messages' items could not be written");
    }
    ReconcileOutcome::Sent { message_uuids }
}

async fn enqueue_again<S: FilesStore, F, Q: BatchQueue, T, C>(
    app: &App<S, F, Q, T, C>,
    job: &JobRecord,
    entry: LedgerEntry,
) -> ReconcileOutcome {
    let message = fanout::batch_message(job, entry);
    match fanout::enqueue_batches(&app.batches, &app.store, &job.job_id, vec![message]).await {
        0 => ReconcileOutcome::Resent,
        _ => ReconcileOutcome::Retry("the resent batch could not be enqueued".into()),
    }
}

async fn ask_again<S, F, Q, T: BatchQueue, C>(
    app: &App<S, F, Q, T, C>,
    job_id: &JobId,
    batch: u32,
    round: u32,
    why: String,
) -> ReconcileOutcome {
    let delay = app.records.settings.retry_delay_seconds;
    match fanout::request_reconcile(&app.tasks, job_id, batch, round, delay).await {
        Ok(()) => ReconcileOutcome::Again { round, why },
        Err(e) => retry("asking to settle later", e),
    }
}
