//! An in-memory store with the same rules as the DynamoDB adapter, for handler tests.

use std::{
    collections::{HashMap, HashSet},
    sync::{Mutex, MutexGuard},
};

use chrono::{DateTime, Duration, Utc};

use super::{
    AcceptedMessage, BatchLedger, BatchOutcome, BatchRef, BatchState, ClaimOutcome, CurrentStatus,
    DeliveryReport, IDEMPOTENCY_TTL_HOURS, IdempotencyBegin, IdempotencyStore, JobRecord, JobSpec,
    JobStore, LedgerEntry, MessageRecord, MessageStore, ReportEffect, ReportStore, StatusCounts,
    StoreError, StoredResponse, SuppressionList, SuppressionSource, advances, count_changes,
};
use crate::phone::PhoneNumber;

#[derive(Debug, Clone)]
struct IdemEntry {
    request_hash: String,
    started_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    response: Option<StoredResponse>,
}

#[derive(Debug, Default)]
struct State {
    messages: HashMap<String, MessageRecord>,
    idempotency: HashMap<String, IdemEntry>,
    suppressed: HashMap<PhoneNumber, SuppressionSource>,
    jobs: HashMap<String, JobRecord>,
    ledgers: HashMap<String, Vec<LedgerEntry>>,
    status_counts: HashMap<String, StatusCounts>,
    /// What reports have set, per message (the DynamoDB adapter's `STATUS` item).
    reported: HashMap<String, CurrentStatus>,
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
        self.lock().messages.values().cloned().collect()
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
            if let Some(to) = &m.to {
                entry.to = Some(to.to_string());
            }
            entry.from = Some(m.from.to_string());
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
        Ok(self.lock().messages.get(message_uuid).cloned())
    }
}

impl IdempotencyStore for MemoryStore {
    async fn begin(
        &self,
        key: &str,
        request_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<IdempotencyBegin, StoreError> {
        let mut state = self.lock();
        match state.idempotency.get(key) {
            Some(e) if e.expires_at >= now => {
                return Ok(if e.request_hash != request_hash {
                    IdempotencyBegin::Mismatch
                } else if let Some(r) = &e.response {
                    IdempotencyBegin::Replay(r.clone())
                } else {
                    IdempotencyBegin::InProgress {
                        started_at: e.started_at,
                    }
                });
            }
            _ => {}
        }
        state.idempotency.insert(
            key.to_owned(),
            IdemEntry {
                request_hash: request_hash.to_owned(),
                started_at: now,
                expires_at: now + Duration::hours(IDEMPOTENCY_TTL_HOURS),
                response: None,
            },
        );
        Ok(IdempotencyBegin::Started)
    }

    async fn complete(
        &self,
        key: &str,
        request_hash: &str,
        response: &StoredResponse,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.lock().idempotency.insert(
            key.to_owned(),
            IdemEntry {
                request_hash: request_hash.to_owned(),
                started_at: now,
                expires_at: now + Duration::hours(IDEMPOTENCY_TTL_HOURS),
                response: Some(response.clone()),
            },
        );
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state
            .idempotency
            .get(key)
            .is_some_and(|e| e.response.is_none())
        {
            state.idempotency.remove(key);
        }
        Ok(())
    }
}

impl SuppressionList for MemoryStore {
    async fn is_suppressed(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        Ok(self.lock().suppressed.contains_key(number))
    }

    async fn suppressed_among(
        &self,
        numbers: &[PhoneNumber],
    ) -> Result<HashSet<PhoneNumber>, StoreError> {
        let state = self.lock();
        Ok(numbers
            .iter()
            .filter(|n| state.suppressed.contains_key(*n))
            .cloned()
            .collect())
    }

    async fn suppress(
        &self,
        number: &PhoneNumber,
        source: SuppressionSource,
        _now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.lock().suppressed.insert(number.clone(), source);
        Ok(())
    }

    async fn unsuppress(&self, number: &PhoneNumber) -> Result<(), StoreError> {
        self.lock().suppressed.remove(number);
        Ok(())
    }
}

impl MemoryStore {
    /// Sets a ledger entry's state directly, for tests of crash recovery.
    pub fn force_batch(
        &self,
        job_id: &str,
        batch: u32,
        state: BatchState,
        lease_until: Option<DateTime<Utc>>,
    ) {
        let mut st = self.lock();
        if let Some(e) = st
            .ledgers
            .get_mut(job_id)
            .and_then(|l| l.get_mut(batch as usize))
        {
            e.state = state;
            e.lease_until = lease_until;
            if state == BatchState::Sending {
                e.attempts += 1;
            }
        }
    }
}

impl MemoryStore {
    /// Removes a job item and keeps its ledger, for tests of what needs the job item.
    pub fn forget_job(&self, job_id: &str) {
        self.lock().jobs.remove(job_id);
    }
}

impl JobStore for MemoryStore {
    async fn get_job(&self, job_id: &str) -> Result<Option<JobRecord>, StoreError> {
        Ok(self.lock().jobs.get(job_id).cloned())
    }

