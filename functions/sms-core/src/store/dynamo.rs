//! The DynamoDB adapter: one table, `pk` + `sk`, TTL attribute `expires_at` (DESIGN §4).

use std::collections::HashMap;

use aws_sdk_dynamodb::{
    Client,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    types::AttributeValue,
};
use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt, TryStreamExt, stream};

use super::{
    AcceptedMessage, IDEMPOTENCY_TTL_HOURS, IdempotencyBegin, IdempotencyStore, MessageRecord,
    MessageStatus, MessageStore, StoreError, StoredResponse, SuppressionList, SuppressionSource,
};
use crate::phone::PhoneNumber;

/// How long message items are kept after they were first written.
pub const MESSAGE_RETENTION_DAYS: i64 = 90;

/// Writes to DynamoDB in flight at once for one multi-item operation.
const WRITE_CONCURRENCY: usize = 32;

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn key(pk: String, sk: &str) -> Item {
        HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
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

fn get_s(item: &Item, key: &str) -> Option<String> {
    item.get(key).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n<T: std::str::FromStr>(item: &Item, key: &str) -> Option<T> {
    item.get(key).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

fn get_time(item: &Item, key: &str) -> Option<DateTime<Utc>> {
    get_s(item, key)
        .and_then(|v| DateTime::parse_from_rfc3339(&v).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn corrupt(key: &str, reason: &str) -> StoreError {
    StoreError::Corrupt {
        key: key.to_owned(),
        reason: reason.to_owned(),
    }
}

pub(crate) fn message_pk(uuid: &str) -> String {
    format!("MSG#{uuid}")
}

fn message_from_item(item: &Item) -> Result<MessageRecord, StoreError> {
    let uuid = get_s(item, "message_uuid").ok_or_else(|| corrupt("MSG", "no message_uuid"))?;
    let status = get_s(item, "status")
        .and_then(|v| MessageStatus::parse(&v))
        .ok_or_else(|| corrupt(&uuid, "no valid status"))?;
    let created_at = get_time(item, "created_at").ok_or_else(|| corrupt(&uuid, "no created_at"))?;
    Ok(MessageRecord {
        to: get_s(item, "to"),
        from: get_s(item, "from"),
        job_id: get_s(item, "job_id"),
        reference: get_s(item, "reference"),
        status,
        sequence: get_n(item, "sequence"),
        error_code: get_s(item, "error_code"),
        encoding: get_s(item, "encoding"),
        segments: get_n(item, "segments"),
        units: get_n(item, "units"),
        amount: get_s(item, "amount"),
        updated_at: get_time(item, "updated_at").unwrap_or(created_at),
        created_at,
        message_uuid: uuid,
    })
}

impl DynamoStore {
    async fn record_one(&self, m: &AcceptedMessage, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut sets = vec![
            "message_uuid = :uuid",
            "#from = :from",
            "encoding = :enc",
            "segments = :seg",
            "created_at = if_not_exists(created_at, :now)",
            "updated_at = if_not_exists(updated_at, :now)",
            // A report that arrived before this write already set a later status: keep it.
            "#status = if_not_exists(#status, :queued)",
            "status_rank = if_not_exists(status_rank, :rank)",
            "expires_at = if_not_exists(expires_at, :exp)",
        ];
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(message_pk(&m.message_uuid), "MSG")))
            .expression_attribute_names("#from", "from")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":uuid", s(&m.message_uuid))
            .expression_attribute_values(":from", s(m.from.as_str()))
            .expression_attribute_values(":enc", s(m.encoding.as_str()))
            .expression_attribute_values(":seg", n(m.segments))
            .expression_attribute_values(":now", s(now.to_rfc3339()))
            .expression_attribute_values(":queued", s(MessageStatus::Queued.as_str()))
            .expression_attribute_values(":rank", n(MessageStatus::Queued.rank()))
            .expression_attribute_values(
                ":exp",
                n((now + Duration::days(MESSAGE_RETENTION_DAYS)).timestamp()),
            );
        if let Some(to) = &m.to {
            sets.push("#to = :to");
            req = req
                .expression_attribute_names("#to", "to")
                .expression_attribute_values(":to", s(to.as_str()));
        }
        if let Some(job) = &m.job_id {
            sets.push("job_id = :job");
            req = req.expression_attribute_values(":job", s(job));
        }
        if let Some(r) = &m.reference {
            sets.push("#ref = :ref");
            req = req
                .expression_attribute_names("#ref", "reference")
                .expression_attribute_values(":ref", s(r));
        }
        req.update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await
            .map_err(|e| backend("UpdateItem", e))?;
        Ok(())
    }
}

impl MessageStore for DynamoStore {
    async fn record_accepted(&self, messages: &[AcceptedMessage], now: DateTime<Utc>) -> Result<(), StoreError> {
        // Collected first: a closure inside the stream type trips the Send check of the
        // returned future (rust-lang/rust#102211).
        let writes: Vec<_> = messages.iter().map(|m| self.record_one(m, now)).collect();
        stream::iter(writes)
            .buffer_unordered(WRITE_CONCURRENCY)
            .try_collect::<()>()
            .await
    }

    async fn get_message(&self, message_uuid: &str) -> Result<Option<MessageRecord>, StoreError> {
        self.get(message_pk(message_uuid), "MSG")
            .await?
            .map(|item| message_from_item(&item))
            .transpose()
    }
}

fn idem_pk(key: &str) -> String {
    format!("IDEM#{key}")
}

impl IdempotencyStore for DynamoStore {
    async fn begin(&self, key: &str, request_hash: &str, now: DateTime<Utc>) -> Result<IdempotencyBegin, StoreError> {
        let mut item = Self::key(idem_pk(key), "IDEM");
        item.insert("request_hash".into(), s(request_hash));
        item.insert("state".into(), s("in_progress"));
        item.insert("started_at".into(), s(now.to_rfc3339()));
        item.insert(
            "expires_at".into(),
            n((now + Duration::hours(IDEMPOTENCY_TTL_HOURS)).timestamp()),
        );
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // DynamoDB deletes expired items lazily, so an expired record counts as free.
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
            .expression_attribute_values(":now", n(now.timestamp()))
            .send()
            .await;
        match put {
            Ok(_) => return Ok(IdempotencyBegin::Started),
            Err(e) if is_condition_failure(&e) => {}
            Err(e) => return Err(backend("PutItem", e)),
        }
        let Some(existing) = self.get(idem_pk(key), "IDEM").await? else {
            // Released between our write and our read: the caller may simply try again.
            return Ok(IdempotencyBegin::InProgress { started_at: now });
        };
        if get_s(&existing, "request_hash").as_deref() != Some(request_hash) {
            return Ok(IdempotencyBegin::Mismatch);
        }
        match (get_n::<u16>(&existing, "response_status"), get_s(&existing, "response_body")) {
            (Some(status), Some(body)) => Ok(IdempotencyBegin::Replay(StoredResponse { status, body })),
            _ => Ok(IdempotencyBegin::InProgress {
                started_at: get_time(&existing, "started_at").unwrap_or(now),
            }),
        }
    }

    async fn complete(
        &self,
        key: &str,
        request_hash: &str,
        response: &StoredResponse,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut item = Self::key(idem_pk(key), "IDEM");
        item.insert("request_hash".into(), s(request_hash));
        item.insert("state".into(), s("complete"));
        item.insert("completed_at".into(), s(now.to_rfc3339()));
        item.insert("response_status".into(), n(response.status));
        item.insert("response_body".into(), s(&response.body));
        item.insert(
            "expires_at".into(),
            n((now + Duration::hours(IDEMPOTENCY_TTL_HOURS)).timestamp()),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| backend("PutItem", e))?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(idem_pk(key), "IDEM")))
            .condition_expression("#state = :in_progress")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(backend("DeleteItem", e)),
        }
    }
}

pub(crate) fn optout_pk(number: &PhoneNumber) -> String {
    format!("OPTOUT#{number}")
}

impl SuppressionList for DynamoStore {
    async fn is_suppressed(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        Ok(self.get(optout_pk(number), "OPTOUT").await?.is_some())
    }

    async fn suppress(&self, number: &PhoneNumber, source: SuppressionSource, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut item = Self::key(optout_pk(number), "OPTOUT");
        item.insert("number".into(), s(number.as_str()));
        item.insert("source".into(), s(source.as_str()));
        item.insert("suppressed_at".into(), s(now.to_rfc3339()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| backend("PutItem", e))?;
        Ok(())
    }

    async fn unsuppress(&self, number: &PhoneNumber) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(optout_pk(number), "OPTOUT")))
            .send()
            .await
            .map_err(|e| backend("DeleteItem", e))?;
        Ok(())
    }
}
