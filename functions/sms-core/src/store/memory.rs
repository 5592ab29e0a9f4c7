//! An in-memory store with the same rules as the DynamoDB adapter, for handler tests.

use crate::domain::status::{Charge, advances};
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Mutex, MutexGuard},
};

use chrono::{DateTime, Utc};

use super::control::{ControlAnswer, ControlChange, JobControl, JobControls, Parking, Verdict};
use super::keys::Retention;
use super::plans::{PlanCheckpoint, PlanClaim, PlanEnd, PlanRecord, PlanState, PlanStore};
use super::results::{
    ReportedStatus, ResultsCheckpoint, ResultsClaim, ResultsEnd, ResultsRecord, ResultsRequest,
    ResultsState, ResultsStore,
};
use super::{
    AcceptedMessage, BatchClaim, BatchLedger, BatchOutcome, BatchRef, BatchState, ChangeOutcome,
    CircuitRule, CircuitState, CreateJob, CurrentStatus, DeliveryReport, IdempotencyStore,
    JobRecord, JobSpec, JobStore, KeyClaim, LedgerEntry, MessageRecord, MessageStore, PlivoCircuit,
    ReportEffect, ReportStore, SeenOnce, Settled, Settlement, Sighting, StatusCounts, StoreError,
    StoredResponse, SuppressionChange, SuppressionList, UnknownBatches,
};
use super::{Booking, ProgressLog, ProgressSample, RequestSchedule, progress::sample_start};
use super::{CountDelta, CountedState, StatusChange};
use crate::domain::{
    estimate::{Budget, Reservation},
    ids::JobId,
    money::Money,
    phone::PhoneNumber,
    sender::Sender,
};

#[derive(Debug, Clone)]
struct IdemEntry {
    request_hash: String,
    owner: String,
    started_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    response: Option<StoredResponse>,
}

impl IdemEntry {
    fn in_progress(request_hash: &str, owner: &str, now: DateTime<Utc>) -> Self {
        Self {
            request_hash: request_hash.to_owned(),
            owner: owner.to_owned(),
            started_at: now,
            expires_at: Retention::Idempotency.expires(now),
            response: None,
        }
    }
}

/// A number's state on the suppression list (the DynamoDB adapter's `OPTOUT` item).
#[derive(Debug, Clone, Copy)]
struct SuppressionEntry {
    suppressed: bool,
    changed_at_micros: i64,
}

#[derive(Debug, Default)]
struct State {
    messages: HashMap<String, MessageRecord>,
    idempotency: HashMap<String, IdemEntry>,
    suppression: HashMap<PhoneNumber, SuppressionEntry>,
    /// Once-records by key, with when they expire.
    seen: HashMap<String, DateTime<Utc>>,
    jobs: HashMap<JobId, JobRecord>,
    /// Ledger items by job and batch, kept apart from the job as in DynamoDB: an attempt
    /// that died before committing its job leaves them behind.
    ledgers: HashMap<JobId, BTreeMap<u32, LedgerEntry>>,
    status_counts: HashMap<JobId, StatusCounts>,
    /// What reports have set, per message (the DynamoDB adapter's `STATUS` item).
    reported: HashMap<String, CurrentStatus>,
    /// The `To` of each message's latest report that had one (the `STATUS` item's `to`,
    /// which a message's facts do not fill in).
    reported_to: HashMap<String, PhoneNumber>,
    /// The number each message's reports named as its sender (a Powerpack's pick).
    reported_from: HashMap<String, PhoneNumber>,
    /// Plivo's circuit (the DynamoDB adapter's `CIRCUIT` item): failures counted since.
    circuit: (u32, Option<DateTime<Utc>>),
    circuit_open_until: Option<DateTime<Utc>>,
    /// The request schedule (the DynamoDB adapter's `PACE` item).
    next_turn: Option<DateTime<Utc>>,
    slowed_until: Option<DateTime<Utc>>,
    /// Progress samples by job and sample start (the DynamoDB adapter's `RATE#` items).
    progress: HashMap<JobId, BTreeMap<DateTime<Utc>, u64>>,
    /// Plans of jobs from uploads (the DynamoDB adapter's `PLAN` item).
    plans: HashMap<JobId, PlanRecord>,
    /// Results builds (the DynamoDB adapter's `RESULTS` item).
    results: HashMap<JobId, ResultsRecord>,
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in another test thread must not hide this test's result.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every stored message, for assertions.
    pub fn messages(&self) -> Vec<MessageRecord> {
        let state = self.lock();
        state.messages.values().map(|m| state.shown(m)).collect()
    }
}

