//! Jobs, the batch ledger and job counters in DynamoDB. Item layout under `JOB#<job_id>`:
//! `JOB` (the job and its batch counters), `BATCH#<index>` (ledger, index zero-padded so
//! items sort in batch order), `COUNT#<shard>` (message counts by status and messages seen
//! per batch, see `dynamo_reports`).

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};
use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::{StreamExt, TryStreamExt, stream};

use super::{
    BatchLedger, BatchOutcome, BatchState, BatchClaim, CreateJob, IntakeCounts, JobRecord,
    JobSpec, JobStore, LedgerEntry, MessageStatus, StatusCounts, StoreError,
    dynamo::{
        Cancellation, DynamoStore, Item, MESSAGE_RETENTION_DAYS, WRITE_CONCURRENCY, backend,
        cancellation, corrupt, get_n, get_s, get_time, is_condition_failure, n, s,
    },
    dynamo_reports::SEEN_PREFIX,
};
use crate::domain::phone::PhoneNumber;

pub(crate) fn job_pk(job_id: &str) -> String {
    format!("JOB#{job_id}")
}

fn batch_sk(batch: u32) -> String {
    format!("BATCH#{batch:06}")
}

fn millis(t: DateTime<Utc>) -> AttributeValue {
    n(t.timestamp_millis())
}

fn from_millis(item: &Item, key: &str) -> Option<DateTime<Utc>> {
    get_n::<i64>(item, key).and_then(|ms| Utc.timestamp_millis_opt(ms).single())
}

fn strings(item: &Item, key: &str) -> Vec<String> {
    item.get(key)
        .and_then(|v| v.as_l().ok())
        .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
        .unwrap_or_default()
}

fn list(values: impl IntoIterator<Item = String>) -> AttributeValue {
    AttributeValue::L(values.into_iter().map(AttributeValue::S).collect())
}

fn expiry(now: DateTime<Utc>) -> AttributeValue {
    n((now + Duration::days(MESSAGE_RETENTION_DAYS)).timestamp())
}

fn ledger_from_item(item: &Item) -> Result<LedgerEntry, StoreError> {
    let key = get_s(item, "sk").unwrap_or_default();
    let state = get_s(item, "state")
        .and_then(|v| BatchState::parse(&v))
        .ok_or_else(|| corrupt(&key, "no valid state"))?;
    let recipients = strings(item, "recipients")
        .iter()
        .map(|r| PhoneNumber::parse(r))
        .collect::<Result<_, _>>()
        .map_err(|e| corrupt(&key, &format!("recipient {e}")))?;
    Ok(LedgerEntry {
        batch: get_n(item, "batch").ok_or_else(|| corrupt(&key, "no batch"))?,
        state,
        enqueued: item
            .get("enqueued")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        attempts: get_n(item, "attempts").unwrap_or(0),
        lease_until: from_millis(item, "lease_until"),
        recipients,
        message_uuids: strings(item, "message_uuids"),
        error: get_s(item, "error"),
    })
}

fn job_from_item(item: &Item) -> Result<JobRecord, StoreError> {
    let job_id = get_s(item, "job_id").ok_or_else(|| corrupt("JOB", "no job_id"))?;
    let num = |k: &str| get_n::<u64>(item, k).unwrap_or(0);
    let created_at =
        get_time(item, "created_at").ok_or_else(|| corrupt(&job_id, "no created_at"))?;
    Ok(JobRecord {
        text: get_s(item, "text").unwrap_or_default(),
        from: get_s(item, "from").unwrap_or_default(),
        reference: get_s(item, "reference"),
        encoding: get_s(item, "encoding").unwrap_or_default(),
        segments: num("segments") as u32,
        counts: IntakeCounts {
            accepted: num("accepted"),
            duplicates: num("duplicates"),
            suppressed: num("suppressed"),
            invalid: num("invalid"),
        },
        callback_url: get_s(item, "callback_url").unwrap_or_default(),
        batches_total: num("batches_total") as u32,
        batches_sent: num("batches_sent") as u32,
        batches_failed: num("batches_failed") as u32,
        batches_unknown: num("batches_unknown") as u32,
        messages_accepted: num("messages_accepted"),
        sent_batches: item
            .get("sent_batches")
            .and_then(|v| v.as_ns().ok())
            .map(|ns| ns.iter().filter_map(|b| b.parse().ok()).collect())
            .unwrap_or_default(),
        plivo_invalid: num("plivo_invalid"),
        updated_at: get_time(item, "updated_at").unwrap_or(created_at),
        created_at,
        job_id,
    })
}

