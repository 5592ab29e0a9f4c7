//! [`ReportStore`] in DynamoDB: the message's `STATUS` item and the job's counter shards
//! (`COUNT#<shard>`: a number per counted status, `seen_<batch>` per batch, `expires_at`).

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::{
    Cancellation, DynamoStore, backend, build_error, cancellation,
    ext::{ItemExt, expiry, key, n, s, time},
};
use crate::{
    domain::status::{Charge, advances, count_changes},
    store::{
        BatchRef, CurrentStatus, DeliveryReport, MessageStatus, ReportEffect, ReportStore,
        StoreError, counter_shard,
        keys::{self, Retention},
    },
};

/// The counter-shard attribute counting the messages of `batch` seen in reports.
pub(crate) fn seen_attribute(batch: u32) -> String {
    format!("{SEEN_PREFIX}{batch}")
}

pub(crate) const SEEN_PREFIX: &str = "seen_";

/// The counter-shard attributes summing what reports charged the job's messages.
pub(crate) const CHARGED_MICROS: &str = "charged_micros";
pub(crate) const CHARGED_UNITS: &str = "charged_units";

/// Reads and conditional writes tried before giving up under heavy concurrent reports for
/// one message (Plivo sends one per status change, so contention is rare). Conflicts with
/// other messages' reports on the shared counter item are retried separately, with backoff.
const MAX_TRIES: u32 = 5;

impl DynamoStore {
    fn status_update(
        &self,
        report: &DeliveryReport,
        job_id: Option<&str>,
        version: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<Update, StoreError> {
        // The error code belongs to the status it came with (see `ReportStore`); when present
        // it is set below with the other optional fields.
        let remove = if report.error_code.is_none() {
            " REMOVE #err"
        } else {
            ""
        };
        let mut sets = vec![
            "#status = :status",
            "status_rank = :rank",
            "version = :next",
            "updated_at = :now",
            "expires_at = if_not_exists(expires_at, :exp)",
        ];
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::message(&report.message_uuid),
                keys::MESSAGE_STATUS,
            )))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(report.status.as_str()))
            .expression_attribute_values(":rank", n(report.status.rank()))
            .expression_attribute_values(":next", n(version.unwrap_or(0) + 1))
            .expression_attribute_values(":now", time(now))
            .expression_attribute_values(":exp", expiry(Retention::Message, now));
        if report.error_code.is_none() {
            update = update.expression_attribute_names("#err", "error_code");
        }
        update = match version {
            None => update.condition_expression("attribute_not_exists(pk)"),
            Some(v) => update
                .condition_expression("version = :seen")
                .expression_attribute_values(":seen", n(v)),
        };
        let optional: [(&str, &str, Option<AttributeValue>); 16] = [
            ("#to", "to", report.to.as_ref().map(|v| s(v.as_str()))),
            ("#from", "from", report.from.as_ref().map(|v| s(v.as_str()))),
            ("#job", "job_id", job_id.map(s)),
            ("#seq", "sequence", report.sequence.map(n)),
            ("#err", "error_code", report.error_code.clone().map(s)),
            ("#units", "units", report.units.map(n)),
            ("#rate", "total_rate", report.total_rate.clone().map(s)),
            ("#amount", "amount", report.total_amount.clone().map(s)),
            ("#mcc", "mcc", report.mcc.clone().map(s)),
            ("#mnc", "mnc", report.mnc.clone().map(s)),
            (
                "#parent",
                "parent_message_uuid",
                report.parent_message_uuid.clone().map(s),
            ),
            ("#part", "part_info", report.part_info.clone().map(s)),
            ("#mtime", "message_time", report.message_time.clone().map(s)),
            ("#qtime", "queued_time", report.queued_time.clone().map(s)),
            ("#stime", "sent_time", report.sent_time.clone().map(s)),
            (
                "#dtime",
                "delivery_report_time",
                report.delivery_report_time.clone().map(s),
            ),
        ];
        let mut owned = Vec::new();
        for (placeholder, name, value) in optional {
            if let Some(value) = value {
                let v = format!(":{}", &placeholder[1..]);
                owned.push(format!("{placeholder} = {v}"));
                update = update
                    .expression_attribute_names(placeholder, name)
                    .expression_attribute_values(v, value);
            }
        }
        let mut all: Vec<String> = sets.drain(..).map(str::to_owned).collect();
        all.extend(owned);
        update
            .update_expression(format!("SET {}{remove}", all.join(", ")))
            .build()
            .map_err(|e| build_error("TransactWriteItems", e))
    }

    /// The counter shard's changes: the status moves, +1 seen in the batch for the
    /// message's first report, and what the report changes of the message's charge. None when
    /// none applies.
    #[allow(clippy::too_many_arguments)]
    fn counter_update(
        &self,
        batch: &BatchRef,
        uuid: &str,
        first: bool,
        from: Option<MessageStatus>,
        to: MessageStatus,
        charge: Charge,
        now: DateTime<Utc>,
    ) -> Result<Option<Update>, StoreError> {
        let changes = count_changes(from, to);
        if changes.is_empty() && !first && charge.is_zero() {
            return Ok(None);
        }
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::job(&batch.job_id),
                &keys::counter(counter_shard(uuid)),
            )))
            .expression_attribute_values(":exp", expiry(Retention::Message, now));
        let mut adds = Vec::new();
        for (i, (status, delta)) in changes.into_iter().enumerate() {
            adds.push(format!("#s{i} :d{i}"));
            update = update
                .expression_attribute_names(format!("#s{i}"), status.as_str())
                .expression_attribute_values(format!(":d{i}"), n(delta));
        }
        for (placeholder, attribute, delta) in [
            ("cm", CHARGED_MICROS, charge.micros),
            ("cu", CHARGED_UNITS, charge.units),
        ] {
            if delta != 0 {
                adds.push(format!("#{placeholder} :{placeholder}"));
                update = update
                    .expression_attribute_names(format!("#{placeholder}"), attribute)
                    .expression_attribute_values(format!(":{placeholder}"), n(delta));
            }
        }
        if first {
            adds.push("#seen :one".into());
            update = update
                .expression_attribute_names("#seen", seen_attribute(batch.batch))
                .expression_attribute_values(":one", n(1));
        }
        Ok(Some(
            update
                .update_expression(format!(
                    "ADD {} SET expires_at = if_not_exists(expires_at, :exp)",
                    adds.join(", ")
                ))
                .build()
                .map_err(|e| build_error("TransactWriteItems", e))?,
        ))
    }
}