impl MessageStore for MemoryStore {
    async fn record_accepted(
        &self,
        messages: &[AcceptedMessage],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        for m in messages {
            let entry = state
                .messages
                .entry(m.message_uuid.clone())
                .or_insert_with(|| MessageRecord::new_queued(&m.message_uuid, now));
            if m.to.is_some() {
                entry.to.clone_from(&m.to);
            }
            entry.from = Some(m.from.clone());
            if entry.provider != m.provider {
                entry.provider = m.provider;
                entry.status = m.provider.first_status();
            }
            entry.encoding = Some(m.encoding.as_str().to_owned());
            entry.segments = Some(m.segments);
            if m.job_id.is_some() {
                entry.job_id.clone_from(&m.job_id);
            }
            if m.reference.is_some() {
                entry.reference.clone_from(&m.reference);
            }
        }
        Ok(())
    }

    async fn get_message(&self, message_uuid: &str) -> Result<Option<MessageRecord>, StoreError> {
        let state = self.lock();
        Ok(state.messages.get(message_uuid).map(|m| state.shown(m)))
    }
}

impl IdempotencyStore for MemoryStore {
    async fn claim_key(
        &self,
        key: &str,
        request_hash: &str,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<KeyClaim, StoreError> {
        let mut state = self.lock();
        match state.idempotency.get(key) {
            Some(e) if e.expires_at >= now => {
                return Ok(if e.request_hash != request_hash {
                    KeyClaim::Mismatch
                } else if let Some(r) = &e.response {
                    KeyClaim::Replay(r.clone())
                } else {
                    KeyClaim::InProgress {
                        started_at: e.started_at,
                    }
                });
            }
            _ => {}
        }
        state.idempotency.insert(
            key.to_owned(),
            IdemEntry::in_progress(request_hash, owner, now),
        );
        Ok(KeyClaim::Claimed)
    }

    async fn take_over_key(
        &self,
        key: &str,
        request_hash: &str,
        stale_started_at: DateTime<Utc>,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let still_the_one_read = state.idempotency.get(key).is_some_and(|e| {
            e.response.is_none()
                && e.request_hash == request_hash
                && e.started_at == stale_started_at
        });
        if still_the_one_read {
            state.idempotency.insert(
                key.to_owned(),
                IdemEntry::in_progress(request_hash, owner, now),
            );
        }
        Ok(still_the_one_read)
    }

    async fn finish_key(
        &self,
        key: &str,
        request_hash: &str,
        owner: &str,
        response: &StoredResponse,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(entry) = state
            .idempotency
            .get_mut(key)
            .filter(|e| e.response.is_none() && e.owner == owner)
        else {
            return Ok(false);
        };
        *entry = IdemEntry {
            request_hash: request_hash.to_owned(),
            owner: owner.to_owned(),
            started_at: entry.started_at,
            expires_at: Retention::Idempotency.expires(now),
            response: Some(response.clone()),
        };
        Ok(true)
    }

    async fn release_key(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state
            .idempotency
            .get(key)
            .is_some_and(|e| e.response.is_none() && e.owner == owner)
        {
            state.idempotency.remove(key);
        }
        Ok(())
    }
}

impl State {
    /// A message as the DynamoDB adapter merges its items: `from` shown by
    /// [`Sender::shown`].
    fn shown(&self, message: &MessageRecord) -> MessageRecord {
        MessageRecord {
            from: Sender::shown(
                message.from.clone(),
                self.reported_from.get(&message.message_uuid),
            ),
            ..message.clone()
        }
    }

    fn is_suppressed(&self, number: &PhoneNumber) -> bool {
        self.suppression.get(number).is_some_and(|e| e.suppressed)
    }

    /// Whether `sighting` has an unexpired record (expiry in whole seconds, as DynamoDB's).
    fn seen(&self, sighting: Sighting<'_>, now: DateTime<Utc>) -> bool {
        self.seen
            .get(&sighting.key())
            .is_some_and(|expires| expires.timestamp() >= now.timestamp())
    }

    fn record_sighting(&mut self, sighting: Sighting<'_>, now: DateTime<Utc>) {
        self.seen
            .insert(sighting.key(), sighting.retention().expires(now));
    }
}

impl SeenOnce for MemoryStore {
    async fn first_sighting(
        &self,
        sighting: Sighting<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        if state.seen(sighting, now) {
            return Ok(false);
        }
        state.record_sighting(sighting, now);
        Ok(true)
    }
}

impl SuppressionList for MemoryStore {
    async fn is_suppressed(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        Ok(self.lock().is_suppressed(number))
    }

