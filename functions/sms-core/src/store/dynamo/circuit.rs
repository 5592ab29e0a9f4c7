//! [`PlivoCircuit`] in DynamoDB: the one `CIRCUIT` item (`failures`, `since` and
//! `open_until` in epoch milliseconds), changed only by conditional updates, so concurrent
//! senders each count once and open it once.

use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};

use super::{
    DynamoStore, backend,
    ext::{Item, ItemExt, key, millis, n},
    held, is_condition_failure,
};
use crate::store::{CircuitRule, CircuitState, PlivoCircuit, StoreError, keys};

/// Races lost between "count in the window" and "start a new window" before giving up: each
/// loss means another sender counted in between.
const ATTEMPTS: u32 = 5;

impl DynamoStore {
    fn circuit_key(&self) -> Item {
        key(keys::CIRCUIT_PARTITION.to_owned(), keys::CIRCUIT)
    }

    /// Adds one failure to the current window; the new count, or None when the window is
    /// over (or there is none).
    async fn count_in_window(
        &self,
        rule: CircuitRule,
        now: DateTime<Utc>,
    ) -> Result<Option<u32>, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.circuit_key()))
            .update_expression("ADD failures :one")
            .condition_expression("since > :floor")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":floor", millis(now - rule.window))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match out {
            Ok(out) => Ok(Some(
                out.attributes
                    .unwrap_or_default()
                    .number("failures")
                    .unwrap_or(1),
            )),
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(backend("UpdateItem", e)),
        }
    }

    /// Starts a new window with this failure, unless another sender just did.
    async fn start_window(
        &self,
        rule: CircuitRule,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.circuit_key()))
            .update_expression("SET failures = :one, since = :now")
            .condition_expression("attribute_not_exists(since) OR since <= :floor")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", millis(now))
            .expression_attribute_values(":floor", millis(now - rule.window))
            .send()
            .await;
        held(result, "UpdateItem")
    }

    /// Opens the circuit until `until` and starts the count again, unless it is open already.
    async fn open(&self, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.circuit_key()))
            .update_expression("SET open_until = :until, failures = :zero REMOVE since")
            .condition_expression("attribute_not_exists(open_until) OR open_until <= :now")
            .expression_attribute_values(":until", millis(until))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", millis(now))
            .send()
            .await;
        held(result, "UpdateItem")
    }
}

impl PlivoCircuit for DynamoStore {
    async fn circuit(&self, now: DateTime<Utc>) -> Result<CircuitState, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.circuit_key()))
            .send()
            .await
            .map_err(|e| backend("GetItem", e))?;
        let item = out.item.unwrap_or_default();
        Ok(CircuitState {
            open_until: item.millis("open_until").filter(|t| *t > now),
            failures: item.number("failures").unwrap_or(0),
        })
    }

    async fn note_plivo_failure(
        &self,
        rule: CircuitRule,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        for _ in 0..ATTEMPTS {
            let count = match self.count_in_window(rule, now).await? {
                Some(count) => count,
                None if self.start_window(rule, now).await? => 1,
                // Another sender started the window first: count in it.
                None => continue,
            };
            if count < rule.failures {
                return Ok(None);
            }
            let until = now + rule.open_for;
            return Ok(self.open(now, until).await?.then_some(until));
        }
        Err(StoreError::Backend {
            operation: "UpdateItem",
            reason: "the circuit kept changing under concurrent failures".into(),
        })
    }

    async fn note_plivo_success(&self) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.circuit_key()))
            .update_expression("SET failures = :zero REMOVE since")
            .condition_expression("failures > :zero")
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        held(result, "UpdateItem").map(|_| ())
    }
}
