//! [`JobStore`] and [`BatchLedger`] in DynamoDB. Item layout under `JOB#<job_id>`: `JOB`
//! (the job and its batch counters), `BATCH#<index>` (the ledger), `COUNT#<shard>` (message
//! counts by status and messages seen per batch, written in `reports`).

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt, stream};

use super::{
    Cancellation, DynamoStore, WRITE_CONCURRENCY, backend, build_error, cancellation,
    ext::{
        Item, ItemExt, corrupt, job_from_item, job_item, key, ledger_from_item, ledger_item, list,
        millis, n, s,
    },
    held,
    reports::{CHARGED_MICROS, CHARGED_UNITS, SEEN_PREFIX},
};
use crate::domain::{
    estimate::{BudgetLeft, Reservation},
    ids::JobId,
    money::Money,
    phone::PhoneNumber,
    provider::Provider,
};
use crate::store::{
    BatchClaim, BatchLedger, BatchOutcome, BatchState, CreateJob, JobControl, JobRecord, JobSpec,
    JobStore, LedgerEntry, MessageStatus, StatusCounts, StoreError,
    jobs::missing_ledger_item,
    keys::{self, LAST_BATCH},
};

/// A job item whose batches may be sent: it exists and is running (a job written before
/// controls existed has no `control`).
pub(super) const RUNNING: &str =
    "attribute_exists(pk) AND (attribute_not_exists(#control) OR #control = :running)";

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
    pub(super) async fn put_ledger_item(
        &self,
        job_id: &JobId,
        entry: &LedgerEntry,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(ledger_item(job_id, entry, now)))
            .condition_expression(format!("attribute_not_exists(pk) OR ({UNTOUCHED})"))
            .set_expression_attribute_names(Some(untouched_names()))
            .set_expression_attribute_values(Some(untouched_values()))
            .send()
            .await;
        held(put, "PutItem")
    }

    /// Deletes a ledger item if it is untouched (or already gone); false when it has moved on.
    async fn remove_untouched(&self, job_id: &JobId, batch: u32) -> Result<bool, StoreError> {
        let deleted = self
            .client()
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::job(job_id), &keys::batch(batch))))
            .condition_expression(format!("attribute_not_exists(pk) OR ({UNTOUCHED})"))
            .set_expression_attribute_names(Some(untouched_names()))
            .set_expression_attribute_values(Some(untouched_values()))
            .send()
            .await;
        held(deleted, "DeleteItem")
    }

    /// The ledger items of batches `first..=last`, in batch order.
    async fn query_batches(
        &self,
        job_id: &JobId,
        first: u32,
        last: u32,
    ) -> Result<Vec<Item>, StoreError> {
        self.query_sort_keys(
            keys::job(job_id),
            "sk BETWEEN :first AND :last",
            &[(":first", keys::batch(first)), (":last", keys::batch(last))],
        )
        .await
    }
}

impl JobStore for DynamoStore {
    async fn get_job(&self, job_id: &JobId) -> Result<Option<JobRecord>, StoreError> {
        self.get(keys::job(job_id), keys::JOB)
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
            .map(|(i, recipients)| {
                let entry = spec.ledger_entry(i, recipients);
                async move { self.put_ledger_item(&spec.job_id, &entry, now).await }
            })
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

    async fn commit_job(&self, job: &JobRecord) -> Result<CreateJob, StoreError> {
        // Written last: its existence says the whole ledger is there (see `jobs`).
        let put = self
            .client()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(job_item(job)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        Ok(if held(put, "PutItem")? {
            CreateJob::Created
        } else {
            CreateJob::Conflict
        })
    }

    async fn ledger(&self, job_id: &JobId) -> Result<Vec<LedgerEntry>, StoreError> {
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

    async fn ledger_range(
        &self,
        job_id: &JobId,
        batches: std::ops::Range<u32>,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        if batches.is_empty() {
            return Ok(Vec::new());
        }
        self.query_batches(job_id, batches.start, batches.end - 1)
            .await?
            .iter()
            .map(ledger_from_item)
            .collect()
    }

    async fn mark_enqueued(&self, job_id: &JobId, batch: u32) -> Result<(), StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::job(job_id), &keys::batch(batch))))
            .update_expression("SET enqueued = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await;
        match held(result, "UpdateItem")? {
            true => Ok(()),
            false => Err(missing_ledger_item(job_id, batch)),
        }
    }