    async fn suppressed_among(
        &self,
        numbers: &[PhoneNumber],
    ) -> Result<HashSet<PhoneNumber>, StoreError> {
        let state = self.lock();
        Ok(numbers
            .iter()
            .filter(|n| state.is_suppressed(n))
            .cloned()
            .collect())
    }

    async fn change(
        &self,
        change: &SuppressionChange<'_>,
        now: DateTime<Utc>,
    ) -> Result<ChangeOutcome, StoreError> {
        let mut state = self.lock();
        let sighting = change.message_uuid.map(Sighting::InboundMessage);
        if let Some(s) = sighting
            && state.seen(s, now)
        {
            return Ok(ChangeOutcome::Duplicate);
        }
        let recorded = state
            .suppression
            .get(change.number)
            .map(|e| e.changed_at_micros);
        if !change.supersedes(recorded) {
            return Ok(ChangeOutcome::Stale);
        }
        if let Some(s) = sighting {
            state.record_sighting(s, now);
        }
        state.suppression.insert(
            change.number.clone(),
            SuppressionEntry {
                suppressed: change.suppressed,
                changed_at_micros: change.at.timestamp_micros(),
            },
        );
        Ok(ChangeOutcome::Applied)
    }
}

impl MemoryStore {
    /// Sets a ledger entry's state directly, for tests of crash recovery.
    pub fn force_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        state: BatchState,
        lease_until: Option<DateTime<Utc>>,
    ) {
        let mut st = self.lock();
        if let Some(e) = st.ledgers.get_mut(job_id).and_then(|l| l.get_mut(&batch)) {
            e.state = state;
            e.lease_until = lease_until;
            if state == BatchState::Sending {
                e.attempts += 1;
            }
        }
    }
}

impl MemoryStore {
    /// Ends a results build's lease now, as the passing of time would: for tests of a claim
    /// that died.
    pub fn expire_results_lease(&self, job_id: &JobId) {
        if let Some(record) = self.lock().results.get_mut(job_id) {
            record.lease_until = Some(Utc::now() - chrono::Duration::seconds(1));
        }
    }

    /// Ends a plan's lease now, as the passing of time would: for tests of a claim that died.
    pub fn expire_plan_lease(&self, job_id: &JobId) {
        if let Some(plan) = self.lock().plans.get_mut(job_id) {
            plan.lease_until = Some(Utc::now() - chrono::Duration::seconds(1));
        }
    }

    /// Removes a job item and keeps its ledger, for tests of what needs the job item.
    pub fn forget_job(&self, job_id: &JobId) {
        self.lock().jobs.remove(job_id);
    }
}

/// Writes ledger entries as the DynamoDB adapter's conditional puts do, each on its own:
/// every entry whose item is absent or untouched is written; an item that moved on is kept,
/// and makes the whole a conflict.
fn put_untouched(
    ledger: &mut BTreeMap<u32, LedgerEntry>,
    entries: impl Iterator<Item = LedgerEntry>,
) -> CreateJob {
    let mut outcome = CreateJob::Created;
    for entry in entries {
        if ledger.get(&entry.batch).is_some_and(|e| !e.is_untouched()) {
            outcome = CreateJob::Conflict;
            continue;
        }
        ledger.insert(entry.batch, entry);
    }
    outcome
}

impl JobStore for MemoryStore {
    async fn get_job(&self, job_id: &JobId) -> Result<Option<JobRecord>, StoreError> {
        Ok(self.lock().jobs.get(job_id).cloned())
    }

    async fn write_ledger(
        &self,
        spec: &JobSpec,
        _now: DateTime<Utc>,
    ) -> Result<CreateJob, StoreError> {
        let mut state = self.lock();
        let ledger = state.ledgers.entry(spec.job_id.clone()).or_default();
        let count = spec.batches.len() as u32;
        let entries = spec
            .batches
            .iter()
            .enumerate()
            .map(|(i, recipients)| spec.ledger_entry(i, recipients));
        if put_untouched(ledger, entries) == CreateJob::Conflict {
            return Ok(CreateJob::Conflict);
        }
        ledger.retain(|batch, e| *batch < count || !e.is_untouched());
        Ok(if ledger.len() > spec.batches.len() {
            CreateJob::Conflict
        } else {
            CreateJob::Created
        })
    }

    async fn commit_job(&self, job: &JobRecord) -> Result<CreateJob, StoreError> {
        let mut state = self.lock();
        if state.jobs.contains_key(&job.job_id) {
            return Ok(CreateJob::Conflict);
        }
        state.jobs.insert(job.job_id.clone(), job.clone());
        Ok(CreateJob::Created)
    }