    async fn create_job(&self, spec: &JobSpec, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.jobs.contains_key(&spec.job_id) {
            return Err(StoreError::Backend {
                operation: "PutItem",
                reason: "job exists".into(),
            });
        }
        let ledger = spec
            .batches
            .iter()
            .enumerate()
            .map(|(i, recipients)| LedgerEntry {
                batch: i as u32,
                state: BatchState::Pending,
                enqueued: false,
                attempts: 0,
                lease_until: None,
                recipients: recipients.clone(),
                message_uuids: Vec::new(),
                error: None,
            })
            .collect();
        state.ledgers.insert(spec.job_id.clone(), ledger);
        state.jobs.insert(
            spec.job_id.clone(),
            JobRecord {
                job_id: spec.job_id.clone(),
                text: spec.text.clone(),
                from: spec.from.to_string(),
                reference: spec.reference.clone(),
                encoding: spec.encoding.as_str().to_owned(),
                segments: spec.segments,
                counts: spec.counts,
                callback_url: spec.callback_url.clone(),
                batches_total: spec.batches.len() as u32,
                batches_sent: 0,
                batches_failed: 0,
                batches_unknown: 0,
                messages_accepted: 0,
                sent_batches: Default::default(),
                plivo_invalid: 0,
                created_at: now,
                updated_at: now,
            },
        );
        Ok(())
    }

    async fn ledger(&self, job_id: &str) -> Result<Vec<LedgerEntry>, StoreError> {
        Ok(self.lock().ledgers.get(job_id).cloned().unwrap_or_default())
    }

    async fn mark_enqueued(&self, job_id: &str, batch: u32) -> Result<(), StoreError> {
        let mut state = self.lock();
        let entry = state
            .ledgers
            .get_mut(job_id)
            .and_then(|l| l.get_mut(batch as usize))
            .ok_or_else(|| super::jobs::missing_ledger_item(job_id, batch))?;
        entry.enqueued = true;
        Ok(())
    }

    async fn status_counts(&self, job_id: &str) -> Result<StatusCounts, StoreError> {
        Ok(self
            .lock()
            .status_counts
            .get(job_id)
            .cloned()
            .unwrap_or_default())
    }
}

impl BatchLedger for MemoryStore {
    async fn claim(
        &self,
        job_id: &str,
        batch: u32,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<ClaimOutcome, StoreError> {
        let mut state = self.lock();
        let Some(entry) = state
            .ledgers
            .get_mut(job_id)
            .and_then(|l| l.get_mut(batch as usize))
        else {
            return Ok(ClaimOutcome::Missing);
        };
        Ok(match entry.state {
            BatchState::Pending => {
                entry.state = BatchState::Sending;
                entry.attempts += 1;
                entry.lease_until = Some(lease_until);
                ClaimOutcome::Claimed {
                    attempt: entry.attempts,
                }
            }
            _ => entry.claim_refusal(now),
        })
    }

    async fn finish(
        &self,
        job_id: &str,
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
                .and_then(|l| l.get_mut(batch as usize)),
            state.jobs.get_mut(job_id),
        ) else {
            return Ok(false);
        };
        if entry.state != BatchState::Sending || entry.attempts != attempt {
            return Ok(false);
        }
        entry.state = outcome.state();
        entry.lease_until = None;
        job.updated_at = now;
        match outcome {
            BatchOutcome::Sent {
                message_uuids,
                invalid_numbers,
            } => {
                entry.message_uuids.clone_from(message_uuids);
                job.batches_sent += 1;
                job.messages_accepted += message_uuids.len() as u64;
                job.sent_batches.insert(batch);
                job.plivo_invalid += invalid_numbers.len() as u64;
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

    async fn release(&self, job_id: &str, batch: u32, attempt: u32) -> Result<(), StoreError> {
        if let Some(e) = self
            .lock()
            .ledgers
            .get_mut(job_id)
            .and_then(|l| l.get_mut(batch as usize))
            && e.state == BatchState::Sending
            && e.attempts == attempt
        {
            e.state = BatchState::Pending;
            e.lease_until = None;
        }
        Ok(())
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
        state.reported.insert(
            report.message_uuid.clone(),
            CurrentStatus {
                status: report.status,
                // A report without a sequence keeps the stored one (see `ReportStore`).
                sequence: report.sequence.or(current.and_then(|c| c.sequence)),
            },
        );
        let job_id = batch.map(|b| b.job_id.as_str());
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
            record.to = report.to.as_ref().map(|t| t.to_string());
        }
        if let Some(job) = job_id {
            record.job_id.get_or_insert_with(|| job.to_owned());
        }
        record.updated_at = now;
        if let Some(batch) = batch {
            let counts = state.status_counts.entry(batch.job_id.clone()).or_default();
            for (status, delta) in count_changes(from, report.status) {
                counts.add(status, delta);
            }
            if current.is_none() {
                *counts.seen_by_batch.entry(batch.batch).or_default() += 1;
            }
        }
        Ok(ReportEffect::Applied { from })
    }
}
