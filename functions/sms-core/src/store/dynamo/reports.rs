//! [`ReportStore`] and [`CountStore`] in DynamoDB: the message's `STATUS` item, written by one
//! conditional `UpdateItem` per report, and the job's counter shards (`COUNT#<shard>`: a number
//! per counted status, `seen_<batch>` per batch, `charged_micros`, `charged_units`,
//! `expires_at`), written from the table's stream a batch of changes at a time.

use aws_sdk_dynamodb::{
    operation::update_item::builders::UpdateItemFluentBuilder,
    types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update},
};
use chrono::{DateTime, Utc};

use super::{
    Cancellation, DynamoStore, backend, build_error, cancellation,
    ext::{ItemExt, expiry, key, n, s, time},
    is_condition_failure,
};
use crate::{
    domain::ids::JobId,
    store::{
        BatchRef, CountDelta, CountStore, CounterSum, CountsApplied, DeliveryReport, MessageStatus,
        ReportEffect, ReportStore, StoreError, StreamedChange,
        keys::{self, Retention},
        next_run,
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

/// The `STATUS` item's attributes that name the message's bulk batch, for the stream's reader.
pub(crate) const JOB_ATTRIBUTE: &str = "job_id";
pub(crate) const BATCH_ATTRIBUTE: &str = "batch";

/// The condition under which a report [`advances`](crate::domain::status::advances) the
/// message, evaluated by DynamoDB on the stored item: no status yet; or a lower rank; or, when
/// the report has a `Sequence`, the same rank with a lower stored sequence (a missing stored
/// sequence compares false, as in `advances`). Without a `Sequence` a report of the same rank
/// never applies: the first to arrive is kept.
fn advances_condition(has_sequence: bool) -> &'static str {
    if has_sequence {
        "attribute_not_exists(#status) OR status_rank < :rank \
         OR (status_rank = :rank AND #seq < :seq)"
    } else {
        "attribute_not_exists(#status) OR status_rank < :rank"
    }
}

impl DynamoStore {
    /// The report's one conditional write of the `STATUS` item. `#seq` and `:seq`, which the
    /// condition names when the report has a sequence, are the ones the update sets.
    fn status_update(
        &self,
        report: &DeliveryReport,
        batch: Option<&BatchRef>,
        now: DateTime<Utc>,
    ) -> UpdateItemFluentBuilder {
        // The error code belongs to the status it came with (see `ReportStore`); when present
        // it is set below with the other optional fields.
        let remove = if report.error_code.is_none() {
            " REMOVE #err"
        } else {
            ""
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::message(&report.message_uuid),
                keys::MESSAGE_STATUS,
            )))
            .condition_expression(advances_condition(report.sequence.is_some()))
            .return_values(ReturnValue::UpdatedOld)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(report.status.as_str()))
            .expression_attribute_values(":rank", n(report.status.rank()))
            .expression_attribute_values(":now", time(now))
            .expression_attribute_values(":exp", expiry(Retention::Message, now));
        if report.error_code.is_none() {
            update = update.expression_attribute_names("#err", "error_code");
        }
        let mut sets = vec![
            "#status = :status".to_owned(),
            "status_rank = :rank".to_owned(),
            "updated_at = :now".to_owned(),
            "expires_at = if_not_exists(expires_at, :exp)".to_owned(),
        ];
        let optional: [(&str, &str, Option<AttributeValue>); 17] = [
            ("#to", "to", report.to.as_ref().map(|v| s(v.as_str()))),
            ("#from", "from", report.from.as_ref().map(|v| s(v.as_str()))),
            ("#job", JOB_ATTRIBUTE, batch.map(|b| s(b.job_id.as_str()))),
            ("#batch", BATCH_ATTRIBUTE, batch.map(|b| n(b.batch))),
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
        for (placeholder, name, value) in optional {
            if let Some(value) = value {
                let v = format!(":{}", &placeholder[1..]);
                sets.push(format!("{placeholder} = {v}"));
                update = update
                    .expression_attribute_names(placeholder, name)
                    .expression_attribute_values(v, value);
            }
        }
        update.update_expression(format!("SET {}{remove}", sets.join(", ")))
    }

    /// One job's counter-shard update: its delta, added to `shard`.
    fn counter_update(
        &self,
        job_id: &JobId,
        shard: u32,
        delta: &CountDelta,
        now: DateTime<Utc>,
    ) -> Result<Update, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::job(job_id), &keys::counter(shard))))
            .expression_attribute_values(":exp", expiry(Retention::Message, now));
        let mut adds = Vec::new();
        let statuses = delta.statuses.iter().filter(|(_, d)| **d != 0);
        for (i, (status, d)) in statuses.enumerate() {
            adds.push(format!("#s{i} :d{i}"));
            update = update
                .expression_attribute_names(format!("#s{i}"), status.as_str())
                .expression_attribute_values(format!(":d{i}"), n(d));
        }
        for (placeholder, attribute, d) in [
            ("cm", CHARGED_MICROS, delta.charge.micros),
            ("cu", CHARGED_UNITS, delta.charge.units),
        ] {
            if d != 0 {
                adds.push(format!("#{placeholder} :{placeholder}"));
                update = update
                    .expression_attribute_names(format!("#{placeholder}"), attribute)
                    .expression_attribute_values(format!(":{placeholder}"), n(d));
            }
        }
        for (i, (batch, d)) in delta.seen.iter().filter(|(_, d)| **d != 0).enumerate() {
            adds.push(format!("#b{i} :b{i}"));
            update = update
                .expression_attribute_names(format!("#b{i}"), seen_attribute(*batch))
                .expression_attribute_values(format!(":b{i}"), n(d));
        }
        update
            .update_expression(format!(
                "ADD {} SET expires_at = if_not_exists(expires_at, :exp)",
                adds.join(", ")
            ))
            .build()
            .map_err(|e| build_error("TransactWriteItems", e))
    }

    /// The mark that `covered` records of the stream from `first` were counted: written only
    /// if there is none yet.
    fn count_mark(
        &self,
        first: &str,
        covered: usize,
        now: DateTime<Utc>,
    ) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(
                key(keys::counted(first), keys::SEEN)
                    .into_iter()
                    .chain([
                        ("seen_at".to_owned(), time(now)),
                        (COVERED.to_owned(), n(covered)),
                        (
                            keys::TTL_ATTRIBUTE.to_owned(),
                            expiry(Retention::CountBatch, now),
                        ),
                    ])
                    .collect(),
            ))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| build_error("TransactWriteItems", e))
    }
}