    async fn ledger(&self, job_id: &JobId) -> Result<Vec<LedgerEntry>, StoreError> {
        let state = self.lock();
        let (Some(job), Some(ledger)) = (state.jobs.get(job_id), state.ledgers.get(job_id)) else {
            return Ok(Vec::new());
        };
        Ok(ledger
            .range(..job.batches_total)
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn ledger_range(
        &self,
        job_id: &JobId,
        batches: std::ops::Range<u32>,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let state = self.lock();
        Ok(state
            .ledgers
            .get(job_id)
            .map(|ledger| ledger.range(batches).map(|(_, e)| e.clone()).collect())
            .unwrap_or_default())
    }

    async fn mark_enqueued(&self, job_id: &JobId, batch: u32) -> Result<(), StoreError> {
        let mut state = self.lock();
        let entry = state
            .ledgers
            .get_mut(job_id)
            .and_then(|l| l.get_mut(&batch))
            .ok_or_else(|| super::jobs::missing_ledger_item(job_id, batch))?;
        entry.enqueued = true;
        Ok(())
    }

    async fn status_counts(&self, job_id: &JobId) -> Result<StatusCounts, StoreError> {
        Ok(self
            .lock()
            .status_counts
            .get(job_id)
            .cloned()
            .unwrap_or_default())
    }
}

impl BatchLedger for MemoryStore {
    async fn claim_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        reservation: Option<&Reservation>,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<BatchClaim, StoreError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(entry) = state
            .ledgers
            .get_mut(job_id)
            .and_then(|l| l.get_mut(&batch))
        else {
            return Ok(BatchClaim::Missing);
        };
        // The job's control and caps are checked with the claim, as the DynamoDB
        // transaction does.
        if matches!(entry.state, BatchState::Pending | BatchState::Parked) {
            let Some(job) = state.jobs.get_mut(job_id) else {
                return Ok(BatchClaim::Missing);
            };
            if job.control != JobControl::Running {
                return Ok(BatchClaim::Held(job.control));
            }
            // Only the first claim reserves: a released batch keeps what it took. A job
            // without caps has no room for any reservation, as in the table.
            if let (BatchState::Pending, 0, Some(reservation)) = (
                entry.state,
                entry.attempts,
                reservation.filter(|r| r.takes_any()),
            ) {
                let left = job.budget.unwrap_or_default();
                let charged = state
                    .status_counts
                    .get(job_id)
                    .map_or(0, |c| c.charged.micros.max(0) as u64);
                if !left.has_room_for(reservation)
                    || !left.charges_leave_room_for(Money::from_micros(charged), reservation)
                {
                    return Ok(BatchClaim::OverBudget(left));
                }
                job.budget = Some(left.less(reservation));
            }
        }
        Ok(match entry.state {
            BatchState::Pending => {
                entry.state = BatchState::Sending;
                entry.attempts += 1;
                entry.lease_until = Some(lease_until);
                entry.claimed_at = Some(now);
                BatchClaim::Claimed {
                    attempt: entry.attempts,
                }
            }
            _ => entry.claim_refusal(now),
        })
    }

    async fn finish_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        attempt: u32,
        outcome: &BatchOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        // Both conditions first, as the DynamoDB transaction checks them: a false one changes
        // nothing.
        let (Some(entry), Some(job)) = (
            state
                .ledgers
                .get_mut(job_id)
                .and_then(|l| l.get_mut(&batch)),
            state.jobs.get_mut(job_id),
        ) else {
            return Ok(false);
        };
        if entry.state != BatchState::Sending || entry.attempts != attempt {
            return Ok(false);
        }
        entry.state = outcome.state();
        entry.lease_until = None;
        entry.ended_at = Some(now);
        job.updated_at = now;
        match outcome {
            BatchOutcome::Sent {
                message_uuids,
                invalid_numbers,
                opted_out,
            } => {
                entry.message_uuids.clone_from(message_uuids);
                entry.opted_out.clone_from(opted_out);
                job.recipients_opted_out += opted_out.len() as u64;
                job.batches_sent += 1;
                job.messages_accepted += message_uuids.len() as u64;
                job.sent_batches.insert(batch);
                job.plivo_invalid += invalid_numbers.len() as u64;
            }
            BatchOutcome::Fallback {
                sent,
                not_sent: _,
                unknown,
                opted_out,
            } => {
                entry.message_uuids = sent.iter().map(|(_, id)| id.clone()).collect();
                entry.fallback = Some(super::FallbackSends {
                    to: sent.iter().map(|(n, _)| n.clone()).collect(),
                    unknown: unknown.clone(),
                });
                entry.opted_out.clone_from(opted_out);
                job.recipients_opted_out += opted_out.len() as u64;
                job.batches_sent += 1;
                job.messages_by_fallback += sent.len() as u64;
            }
            BatchOutcome::Failed { error } => {
                entry.error = Some(error.clone());
                job.batches_failed += 1;
            }
            BatchOutcome::Unknown { reason } => {
                entry.error = Some(reason.clone());
                job.batches_unknown += 1;
            }
        }
        Ok(true)
    }

