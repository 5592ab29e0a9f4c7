//! [`JobControls`] in DynamoDB: the job item's `control`, changed by a conditional update
//! against the control it was read with, and the ledger writes that follow it.

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::{
    Cancellation, DynamoStore, backend, build_error, cancellation, cancellation_reasons,
    ext::{key, millis, n, s},
    held,
};
use crate::domain::{estimate::Budget, ids::JobId, money::Money};
use crate::store::{
    BatchState, JobRecord, JobStore, StoreError,
    control::{
        ControlAnswer, ControlChange, JobControl, JobControls, Parking, PauseReason, Verdict,
    },
    keys,
};

/// How often a change is decided again after losing its write to another change or to a
/// batch ending. Each loss means the job moved on, so a few rounds always settle it.
const CHANGE_ROUNDS: u32 = 8;

/// The job item still has the control it was read with (`:from`; `running` may be absent on
/// a job written before controls existed) and a batch left: `batches_ended` is added to by
/// every write that ends a batch (also absent on such a job).
const UNCHANGED_AND_NOT_DONE: &str = "attribute_exists(pk) \
    AND (#control = :from OR (attribute_not_exists(#control) AND :from = :running)) \
    AND (attribute_not_exists(batches_ended) OR batches_ended < batches_total)";

/// Reads and conditional writes a raise of the caps tries before it gives up.
const RAISE_ROUNDS: u32 = 5;