/// The highest batch index `batch_sk` can spell.
const LAST_BATCH: u32 = 999_999;

/// A ledger item that was never claimed nor enqueued (see `LedgerEntry::is_untouched`).
const UNTOUCHED: &str = "#state = :pending AND attempts = :zero AND enqueued = :false";

/// The names and values [`UNTOUCHED`] refers to, for every write conditioned on it.
fn untouched_names() -> std::collections::HashMap<String, String> {
    [("#state".to_owned(), "state".to_owned())].into()
}

fn untouched_values() -> std::collections::HashMap<String, AttributeValue> {
    [
        (":pending".to_owned(), s(BatchState::Pending.as_str())),
        (":zero".to_owned(), n(0)),
        (":false".to_owned(), AttributeValue::Bool(false)),
    ]
    .into()
}

impl DynamoStore {
    /// Writes one `pending` ledger item where there is none or it is untouched; false when
    /// the item has moved on (claimed or enqueued by another attempt).
    async fn put_ledger_item(
        &self,
        job_id: &str,
        batch: u32,
        recipients: &[PhoneNumber],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut item = Self::key(job_pk(job_id), &batch_sk(batch));
        item.insert("batch".into(), n(batch));
        item.insert("state".into(), s(BatchState::Pending.as_str()));
        item.insert("enqueued".into(), AttributeValue::Bool(false));
        item.insert("attempts".into(), n(0));
        item.insert(
            "recipients".into(),
            list(recipients.iter().map(|r| r.to_string())),
        );
        item.insert("expires_at".into(), expiry(now));
        let put = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression(format!("attribute_not_exists(pk) OR ({UNTOUCHED})"))
            .set_expression_attribute_names(Some(untouched_names()))
            .set_expression_attribute_values(Some(untouched_values()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(backend("PutItem", e)),
        }
    }

    /// Deletes a ledger item if it is untouched (or already gone); false when it has moved on.
    async fn remove_untouched(&self, job_id: &str, batch: u32) -> Result<bool, StoreError> {
        let deleted = self
            .client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(Self::key(job_pk(job_id), &batch_sk(batch))))
            .condition_expression(format!("attribute_not_exists(pk) OR ({UNTOUCHED})"))
            .set_expression_attribute_names(Some(untouched_names()))
            .set_expression_attribute_values(Some(untouched_values()))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(backend("DeleteItem", e)),
        }
    }

    /// The ledger items of batches `first..=last`, in batch order.
    async fn query_batches(
        &self,
        job_id: &str,
        first: u32,
        last: u32,
    ) -> Result<Vec<Item>, StoreError> {
        self.query_sort_keys(
            job_pk(job_id),
            "sk BETWEEN :first AND :last",
            &[(":first", batch_sk(first)), (":last", batch_sk(last))],
        )
        .await
    }

    /// Every item of partition `pk` whose sort key meets `condition` (on `sk`, with `values`).
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
                .client()
                .query()
                .table_name(self.table())
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
}

impl JobStore for DynamoStore {
    async fn get_job(&self, job_id: &str) -> Result<Option<JobRecord>, StoreError> {
        self.get(job_pk(job_id), "JOB")
            .await?
            .map(|item| job_from_item(&item))
            .transpose()
    }

