//! What became of each recipient of a batch: the rows of the results file
//! (docs/api.md, "The results file").
//!
//! Plivo's answer to a batch lists one message uuid per accepted destination but does not say
//! which uuid is whose, and does not promise them in `dst` order. A delivery report names its
//! message's `To`, so the pairs come from the reports:
//!
//! - a recipient named by a report gets that message's uuid and latest status;
//! - when exactly one uuid and one recipient are left unpaired, they belong together;
//! - when no uuid is left, the recipients left got no message: Plivo refused them as invalid
//!   numbers (`not_sent`);
//! - otherwise the recipients left wait for their reports (`no_report`, no uuid yet);
//! - a recipient the sender left out, having opted out since the intake, is `opted_out`,
//!   and is never paired.
//!
//! A batch with no Plivo answer on record has no uuids: `pending` while it waits, `not_sent`
//! when it failed, and `unknown` when the sender never learnt whether Plivo took it (the
//! reports of its messages, if any, cannot be found from the ledger: the job's status counts
//! them, the file cannot name them).
//!
//! A batch settled `sent` from Plivo's records after an unknown outcome (`reconciled`) knows
//! only the uuids it found: those are paired by their reports as above, and the recipients
//! left are `reconciled` (Plivo took them; their messages are not identified). The one-left
//! rule does not apply: the uuids are not Plivo's whole answer.

use std::collections::HashMap;

use sms_core::{
    PhoneNumber,
    domain::plan::csv_field,
    store::{BatchState, FallbackSends, LedgerEntry, ReportedStatus},
};

/// The results file's header line.
pub const RESULTS_HEADER: &str = "number,message_uuid,status,error_code,units,amount,updated_at\n";

/// One recipient's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome<'a> {
    pub number: &'a PhoneNumber,
    pub message_uuid: Option<&'a str>,
    /// A Plivo status from a report, or one of `no_report`, `not_sent`, `opted_out`,
    /// `pending`, `unknown`, `reconciled`, `cancelled`.
    pub status: &'static str,
    pub report: Option<&'a ReportedStatus>,
}

/// The rows of `entry`'s recipients, in the ledger's order, from the reports of its messages
/// (`reported`, in any order; reports of other messages are ignored).
pub fn batch_outcomes<'a>(
    entry: &'a LedgerEntry,
    reported: &'a [ReportedStatus],
) -> Vec<Outcome<'a>> {
    if let Some(fallback) = &entry.fallback {
        return fallback_outcomes(entry, fallback);
    }
    let ours: HashMap<&str, &ReportedStatus> = reported
        .iter()
        .map(|r| (r.message_uuid.as_str(), r))
        .collect();
    let mut by_number: HashMap<&PhoneNumber, (&str, Option<&ReportedStatus>)> = HashMap::new();
    let mut unpaired = Vec::new();
    for uuid in &entry.message_uuids {
        match ours
            .get(uuid.as_str())
            .and_then(|r| Some((r.to.as_ref()?, *r)))
        {
            Some((to, report)) if entry.recipients.contains(to) => {
                by_number.insert(to, (uuid.as_str(), Some(report)));
            }
            _ => unpaired.push(uuid.as_str()),
        }
    }
    // Those the sender left out (opted out since the intake) got no message: they are not
    // among the unpaired.
    let left: Vec<&PhoneNumber> = entry
        .recipients
        .iter()
        .filter(|n| !by_number.contains_key(n) && !entry.opted_out.contains(n))
        .collect();
    if !entry.reconciled
        && let ([uuid], [number]) = (unpaired.as_slice(), left.as_slice())
    {
        by_number.insert(number, (uuid, ours.get(uuid).copied()));
    }
    entry
        .recipients
        .iter()
        .map(|number| match by_number.get(number) {
            Some((uuid, report)) => Outcome {
                number,
                message_uuid: Some(uuid),
                status: report.map_or("no_report", |r| r.status.as_str()),
                report: *report,
            },
            None if entry.opted_out.contains(number) => Outcome {
                number,
                message_uuid: None,
                status: "opted_out",
                report: None,
            },
            None => Outcome {
                number,
                message_uuid: None,
                status: unpaired_status(entry, unpaired.is_empty()),
                report: None,
            },
        })
        .collect()
}

/// The rows of a batch sent through the fallback provider: it named each message's
/// recipient as it took it, and sends no reports, so a message it took is `sent`.
fn fallback_outcomes<'a>(entry: &'a LedgerEntry, fallback: &'a FallbackSends) -> Vec<Outcome<'a>> {
    let taken: HashMap<&PhoneNumber, &str> = fallback
        .to
        .iter()
        .zip(&entry.message_uuids)
        .map(|(to, id)| (to, id.as_str()))
        .collect();
    entry
        .recipients
        .iter()
        .map(|number| {
            let (message_uuid, status) = match taken.get(number) {
                Some(id) => (Some(*id), "sent"),
                None if fallback.unknown.contains(number) => (None, "unknown"),
                None if entry.opted_out.contains(number) => (None, "opted_out"),
                None => (None, "not_sent"),
            };
            Outcome {
                number,
                message_uuid,
                status,
                report: None,
            }
        })
        .collect()
}

