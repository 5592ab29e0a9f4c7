//! [`IdempotencyStore`] in DynamoDB: one `IDEM` item per key, claimed, finished and released
//! by conditional writes on its `state`, `owner` and `started_at`.

use chrono::{DateTime, Utc};

use super::{
    DynamoStore, backend,
    ext::{key, key_claim_from_item, key_finished_item, key_in_progress_item, n, s},
    held, is_condition_failure,
};
use crate::store::{IdempotencyStore, KeyClaim, StoreError, StoredResponse, keys};

/// The claim is still `owner`'s and unanswered.
const HELD_BY_OWNER: &str = "#state = :in_progress AND #owner = :owner";

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
            .set_item(Some(key_in_progress_item(key, request_hash, owner, now)))
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
        Ok(
            match self.get(keys::idempotency(key), keys::IDEMPOTENCY).await? {
                Some(existing) => key_claim_from_item(&existing, request_hash, now),
                // Released between our write and our read: the caller may simply try again.
                None => KeyClaim::InProgress { started_at: now },
            },
        )
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
            .set_item(Some(key_in_progress_item(key, request_hash, owner, now)))
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
        held(put, "PutItem")
    }

    async fn finish_key(
        &self,
        key: &str,
        request_hash: &str,
        owner: &str,
        response: &StoredResponse,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(key_finished_item(
                key,
                request_hash,
                owner,
                response,
                now,
            )))
            .condition_expression(HELD_BY_OWNER)
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        held(put, "PutItem")
    }

    async fn release_key(&self, record_key: &str, owner: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::idempotency(record_key), keys::IDEMPOTENCY)))
            .condition_expression(HELD_BY_OWNER)
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        // Not holding the claim any more is fine: there is nothing to give back.
        held(result, "DeleteItem").map(|_| ())
    }
}