    async fn write_ledger(
        &self,
        spec: &JobSpec,
        now: DateTime<Utc>,
    ) -> Result<CreateJob, StoreError> {
        let count = spec.batches.len() as u32;
        let writes: Vec<_> = spec
            .batches
            .iter()
            .enumerate()
            .map(|(i, recipients)| self.put_ledger_item(&spec.job_id, i as u32, recipients, now))
            .collect();
        let written: Vec<bool> = stream::iter(writes)
            .buffer_unordered(WRITE_CONCURRENCY)
            .try_collect()
            .await?;
        if written.contains(&false) {
            return Ok(CreateJob::Conflict);
        }
        let leftovers = self
            .query_batches(&spec.job_id, count, LAST_BATCH)
            .await?
            .iter()
            .map(|item| ledger_from_item(item).map(|e| e.batch))
            .collect::<Result<Vec<_>, _>>()?;
        let removals: Vec<_> = leftovers
            .into_iter()
            .map(|batch| self.remove_untouched(&spec.job_id, batch))
            .collect();
        let removed: Vec<bool> = stream::iter(removals)
            .buffer_unordered(WRITE_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(if removed.contains(&false) {
            CreateJob::Conflict
        } else {
            CreateJob::Created
        })
    }

    async fn commit_job(
        &self,
        spec: &JobSpec,
        now: DateTime<Utc>,
    ) -> Result<CreateJob, StoreError> {
        let mut job = Self::key(job_pk(&spec.job_id), "JOB");
        let c = spec.counts;
        for (k, v) in [
            ("job_id", s(&spec.job_id)),
            ("text", s(&spec.text)),
            ("from", s(spec.from.as_str())),
            ("encoding", s(spec.encoding.as_str())),
            ("segments", n(spec.segments)),
            ("accepted", n(c.accepted)),
            ("duplicates", n(c.duplicates)),
            ("suppressed", n(c.suppressed)),
            ("invalid", n(c.invalid)),
            ("callback_url", s(&spec.callback_url)),
            ("batches_total", n(spec.batches.len())),
            ("batches_sent", n(0)),
            ("batches_failed", n(0)),
            ("batches_unknown", n(0)),
            ("messages_accepted", n(0)),
            ("plivo_invalid", n(0)),
            ("created_at", s(now.to_rfc3339())),
            ("updated_at", s(now.to_rfc3339())),
            ("expires_at", expiry(now)),
        ] {
            job.insert(k.into(), v);
        }
        if let Some(r) = &spec.reference {
            job.insert("reference".into(), s(r));
        }
        // Written last: its existence says the whole ledger is there (see `jobs`).
        let put = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(job))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(CreateJob::Created),
            Err(e) if is_condition_failure(&e) => Ok(CreateJob::Conflict),
            Err(e) => Err(backend("PutItem", e)),
        }
    }

    async fn ledger(&self, job_id: &str) -> Result<Vec<LedgerEntry>, StoreError> {
        let Some(job) = self.get_job(job_id).await? else {
            return Ok(Vec::new());
        };
        let Some(last) = job.batches_total.checked_sub(1) else {
            return Ok(Vec::new());
        };
        self.query_batches(job_id, 0, last)
            .await?
            .iter()
            .map(ledger_from_item)
            .collect()
    }

    async fn mark_enqueued(&self, job_id: &str, batch: u32) -> Result<(), StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(Self::key(job_pk(job_id), &batch_sk(batch))))
            .update_expression("SET enqueued = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => {
                Err(super::jobs::missing_ledger_item(job_id, batch))
            }
            Err(e) => Err(backend("UpdateItem", e)),
        }
    }

    async fn status_counts(&self, job_id: &str) -> Result<StatusCounts, StoreError> {
        let mut counts = StatusCounts::default();
        let shards = self
            .query_sort_keys(
                job_pk(job_id),
                "begins_with(sk, :prefix)",
                &[(":prefix", "COUNT#".to_owned())],
            )
            .await?;
        for item in shards {
            for status in MessageStatus::ALL {
                counts.add(status, get_n::<i64>(&item, status.as_str()).unwrap_or(0));
            }
            for (name, value) in &item {
                if let Some(batch) = name
                    .strip_prefix(SEEN_PREFIX)
                    .and_then(|b| b.parse::<u32>().ok())
                    && let Some(seen) = value.as_n().ok().and_then(|v| v.parse::<u64>().ok())
                {
                    *counts.seen_by_batch.entry(batch).or_default() += seen;
                }
            }
        }
        Ok(counts)
    }
}

