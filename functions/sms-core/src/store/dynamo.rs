//! The DynamoDB adapter: one table, `pk` + `sk`, TTL attribute `expires_at`
//! (docs/architecture.md, "The table").

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::{
    KeysAndAttributes, Put, PutRequest, TransactWriteItem, WriteRequest,
};
use aws_sdk_dynamodb::{
    Client,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    types::AttributeValue,
};
use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt, TryStreamExt, stream};

use super::{
    AcceptedMessage, ChangeOutcome, IDEMPOTENCY_TTL_HOURS, KeyClaim, IdempotencyStore,
    MessageRecord, MessageStatus, MessageStore, SeenOnce, Sighting, StoreError, StoredResponse,
    SuppressionChange, SuppressionList,
};
use crate::{domain::phone::PhoneNumber, retry::RetryPolicy};

/// How long message items are kept after they were first written.
pub const MESSAGE_RETENTION_DAYS: i64 = 90;

/// Writes to DynamoDB in flight at once for one multi-item operation.
pub(crate) const WRITE_CONCURRENCY: usize = 32;

/// Reads in flight at once for one multi-item lookup.
const READ_CONCURRENCY: usize = 16;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// How often and how patiently a transaction DynamoDB cancelled for a conflict with another
/// one in flight is tried again: six attempts within about a second, inside the time Plivo
/// waits for a callback answer and the sender's budget after Plivo answered.
pub const CONFLICT_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 6,
    base_delay: std::time::Duration::from_millis(20),
    max_delay: std::time::Duration::from_millis(400),
};

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    conflict_retry: RetryPolicy,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            conflict_retry: CONFLICT_RETRY,
        }
    }

    /// Replaces [`CONFLICT_RETRY`].
    pub fn with_conflict_retry(mut self, policy: RetryPolicy) -> Self {
        self.conflict_retry = policy;
        self
    }

    /// After the `conflicts`-th conflict in a row: waits before the next attempt and returns
    /// true, or returns false when the policy's attempts are used up.
    pub(crate) async fn back_off_after_conflict(&self, conflicts: u32) -> bool {
        if conflicts >= self.conflict_retry.max_attempts {
            return false;
        }
        tokio::time::sleep(self.conflict_retry.delay(conflicts)).await;
        true
    }

    /// The error once conflicts outlasted [`Self::back_off_after_conflict`].
    pub(crate) fn conflicts_exhausted(&self, what: &str) -> StoreError {
        StoreError::Backend {
            operation: "TransactWriteItems",
            reason: format!(
                "{what} still conflicted with concurrent writes after {} attempts",
                self.conflict_retry.max_attempts
            ),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub(crate) fn key(pk: String, sk: &str) -> Item {
        HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
    }

    pub(crate) async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", e))?;
        Ok(out.item)
    }
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn backend<E, R>(operation: &'static str, e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Backend {
        operation,
        reason: DisplayErrorContext(e).to_string(),
    }
}

pub(crate) fn is_condition_failure<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

/// Why DynamoDB cancelled a transaction, for the cases callers handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cancellation {
    /// A condition was false: the items are not as the caller expected.
    ConditionFailed,
    /// Another transaction or write on one of the items was in flight; nothing was checked
    /// or written, and the same transaction may simply be tried again.
    Conflict,
}

/// Reads the per-item reasons of a `TransactionCanceledException`. A failed condition wins
/// over a conflict: retrying cannot make it true.
pub(crate) fn cancellation<R>(
    e: &SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> Option<Cancellation> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
    let Some(E::TransactionCanceledException(t)) = e.as_service_error() else {
        return None;
    };
    let has = |code: &str| {
        t.cancellation_reasons()
            .iter()
            .any(|r| r.code() == Some(code))
    };
    if has("ConditionalCheckFailed") {
        Some(Cancellation::ConditionFailed)
    } else if has("TransactionConflict") {
        Some(Cancellation::Conflict)
    } else {
        None
    }
}

pub(crate) fn get_s(item: &Item, key: &str) -> Option<String> {
    item.get(key).and_then(|v| v.as_s().ok()).cloned()
}

