//! Plivo's callback payloads (docs/plivo.md): delivery reports and inbound messages, from
//! their decoded form (or query) fields into typed values.

use chrono::{DateTime, Utc};

use crate::{
    domain::phone::PhoneNumber,
    http::problem::FieldError,
    store::{DeliveryReport, MessageStatus},
};

fn field<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

fn owned(params: &[(String, String)], name: &str) -> Option<String> {
    field(params, name).map(str::to_owned)
}

/// Parses a delivery report. `MessageUUID` and a known `Status` are required; the rest is
/// kept when present and well-formed.
pub fn parse_report(params: &[(String, String)]) -> Result<DeliveryReport, Vec<FieldError>> {
    let mut errors = Vec::new();
    let message_uuid = owned(params, "MessageUUID");
    if message_uuid.is_none() {
        errors.push(FieldError::new("MessageUUID", "is required"));
    }
    let status = match field(params, "Status") {
        None => {
            errors.push(FieldError::new("Status", "is required"));
            None
        }
        Some(raw) => {
            let parsed = MessageStatus::parse(raw);
            if parsed.is_none() {
                errors.push(FieldError::new(
                    "Status",
                    format!("{raw:?} is not a Plivo message status"),
                ));
            }
            parsed
        }
    };
    let (Some(message_uuid), Some(status)) = (message_uuid, status) else {
        return Err(errors);
    };
    Ok(DeliveryReport {
        message_uuid,
        status,
        to: field(params, "To").and_then(|v| PhoneNumber::from_plivo(v).ok()),
        from: field(params, "From").and_then(|v| PhoneNumber::from_plivo(v).ok()),
        sequence: field(params, "Sequence").and_then(|v| v.parse().ok()),
        error_code: owned(params, "ErrorCode").filter(|c| c != "000" && c != "0"),
        units: field(params, "Units").and_then(|v| v.parse().ok()),
        total_rate: owned(params, "TotalRate"),
        total_amount: owned(params, "TotalAmount"),
        mcc: owned(params, "MCC"),
        mnc: owned(params, "MNC"),
        parent_message_uuid: owned(params, "ParentMessageUUID"),
        part_info: owned(params, "PartInfo"),
        message_time: owned(params, "MessageTime"),
        queued_time: owned(params, "QueuedTime"),
        sent_time: owned(params, "SentTime"),
        delivery_report_time: owned(params, "DeliveryReportTime"),
    })
}

/// Plivo's error code for "the destination has opted out".
pub const OPTED_OUT_ERROR: &str = "200";

/// An inbound message's effect on the suppression list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptChange {
    OptOut,
    OptIn,
}

const OPT_OUT_WORDS: [&str; 10] = [
    "STOP",
    "STOPALL",
    "STOP ALL",
    "END",
    "QUIT",
    "CANCEL",
    "UNSUB",
    "UNSUBSCRIBE",
    "REVOKE",
    "OPTOUT",
];
const OPT_IN_WORDS: [&str; 2] = ["START", "UNSTOP"];

/// What an inbound text asks for: the whole message must be a keyword (any case, surrounding
/// whitespace ignored), or Plivo's `MessageIntent` must say so.
pub fn inbound_change(text: &str, message_intent: Option<&str>) -> Option<OptChange> {
    let words = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase();
    if OPT_OUT_WORDS.contains(&words.as_str()) {
        return Some(OptChange::OptOut);
    }
    if OPT_IN_WORDS.contains(&words.as_str()) {
        return Some(OptChange::OptIn);
    }
    match message_intent
        .map(str::trim)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("optout") => Some(OptChange::OptOut),
        Some("optin") => Some(OptChange::OptIn),
        _ => None,
    }
}

/// An inbound message, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    pub from: PhoneNumber,
    pub text: String,
    pub message_uuid: Option<String>,
    pub intent: Option<String>,
}