impl ReportStore for DynamoStore {
    async fn apply_report(
        &self,
        report: &DeliveryReport,
        batch: Option<&BatchRef>,
        now: DateTime<Utc>,
    ) -> Result<ReportEffect, StoreError> {
        match self.status_update(report, batch, now).send().await {
            Ok(out) => {
                let from = out
                    .attributes
                    .as_ref()
                    .and_then(|old| old.get("status"))
                    .and_then(|v| v.as_s().ok())
                    .and_then(|v| MessageStatus::parse(v));
                Ok(ReportEffect::Applied { from })
            }
            // The stored status is as new or newer: a duplicate or a late report.
            Err(e) if is_condition_failure(&e) => Ok(ReportEffect::Ignored),
            Err(e) => Err(backend("UpdateItem", e)),
        }
    }
}

impl CountStore for DynamoStore {
    async fn apply_counts(
        &self,
        records: &[StreamedChange],
        now: DateTime<Utc>,
    ) -> Result<CountsApplied, StoreError> {
        let mut applied = CountsApplied::default();
        let mut start = 0;
        while start < records.len() {
            let (end, counters) = next_run(records, start);
            if counters.is_empty() {
                // Nothing to add, nothing to mark: a later delivery decides it the same way.
                start = end;
                continue;
            }
            match self
                .count_run(&records[start].record_id, end - start, &counters, now)
                .await?
            {
                Run::Counted => {
                    applied.counters += counters.len();
                    start = end;
                }
                Run::CountedBefore(covered) => {
                    // An earlier delivery counted `covered` records from here: skip them, and
                    // count what follows as a run of its own.
                    let covered = covered.clamp(1, records.len() - start);
                    applied.counted_before += covered;
                    start += covered;
                }
            }
        }
        Ok(applied)
    }
}

