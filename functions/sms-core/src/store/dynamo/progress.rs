//! [`ProgressLog`] in DynamoDB: `RATE#<start>` items in the job's partition, each an
//! unconditional `ADD` (concurrent senders never conflict on it), kept a day.

use chrono::{DateTime, TimeZone, Utc};

use super::{
    DynamoStore, backend,
    ext::{ItemExt, expiry, key, n},
};
use crate::{
    domain::ids::JobId,
    store::{
        ProgressLog, ProgressSample, StoreError,
        keys::{self, Retention, TTL_ATTRIBUTE},
        progress::sample_start,
    },
};

impl ProgressLog for DynamoStore {
    async fn note_progress(
        &self,
        job_id: &JobId,
        recipients: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let start = sample_start(now);
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::job(job_id), &keys::progress_sample(start))))
            .update_expression("ADD recipients :n SET #ttl = :ttl, started_at = :start")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":n", n(recipients))
            .expression_attribute_values(":ttl", expiry(Retention::ProgressSample, now))
            .expression_attribute_values(":start", n(start.timestamp()))
            .send()
            .await
            .map_err(|e| backend("UpdateItem", e))?;
        Ok(())
    }

    async fn recent_progress(
        &self,
        job_id: &JobId,
        since: DateTime<Utc>,
    ) -> Result<Vec<ProgressSample>, StoreError> {
        let items = self
            .query_sort_keys(
                keys::job(job_id),
                "sk BETWEEN :first AND :last",
                &[
                    (":first", keys::progress_sample(sample_start(since))),
                    (":last", format!("RATE#{}", "9".repeat(12))),
                ],
            )
            .await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                Some(ProgressSample {
                    start: Utc.timestamp_opt(item.number("started_at")?, 0).single()?,
                    recipients: item.number("recipients")?,
                })
            })
            .collect())
    }
}