    async fn status_counts(&self, job_id: &JobId) -> Result<StatusCounts, StoreError> {
        let mut counts = StatusCounts::default();
        let shards = self
            .query_sort_keys(
                keys::job(job_id),
                "begins_with(sk, :prefix)",
                &[(":prefix", keys::COUNTER_PREFIX.to_owned())],
            )
            .await?;
        for item in shards {
            for status in MessageStatus::ALL {
                counts.add(status, item.number::<i64>(status.as_str()).unwrap_or(0));
            }
            counts.charged.micros += item.number::<i64>(CHARGED_MICROS).unwrap_or(0);
            counts.charged.units += item.number::<i64>(CHARGED_UNITS).unwrap_or(0);
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
        job_id: &JobId,
        batch: u32,
        reservation: Option<&Reservation>,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<BatchClaim, StoreError> {
        // The claim and a check that the job lets its batches be sent, in one transaction:
        // once a pause or a cancel is written, no claim succeeds (`store::control`). A capped
        // job's batch, claimed for the first time, also takes its reservation from what is
        // left of the caps, on the condition that it fits; a later claim (after a release)
        // finds it taken (`attempts` > 0).
        let reservation = reservation.filter(|r| r.takes_any());
        if let Some(r) = reservation
            && let Some(left) = self.charges_leave_no_room(job_id, batch, r).await?
        {
            return Ok(BatchClaim::OverBudget(left));
        }
        let claimed = match reservation {
            None => {
                self.claim_transaction(job_id, batch, Claim::Any, lease_until, now)
                    .await?
            }
            Some(r) => {
                self.claim_transaction(job_id, batch, Claim::First(r), lease_until, now)
                    .await?
                    || self
                        .claim_transaction(job_id, batch, Claim::Later, lease_until, now)
                        .await?
            }
        };
        if claimed {
            // A transaction returns no values: the attempt is read back (strongly), and
            // only this claim can have changed it since, as it holds the lease.
            let item = self
                .get(keys::job(job_id), &keys::batch(batch))
                .await?
                .ok_or_else(|| corrupt(&keys::batch(batch), "gone after its claim"))?;
            let attempt = item
                .number("attempts")
                .ok_or_else(|| corrupt(&keys::batch(batch), "no attempts after claim"))?;
            return Ok(BatchClaim::Claimed { attempt });
        }
        // A condition failed (or a write on one of the items raced this one): what the items
        // now hold says why.
        let Some(item) = self.get(keys::job(job_id), &keys::batch(batch)).await? else {
            return Ok(BatchClaim::Missing);
        };
        let entry = ledger_from_item(&item)?;
        if !matches!(entry.state, BatchState::Pending | BatchState::Parked) {
            return Ok(entry.claim_refusal(now));
        }
        Ok(match self.get_job(job_id).await? {
            None => BatchClaim::Missing,
            Some(job) if job.control != JobControl::Running => BatchClaim::Held(job.control),
            // A job without caps has no room for any reservation (the claim's condition on
            // the missing attribute never holds).
            Some(job) => match (entry.state, entry.attempts, reservation) {
                (BatchState::Pending, 0, Some(r))
                    if !job.budget.unwrap_or_default().has_room_for(r) =>
                {
                    BatchClaim::OverBudget(job.budget.unwrap_or_default())
                }
                _ => entry.claim_refusal(now),
            },
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
        let state = outcome.state();
        let mut ledger = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::job(job_id), &keys::batch(batch))))
            .condition_expression("#state = :sending AND attempts = :attempt")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":sending", s(BatchState::Sending.as_str()))
            .expression_attribute_values(":attempt", n(attempt))
            .expression_attribute_values(":final", s(state.as_str()))
            .expression_attribute_values(":now", s(now.to_rfc3339()));
        let mut job = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::job(job_id), keys::JOB)))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(now.to_rfc3339()));
        let (ledger_set, job_add) = match outcome {
            BatchOutcome::Sent {
                message_uuids,
                invalid_numbers,
                opted_out,
            } => {
                ledger = ledger
                    .expression_attribute_values(":uuids", list(message_uuids.iter().cloned()))
                    .expression_attribute_values(":invalid", list(invalid_numbers.iter().cloned()))
                    .expression_attribute_values(
                        ":optedout",
                        list(opted_out.iter().map(|n| n.as_str().to_owned())),
                    );
                job = job
                    .expression_attribute_values(":accepted", n(message_uuids.len()))
                    .expression_attribute_values(":pinvalid", n(invalid_numbers.len()))
                    .expression_attribute_values(":optedout", n(opted_out.len()))
                    .expression_attribute_values(
                        ":batch",
                        AttributeValue::Ns(vec![batch.to_string()]),
                    );
                (
                    "SET #state = :final, ended_at = :now, message_uuids = :uuids, invalid_numbers = :invalid, opted_out = :optedout",
                    "ADD batches_sent :one, batches_ended :one, messages_accepted :accepted, plivo_invalid :pinvalid, recipients_opted_out :optedout, sent_batches :batch",
                )
            }
            BatchOutcome::Fallback {
                sent,
                not_sent,
                unknown,
                opted_out,
            } => {
                let numbers = |all: &[PhoneNumber]| -> Vec<String> {
                    all.iter().map(|n| n.as_str().to_owned()).collect()
                };
                ledger = ledger
                    .expression_attribute_values(
                        ":uuids",
                        list(sent.iter().map(|(_, id)| id.clone())),
                    )
                    .expression_attribute_values(
                        ":to",
                        list(sent.iter().map(|(n, _)| n.as_str().to_owned())),
                    )
                    .expression_attribute_values(":notsent", list(numbers(not_sent)))
                    .expression_attribute_values(":unknown", list(numbers(unknown)))
                    .expression_attribute_values(":optedout", list(numbers(opted_out)))
                    .expression_attribute_values(":sns", s(Provider::Sns.as_str()));
                job = job
                    .expression_attribute_values(":byfallback", n(sent.len()))
                    .expression_attribute_values(":optedout", n(opted_out.len()));
                (
                    "SET #state = :final, ended_at = :now, provider = :sns, message_uuids = :uuids, fallback_to = :to, invalid_numbers = :notsent, fallback_unknown = :unknown, opted_out = :optedout",
                    "ADD batches_sent :one, batches_ended :one, messages_by_fallback :byfallback, recipients_opted_out :optedout",
                )
            }
            BatchOutcome::Failed { error } => {
                ledger = ledger.expression_attribute_values(":error", s(error));
                (
                    "SET #state = :final, ended_at = :now, #error = :error",
                    "ADD batches_failed :one, batches_ended :one",
                )
            }
            BatchOutcome::Unknown { reason } => {
                ledger = ledger.expression_attribute_values(":error", s(reason));
                (
                    "SET #state = :final, ended_at = :now, #error = :error",
                    "ADD batches_unknown :one, batches_ended :one",
                )
            }
        };
        if matches!(
            outcome,
            BatchOutcome::Failed { .. } | BatchOutcome::Unknown { .. }
        ) {
            ledger = ledger.expression_attribute_names("#error", "error");
        }
        let ledger = ledger
            .update_expression(format!("{ledger_set} REMOVE lease_until"))
            .build()
            .map_err(|e| build_error("TransactWriteItems", e))?;
        let job = job
            .update_expression(format!("{job_add} SET updated_at = :now"))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| build_error("TransactWriteItems", e))?;
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

    async fn release_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        attempt: u32,
    ) -> Result<(), StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::job(job_id), &keys::batch(batch))))
            .update_expression("SET #state = :pending REMOVE lease_until")
            .condition_expression("#state = :sending AND attempts = :attempt")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":pending", s(BatchState::Pending.as_str()))
            .expression_attribute_values(":sending", s(BatchState::Sending.as_str()))
            .expression_attribute_values(":attempt", n(attempt))
            .send()
            .await;
        // Not holding the claim any more is fine: there is nothing to give back.
        held(result, "UpdateItem").map(|_| ())
    }
}

