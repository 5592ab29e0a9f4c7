//! A message's delivery status and the rule that it only moves forward
//! (docs/architecture.md, "Status only moves forward"). No AWS and no HTTP here: the stores
//! apply these rules, each in its own way (`store/memory.rs`, `store/dynamo/reports.rs`).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::phone::PhoneNumber;

/// A message's delivery status. Status only moves forward: `queued` < `sent` < the finals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    Queued,
    Sent,
    Delivered,
    Undelivered,
    Failed,
    Rejected,
}

impl MessageStatus {
    pub const ALL: [Self; 6] = [
        Self::Queued,
        Self::Sent,
        Self::Delivered,
        Self::Undelivered,
        Self::Failed,
        Self::Rejected,
    ];

    /// Position in the forward-only order; the four final statuses share the top rank.
    pub fn rank(self) -> u8 {
        match self {
            Self::Queued => 0,
            Self::Sent => 1,
            Self::Delivered | Self::Undelivered | Self::Failed | Self::Rejected => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Undelivered => "undelivered",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a delivery report says about one message, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    pub message_uuid: String,
    pub status: MessageStatus,
    pub to: Option<PhoneNumber>,
    pub from: Option<PhoneNumber>,
    /// Plivo's per-message counter: within one status rank, a higher sequence is newer.
    pub sequence: Option<u64>,
    pub error_code: Option<String>,
    pub units: Option<u32>,
    pub total_rate: Option<String>,
    pub total_amount: Option<String>,
    pub mcc: Option<String>,
    pub mnc: Option<String>,
    pub parent_message_uuid: Option<String>,
    pub part_info: Option<String>,
    pub message_time: Option<String>,
    pub queued_time: Option<String>,
    pub sent_time: Option<String>,
    pub delivery_report_time: Option<String>,
}

/// What a message has been charged: Plivo's `TotalAmount` in millionths and its `Units`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Charge {
    pub micros: i64,
    pub units: i64,
}

impl Charge {
    /// A message's charge as stored: its amount (Plivo's decimal string) and units. An
    /// amount that is not a decimal counts as none.
    pub fn of(amount: Option<&str>, units: Option<u32>) -> Self {
        Self {
            micros: amount
                .and_then(|a| super::money::Money::parse(a).ok())
                .map_or(0, |m| i64::try_from(m.micros()).unwrap_or(i64::MAX)),
            units: units.map_or(0, i64::from),
        }
    }

    /// What applying `report` to a message charged `self` changes: a report without an
    /// amount or units keeps the ones stored (as the stores do), so a message is counted once
    /// whatever the number of its reports, and a corrected amount by its difference.
    pub fn change(self, report: &DeliveryReport) -> Self {
        let next = Self::of(report.total_amount.as_deref(), report.units);
        Self {
            micros: if report.total_amount.is_some() {
                next.micros - self.micros
            } else {
                0
            },
            units: if report.units.is_some() {
                next.units - self.units
            } else {
                0
            },
        }
    }

    pub fn is_zero(self) -> bool {
        self.micros == 0 && self.units == 0
    }
}

impl DeliveryReport {
    /// A report of `status` for one message, with none of the optional fields.
    pub fn new(message_uuid: impl Into<String>, status: MessageStatus) -> Self {
        Self {
            message_uuid: message_uuid.into(),
            status,
            to: None,
            from: None,
            sequence: None,
            error_code: None,
            units: None,
            total_rate: None,
            total_amount: None,
            mcc: None,
            mnc: None,
            parent_message_uuid: None,
            part_info: None,
            message_time: None,
            queued_time: None,
            sent_time: None,
            delivery_report_time: None,
        }
    }
}

/// The status and sequence a message has now, as far as reports go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrentStatus {
    pub status: MessageStatus,
    pub sequence: Option<u64>,
}

/// Whether `report` moves a message that is at `current` (None: no report yet).
pub fn advances(current: Option<CurrentStatus>, report: &DeliveryReport) -> bool {
    let Some(cur) = current else { return true };
    let (old, new) = (cur.status.rank(), report.status.rank());
    if new != old {
        return new > old;
    }
    match (cur.sequence, report.sequence) {
        (Some(a), Some(b)) => b > a,
        // Without sequences, only a different status of the same rank can tell news from a
        // repeat, and the first to arrive is kept.
        _ => false,
    }
}

/// The counter changes a move from `from` to `to` makes: the new status +1 and the old one
/// −1. `queued` is never counted (a job's queued count is what is left of the accepted), so a
/// move out of `queued` only adds, and a move within one status changes nothing.
pub fn count_changes(from: Option<MessageStatus>, to: MessageStatus) -> Vec<(MessageStatus, i64)> {
    let counted = |st: Option<MessageStatus>| st.filter(|s| *s != MessageStatus::Queued);
    let (old, new) = (counted(from), counted(Some(to)));
    if old == new {
        return Vec::new();
    }
    new.map(|s| (s, 1))
        .into_iter()
        .chain(old.map(|s| (s, -1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: MessageStatus, sequence: Option<u64>) -> DeliveryReport {
        DeliveryReport {
            sequence,
            ..DeliveryReport::new("u", status)
        }
    }

    fn at(status: MessageStatus, sequence: Option<u64>) -> Option<CurrentStatus> {
        Some(CurrentStatus { status, sequence })
    }

    #[test]
    fn status_moves_only_forward_and_higher_sequences_win_within_a_rank() {
        use MessageStatus::*;
        assert!(advances(None, &report(Queued, Some(1))));
        assert!(advances(at(Queued, Some(1)), &report(Sent, Some(2))));
        assert!(advances(at(Sent, Some(2)), &report(Delivered, Some(3))));
        assert!(
            !advances(at(Delivered, Some(3)), &report(Sent, Some(2))),
            "late sent"
        );
        assert!(
            !advances(at(Delivered, Some(3)), &report(Queued, Some(1))),
            "late queued"
        );
        assert!(
            !advances(at(Delivered, Some(3)), &report(Delivered, Some(3))),
            "duplicate"
        );
        assert!(
            advances(at(Undelivered, Some(3)), &report(Delivered, Some(4))),
            "newer final"
        );
        assert!(
            !advances(at(Delivered, Some(4)), &report(Undelivered, Some(3))),
            "older final"
        );
        assert!(!advances(at(Sent, None), &report(Sent, None)));
    }

    #[test]
    fn only_real_moves_out_of_a_counted_status_change_counts() {
        use MessageStatus::*;
        assert_eq!(count_changes(None, Queued), []);
        assert_eq!(count_changes(Some(Queued), Queued), []);
        assert_eq!(count_changes(None, Delivered), [(Delivered, 1)]);
        assert_eq!(count_changes(Some(Queued), Sent), [(Sent, 1)]);
        assert_eq!(
            count_changes(Some(Sent), Delivered),
            [(Delivered, 1), (Sent, -1)]
        );
        assert_eq!(count_changes(Some(Sent), Sent), []);
    }
}
