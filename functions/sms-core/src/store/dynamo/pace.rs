//! [`RequestSchedule`] in DynamoDB: the one `PACE` item, whose `next_turn` (epoch
//! microseconds) every booking moves on by one conditional update.

use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Duration, TimeZone, Utc};

use super::{
    DynamoStore, backend,
    ext::{Item, ItemExt, key, n},
    held, is_condition_failure,
};
use crate::store::{Booking, RequestSchedule, StoreError, keys};

/// How often one booking may lose a race between the schedule's two states (ahead of `now`,
/// or idle) before it gives up. Each loss means another instance booked in between, so a
/// few are already unusual.
const BOOKING_ATTEMPTS: u32 = 8;

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(us: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_micros(us).single()
}

/// The lowered-pace deadline an item carries, if it is still ahead of `now`.
fn slowed_until(item: &Item, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    item.number::<i64>("slowed_until")
        .and_then(from_micros)
        .filter(|t| *t > now)
}

impl DynamoStore {
    fn pace_key(&self) -> Item {
        key(keys::PACE_PARTITION.to_owned(), keys::PACE)
    }

    /// The schedule is ahead of `now`: take its next turn. `None` when it is not ahead.
    async fn book_ahead(
        &self,
        spacing: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Booking>, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.pace_key()))
            .update_expression("SET next_turn = next_turn + :spacing")
            .condition_expression("next_turn >= :now")
            .expression_attribute_values(":spacing", n(spacing.num_microseconds().unwrap_or(0)))
            .expression_attribute_values(":now", n(micros(now)))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match out {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                let next = item
                    .number::<i64>("next_turn")
                    .and_then(from_micros)
                    .ok_or_else(|| StoreError::Corrupt {
                        key: keys::PACE_PARTITION.to_owned(),
                        reason: "next_turn is missing or not a time".into(),
                    })?;
                Ok(Some(Booking {
                    turn: next - spacing,
                    slowed_until: slowed_until(&item, now),
                }))
            }
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(backend("UpdateItem", e)),
        }
    }

    /// The schedule is idle (or new): restart it at `now`. `None` when another booking moved
    /// it ahead of `now` first.
    async fn book_restart(
        &self,
        spacing: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Booking>, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.pace_key()))
            .update_expression("SET next_turn = :next")
            .condition_expression("attribute_not_exists(next_turn) OR next_turn < :now")
            .expression_attribute_values(":next", n(micros(now + spacing)))
            .expression_attribute_values(":now", n(micros(now)))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match out {
            Ok(out) => Ok(Some(Booking {
                turn: now,
                slowed_until: slowed_until(&out.attributes.unwrap_or_default(), now),
            })),
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(backend("UpdateItem", e)),
        }
    }
}

impl RequestSchedule for DynamoStore {
    async fn book_turns(
        &self,
        turns: u32,
        spacing: Duration,
        now: DateTime<Utc>,
    ) -> Result<Booking, StoreError> {
        // One update moves the schedule past the whole block.
        let spacing = spacing * turns.max(1) as i32;
        // Under load the schedule is ahead and the first update books the turn: one write
        // per Plivo request. After a quiet spell the first fails and the second restarts the
        // schedule; each failure means another instance booked in between, so try again.
        for _ in 0..BOOKING_ATTEMPTS {
            if let Some(booking) = self.book_ahead(spacing, now).await? {
                return Ok(booking);
            }
            if let Some(booking) = self.book_restart(spacing, now).await? {
                return Ok(booking);
            }
        }
        Err(StoreError::Backend {
            operation: "UpdateItem",
            reason: format!(
                "no turn could be booked in {BOOKING_ATTEMPTS} attempts: the schedule kept changing"
            ),
        })
    }

    async fn hold_back(
        &self,
        resume: DateTime<Utc>,
        slowed_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let push = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.pace_key()))
            .update_expression("SET next_turn = :resume")
            .condition_expression("attribute_not_exists(next_turn) OR next_turn < :resume")
            .expression_attribute_values(":resume", n(micros(resume)))
            .send()
            .await;
        held(push, "UpdateItem")?;
        let slow = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.pace_key()))
            .update_expression("SET slowed_until = :until")
            .condition_expression("attribute_not_exists(slowed_until) OR slowed_until < :until")
            .expression_attribute_values(":until", n(micros(slowed_until)))
            .send()
            .await;
        held(slow, "UpdateItem")?;
        Ok(())
    }
}