impl DynamoStore {
    /// What is left of the caps, when the charges the job's reports already summed leave no
    /// room for a capped batch's first claim. Charges are read, not reserved: only reports
    /// add to them, so a read a moment old errs by the reports of that moment.
    async fn charges_leave_no_room(
        &self,
        job_id: &JobId,
        batch: u32,
        reservation: &Reservation,
    ) -> Result<Option<BudgetLeft>, StoreError> {
        if reservation.cost.is_none() {
            return Ok(None);
        }
        let Some(item) = self.get(keys::job(job_id), &keys::batch(batch)).await? else {
            return Ok(None);
        };
        let entry = ledger_from_item(&item)?;
        if entry.state != BatchState::Pending || entry.attempts > 0 {
            return Ok(None);
        }
        let Some(job) = self.get_job(job_id).await? else {
            return Ok(None);
        };
        let (JobControl::Running, Some(left)) = (job.control, job.budget) else {
            return Ok(None);
        };
        let charged = self.status_counts(job_id).await?.charged.micros.max(0) as u64;
        Ok(
            (!left.charges_leave_room_for(Money::from_micros(charged), reservation))
                .then_some(left),
        )
    }
}

/// Which claims of a batch a claim transaction may be.
#[derive(Debug, Clone, Copy)]
enum Claim<'a> {
    /// Any: the job is not capped.
    Any,
    /// The batch's first, which takes this reservation from what is left of the caps.
    First(&'a Reservation),
    /// One after a release: the first took the reservation.
    Later,
}