    async fn release_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        attempt: u32,
    ) -> Result<(), StoreError> {
        if let Some(e) = self
            .lock()
            .ledgers
            .get_mut(job_id)
            .and_then(|l| l.get_mut(&batch))
            && e.state == BatchState::Sending
            && e.attempts == attempt
        {
            e.state = BatchState::Pending;
            e.lease_until = None;
        }
        Ok(())
    }
}

impl PlivoCircuit for MemoryStore {
    async fn circuit(&self, now: DateTime<Utc>) -> Result<CircuitState, StoreError> {
        let state = self.lock();
        Ok(CircuitState {
            open_until: state.circuit_open_until.filter(|t| *t > now),
            failures: state.circuit.0,
        })
    }

    async fn note_plivo_failure(
        &self,
        rule: CircuitRule,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let mut state = self.lock();
        state.circuit = match state.circuit {
            (count, Some(since)) if since > now - rule.window => (count + 1, Some(since)),
            _ => (1, Some(now)),
        };
        if state.circuit.0 < rule.failures {
            return Ok(None);
        }
        if state.circuit_open_until.is_some_and(|t| t > now) {
            return Ok(None);
        }
        let until = now + rule.open_for;
        state.circuit_open_until = Some(until);
        state.circuit = (0, None);
        Ok(Some(until))
    }

    async fn note_plivo_success(&self) -> Result<(), StoreError> {
        self.lock().circuit = (0, None);
        Ok(())
    }
}

impl UnknownBatches for MemoryStore {
    async fn settle_unknown(
        &self,
        job_id: &JobId,
        batch: u32,
        settlement: &Settlement,
        now: DateTime<Utc>,
    ) -> Result<Settled, StoreError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let (Some(entry), Some(job)) = (
            state
                .ledgers
                .get_mut(job_id)
                .and_then(|l| l.get_mut(&batch)),
            state.jobs.get_mut(job_id),
        ) else {
            return Ok(Settled::NotUnknown);
        };
        if entry.state != BatchState::Unknown {
            return Ok(Settled::NotUnknown);
        }
        match settlement {
            Settlement::Sent { message_uuids } => {
                entry.state = BatchState::Sent;
                entry.reconciled = true;
                entry.message_uuids.clone_from(message_uuids);
                job.batches_sent += 1;
                job.batches_reconciled += 1;
            }
            Settlement::Resend => {
                if entry.resent {
                    return Ok(Settled::NotUnknown);
                }
                entry.state = BatchState::Pending;
                entry.enqueued = false;
                entry.resent = true;
                job.batches_resent += 1;
            }
        }
        job.batches_unknown -= 1;
        job.updated_at = now;
        Ok(Settled::Done)
    }
}

impl JobControls for MemoryStore {
    async fn raise_budget(
        &self,
        job_id: &JobId,
        caps: Budget,
    ) -> Result<Option<JobRecord>, StoreError> {
        let mut state = self.lock();
        let Some(job) = state.jobs.get_mut(job_id) else {
            return Ok(None);
        };
        job.budget = job.budget.map(|left| left.raised(caps));
        Ok(Some(job.clone()))
    }

    async fn change_control(
        &self,
        job_id: &JobId,
        change: ControlChange,
        now: DateTime<Utc>,
    ) -> Result<ControlAnswer, StoreError> {
        let mut state = self.lock();
        let Some(job) = state.jobs.get_mut(job_id) else {
            return Ok(ControlAnswer::Missing);
        };
        Ok(match change.verdict(job.control, job.is_done()) {
            Verdict::Change(control) => {
                job.control = control;
                job.control_changed_at = Some(now);
                job.updated_at = now;
                ControlAnswer::Changed(job.clone())
            }
            Verdict::Unchanged => ControlAnswer::Unchanged(job.clone()),
            Verdict::Refused => ControlAnswer::Refused(job.clone()),
        })
    }