impl InboundMessage {
    /// When the message was made: Plivo's message uuids are time-based (version 1), so the
    /// uuid carries it. Without such a uuid, or one dated after `arrived` (a clock ahead of
    /// ours), it is `arrived`. Orders opt changes, so a replayed old START keeps its old time.
    pub fn sent_at(&self, arrived: DateTime<Utc>) -> DateTime<Utc> {
        self.message_uuid
            .as_deref()
            .and_then(|u| uuid::Uuid::parse_str(u).ok())
            .and_then(|u| u.get_timestamp())
            .and_then(|t| {
                let (secs, nanos) = t.to_unix();
                DateTime::from_timestamp(i64::try_from(secs).ok()?, nanos)
            })
            .map_or(arrived, |made| made.min(arrived))
    }
}

pub fn parse_inbound(params: &[(String, String)]) -> Result<InboundMessage, Vec<FieldError>> {
    let from = match field(params, "From") {
        None => return Err(vec![FieldError::new("From", "is required")]),
        Some(v) => PhoneNumber::from_plivo(v).map_err(|e| vec![FieldError::new("From", e)])?,
    };
    Ok(InboundMessage {
        from,
        text: params
            .iter()
            .find(|(k, _)| k == "Text")
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
        message_uuid: owned(params, "MessageUUID"),
        intent: owned(params, "MessageIntent"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_full_report_is_parsed() {
        let r = parse_report(&p(&[
            ("MessageUUID", "u-1"),
            ("Status", "delivered"),
            ("To", "14155550123"),
            ("From", "14155550100"),
            ("Sequence", "3"),
            ("ErrorCode", ""),
            ("Units", "2"),
            ("TotalAmount", "0.01000"),
            ("MCC", "310"),
        ]))
        .unwrap();
        assert_eq!(r.status, MessageStatus::Delivered);
        assert_eq!(r.to.unwrap().as_str(), "+14155550123");
        assert_eq!(
            (r.sequence, r.units, r.error_code),
            (Some(3), Some(2), None)
        );
        assert_eq!(r.total_amount.as_deref(), Some("0.01000"));
    }

    #[test]
    fn a_report_without_uuid_or_status_names_the_fields() {
        let errs = parse_report(&p(&[("To", "1")])).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["MessageUUID", "Status"]);
        let errs = parse_report(&p(&[("MessageUUID", "u"), ("Status", "exploded")])).unwrap_err();
        assert_eq!(errs[0].field, "Status");
    }

    #[test]
    fn an_inbound_message_is_dated_by_its_time_based_uuid() {
        let arrived = DateTime::from_timestamp(1_795_334_400, 0).unwrap();
        let with = |uuid: &str| InboundMessage {
            from: PhoneNumber::parse("+14155550199").unwrap(),
            text: "START".into(),
            message_uuid: Some(uuid.into()),
            intent: None,
        };
        // Version 1 uuids made 59.5 s before and 100 s after `arrived`.
        let before = "93b0c540-e64a-11f1-8123-010203040506";
        let after = "f2c28a00-e64a-11f1-8123-010203040506";
        assert_eq!(
            with(before).sent_at(arrived),
            arrived - chrono::Duration::milliseconds(59_500)
        );
        // A uuid dated after arrival, a random (v4) or a malformed one: the arrival time.
        assert_eq!(with(after).sent_at(arrived), arrived);
        assert_eq!(
            with("7a2b3c4d-0000-4000-8000-000000000001").sent_at(arrived),
            arrived
        );
        assert_eq!(with("not-a-uuid").sent_at(arrived), arrived);
    }

    #[test]
    fn keywords_are_whole_messages_in_any_case() {
        for w in [
            "STOP",
            " stop ",
            "Stop All",
            "stop   all",
            "unsubscribe",
            "OptOut",
            "quit\n",
        ] {
            assert_eq!(inbound_change(w, None), Some(OptChange::OptOut), "{w:?}");
        }
        for w in ["start", "UNSTOP "] {
            assert_eq!(inbound_change(w, None), Some(OptChange::OptIn), "{w:?}");
        }
        for w in ["please stop", "stopped", "", "HELP"] {
            assert_eq!(inbound_change(w, None), None, "{w:?}");
        }
        assert_eq!(
            inbound_change("arrête", Some("optout")),
            Some(OptChange::OptOut)
        );
        assert_eq!(inbound_change("hi", Some("optin")), Some(OptChange::OptIn));
        assert_eq!(inbound_change("hi", Some("help")), None);
    }
}
