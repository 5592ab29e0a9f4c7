//! [`SuppressionList`] and [`SeenOnce`] in DynamoDB: a number's `OPTOUT` item, ordered by
//! `changed_at`, and `SEEN` once-records, written together when an inbound message asks.

use std::collections::HashSet;

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::{
    DynamoStore, backend, build_error, cancellation_reasons,
    ext::{ItemExt, key, n, optout_item, seen_item, suppressed_flag},
    held,
};
use crate::{
    domain::phone::PhoneNumber,
    store::{
        ChangeOutcome, SeenOnce, Sighting, StoreError, SuppressionChange, SuppressionList, keys,
    },
};

/// [`SuppressionChange::supersedes`], as a condition (items without `changed_at` predate
/// ordering and are older than any change).
const SUPERSEDES: &str = "attribute_not_exists(changed_at) OR changed_at < :at";

/// A once-record is free when absent or expired (DynamoDB deletes expired items lazily).
const NOT_SEEN: &str = "attribute_not_exists(pk) OR expires_at < :now";

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
        held(put, "PutItem")
    }
}

impl SuppressionList for DynamoStore {
    async fn is_suppressed(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        Ok(self
            .get(keys::optout(number), keys::OPTOUT)
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
        let wanted = unique
            .iter()
            .map(|n| key(keys::optout(n), keys::OPTOUT))
            .collect();
        Ok(self
            .get_items(wanted, false)
            .await?
            .iter()
            .filter(|item| suppressed_flag(item))
            .filter_map(|item| item.string("number"))
            .filter_map(|v| PhoneNumber::parse(&v).ok())
            .collect())
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
            return Ok(if held(put, "PutItem")? {
                ChangeOutcome::Applied
            } else {
                ChangeOutcome::Stale
            });
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
        match written {
            Ok(_) => Ok(ChangeOutcome::Applied),
            Err(e) => {
                let reasons = cancellation_reasons(&e);
                let failed = |i: usize| {
                    reasons
                        .get(i)
                        .is_some_and(|r| r.as_deref() == Some("ConditionalCheckFailed"))
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
