//! The DynamoDB adapter: one table, `pk` + `sk`, TTL attribute `expires_at`
//! (docs/architecture.md, "The table"). This module holds the client and what every port
//! shares (reads, batched writes, error mapping); `keys` spells the keys, [`ext`] converts
//! records to items and back, and each port has its module.

mod circuit;
mod control;
mod ext;
mod idempotency;
mod jobs;
mod messages;
mod pace;
mod plans;
mod progress;
mod reconcile;
mod reports;
mod results;
pub mod schema;
mod suppression;
pub mod table_stream;

use aws_sdk_dynamodb::{
    Client,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    operation::transact_write_items::TransactWriteItemsError,
    types::{KeysAndAttributes, PutRequest, WriteRequest},
};
use futures::{StreamExt, TryStreamExt, stream};

use super::StoreError;
use crate::retry::RetryPolicy;
use ext::{Item, key, s};

/// Writes to DynamoDB in flight at once for one multi-item operation.
const WRITE_CONCURRENCY: usize = 32;

/// Reads in flight at once for one multi-item lookup.
const READ_CONCURRENCY: usize = 16;

/// How often and how patiently a transaction DynamoDB cancelled for a conflict with another
/// one in flight is tried again: six attempts within about a second, inside the time Plivo
/// waits for a callback answer and the sender's budget after Plivo answered.
pub const CONFLICT_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 6,
    base_delay: std::time::Duration::from_millis(20),
    max_delay: std::time::Duration::from_millis(400),
};

/// How patiently items DynamoDB left unprocessed (throttling) are asked for again: the
/// default policy's delays, with twice its attempts.
const UNPROCESSED_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 8,
    base_delay: std::time::Duration::from_millis(250),
    max_delay: std::time::Duration::from_secs(2),
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

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// After the `conflicts`-th conflict in a row: waits before the next attempt and returns
    /// true, or returns false when the policy's attempts are used up.
    async fn back_off_after_conflict(&self, conflicts: u32) -> bool {
        if conflicts >= self.conflict_retry.max_attempts {
            return false;
        }
        tokio::time::sleep(self.conflict_retry.delay(conflicts)).await;
        true
    }

    /// The error once conflicts outlasted [`Self::back_off_after_conflict`].
    fn conflicts_exhausted(&self, what: &str) -> StoreError {
        StoreError::Backend {
            operation: "TransactWriteItems",
            reason: format!(
                "{what} still conflicted with concurrent writes after {} attempts",
                self.conflict_retry.max_attempts
            ),
        }
    }

    /// One item, read consistently.
    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", e))?;
        Ok(out.item)
    }

    /// Every item of partition `pk` whose sort key meets `condition` (on `sk`, with `values`),
    /// read consistently, page after page.
    async fn query_sort_keys(
        &self,
        pk: String,
        condition: &str,
        values: &[(&str, String)],
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(format!("pk = :pk AND {condition}"))
                .expression_attribute_values(":pk", s(pk.clone()));
            for (name, value) in values {
                query = query.expression_attribute_values(*name, s(value));
            }
            let out = query
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| backend("Query", e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }

    /// The items of `keys` that exist, in no set order: BatchGetItem, 100 keys a call,
    /// several calls at once, asking again for keys DynamoDB left unprocessed (throttling).
    /// Keys must be distinct (BatchGetItem refuses a call that names one twice). Reads are
    /// eventually consistent unless `consistent`.
    async fn get_items(&self, keys: Vec<Item>, consistent: bool) -> Result<Vec<Item>, StoreError> {
        let calls: Vec<_> = keys
            .chunks(100)
            .map(|chunk| self.get_chunk(chunk.to_vec(), consistent))
            .collect();
        let found: Vec<Vec<Item>> = stream::iter(calls)
            .buffer_unordered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn get_chunk(
        &self,
        mut wanted: Vec<Item>,
        consistent: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        for attempt in 1..=UNPROCESSED_RETRY.max_attempts {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(wanted))
                .consistent_read(consistent)
                .build()
                .map_err(|e| build_error("BatchGetItem", e))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| backend("BatchGetItem", e))?;
            found.extend(
                out.responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            wanted = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if wanted.is_empty() {
                return Ok(found);
            }
            tokio::time::sleep(UNPROCESSED_RETRY.delay(attempt)).await;
        }
        Err(StoreError::Backend {
            operation: "BatchGetItem",
            reason: "keys still unprocessed after retries".into(),
        })
    }

    /// Writes items with BatchWriteItem, 25 a call, several calls at once, and re-sends what
    /// DynamoDB reports unprocessed (throttling) with a backoff.
    async fn put_all(&self, items: Vec<Item>) -> Result<(), StoreError> {
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
                    .map_err(|e| build_error("BatchWriteItem", e))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<_, StoreError>>()?;
        for attempt in 1..=UNPROCESSED_RETRY.max_attempts {
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
            tokio::time::sleep(UNPROCESSED_RETRY.delay(attempt)).await;
        }
        Err(StoreError::Backend {
            operation: "BatchWriteItem",
            reason: format!("{} items still unprocessed after retries", pending.len()),
        })
    }
}

fn backend<E, R>(operation: &'static str, e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Backend {
        operation,
        reason: DisplayErrorContext(e).to_string(),
    }
}

fn build_error(operation: &'static str, e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Backend {
        operation,
        reason: e.to_string(),
    }
}

/// A conditional write's result as an answer: `true` when it was written, `false` when its
/// condition did not hold (nothing was written, and that is not an error).
fn held<T, E, R>(
    result: Result<T, SdkError<E, R>>,
    operation: &'static str,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failure(&e) => Ok(false),
        Err(e) => Err(backend(operation, e)),
    }
}

fn is_condition_failure<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

/// Why DynamoDB cancelled a transaction, for the cases callers handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancellation {
    /// A condition was false: the items are not as the caller expected.
    ConditionFailed,
    /// Another transaction or write on one of the items was in flight; nothing was checked
    /// or written, and the same transaction may simply be tried again.
    Conflict,
}

/// Reads the per-item reasons of a `TransactionCanceledException`. A failed condition wins
/// over a conflict: retrying cannot make it true.
fn cancellation<R>(e: &SdkError<TransactWriteItemsError, R>) -> Option<Cancellation> {
    let has = |code: &str| {
        cancellation_reasons(e)
            .iter()
            .any(|r| r.as_deref() == Some(code))
    };
    if has("ConditionalCheckFailed") {
        Some(Cancellation::ConditionFailed)
    } else if has("TransactionConflict") {
        Some(Cancellation::Conflict)
    } else {
        None
    }
}

/// The cancellation reason code of each item of a cancelled transaction, in order (empty
/// for any other error).
fn cancellation_reasons<R>(e: &SdkError<TransactWriteItemsError, R>) -> Vec<Option<String>> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(t)) => t
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}