impl BatchLedger for DynamoStore {
    async fn claim_batch(
        &self,
        job_id: &str,
        batch: u32,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<BatchClaim, StoreError> {
        let claimed = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(Self::key(job_pk(job_id), &batch_sk(batch))))
            .update_expression(
                "SET #state = :sending, lease_until = :lease, claimed_at = :now ADD attempts :one",
            )
            .condition_expression("#state = :pending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":sending", s(BatchState::Sending.as_str()))
            .expression_attribute_values(":pending", s(BatchState::Pending.as_str()))
            .expression_attribute_values(":lease", millis(lease_until))
            .expression_attribute_values(":now", s(now.to_rfc3339()))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match claimed {
            Ok(out) => {
                let attempt = out
                    .attributes
                    .as_ref()
                    .and_then(|a| get_n(a, "attempts"))
                    .ok_or_else(|| corrupt(&batch_sk(batch), "no attempts after claim"))?;
                return Ok(BatchClaim::Claimed { attempt });
            }
            Err(e) if is_condition_failure(&e) => {}
            Err(e) => return Err(backend("UpdateItem", e)),
        }
        let Some(item) = self.get(job_pk(job_id), &batch_sk(batch)).await? else {
            return Ok(BatchClaim::Missing);
        };
        Ok(ledger_from_item(&item)?.claim_refusal(now))
    }

    async fn finish_batch(
        &self,
        job_id: &str,
        batch: u32,
        attempt: u32,
        outcome: &BatchOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let state = outcome.state();
        let mut ledger = Update::builder()
            .table_name(self.table())
            .set_key(Some(Self::key(job_pk(job_id), &batch_sk(batch))))
            .condition_expression("#state = :sending AND attempts = :attempt")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":sending", s(BatchState::Sending.as_str()))
            .expression_attribute_values(":attempt", n(attempt))
            .expression_attribute_values(":final", s(state.as_str()))
            .expression_attribute_values(":now", s(now.to_rfc3339()));
        let mut job = Update::builder()
            .table_name(self.table())
            .set_key(Some(Self::key(job_pk(job_id), "JOB")))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(now.to_rfc3339()));
        let (ledger_set, job_add) = match outcome {
            BatchOutcome::Sent {
                message_uuids,
                invalid_numbers,
            } => {
                ledger = ledger
                    .expression_attribute_values(":uuids", list(message_uuids.iter().cloned()))
                    .expression_attribute_values(":invalid", list(invalid_numbers.iter().cloned()));
                job = job
                    .expression_attribute_values(":accepted", n(message_uuids.len()))
                    .expression_attribute_values(":pinvalid", n(invalid_numbers.len()))
                    .expression_attribute_values(
                        ":batch",
                        AttributeValue::Ns(vec![batch.to_string()]),
                    );
                (
                    "SET #state = :final, ended_at = :now, message_uuids = :uuids, invalid_numbers = :invalid",
                    "ADD batches_sent :one, messages_accepted :accepted, plivo_invalid :pinvalid, sent_batches :batch",
                )
            }
            BatchOutcome::Failed { error } => {
                ledger = ledger.expression_attribute_values(":error", s(error));
                (
                    "SET #state = :final, ended_at = :now, #error = :error",
                    "ADD batches_failed :one",
                )
            }
            BatchOutcome::Unknown { reason } => {
                ledger = ledger.expression_attribute_values(":error", s(reason));
                (
                    "SET #state = :final, ended_at = :now, #error = :error",
                    "ADD batches_unknown :one",
                )
            }
        };
        if !matches!(outcome, BatchOutcome::Sent { .. }) {
            ledger = ledger.expression_attribute_names("#error", "error");
        }
        let ledger = ledger
            .update_expression(format!("{ledger_set} REMOVE lease_until"))
            .build()
            .map_err(|e| StoreError::Backend {
                operation: "TransactWriteItems",
                reason: e.to_string(),
            })?;
        let job = job
            .update_expression(format!("{job_add} SET updated_at = :now"))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| StoreError::Backend {
                operation: "TransactWriteItems",
                reason: e.to_string(),
            })?;
        let mut conflicts = 0;
        loop {
            let result = self
                .client()
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(ledger.clone()).build())
                .transact_items(TransactWriteItem::builder().update(job.clone()).build())
                .send()
                .await;
            match result {
                Ok(_) => return Ok(true),
                Err(e) => match cancellation(&e) {
                    // The claim is no longer this attempt's, or there is no job item.
                    Some(Cancellation::ConditionFailed) => return Ok(false),
                    // Another batch's outcome on the job item, most likely: nothing was
                    // written, so the same transaction is tried again.
                    Some(Cancellation::Conflict) => {
                        conflicts += 1;
                        if !self.back_off_after_conflict(conflicts).await {
                            return Err(
                                self.conflicts_exhausted(&format!("the outcome of batch {batch}"))
                            );
                        }
                    }
                    None => return Err(backend("TransactWriteItems", e)),
                },
            }
        }
    }

    async fn release_batch(&self, job_id: &str, batch: u32, attempt: u32) -> Result<(), StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(Self::key(job_pk(job_id), &batch_sk(batch))))
            .update_expression("SET #state = :pending REMOVE lease_until")
            .condition_expression("#state = :sending AND attempts = :attempt")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":pending", s(BatchState::Pending.as_str()))
            .expression_attribute_values(":sending", s(BatchState::Sending.as_str()))
            .expression_attribute_values(":attempt", n(attempt))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(backend("UpdateItem", e)),
        }
    }
}