/// The status of a recipient no uuid could be paired with.
fn unpaired_status(entry: &LedgerEntry, no_uuid_left: bool) -> &'static str {
    match entry.state {
        BatchState::Pending | BatchState::Sending | BatchState::Parked => "pending",
        BatchState::Failed => "not_sent",
        BatchState::Cancelled => "cancelled",
        BatchState::Unknown => "unknown",
        BatchState::Sent if entry.reconciled => "reconciled",
        BatchState::Sent if no_uuid_left => "not_sent",
        BatchState::Sent => "no_report",
    }
}

/// Appends `outcome` as one line of the results file.
pub fn write_row(outcome: &Outcome<'_>, out: &mut String) {
    let report = outcome.report;
    let units = report.and_then(|r| r.units).map(|u| u.to_string());
    let updated = report.map(|r| {
        r.updated_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    });
    let fields = [
        Some(outcome.number.as_str()),
        outcome.message_uuid,
        Some(outcome.status),
        report.and_then(|r| r.error_code.as_deref()),
        units.as_deref(),
        report.and_then(|r| r.amount.as_deref()),
        updated.as_deref(),
    ];
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(field.unwrap_or(""), out);
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use sms_core::store::MessageStatus;

    use super::*;

    fn number(i: u32) -> PhoneNumber {
        PhoneNumber::parse(&format!("+1415555{i:04}")).unwrap()
    }

    fn entry(state: BatchState, recipients: u32, uuids: &[&str]) -> LedgerEntry {
        LedgerEntry {
            state,
            message_uuids: uuids.iter().map(|u| u.to_string()).collect(),
            ..LedgerEntry::pending(3, (0..recipients).map(number).collect())
        }
    }

    fn report(uuid: &str, to: Option<u32>, status: MessageStatus) -> ReportedStatus {
        ReportedStatus {
            message_uuid: uuid.into(),
            to: to.map(number),
            status,
            error_code: (status == MessageStatus::Undelivered).then(|| "30".into()),
            units: Some(2),
            amount: Some("0.01300".into()),
            updated_at: Utc.with_ymd_and_hms(2026, 12, 4, 6, 0, 0).unwrap(),
        }
    }

    fn summary(outcomes: &[Outcome<'_>]) -> Vec<(String, Option<String>, &'static str)> {
        outcomes
            .iter()
            .map(|o| {
                (
                    o.number.to_string(),
                    o.message_uuid.map(str::to_owned),
                    o.status,
                )
            })
            .collect()
    }

    #[test]
    fn reports_pair_numbers_with_uuids_whatever_order_plivo_listed_them_in() {
        // Plivo listed the uuids in the reverse of `dst`.
        let e = entry(BatchState::Sent, 3, &["u2", "u1", "u0"]);
        let reported = [
            report("u0", Some(0), MessageStatus::Delivered),
            report("u1", Some(1), MessageStatus::Undelivered),
            report("u2", Some(2), MessageStatus::Sent),
        ];
        assert_eq!(
            summary(&batch_outcomes(&e, &reported)),
            [
                ("+14155550000".into(), Some("u0".into()), "delivered"),
                ("+14155550001".into(), Some("u1".into()), "undelivered"),
                ("+14155550002".into(), Some("u2".into()), "sent"),
            ]
        );
    }

    #[test]
    fn the_last_unreported_uuid_belongs_to_the_last_unreported_number() {
        let e = entry(BatchState::Sent, 3, &["u0", "u1", "u2"]);
        let reported = [
            report("u0", Some(0), MessageStatus::Delivered),
            report("u2", Some(2), MessageStatus::Delivered),
        ];
        let outcomes = batch_outcomes(&e, &reported);
        assert_eq!(outcomes[1].message_uuid, Some("u1"));
        assert_eq!(outcomes[1].status, "no_report");
    }

    #[test]
    fn a_reconciled_batchs_recipients_without_a_found_uuid_are_reconciled_not_paired() {
        // Found sent in Plivo's records by one uuid, reported for recipient 0; one other
        // uuid found, not yet reported. Recipients 1 and 2 are not told apart: neither gets it.
        let e = LedgerEntry {
            reconciled: true,
            ..entry(BatchState::Sent, 3, &["u0", "u9"])
        };
        let reported = [report("u0", Some(0), MessageStatus::Delivered)];
        assert_eq!(
            summary(&batch_outcomes(&e, &reported)),
            [
                ("+14155550000".into(), Some("u0".into()), "delivered"),
                ("+14155550001".into(), None, "reconciled"),
                ("+14155550002".into(), None, "reconciled"),
            ]
        );
        let none_found = LedgerEntry {
            reconciled: true,
            ..entry(BatchState::Sent, 2, &[])
        };
        assert!(
            batch_outcomes(&none_found, &[])
                .iter()
                .all(|o| o.status == "reconciled")
        );
    }

    #[test]
    fn a_fallback_batch_names_each_recipient_the_provider_took_and_what_became_of_the_rest() {
        let e = LedgerEntry {
            opted_out: vec![number(3)],
            fallback: Some(FallbackSends {
                to: vec![number(2), number(0)],
                unknown: vec![number(4)],
            }),
            ..entry(BatchState::Sent, 6, &["sns-2", "sns-0"])
        };
        assert_eq!(
            summary(&batch_outcomes(&e, &[])),
            [
                ("+14155550000".into(), Some("sns-0".into()), "sent"),
                ("+14155550001".into(), None, "not_sent"),
                ("+14155550002".into(), Some("sns-2".into()), "sent"),
                ("+14155550003".into(), None, "opted_out"),
                ("+14155550004".into(), None, "unknown"),
                ("+14155550005".into(), None, "not_sent"),
            ]
        );
    }

    #[test]
    fn a_recipient_who_opted_out_is_never_paired_with_the_last_uuid() {
        // Recipient 1 opted out before the batch went: two were sent, one report is in.
        let e = LedgerEntry {
            opted_out: vec![number(1)],
            ..entry(BatchState::Sent, 3, &["u0", "u2"])
        };
        let reported = [report("u0", Some(0), MessageStatus::Delivered)];
        let outcomes = batch_outcomes(&e, &reported);
        assert_eq!(
            summary(&outcomes)[1..],
            [
                ("+14155550001".into(), None, "opted_out"),
                ("+14155550002".into(), Some("u2".into()), "no_report"),
            ]
        );
    }

    #[test]
    fn recipients_without_a_report_wait_while_several_uuids_are_left() {
        let e = entry(BatchState::Sent, 3, &["u0", "u1", "u2"]);
        let reported = [report("u0", Some(0), MessageStatus::Delivered)];
        assert_eq!(
            summary(&batch_outcomes(&e, &reported))[1..],
            [
                ("+14155550001".into(), None, "no_report"),
                ("+14155550002".into(), None, "no_report"),
            ]
        );
    }

    #[test]
    fn a_recipient_without_a_uuid_once_all_are_paired_was_refused_by_plivo() {
        // Plivo answered two uuids for three numbers: one was in `invalid_number`.
        let e = entry(BatchState::Sent, 3, &["u0", "u2"]);
        let reported = [
            report("u0", Some(0), MessageStatus::Delivered),
            report("u2", Some(2), MessageStatus::Delivered),
        ];
        let outcomes = batch_outcomes(&e, &reported);
        assert_eq!(
            (outcomes[1].message_uuid, outcomes[1].status),
            (None, "not_sent")
        );
    }

    #[test]
    fn batches_without_a_plivo_answer_say_why_for_each_recipient() {
        for (state, status) in [
            (BatchState::Pending, "pending"),
            (BatchState::Sending, "pending"),
            (BatchState::Parked, "pending"),
            (BatchState::Failed, "not_sent"),
            (BatchState::Cancelled, "cancelled"),
            (BatchState::Unknown, "unknown"),
        ] {
            let e = entry(state, 2, &[]);
            let outcomes = batch_outcomes(&e, &[]);
            assert!(outcomes.iter().all(|o| o.status == status), "{state}");
        }
    }

    #[test]
    fn a_report_naming_a_number_outside_the_batch_pairs_nothing() {
        let e = entry(BatchState::Sent, 2, &["u0", "u1"]);
        let reported = [report("u0", Some(9), MessageStatus::Delivered)];
        assert_eq!(
            summary(&batch_outcomes(&e, &reported)),
            [
                ("+14155550000".into(), None, "no_report"),
                ("+14155550001".into(), None, "no_report"),
            ]
        );
    }

    #[test]
    fn rows_hold_every_column_and_leave_unknown_ones_empty() {
        let e = entry(BatchState::Sent, 2, &["u0", "u1"]);
        let reported = [report("u0", Some(0), MessageStatus::Undelivered)];
        let mut out = String::from(RESULTS_HEADER);
        for outcome in batch_outcomes(&e, &reported) {
            write_row(&outcome, &mut out);
        }
        assert_eq!(
            out,
            "number,message_uuid,status,error_code,units,amount,updated_at\n\
             +14155550000,u0,undelivered,30,2,0.01300,2026-12-04T06:00:00.000Z\n\
             +14155550001,u1,no_report,,,,\n"
        );
    }
}