impl DynamoStore {
    /// One claim transaction: the ledger item `pending` → `sending` and the job item checked
    /// running; a capped batch's first claim also takes its reservation from what is left of
    /// the job's caps, if it fits. False when a condition failed (or the transaction lost to
    /// a write on one of its items).
    async fn claim_transaction(
        &self,
        job_id: &JobId,
        batch: u32,
        claim: Claim<'_>,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let job = match claim {
            Claim::Any | Claim::Later => TransactWriteItem::builder().condition_check(
                ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(keys::job(job_id), keys::JOB)))
                    .condition_expression(RUNNING)
                    .expression_attribute_names("#control", "control")
                    .expression_attribute_values(":running", s(JobControl::Running.as_str()))
                    .build()
                    .map_err(|e| build_error("TransactWriteItems", e))?,
            ),
            Claim::First(r) => {
                let mut update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(keys::job(job_id), keys::JOB)))
                    .expression_attribute_names("#control", "control")
                    .expression_attribute_values(":running", s(JobControl::Running.as_str()));
                let (mut adds, mut conditions) = (Vec::new(), vec![format!("({RUNNING})")]);
                for (name, value, wanted) in [
                    ("budget_left_micros", ":cost", r.cost.map(Money::micros)),
                    ("budget_left_segments", ":segments", r.segments),
                ] {
                    if let Some(wanted) = wanted {
                        adds.push(format!("{name} {value}_taken"));
                        conditions.push(format!("{name} >= {value}"));
                        update = update
                            .expression_attribute_values(value, n(wanted))
                            .expression_attribute_values(
                                format!("{value}_taken"),
                                AttributeValue::N(format!("-{wanted}")),
                            );
                    }
                }
                TransactWriteItem::builder().update(
                    update
                        .update_expression(format!("ADD {}", adds.join(", ")))
                        .condition_expression(conditions.join(" AND "))
                        .build()
                        .map_err(|e| build_error("TransactWriteItems", e))?,
                )
            }
        };
        let ledger = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::job(job_id), &keys::batch(batch))))
            .update_expression(
                "SET #state = :sending, lease_until = :lease, claimed_at = :now ADD attempts :one",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":sending", s(BatchState::Sending.as_str()))
            .expression_attribute_values(":pending", s(BatchState::Pending.as_str()))
            .expression_attribute_values(":lease", millis(lease_until))
            .expression_attribute_values(":now", s(now.to_rfc3339()))
            .expression_attribute_values(":one", n(1));
        let ledger = match claim {
            Claim::Any => ledger.condition_expression("#state = :pending"),
            Claim::First(_) => ledger
                .condition_expression(
                    "#state = :pending AND (attribute_not_exists(attempts) OR attempts = :zero)",
                )
                .expression_attribute_values(":zero", n(0)),
            Claim::Later => ledger
                .condition_expression("#state = :pending AND attempts > :zero")
                .expression_attribute_values(":zero", n(0)),
        };
        let claim = ledger
            .build()
            .map_err(|e| build_error("TransactWriteItems", e))?;
        let claimed = self
            .client()
            .transact_write_items()
            .transact_items(job.build())
            .transact_items(TransactWriteItem::builder().update(claim).build())
            .send()
            .await;
        match claimed {
            Ok(_) => Ok(true),
            Err(e) if cancellation(&e).is_some() => Ok(false),
            Err(e) => Err(backend("TransactWriteItems", e)),
        }
    }
}