    async fn park_batch(&self, job_id: &JobId, batch: u32) -> Result<Parking, StoreError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        if !matches!(
            state.jobs.get(job_id).map(|j| j.control),
            Some(JobControl::Paused(_) | JobControl::Scheduled)
        ) {
            return Ok(Parking::NotPaused);
        }
        match state
            .ledgers
            .get_mut(job_id)
            .and_then(|l| l.get_mut(&batch))
        {
            Some(entry) if entry.state == BatchState::Pending => {
                entry.state = BatchState::Parked;
                Ok(Parking::Parked)
            }
            _ => Ok(Parking::NotPending),
        }
    }

    async fn unpark_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        deferred: Option<u64>,
    ) -> Result<bool, StoreError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let (Some(entry), Some(job)) = (
            state
                .ledgers
                .get_mut(job_id)
                .and_then(|l| l.get_mut(&batch)),
            state.jobs.get_mut(job_id),
        ) else {
            return Ok(false);
        };
        if entry.state != BatchState::Parked || entry.deferred != deferred.is_some() {
            return Ok(false);
        }
        entry.state = BatchState::Pending;
        entry.enqueued = false;
        entry.deferred = false;
        if let Some(recipients) = deferred {
            job.recipients_waiting = job.recipients_waiting.saturating_sub(recipients);
        }
        Ok(true)
    }

    async fn defer_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        recipients: u64,
        opens: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let (Some(entry), Some(job)) = (
            state
                .ledgers
                .get_mut(job_id)
                .and_then(|l| l.get_mut(&batch)),
            state.jobs.get_mut(job_id),
        ) else {
            return Ok(false);
        };
        // The opening is recorded whether or not the batch is pending, as the table does
        // (it writes the opening before the count).
        // Millisecond precision, as the table keeps it.
        let opens = DateTime::from_timestamp_millis(opens.timestamp_millis()).unwrap_or(opens);
        if job.next_window_at.is_none_or(|at| at <= now || at > opens) {
            job.next_window_at = Some(opens);
        }
        if entry.state != BatchState::Pending {
            return Ok(false);
        }
        entry.state = BatchState::Parked;
        entry.deferred = true;
        job.recipients_waiting += recipients;
        Ok(true)
    }

    async fn cancel_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        recipients: u64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let (Some(entry), Some(job)) = (
            state
                .ledgers
                .get_mut(job_id)
                .and_then(|l| l.get_mut(&batch)),
            state.jobs.get_mut(job_id),
        ) else {
            return Ok(false);
        };
        if job.control != JobControl::Cancelled
            || !matches!(entry.state, BatchState::Pending | BatchState::Parked)
        {
            return Ok(false);
        }
        entry.state = BatchState::Cancelled;
        job.batches_cancelled += 1;
        job.recipients_cancelled += recipients;
        job.updated_at = now;
        Ok(true)
    }
}

impl ReportStore for MemoryStore {
    async fn apply_report(
        &self,
        report: &DeliveryReport,
        batch: Option<&BatchRef>,
        now: DateTime<Utc>,
    ) -> Result<ReportEffect, StoreError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let current = state.reported.get(&report.message_uuid).copied();
        if !advances(current, report) {
            return Ok(ReportEffect::Ignored);
        }
        let from = current.map(|c| c.status);
        let charged_before = state
            .messages
            .get(&report.message_uuid)
            .map(|m| Charge::of(m.amount.as_deref(), m.units))
            .unwrap_or_default();
        state.reported.insert(
            report.message_uuid.clone(),
            CurrentStatus {
                status: report.status,
                // A report without a sequence keeps the stored one (see `ReportStore`).
                sequence: report.sequence.or(current.and_then(|c| c.sequence)),
            },
        );
        let job_id = batch.map(|b| &b.job_id);
        let record = state
            .messages
            .entry(report.message_uuid.clone())
            .or_insert_with(|| MessageRecord::new_queued(&report.message_uuid, now));
        record.status = report.status;
        record.sequence = report.sequence.or(record.sequence);
        record.error_code.clone_from(&report.error_code);
        record.units = report.units.or(record.units);
        if report.total_amount.is_some() {
            record.amount.clone_from(&report.total_amount);
        }
        if record.to.is_none() {
            record.to.clone_from(&report.to);
        }
        if let Some(to) = &report.to {
            state
                .reported_to
                .insert(report.message_uuid.clone(), to.clone());
        }
        if let Some(from) = &report.from {
            state
                .reported_from
                .insert(report.message_uuid.clone(), from.clone());
        }
        if let Some(job) = job_id {
            record.job_id.get_or_insert_with(|| job.clone());
        }
        record.updated_at = now;
        if let Some(batch) = batch {
            // What DynamoDB's stream adds a moment later (`CountStore`), added at once.
            let charged_after = Charge::of(record.amount.as_deref(), record.units);
            let delta = CountDelta::of(&StatusChange {
                batch: batch.clone(),
                old: from.map(|status| CountedState {
                    status,
                    charge: charged_before,
                }),
                new: CountedState {
                    status: report.status,
                    charge: charged_after,
                },
            });
            let counts = state.status_counts.entry(batch.job_id.clone()).or_default();
            for (status, d) in delta.statuses {
                counts.add(status, d);
            }
            for (b, d) in delta.seen {
                *counts.seen_by_batch.entry(b).or_default() += d.max(0) as u64;
            }
            counts.charged.micros += delta.charge.micros;
            counts.charged.units += delta.charge.units;
        }
        Ok(ReportEffect::Applied { from })
    }
}