pub(crate) fn get_n<T: std::str::FromStr>(item: &Item, key: &str) -> Option<T> {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

pub(crate) fn get_time(item: &Item, key: &str) -> Option<DateTime<Utc>> {
    get_s(item, key)
        .and_then(|v| DateTime::parse_from_rfc3339(&v).ok())
        .map(|t| t.with_timezone(&Utc))
}

pub(crate) fn corrupt(key: &str, reason: &str) -> StoreError {
    StoreError::Corrupt {
        key: key.to_owned(),
        reason: reason.to_owned(),
    }
}

pub(crate) fn message_pk(uuid: &str) -> String {
    format!("MSG#{uuid}")
}

/// Builds the merged view of a message from its two items: `MSG` (the facts written when
/// Plivo accepted it) and `STATUS` (what delivery reports have said since). Either may be
/// missing: a report can arrive before the sender has written `MSG`.
fn message_from_items(
    uuid: &str,
    facts: Option<&Item>,
    status: Option<&Item>,
) -> Result<Option<MessageRecord>, StoreError> {
    if facts.is_none() && status.is_none() {
        return Ok(None);
    }
    let pick_s = |key: &str| {
        facts
            .and_then(|i| get_s(i, key))
            .or_else(|| status.and_then(|i| get_s(i, key)))
    };
    let status_value = match status.and_then(|i| get_s(i, "status")) {
        Some(v) => MessageStatus::parse(&v).ok_or_else(|| corrupt(uuid, "invalid status"))?,
        None => MessageStatus::Queued,
    };
    let created_at = facts
        .and_then(|i| get_time(i, "created_at"))
        .or_else(|| status.and_then(|i| get_time(i, "updated_at")))
        .ok_or_else(|| corrupt(uuid, "no created_at"))?;
    Ok(Some(MessageRecord {
        message_uuid: uuid.to_owned(),
        to: pick_s("to"),
        from: pick_s("from"),
        job_id: pick_s("job_id"),
        reference: facts.and_then(|i| get_s(i, "reference")),
        status: status_value,
        sequence: status.and_then(|i| get_n(i, "sequence")),
        error_code: status.and_then(|i| get_s(i, "error_code")),
        encoding: facts.and_then(|i| get_s(i, "encoding")),
        segments: facts.and_then(|i| get_n(i, "segments")),
        units: status.and_then(|i| get_n(i, "units")),
        amount: status.and_then(|i| get_s(i, "amount")),
        updated_at: status
            .and_then(|i| get_time(i, "updated_at"))
            .unwrap_or(created_at),
        created_at,
    }))
}

fn message_facts_item(m: &AcceptedMessage, now: DateTime<Utc>) -> Item {
    let mut item = DynamoStore::key(message_pk(&m.message_uuid), "MSG");
    item.insert("message_uuid".into(), s(&m.message_uuid));
    item.insert("from".into(), s(m.from.as_str()));
    item.insert("encoding".into(), s(m.encoding.as_str()));
    item.insert("segments".into(), n(m.segments));
    item.insert("created_at".into(), s(now.to_rfc3339()));
    item.insert(
        "expires_at".into(),
        n((now + Duration::days(MESSAGE_RETENTION_DAYS)).timestamp()),
    );
    if let Some(to) = &m.to {
        item.insert("to".into(), s(to.as_str()));
    }
    if let Some(job) = &m.job_id {
        item.insert("job_id".into(), s(job));
    }
    if let Some(r) = &m.reference {
        item.insert("reference".into(), s(r));
    }
    item
}

impl DynamoStore {
    /// Writes items with BatchWriteItem, 25 a call, several calls at once, and re-sends what
    /// DynamoDB reports unprocessed (throttling) with a backoff.
    pub(crate) async fn put_all(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let calls: Vec<_> = items
            .chunks(25)
            .map(|chunk| self.put_chunk(chunk.to_vec()))
            .collect();
        stream::iter(calls)
            .buffer_unordered(WRITE_CONCURRENCY / 4)
            .try_collect::<()>()
            .await
    }

    async fn put_chunk(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let mut pending: Vec<WriteRequest> = items
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| StoreError::Backend {
                        operation: "BatchWriteItem",
                        reason: e.to_string(),
                    })?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<_, StoreError>>()?;
        let retry = RetryPolicy {
            max_attempts: 8,
            ..RetryPolicy::default()
        };
        for attempt in 1..=retry.max_attempts {
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(|e| backend("BatchWriteItem", e))?;
            pending = out
                .unprocessed_items
                .and_then(|mut m| m.remove(&self.table))
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(retry.delay(attempt)).await;
        }
        Err(StoreError::Backend {
            operation: "BatchWriteItem",
            reason: format!("{} items still unprocessed after retries", pending.len()),
        })
    }
}