impl ReportStore for DynamoStore {
    async fn apply_report(
        &self,
        report: &DeliveryReport,
        batch: Option<&BatchRef>,
        now: DateTime<Utc>,
    ) -> Result<ReportEffect, StoreError> {
        let job_id = batch.map(|b| b.job_id.as_str());
        let (mut changed_under_us, mut conflicts) = (0, 0);
        while changed_under_us < MAX_TRIES {
            let item = self
                .get(keys::message(&report.message_uuid), keys::MESSAGE_STATUS)
                .await?;
            let current = item.as_ref().and_then(|i| {
                let status = i.string("status").and_then(|v| MessageStatus::parse(&v))?;
                Some(CurrentStatus {
                    status,
                    sequence: i.number("sequence"),
                })
            });
            if !advances(current, report) {
                return Ok(ReportEffect::Ignored);
            }
            let version = item
                .as_ref()
                .map(|i| i.number::<u64>("version").unwrap_or(0));
            let from = current.map(|c| c.status);
            let charged = item.as_ref().map_or_else(Charge::default, |i| {
                Charge::of(i.string("amount").as_deref(), i.number("units"))
            });
            let mut tx = self.client.transact_write_items().transact_items(
                TransactWriteItem::builder()
                    .update(self.status_update(report, job_id, version, now)?)
                    .build(),
            );
            if let Some(batch) = batch
                && let Some(counter) = self.counter_update(
                    batch,
                    &report.message_uuid,
                    item.is_none(),
                    from,
                    report.status,
                    charged.change(report),
                    now,
                )?
            {
                tx = tx.transact_items(TransactWriteItem::builder().update(counter).build());
            }
            match tx.send().await {
                Ok(_) => return Ok(ReportEffect::Applied { from }),
                Err(e) => match cancellation(&e) {
                    // Another report for this message got in between: read again and decide
                    // again.
                    Some(Cancellation::ConditionFailed) => changed_under_us += 1,
                    // Another message's report held the counter item (or this message's the
                    // status item): wait a little, then read and decide again.
                    Some(Cancellation::Conflict) => {
                        conflicts += 1;
                        if !self.back_off_after_conflict(conflicts).await {
                            return Err(self.conflicts_exhausted(&format!(
                                "the report for message {}",
                                report.message_uuid
                            )));
                        }
                    }
                    None => return Err(backend("TransactWriteItems", e)),
                },
            }
        }
        Err(StoreError::Backend {
            operation: "TransactWriteItems",
            reason: format!(
                "message {} kept changing under concurrent reports",
                report.message_uuid
            ),
        })
    }
}
