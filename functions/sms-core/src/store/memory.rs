//! An in-memory store with the same rules as the DynamoDB adapter, for handler tests.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use chrono::{DateTime, Duration, Utc};

use super::{
    AcceptedMessage, IDEMPOTENCY_TTL_HOURS, IdempotencyBegin, IdempotencyStore, MessageRecord,
    MessageStatus, MessageStore, StoreError, StoredResponse, SuppressionList, SuppressionSource,
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
    async fn record_accepted(&self, messages: &[AcceptedMessage], now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.lock();
        for m in messages {
            let entry = state
                .messages
                .entry(m.message_uuid.clone())
                .or_insert_with(|| MessageRecord {
                    message_uuid: m.message_uuid.clone(),
                    to: None,
                    from: None,
                    job_id: None,
                    reference: None,
                    status: MessageStatus::Queued,
                    sequence: None,
                    error_code: None,
                    encoding: None,
                    segments: None,
                    units: None,
                    amount: None,
                    created_at: now,
                    updated_at: now,
                });
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
    async fn begin(&self, key: &str, request_hash: &str, now: DateTime<Utc>) -> Result<IdempotencyBegin, StoreError> {
        let mut state = self.lock();
        match state.idempotency.get(key) {
            Some(e) if e.expires_at >= now => {
                return Ok(if e.request_hash != request_hash {
                    IdempotencyBegin::Mismatch
                } else if let Some(r) = &e.response {
                    IdempotencyBegin::Replay(r.clone())
                } else {
                    IdempotencyBegin::InProgress { started_at: e.started_at }
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
        if state.idempotency.get(key).is_some_and(|e| e.response.is_none()) {
            state.idempotency.remove(key);
        }
        Ok(())
    }
}

impl SuppressionList for MemoryStore {
    async fn is_suppressed(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        Ok(self.lock().suppressed.contains_key(number))
    }

    async fn suppress(&self, number: &PhoneNumber, source: SuppressionSource, _now: DateTime<Utc>) -> Result<(), StoreError> {
        self.lock().suppressed.insert(number.clone(), source);
        Ok(())
    }

    async fn unsuppress(&self, number: &PhoneNumber) -> Result<(), StoreError> {
        self.lock().suppressed.remove(number);
        Ok(())
    }
}