impl MessageStore for DynamoStore {
    async fn record_accepted(
        &self,
        messages: &[AcceptedMessage],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Only facts go in the MSG item; status lives in the STATUS item that reports own, so
        // a plain put here can never move a message's status backwards.
        self.put_all(
            messages
                .iter()
                .map(|m| message_facts_item(m, now))
                .collect(),
        )
        .await
    }

    async fn get_message(&self, message_uuid: &str) -> Result<Option<MessageRecord>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(message_pk(message_uuid)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("Query", e))?;
        let items = out.items.unwrap_or_default();
        let find = |sk: &str| items.iter().find(|i| get_s(i, "sk").as_deref() == Some(sk));
        message_from_items(message_uuid, find("MSG"), find("STATUS"))
    }
}

fn idem_pk(key: &str) -> String {
    format!("IDEM#{key}")
}

/// An in-progress record held by `owner`, started `now`.
fn in_progress_item(key: &str, request_hash: &str, owner: &str, now: DateTime<Utc>) -> Item {
    let mut item = DynamoStore::key(idem_pk(key), "IDEM");
    item.insert("request_hash".into(), s(request_hash));
    item.insert("state".into(), s("in_progress"));
    item.insert("owner".into(), s(owner));
    item.insert("started_at".into(), s(now.to_rfc3339()));
    item.insert(
        "expires_at".into(),
        n((now + Duration::hours(IDEMPOTENCY_TTL_HOURS)).timestamp()),
    );
    item
}

impl IdempotencyStore for DynamoStore {
    async fn claim_key(
        &self,
        key: &str,
        request_hash: &str,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<KeyClaim, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(in_progress_item(key, request_hash, owner, now)))
            // DynamoDB deletes expired items lazily, so an expired record counts as free.
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
            .expression_attribute_values(":now", n(now.timestamp()))
            .send()
            .await;
        match put {
            Ok(_) => return Ok(KeyClaim::Claimed),
            Err(e) if is_condition_failure(&e) => {}
            Err(e) => return Err(backend("PutItem", e)),
        }
        let Some(existing) = self.get(idem_pk(key), "IDEM").await? else {
            // Released between our write and our read: the caller may simply try again.
            return Ok(KeyClaim::InProgress { started_at: now });
        };
        if get_s(&existing, "request_hash").as_deref() != Some(request_hash) {
            return Ok(KeyClaim::Mismatch);
        }
        match (
            get_n::<u16>(&existing, "response_status"),
            get_s(&existing, "response_body"),
        ) {
            (Some(status), Some(body)) => {
                Ok(KeyClaim::Replay(StoredResponse { status, body }))
            }
            _ => Ok(KeyClaim::InProgress {
                started_at: get_time(&existing, "started_at").unwrap_or(now),
            }),
        }
    }

    async fn take_over_key(
        &self,
        key: &str,
        request_hash: &str,
        stale_started_at: DateTime<Utc>,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // Every claim (first or take-over) writes its own `started_at`, so "still the record
        // that was read" is "still in progress with that `started_at`": the first take-over
        // changes it and every other one fails its condition.
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(in_progress_item(key, request_hash, owner, now)))
            .condition_expression(
                "#state = :in_progress AND request_hash = :hash AND started_at = :seen \
                 AND attribute_not_exists(response_status)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .expression_attribute_values(":hash", s(request_hash))
            .expression_attribute_values(":seen", s(stale_started_at.to_rfc3339()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(backend("PutItem", e)),
        }
    }

    async fn finish_key(
        &self,
        key: &str,
        request_hash: &str,
        owner: &str,
        response: &StoredResponse,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut item = Self::key(idem_pk(key), "IDEM");
        item.insert("request_hash".into(), s(request_hash));
        item.insert("state".into(), s("finished"));
        item.insert("owner".into(), s(owner));
        item.insert("finished_at".into(), s(now.to_rfc3339()));
        item.insert("response_status".into(), n(response.status));
        item.insert("response_body".into(), s(&response.body));
        item.insert(
            "expires_at".into(),
            n((now + Duration::hours(IDEMPOTENCY_TTL_HOURS)).timestamp()),
        );
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#state = :in_progress AND #owner = :owner")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(backend("PutItem", e)),
        }
    }

    async fn release_key(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(idem_pk(key), "IDEM")))
            .condition_expression("#state = :in_progress AND #owner = :owner")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(backend("DeleteItem", e)),
        }
    }
}

