//! [`PlanStore`] in DynamoDB: the plan item `JOB#<job_id>` / `PLAN`, claimed, checkpointed and
//! ended by conditional writes on its state and claim number; ledger items written one
//! conditional put each, as `write_ledger` writes them.

use aws_sdk_dynamodb::{
    operation::update_item::builders::UpdateItemFluentBuilder,
    types::{AttributeValue, ReturnValue},
};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt, stream};

use super::{
    DynamoStore, WRITE_CONCURRENCY, backend,
    ext::{checkpoint_values, key, millis, n, plan_from_item, plan_item, s, time},
    held, is_condition_failure,
};
use crate::domain::ids::JobId;
use crate::store::{
    CreateJob, LedgerEntry, StoreError, keys,
    plans::{PlanCheckpoint, PlanClaim, PlanEnd, PlanRecord, PlanState, PlanStore},
};

/// A claim `attempt` that still holds a `planning` plan.
const HELD: &str = "#state = :planning AND attempts = :attempt";

impl DynamoStore {
    /// An update of the plan item that applies only while claim `attempt` holds it: it sets
    /// the checkpoint and `updated_at`; the caller adds its own `SET` clauses and sends it.
    fn held_update(
        &self,
        job_id: &JobId,
        attempt: u32,
        checkpoint: &PlanCheckpoint,
        now: DateTime<Utc>,
    ) -> (UpdateItemFluentBuilder, Vec<String>) {
        let mut update = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::job(job_id), keys::PLAN)))
            .condition_expression(HELD)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":planning", s(PlanState::Planning.as_str()))
            .expression_attribute_values(":attempt", n(attempt))
            .expression_attribute_values(":now", time(now));
        let mut sets = vec!["updated_at = :now".to_owned()];
        for (name, value) in checkpoint_values(checkpoint) {
            sets.push(format!("#{name} = :{name}"));
            update = update
                .expression_attribute_names(format!("#{name}"), name)
                .expression_attribute_values(format!(":{name}"), value);
        }
        (update, sets)
    }
}

impl PlanStore for DynamoStore {
    async fn create_plan(&self, plan: &PlanRecord) -> Result<CreateJob, StoreError> {
        let put = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(plan_item(plan)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        Ok(if held(put, "PutItem")? {
            CreateJob::Created
        } else {
            CreateJob::Conflict
        })
    }

    async fn get_plan(&self, job_id: &JobId) -> Result<Option<PlanRecord>, StoreError> {
        self.get(keys::job(job_id), keys::PLAN)
            .await?
            .map(|item| plan_from_item(&item))
            .transpose()
    }

    async fn claim_plan(
        &self,
        job_id: &JobId,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<PlanClaim, StoreError> {
        let claimed = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::job(job_id), keys::PLAN)))
            .update_expression("SET attempts = attempts + :one, lease_until = :until, updated_at = :now")
            .condition_expression(
                "#state = :planning AND (attribute_not_exists(lease_until) OR lease_until < :now_ms)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":until", millis(lease_until))
            .expression_attribute_values(":now", time(now))
            .expression_attribute_values(":now_ms", millis(now))
            .expression_attribute_values(":planning", s(PlanState::Planning.as_str()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match claimed {
            Ok(out) => {
                let plan = plan_from_item(&out.attributes.unwrap_or_default())?;
                Ok(PlanClaim::Claimed {
                    attempt: plan.attempts,
                    plan: Box::new(plan),
                })
            }
            Err(e) if is_condition_failure(&e) => Ok(match self.get_plan(job_id).await? {
                None => PlanClaim::Missing,
                Some(plan) if plan.state != PlanState::Planning => PlanClaim::Ended(plan.state),
                // Released between the failed condition and this read: busy, try later.
                Some(plan) => PlanClaim::Busy {
                    lease_until: plan.lease_until.unwrap_or(now),
                },
            }),
            Err(e) => Err(backend("UpdateItem", e)),
        }
    }

    async fn save_checkpoint(
        &self,
        job_id: &JobId,
        attempt: u32,
        checkpoint: &PlanCheckpoint,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (update, mut sets) = self.held_update(job_id, attempt, checkpoint, now);
        sets.push("lease_until = :until".into());
        let result = update
            .expression_attribute_values(":until", millis(lease_until))
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await;
        held(result, "UpdateItem")
    }

    async fn end_plan(
        &self,
        job_id: &JobId,
        attempt: u32,
        end: &PlanEnd,
        checkpoint: &PlanCheckpoint,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (state, error) = match end {
            PlanEnd::Committed => (PlanState::Committed, None),
            PlanEnd::Failed { reason } => (PlanState::Failed, Some(reason)),
        };
        let (mut update, mut sets) = self.held_update(job_id, attempt, checkpoint, now);
        sets.push("#state = :ended".into());
        update = update.expression_attribute_values(":ended", s(state.as_str()));
        if let Some(reason) = error {
            sets.push("#error = :error".into());
            update = update
                .expression_attribute_names("#error", "error")
                .expression_attribute_values(":error", AttributeValue::S(reason.clone()));
        }
        let result = update
            .update_expression(format!("SET {} REMOVE lease_until", sets.join(", ")))
            .send()
            .await;
        held(result, "UpdateItem")
    }

    async fn put_batches(
        &self,
        job_id: &JobId,
        entries: &[LedgerEntry],
        now: DateTime<Utc>,
    ) -> Result<CreateJob, StoreError> {
        let writes: Vec<_> = entries
            .iter()
            .map(|entry| self.put_ledger_item(job_id, entry, now))
            .collect();
        let written: Vec<bool> = stream::iter(writes)
            .buffer_unordered(WRITE_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(if written.contains(&false) {
            CreateJob::Conflict
        } else {
            CreateJob::Created
        })
    }
}