impl RequestSchedule for MemoryStore {
    async fn book_turns(
        &self,
        turns: u32,
        spacing: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<Booking, StoreError> {
        let mut state = self.lock();
        // The DynamoDB adapter's two conditional updates, under one lock.
        let turn = match state.next_turn {
            Some(next) if next >= now => next,
            _ => now,
        };
        state.next_turn = Some(turn + spacing * turns.max(1) as i32);
        Ok(Booking {
            turn,
            slowed_until: state.slowed_until.filter(|t| *t > now),
        })
    }

    async fn hold_back(
        &self,
        resume: DateTime<Utc>,
        slowed_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.next_turn.is_none_or(|next| next < resume) {
            state.next_turn = Some(resume);
        }
        if state.slowed_until.is_none_or(|t| t < slowed_until) {
            state.slowed_until = Some(slowed_until);
        }
        Ok(())
    }
}

impl ProgressLog for MemoryStore {
    async fn note_progress(
        &self,
        job_id: &JobId,
        recipients: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        *self
            .lock()
            .progress
            .entry(job_id.clone())
            .or_default()
            .entry(sample_start(now))
            .or_default() += recipients;
        Ok(())
    }

    async fn recent_progress(
        &self,
        job_id: &JobId,
        since: DateTime<Utc>,
    ) -> Result<Vec<ProgressSample>, StoreError> {
        Ok(self
            .lock()
            .progress
            .get(job_id)
            .map(|samples| {
                samples
                    .range(sample_start(since)..)
                    .map(|(start, recipients)| ProgressSample {
                        start: *start,
                        recipients: *recipients,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}

impl PlanStore for MemoryStore {
    async fn create_plan(&self, plan: &PlanRecord) -> Result<CreateJob, StoreError> {
        let mut state = self.lock();
        if state.plans.contains_key(&plan.job_id) {
            return Ok(CreateJob::Conflict);
        }
        state.plans.insert(plan.job_id.clone(), plan.clone());
        Ok(CreateJob::Created)
    }

    async fn get_plan(&self, job_id: &JobId) -> Result<Option<PlanRecord>, StoreError> {
        Ok(self.lock().plans.get(job_id).cloned())
    }

    async fn claim_plan(
        &self,
        job_id: &JobId,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<PlanClaim, StoreError> {
        let mut state = self.lock();
        let Some(plan) = state.plans.get_mut(job_id) else {
            return Ok(PlanClaim::Missing);
        };
        if plan.state != PlanState::Planning {
            return Ok(PlanClaim::Ended(plan.state));
        }
        // The adapters compare leases in epoch milliseconds.
        if let Some(until) = plan.lease_until
            && until.timestamp_millis() >= now.timestamp_millis()
        {
            return Ok(PlanClaim::Busy { lease_until: until });
        }
        plan.attempts += 1;
        plan.lease_until = Some(lease_until);
        plan.updated_at = now;
        Ok(PlanClaim::Claimed {
            attempt: plan.attempts,
            plan: Box::new(plan.clone()),
        })
    }

    async fn save_checkpoint(
        &self,
        job_id: &JobId,
        attempt: u32,
        checkpoint: &PlanCheckpoint,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(plan) = state
            .plans
            .get_mut(job_id)
            .filter(|p| p.state == PlanState::Planning && p.attempts == attempt)
        else {
            return Ok(false);
        };
        plan.checkpoint = checkpoint.clone();
        plan.lease_until = Some(lease_until);
        plan.updated_at = now;
        Ok(true)
    }

    async fn end_plan(
        &self,
        job_id: &JobId,
        attempt: u32,
        end: &PlanEnd,
        checkpoint: &PlanCheckpoint,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(plan) = state
            .plans
            .get_mut(job_id)
            .filter(|p| p.state == PlanState::Planning && p.attempts == attempt)
        else {
            return Ok(false);
        };
        match end {
            PlanEnd::Committed => plan.state = PlanState::Committed,
            PlanEnd::Failed { reason } => {
                plan.state = PlanState::Failed;
                plan.error = Some(reason.clone());
            }
        }
        plan.checkpoint = checkpoint.clone();
        plan.lease_until = None;
        plan.updated_at = now;
        Ok(true)
    }

    async fn put_batches(
        &self,
        job_id: &JobId,
        entries: &[LedgerEntry],
        _now: DateTime<Utc>,
    ) -> Result<CreateJob, StoreError> {
        let mut state = self.lock();
        let ledger = state.ledgers.entry(job_id.clone()).or_default();
        Ok(put_untouched(ledger, entries.iter().cloned()))
    }
}

impl State {
    /// The build claim `attempt` of `generation` holds, if it still does.
    fn held_results(
        &mut self,
        job_id: &JobId,
        generation: u32,
        attempt: u32,
    ) -> Option<&mut ResultsRecord> {
        self.results.get_mut(job_id).filter(|r| {
            r.state == ResultsState::Building && r.generation == generation && r.attempts == attempt
        })
    }
}

impl ResultsStore for MemoryStore {
    async fn request_results(
        &self,
        job_id: &JobId,
        now: DateTime<Utc>,
    ) -> Result<ResultsRequest, StoreError> {
        let mut state = self.lock();
        let previous = state.results.get(job_id);
        if let Some(building) = previous.filter(|r| r.state == ResultsState::Building) {
            return Ok(ResultsRequest::Building(building.clone()));
        }
        let record = ResultsRecord {
            job_id: job_id.clone(),
            generation: previous.map_or(0, |r| r.generation) + 1,
            state: ResultsState::Building,
            checkpoint: ResultsCheckpoint::default(),
            attempts: 0,
            lease_until: None,
            error: None,
            requested_at: now,
            updated_at: now,
        };
        state.results.insert(job_id.clone(), record.clone());
        Ok(ResultsRequest::Started(record))
    }

    async fn get_results(&self, job_id: &JobId) -> Result<Option<ResultsRecord>, StoreError> {
        Ok(self.lock().results.get(job_id).cloned())
    }

    async fn claim_results(
        &self,
        job_id: &JobId,
        generation: u32,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<ResultsClaim, StoreError> {
        let mut state = self.lock();
        let Some(record) = state.results.get_mut(job_id) else {
            return Ok(ResultsClaim::Missing);
        };
        if record.state != ResultsState::Building || record.generation != generation {
            return Ok(ResultsClaim::Ended);
        }
        if let Some(until) = record.lease_until.filter(|until| *until >= now) {
            return Ok(ResultsClaim::Busy { lease_until: until });
        }
        record.attempts += 1;
        record.lease_until = Some(lease_until);
        record.updated_at = now;
        Ok(ResultsClaim::Claimed {
            attempt: record.attempts,
            record: Box::new(record.clone()),
        })
    }

    async fn save_results_checkpoint(
        &self,
        job_id: &JobId,
        generation: u32,
        attempt: u32,
        checkpoint: &ResultsCheckpoint,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(record) = state.held_results(job_id, generation, attempt) else {
            return Ok(false);
        };
        record.checkpoint = checkpoint.clone();
        record.lease_until = Some(lease_until);
        record.updated_at = now;
        Ok(true)
    }

    async fn end_results(
        &self,
        job_id: &JobId,
        generation: u32,
        attempt: u32,
        end: &ResultsEnd,
        checkpoint: &ResultsCheckpoint,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(record) = state.held_results(job_id, generation, attempt) else {
            return Ok(false);
        };
        match end {
            ResultsEnd::Ready => record.state = ResultsState::Ready,
            ResultsEnd::Failed { reason } => {
                record.state = ResultsState::Failed;
                record.error = Some(reason.clone());
            }
        }
        record.checkpoint = checkpoint.clone();
        record.lease_until = None;
        record.updated_at = now;
        Ok(true)
    }

    async fn reported(&self, message_uuids: &[String]) -> Result<Vec<ReportedStatus>, StoreError> {
        let state = self.lock();
        let unique: HashSet<&String> = message_uuids.iter().collect();
        Ok(unique
            .into_iter()
            .filter(|uuid| state.reported.contains_key(*uuid))
            .filter_map(|uuid| state.messages.get(uuid))
            .map(|m| ReportedStatus {
                message_uuid: m.message_uuid.clone(),
                to: state.reported_to.get(&m.message_uuid).cloned(),
                status: m.status,
                error_code: m.error_code.clone(),
                units: m.units,
                amount: m.amount.clone(),
                updated_at: m.updated_at,
            })
            .collect())
    }
}