impl DynamoStore {
    /// One BatchGetItem of up to 100 numbers, asking again for keys left unprocessed.
    async fn suppressed_chunk(
        &self,
        numbers: &[PhoneNumber],
    ) -> Result<Vec<PhoneNumber>, StoreError> {
        let mut keys: Vec<Item> = numbers
            .iter()
            .map(|n| Self::key(optout_pk(n), "OPTOUT"))
            .collect();
        let mut found = Vec::new();
        let retry = RetryPolicy {
            max_attempts: 8,
            ..RetryPolicy::default()
        };
        for attempt in 1..=retry.max_attempts {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .projection_expression("#n, #s")
                .expression_attribute_names("#n", "number")
                .expression_attribute_names("#s", "suppressed")
                .build()
                .map_err(|e| StoreError::Backend {
                    operation: "BatchGetItem",
                    reason: e.to_string(),
                })?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| backend("BatchGetItem", e))?;
            let items = out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default();
            found.extend(
                items
                    .iter()
                    .filter(|item| suppressed_flag(item))
                    .filter_map(|item| get_s(item, "number"))
                    .filter_map(|v| PhoneNumber::parse(&v).ok()),
            );
            keys = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if keys.is_empty() {
                return Ok(found);
            }
            tokio::time::sleep(retry.delay(attempt)).await;
        }
        Err(StoreError::Backend {
            operation: "BatchGetItem",
            reason: "keys still unprocessed after retries".into(),
        })
    }
}

pub(crate) fn optout_pk(number: &PhoneNumber) -> String {
    format!("OPTOUT#{number}")
}

/// Whether an `OPTOUT` item suppresses its number. Items written before opt-ins became
/// records (no `suppressed` attribute) were all suppressions.
fn suppressed_flag(item: &Item) -> bool {
    item.get("suppressed")
        .and_then(|v| v.as_bool().ok())
        .copied()
        .unwrap_or(true)
}

/// A number's state after `change`. `changed_at` (microseconds) orders the changes.
fn optout_item(change: &SuppressionChange<'_>) -> Item {
    let mut item = DynamoStore::key(optout_pk(change.number), "OPTOUT");
    item.insert("number".into(), s(change.number.as_str()));
    item.insert("suppressed".into(), AttributeValue::Bool(change.suppressed));
    item.insert("source".into(), s(change.source.as_str()));
    item.insert("changed_at".into(), n(change.at.timestamp_micros()));
    item.insert("changed_time".into(), s(change.at.to_rfc3339()));
    if let Some(uuid) = change.message_uuid {
        item.insert("changed_by".into(), s(uuid));
    }
    item
}

/// [`SuppressionChange::supersedes`], as a condition (items without `changed_at` predate
/// ordering and are older than any change).
const SUPERSEDES: &str = "attribute_not_exists(changed_at) OR changed_at < :at";