/// What became of one run of records.
enum Run {
    Counted,
    /// A mark was there: an earlier delivery counted this many records from the run's first.
    CountedBefore(usize),
}

impl DynamoStore {
    /// One transaction: the mark that `covered` records from `first` are counted, written only
    /// if there is none, and each counter item's sum. Conflicts with other runs on a counter
    /// item are retried with backoff.
    async fn count_run(
        &self,
        first: &str,
        covered: usize,
        counters: &[CounterSum],
        now: DateTime<Utc>,
    ) -> Result<Run, StoreError> {
        let mut conflicts = 0;
        loop {
            let mut tx = self.client.transact_write_items().transact_items(
                TransactWriteItem::builder()
                    .put(self.count_mark(first, covered, now)?)
                    .build(),
            );
            for ((job_id, shard), delta) in counters {
                tx = tx.transact_items(
                    TransactWriteItem::builder()
                        .update(self.counter_update(job_id, *shard, delta, now)?)
                        .build(),
                );
            }
            match tx.send().await {
                Ok(_) => return Ok(Run::Counted),
                Err(e) => match cancellation(&e) {
                    Some(Cancellation::ConditionFailed) => {
                        let mark = self.get(keys::counted(first), keys::SEEN).await?;
                        let counted = mark
                            .as_ref()
                            .and_then(|m| m.number::<usize>(COVERED))
                            .ok_or_else(|| StoreError::Corrupt {
                                key: keys::counted(first),
                                reason: format!("the mark has no {COVERED}"),
                            })?;
                        return Ok(Run::CountedBefore(counted));
                    }
                    Some(Cancellation::Conflict) => {
                        conflicts += 1;
                        if !self.back_off_after_conflict(conflicts).await {
                            return Err(self.conflicts_exhausted(&format!(
                                "the counts of the stream records from {first}"
                            )));
                        }
                    }
                    None => return Err(backend("TransactWriteItems", e)),
                },
            }
        }
    }
}

/// The mark's attribute: how many records from its first were counted.
const COVERED: &str = "records";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::status::{CurrentStatus, advances};

    /// The condition, evaluated as DynamoDB would on an item at `current`, agrees with
    /// `advances` for every pair of statuses and sequences (present or not).
    #[test]
    fn the_condition_is_advances() {
        let sequences = [None, Some(1), Some(2)];
        for stored in MessageStatus::ALL {
            for stored_seq in sequences {
                for status in MessageStatus::ALL {
                    for seq in sequences {
                        let report = DeliveryReport {
                            sequence: seq,
                            ..DeliveryReport::new("u", status)
                        };
                        let current = CurrentStatus {
                            status: stored,
                            sequence: stored_seq,
                        };
                        // `#seq < :seq` is false when the stored item has no sequence.
                        let dynamo = stored.rank() < status.rank()
                            || (seq.is_some()
                                && stored.rank() == status.rank()
                                && stored_seq.is_some_and(|a| seq.is_some_and(|b| a < b)));
                        assert_eq!(
                            dynamo,
                            advances(Some(current), &report),
                            "{stored:?}/{stored_seq:?} then {status:?}/{seq:?}"
                        );
                    }
                }
            }
        }
        assert!(advances_condition(true).contains("#seq < :seq"));
        assert!(!advances_condition(false).contains(":seq"));
    }
}
