//! Plivo's own records of what it sent (docs/plivo.md, "Message records"): the Message list
//! API, one page of at most 20 a request, filtered by direction, number and time window.
//! What settles a batch whose outcome is unknown: a send Plivo took has a record, one it
//! never saw has none (once the records have had time to appear).

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

use super::client::{PlivoClient, PlivoError};
use crate::{domain::phone::PhoneNumber, secrets::PlivoCredentials};

/// Plivo's most records a page.
pub const PAGE_LIMIT: u32 = 20;

/// Which outbound records to list: those to `to` (and from `from`, when a number sent
/// them), made inside `[after, before]`.
#[derive(Debug, Clone)]
pub struct RecordQuery<'a> {
    pub to: &'a PhoneNumber,
    /// The sending number's digits; none for a sender ID or a Powerpack, whose records
    /// Plivo files under the ID or the number it picked.
    pub from: Option<&'a str>,
    pub after: DateTime<Utc>,
    pub before: DateTime<Utc>,
    pub offset: u32,
}

impl RecordQuery<'_> {
    /// The list request's query string, in Plivo's parameter names and time format.
    fn parameters(&self) -> Vec<(&'static str, String)> {
        let time = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
        let mut parameters = vec![
            ("message_direction", "outbound".to_owned()),
            ("to_number", self.to.digits().to_owned()),
            ("message_time__gte", time(self.after)),
            ("message_time__lte", time(self.before)),
            ("limit", PAGE_LIMIT.to_string()),
            ("offset", self.offset.to_string()),
        ];
        if let Some(from) = self.from {
            parameters.push(("from_number", from.to_owned()));
        }
        parameters
    }
}

/// One message as Plivo's records show it (the fields a reconciliation needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub message_uuid: String,
    pub to: Option<PhoneNumber>,
    /// As Plivo files it: the number's digits, or a sender ID.
    pub from: String,
    /// Plivo's state now: `queued`, `sent`, `delivered`, `undelivered`, `failed`, `rejected`.
    pub state: String,
    pub sent_at: Option<DateTime<Utc>>,
    pub units: Option<u32>,
}

/// A page of records and whether another follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPage {
    pub records: Vec<MessageRecord>,
    pub total: u64,
    pub more: bool,
}

#[derive(Deserialize)]
struct ListBody {
    meta: Meta,
    objects: Vec<Object>,
}

#[derive(Deserialize)]
struct Meta {
    total_count: u64,
    next: Option<String>,
}

#[derive(Deserialize)]
struct Object {
    message_uuid: String,
    #[serde(default)]
    to_number: Option<String>,
    #[serde(default)]
    from_number: Option<String>,
    #[serde(default)]
    message_state: Option<String>,
    #[serde(default)]
    message_time: Option<String>,
    #[serde(default)]
    units: Option<serde_json::Value>,
}

impl Object {
    fn record(self) -> MessageRecord {
        MessageRecord {
            to: self
                .to_number
                .as_deref()
                .and_then(|n| PhoneNumber::from_plivo(n).ok()),
            from: self.from_number.unwrap_or_default(),
            state: self.message_state.unwrap_or_default(),
            sent_at: self.message_time.as_deref().and_then(message_time),
            // Plivo writes units as a number, some records as a string of digits.
            units: match self.units {
                Some(serde_json::Value::Number(n)) => n.as_u64().and_then(|u| u.try_into().ok()),
                Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
                _ => None,
            },
            message_uuid: self.message_uuid,
        }
    }
}

/// Plivo's `message_time`: `2021-07-13 13:04:06.799021+05:30`, the offset optional (UTC).
fn message_time(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    DateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S%.f%:z")
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

impl PlivoClient {
    /// One page of Plivo's outbound records that `query` names; no retry (the list API has
    /// a limit of its own, 20 requests a minute: the caller paces and comes back).
    pub async fn list_records(
        &self,
        creds: &PlivoCredentials,
        query: &RecordQuery<'_>,
    ) -> Result<RecordPage, PlivoError> {
        let (status, body) = self.get_messages(creds, &query.parameters()).await?;
        if !(200..300).contains(&status) {
            return Err(super::client::error_of(status, &body));
        }
        let list: ListBody =
            serde_json::from_slice(&body).map_err(|e| PlivoError::ServerError {
                status,
                error: format!("the answer is not a message list: {e}"),
            })?;
        Ok(RecordPage {
            more: list.meta.next.is_some(),
            total: list.meta.total_count,
            records: list.objects.into_iter().map(Object::record).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_times_are_read_with_or_without_their_offset() {
        let at = |s: &str| message_time(s).map(|t| t.to_rfc3339());
        assert_eq!(
            at("2021-07-13 13:04:06.799021+05:30").as_deref(),
            Some("2021-07-13T07:34:06.799021+00:00")
        );
        assert_eq!(
            at("2026-12-05 01:02:03.000001").as_deref(),
            Some("2026-12-05T01:02:03.000001+00:00")
        );
        assert_eq!(at("yesterday"), None);
    }

    #[test]
    fn a_query_names_the_number_the_window_and_the_page_in_plivos_terms() {
        let to = PhoneNumber::parse("+14155550123").unwrap();
        let after = DateTime::parse_from_rfc3339("2026-12-05T01:00:00.5Z")
            .unwrap()
            .with_timezone(&Utc);
        let query = RecordQuery {
            to: &to,
            from: Some("14155550100"),
            after,
            before: after + chrono::Duration::seconds(90),
            offset: 20,
        };
        assert_eq!(
            query.parameters(),
            [
                ("message_direction", "outbound".to_owned()),
                ("to_number", "14155550123".to_owned()),
                ("message_time__gte", "2026-12-05 01:00:00.500000".to_owned()),
                ("message_time__lte", "2026-12-05 01:01:30.500000".to_owned()),
                ("limit", "20".to_owned()),
                ("offset", "20".to_owned()),
                ("from_number", "14155550100".to_owned()),
            ]
        );
    }
}