fn seen_item(sighting: Sighting<'_>, now: DateTime<Utc>) -> Item {
    let mut item = DynamoStore::key(sighting.key(), "SEEN");
    item.insert("seen_at".into(), s(now.to_rfc3339()));
    item.insert("expires_at".into(), n((now + sighting.ttl()).timestamp()));
    item
}

/// A once-record is free when absent or expired (DynamoDB deletes expired items lazily).
const NOT_SEEN: &str = "attribute_not_exists(pk) OR expires_at < :now";

fn build_error(operation: &'static str, e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Backend {
        operation,
        reason: e.to_string(),
    }
}

impl SeenOnce for DynamoStore {
    async fn first_sighting(
        &self,
        sighting: Sighting<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(seen_item(sighting, now)))
            .condition_expression(NOT_SEEN)
            .expression_attribute_values(":now", n(now.timestamp()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(backend("PutItem", e)),
        }
    }
}

impl SuppressionList for DynamoStore {
    async fn is_suppressed(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        Ok(self
            .get(optout_pk(number), "OPTOUT")
            .await?
            .is_some_and(|item| suppressed_flag(&item)))
    }

    async fn suppressed_among(
        &self,
        numbers: &[PhoneNumber],
    ) -> Result<HashSet<PhoneNumber>, StoreError> {
        // BatchGetItem refuses a request that names the same key twice.
        let unique: Vec<PhoneNumber> = numbers
            .iter()
            .collect::<HashSet<_>>()
            .into_iter()
            .cloned()
            .collect();
        let calls: Vec<_> = unique
            .chunks(100)
            .map(|chunk| self.suppressed_chunk(chunk))
            .collect();
        let found: Vec<Vec<PhoneNumber>> = stream::iter(calls)
            .buffer_unordered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn change(
        &self,
        change: &SuppressionChange<'_>,
        now: DateTime<Utc>,
    ) -> Result<ChangeOutcome, StoreError> {
        let at = n(change.at.timestamp_micros());
        let Some(uuid) = change.message_uuid else {
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(optout_item(change)))
                .condition_expression(SUPERSEDES)
                .expression_attribute_values(":at", at)
                .send()
                .await;
            return match put {
                Ok(_) => Ok(ChangeOutcome::Applied),
                Err(e) if is_condition_failure(&e) => Ok(ChangeOutcome::Stale),
                Err(e) => Err(backend("PutItem", e)),
            };
        };
        // The message's once-record and the number's state in one transaction: a failure
        // between two separate writes would leave a STOP recorded as seen but not applied,
        // and Plivo's retry of it would then be dropped as a duplicate.
        let seen = Put::builder()
            .table_name(&self.table)
            .set_item(Some(seen_item(Sighting::InboundMessage(uuid), now)))
            .condition_expression(NOT_SEEN)
            .expression_attribute_values(":now", n(now.timestamp()))
            .build()
            .map_err(|e| build_error("TransactWriteItems", e))?;
        let state = Put::builder()
            .table_name(&self.table)
            .set_item(Some(optout_item(change)))
            .condition_expression(SUPERSEDES)
            .expression_attribute_values(":at", at)
            .build()
            .map_err(|e| build_error("TransactWriteItems", e))?;
        let written = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(seen).build())
            .transact_items(TransactWriteItem::builder().put(state).build())
            .send()
            .await;
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
        match written {
            Ok(_) => Ok(ChangeOutcome::Applied),
            Err(e) => {
                let failed = |i: usize| match e.as_service_error() {
                    Some(E::TransactionCanceledException(t)) => t
                        .cancellation_reasons()
                        .get(i)
                        .is_some_and(|r| r.code() == Some("ConditionalCheckFailed")),
                    _ => false,
                };
                if failed(0) {
                    Ok(ChangeOutcome::Duplicate)
                } else if failed(1) {
                    Ok(ChangeOutcome::Stale)
                } else {
                    Err(backend("TransactWriteItems", e))
                }
            }
        }
    }
}
