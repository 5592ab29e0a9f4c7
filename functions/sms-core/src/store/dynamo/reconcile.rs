//! [`UnknownBatches`] in DynamoDB: the ledger item and the job item in one transaction
//! (`ledger_and_job`, as a control change writes them), the
//! ledger's condition that the batch is still `unknown` (and, to resend, never resent).

use aws_sdk_dynamodb::types::{AttributeValue, Update};
use chrono::{DateTime, Utc};

use super::{
    DynamoStore, build_error,
    ext::{key, list, n, s, time},
};
use crate::{
    domain::ids::JobId,
    store::{BatchState, Settled, Settlement, StoreError, UnknownBatches, keys},
};

impl UnknownBatches for DynamoStore {
    async fn settle_unknown(
        &self,
        job_id: &JobId,
        batch: u32,
        settlement: &Settlement,
        now: DateTime<Utc>,
    ) -> Result<Settled, StoreError> {
        let ledger = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::job(job_id), &keys::batch(batch))))
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":unknown", s(BatchState::Unknown.as_str()))
            .expression_attribute_values(":now", time(now));
        let job = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::job(job_id), keys::JOB)))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", time(now));
        let (ledger, job) = match settlement {
            Settlement::Sent { message_uuids } => (
                ledger
                    .condition_expression("#state = :unknown")
                    .update_expression(
                        "SET #state = :sent, reconciled_at = :now, message_uuids = :uuids",
                    )
                    .expression_attribute_values(":sent", s(BatchState::Sent.as_str()))
                    .expression_attribute_values(":uuids", list(message_uuids.iter().cloned())),
                job.update_expression(
                    "ADD batches_unknown :minus, batches_sent :one, batches_reconciled :one SET updated_at = :now",
                )
                .expression_attribute_values(":minus", n(-1)),
            ),
            // Out of the ended batches: a job whose last batch goes again is not done.
            Settlement::Resend => (
                ledger
                    .condition_expression("#state = :unknown AND attribute_not_exists(resent)")
                    .update_expression(
                        "SET #state = :pending, enqueued = :no, resent = :yes, resent_at = :now",
                    )
                    .expression_attribute_values(":pending", s(BatchState::Pending.as_str()))
                    .expression_attribute_values(":no", AttributeValue::Bool(false))
                    .expression_attribute_values(":yes", AttributeValue::Bool(true)),
                job.update_expression(
                    "ADD batches_unknown :minus, batches_ended :minus, batches_resent :one SET updated_at = :now",
                )
                .expression_attribute_values(":minus", n(-1)),
            ),
        };
        let ledger = ledger
            .build()
            .map_err(|e| build_error("TransactWriteItems", e))?;
        let job = job
            .build()
            .map_err(|e| build_error("TransactWriteItems", e))?;
        let settled = self
            .ledger_and_job(ledger, job, &format!("the settlement of batch {batch}"))
            .await?;
        Ok(if settled {
            Settled::Done
        } else {
            Settled::NotUnknown
        })
    }
}
