//! [`MessageStore`] in DynamoDB: a message's `MSG` item (facts) and `STATUS` item (reports).

use chrono::{DateTime, Utc};

use super::{
    DynamoStore, backend,
    ext::{ItemExt, message_facts_item, message_from_items, s},
};
use crate::store::{AcceptedMessage, MessageRecord, MessageStore, StoreError, keys};

impl MessageStore for DynamoStore {
    async fn record_accepted(
        &self,
        messages: &[AcceptedMessage],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Only facts go in the MSG item; status lives in the STATUS item that reports own, so
        // a plain put here can never move a message's status backwards.
        self.put_all(
            messages
                .iter()
                .map(|m| message_facts_item(m, now))
                .collect(),
        )
        .await
    }

    async fn get_message(&self, message_uuid: &str) -> Result<Option<MessageRecord>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(keys::message(message_uuid)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("Query", e))?;
        let items = out.items.unwrap_or_default();
        let find = |sk: &str| items.iter().find(|i| i.string("sk").as_deref() == Some(sk));
        message_from_items(
            message_uuid,
            find(keys::MESSAGE_FACTS),
            find(keys::MESSAGE_STATUS),
        )
    }
}