impl JobControls for DynamoStore {
    async fn raise_budget(
        &self,
        job_id: &JobId,
        caps: Budget,
    ) -> Result<Option<JobRecord>, StoreError> {
        for _ in 0..RAISE_ROUNDS {
            let Some(job) = self.get_job(job_id).await? else {
                return Ok(None);
            };
            let Some(left) = job.budget else {
                return Ok(Some(job));
            };
            let raised = left.raised(caps);
            if raised == left {
                return Ok(Some(job));
            }
            // Against the caps read: another raise between the read and this write makes it
            // fail, and it is decided again on the job as it then is. What is left is added
            // to, never set: claims take from it meanwhile.
            let mut update = self
                .client()
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(keys::job(job_id), keys::JOB)));
            let (mut sets, mut adds, mut conditions) = (Vec::new(), Vec::new(), Vec::new());
            for (cap, left_name, old, new, old_left, new_left) in [
                (
                    "max_cost_micros",
                    "budget_left_micros",
                    left.caps.max_cost.map(Money::micros),
                    raised.caps.max_cost.map(Money::micros),
                    left.cost.map(Money::micros),
                    raised.cost.map(Money::micros),
                ),
                (
                    "max_segments",
                    "budget_left_segments",
                    left.caps.max_segments,
                    raised.caps.max_segments,
                    left.segments,
                    raised.segments,
                ),
            ] {
                let (Some(old), Some(new)) = (old, new) else {
                    continue;
                };
                if old == new {
                    continue;
                }
                let added = new_left.unwrap_or(0).saturating_sub(old_left.unwrap_or(0));
                sets.push(format!("{cap} = :{cap}_new"));
                adds.push(format!("{left_name} :{cap}_added"));
                conditions.push(format!("{cap} = :{cap}_old"));
                update = update
                    .expression_attribute_values(format!(":{cap}_new"), n(new))
                    .expression_attribute_values(format!(":{cap}_old"), n(old))
                    .expression_attribute_values(format!(":{cap}_added"), n(added));
            }
            let result = update
                .update_expression(format!("SET {} ADD {}", sets.join(", "), adds.join(", ")))
                .condition_expression(conditions.join(" AND "))
                .send()
                .await;
            if held(result, "UpdateItem")? {
                return self.get_job(job_id).await;
            }
        }
        Err(StoreError::Backend {
            operation: "UpdateItem",
            reason: format!("job {job_id}'s caps kept changing while they were raised"),
        })
    }

    async fn change_control(
        &self,
        job_id: &JobId,
        change: ControlChange,
        now: DateTime<Utc>,
    ) -> Result<ControlAnswer, StoreError> {
        for _ in 0..CHANGE_ROUNDS {
            let Some(job) = self.get_job(job_id).await? else {
                return Ok(ControlAnswer::Missing);
            };
            let control = match change.verdict(job.control, job.is_done()) {
                Verdict::Change(control) => control,
                Verdict::Unchanged => return Ok(ControlAnswer::Unchanged(job)),
                Verdict::Refused => return Ok(ControlAnswer::Refused(job)),
            };
            let mut update = self
                .client()
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(keys::job(job_id), keys::JOB)))
                .condition_expression(UNCHANGED_AND_NOT_DONE)
                .expression_attribute_names("#control", "control")
                .expression_attribute_values(":from", s(job.control.as_str()))
                .expression_attribute_values(":running", s(JobControl::Running.as_str()))
                .expression_attribute_values(":to", s(control.as_str()))
                .expression_attribute_values(":now", s(now.to_rfc3339()));
            update = match control {
                JobControl::Paused(reason) => update
                    .update_expression(
                        "SET #control = :to, pause_reason = :reason, control_changed_at = :now, updated_at = :now",
                    )
                    .expression_attribute_values(":reason", s(reason.as_str())),
                _ => update.update_expression(
                    "SET #control = :to, control_changed_at = :now, updated_at = :now REMOVE pause_reason",
                ),
            };
            if held(update.send().await, "UpdateItem")? {
                let mut changed = job;
                changed.control = control;
                changed.control_changed_at = Some(now);
                changed.updated_at = now;
                return Ok(ControlAnswer::Changed(changed));
            }
        }
        Err(StoreError::Backend {
            operation: "UpdateItem",
            reason: format!(
                "the control of job {job_id} kept changing under {}",
                change.as_str()
            ),
        })
    }

    async fn park_batch(&self, job_id: &JobId, batch: u32) -> Result<Parking, StoreError> {
        let job_paused = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::job(job_id), keys::JOB)))
            .condition_expression("#control IN (:paused, :scheduled)")
            .expression_attribute_names("#control", "control")
            .expression_attribute_values(
                ":paused",
                s(JobControl::Paused(PauseReason::Requested).as_str()),
            )
            .expression_attribute_values(":scheduled", s(JobControl::Scheduled.as_str()))
            .build()
            .map_err(|e| build_error("TransactWriteItems", e))?;
        let park = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::job(job_id), &keys::batch(batch))))
            .update_expression("SET #state = :parked")
            .condition_expression("#state = :pending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":pending", s(BatchState::Pending.as_str()))
            .expression_attribute_values(":parked", s(BatchState::Parked.as_str()))
            .build()
            .map_err(|e| build_error("TransactWriteItems", e))?;
        let mut conflicts = 0;
        loop {
            let result = self
                .client()
                .transact_write_items()
                .transact_items(
                    TransactWriteItem::builder()
                        .condition_check(job_paused.clone())
                        .build(),
                )
                .transact_items(TransactWriteItem::builder().update(park.clone()).build())
                .send()
                .await;
            let e = match result {
                Ok(_) => return Ok(Parking::Parked),
                Err(e) => e,
            };
            // The job's check comes first: a job neither paused nor scheduled means claim again,
            // whatever the batch holds.
            let reasons = cancellation_reasons(&e);
            let failed = |i: usize| {
                reasons.get(i).and_then(|r| r.as_deref()) == Some("ConditionalCheckFailed")
            };
            match cancellation(&e) {
                Some(Cancellation::ConditionFailed) if failed(0) => return Ok(Parking::NotPaused),
                Some(Cancellation::ConditionFailed) => return Ok(Parking::NotPending),
                Some(Cancellation::Conflict) => {
                    conflicts += 1;
                    if !self.back_off_after_conflict(conflicts).await {
                        return Err(self.conflicts_exhausted(&format!("parking batch {batch}")));
                    }
                }
                None => return Err(backend("TransactWriteItems", e)),
            }
        }
    }

    async fn unpark_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        deferred: Option<u64>,
    ) -> Result<bool, StoreError> {
        if let Some(recipients) = deferred {
            return self.undefer_batch(job_id, batch, recipients).await;
        }
        let result = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::job(job_id), &keys::batch(batch))))
            .update_expression("SET #state = :pending, enqueued = :false")
            .condition_expression("#state = :parked AND attribute_not_exists(deferred_until)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":pending", s(BatchState::Pending.as_str()))
            .expression_attribute_values(":parked", s(BatchState::Parked.as_str()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await;
        held(result, "UpdateItem")
    }

    async fn defer_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        recipients: u64,
        opens: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // The opening goes first: the status shows waiting recipients beside the earliest
        // opening, so a count written before its opening would be shown without one, and
        // forever if the second write failed. An opening written for a batch that then
        // turns out not to be pending is the same opening (another instance parked it) or
        // harmless (the job ended, and the status shows no opening for an ended job). A
        // lost race leaves the earlier opening, which is what is wanted.
        let result = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::job(job_id), keys::JOB)))
            .update_expression("SET next_window_at = :opens")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(next_window_at) OR next_window_at <= :now OR next_window_at > :opens)",
            )
            .expression_attribute_values(":opens", millis(opens))
            .expression_attribute_values(":now", millis(now))
            .send()
            .await;
        held(result, "UpdateItem")?;
        let ledger = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::job(job_id), &keys::batch(batch))))
            .update_expression("SET #state = :parked, deferred_until = :opens")
            .condition_expression("#state = :pending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":pending", s(BatchState::Pending.as_str()))
            .expression_attribute_values(":parked", s(BatchState::Parked.as_str()))
            .expression_attribute_values(":opens", millis(opens))
            .build()
            .map_err(|e| build_error("TransactWriteItems", e))?;
        let job = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::job(job_id), keys::JOB)))
            .update_expression("ADD recipients_waiting :n")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":n", n(recipients))
            .build()
            .map_err(|e| build_error("TransactWriteItems", e))?;
        self.ledger_and_job(ledger, job, &format!("deferring batch {batch}"))
            .await
    }

    async fn cancel_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        recipients: u64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let ledger = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::job(job_id), &keys::batch(batch))))
            .update_expression("SET #state = :cancelled, ended_at = :now")
            .condition_expression("#state IN (:pending, :parked)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":cancelled", s(BatchState::Cancelled.as_str()))
            .expression_attribute_values(":pending", s(BatchState::Pending.as_str()))
            .expression_attribute_values(":parked", s(BatchState::Parked.as_str()))
            .expression_attribute_values(":now", s(now.to_rfc3339()))
            .build()
            .map_err(|e| build_error("TransactWriteItems", e))?;
        let job = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::job(job_id), keys::JOB)))
            .update_expression(
                "ADD batches_cancelled :one, batches_ended :one, recipients_cancelled :recipients SET updated_at = :now",
            )
            .condition_expression("#control = :cancelled")
            .expression_attribute_names("#control", "control")
            .expression_attribute_values(":cancelled", s(JobControl::Cancelled.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":recipients", n(recipients))
            .expression_attribute_values(":now", s(now.to_rfc3339()))
            .build()
            .map_err(|e| build_error("TransactWriteItems", e))?;
        self.ledger_and_job(ledger, job, &format!("cancelling batch {batch}"))
            .await
    }
}

impl DynamoStore {
    /// `parked` (deferred) → `pending`, giving its recipients back to the job's
    /// `recipients_waiting`, in one transaction.
    async fn undefer_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        recipients: u64,
    ) -> Result<bool, StoreError> {
        let ledger = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::job(job_id), &keys::batch(batch))))
            .update_expression("SET #state = :pending, enqueued = :false REMOVE deferred_until")
            .condition_expression("#state = :parked AND attribute_exists(deferred_until)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":pending", s(BatchState::Pending.as_str()))
            .expression_attribute_values(":parked", s(BatchState::Parked.as_str()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .build()
            .map_err(|e| build_error("TransactWriteItems", e))?;
        let job = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::job(job_id), keys::JOB)))
            .update_expression("ADD recipients_waiting :n")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":n", AttributeValue::N(format!("-{recipients}")))
            .build()
            .map_err(|e| build_error("TransactWriteItems", e))?;
        self.ledger_and_job(ledger, job, &format!("undeferring batch {batch}"))
            .await
    }

    /// A ledger update and a job update in one transaction, again while other writes to the
    /// job item conflict with it: false when a condition failed (nothing was written).
    pub(super) async fn ledger_and_job(
        &self,
        ledger: Update,
        job: Update,
        what: &str,
    ) -> Result<bool, StoreError> {
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
                    Some(Cancellation::ConditionFailed) => return Ok(false),
                    Some(Cancellation::Conflict) => {
                        conflicts += 1;
                        if !self.back_off_after_conflict(conflicts).await {
                            return Err(self.conflicts_exhausted(what));
                        }
                    }
                    None => return Err(backend("TransactWriteItems", e)),
                },
            }
        }
    }
}
