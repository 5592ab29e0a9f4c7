//! Bulk sending rules shared by send-bulk and the sender (docs/api.md, `POST /v1/bulk`;
//! docs/architecture.md, "The queue"): the recipient list (parse, check against the numbering
//! plans, report invalid entries and landlines by index, de-duplicate), batching, and the
//! queue message.

use crate::domain::sender::Sender;
use std::{
    collections::{BTreeMap, HashSet},
    fmt,
};

use serde::{Deserialize, Deserializer, Serialize, de};

use crate::domain::{ids::JobId, numbering, phone::PhoneNumber, text::MessageText};

/// Plivo's limit of destinations in one request, and so the largest batch.
pub const MAX_BATCH_SIZE: usize = 1000;

/// One entry of the `recipients` array as sent: a string, or any other JSON value (which is
/// reported as invalid by its index rather than failing the whole request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientEntry {
    /// A string that is a valid number. Its text is exactly [`PhoneNumber::as_str`] (strict
    /// E.164 accepts only its own form), so nothing of the entry as sent is lost. Parsed as
    /// the body is read, so a valid entry never costs a `String` of its own.
    Number(PhoneNumber),
    /// Any other string, kept as sent to be reported.
    Text(String),
    NotAString(&'static str),
}

impl<'de> Deserialize<'de> for RecipientEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = RecipientEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a phone number string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(match PhoneNumber::parse(v) {
                    Ok(number) => RecipientEntry::Number(number),
                    Err(_) => RecipientEntry::Text(v.to_owned()),
                })
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(match PhoneNumber::parse(&v) {
                    Ok(number) => RecipientEntry::Number(number),
                    Err(_) => RecipientEntry::Text(v),
                })
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(RecipientEntry::NotAString("a number"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(RecipientEntry::NotAString("a number"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(RecipientEntry::NotAString("a number"))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(RecipientEntry::NotAString("a boolean"))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(RecipientEntry::NotAString("null"))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(RecipientEntry::NotAString("an array"))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(RecipientEntry::NotAString("an object"))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for RecipientEntry {
    /// Only used to fingerprint a request for idempotency.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            // The number's text is the entry as sent, so the fingerprint is the same as when
            // every string was kept as text.
            Self::Number(n) => s.serialize_str(n.as_str()),
            Self::Text(t) => s.serialize_str(t),
            Self::NotAString(kind) => s.serialize_str(&format!("<{kind}>")),
        }
    }
}

/// An entry the answer lists by its position: one that is not a usable number, or a
/// landline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedRecipient {
    pub index: usize,
    pub value: String,
    pub reason: String,
}

/// Longest echo of an invalid entry in the answer (characters), so a huge bogus string is
/// not sent back. With [`INVALID_LISTED`] it bounds the answer: an entry serializes to at
/// most about 250 bytes (24 characters, each at most 6 bytes as JSON, plus index and reason).
pub const ECHO_MAX: usize = 24;

/// Most invalid entries an answer lists (the first ones, by index), and most landlines; the
/// rest are counted only. 1,000 entries of at most ~250 bytes keep the answer, and the idempotent replay that
/// stores it, well inside DynamoDB's 400 KB item limit and Lambda's 6 MB response limit.
pub const INVALID_LISTED: usize = 1000;

/// The recipient list after parsing and de-duplication, in first-seen order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecipientList {
    /// The numbers to send to: valid, each once, without the landlines when they are skipped.
    pub valid: Vec<PhoneNumber>,
    pub duplicates: usize,
    /// The first [`INVALID_LISTED`] invalid entries.
    pub invalid: Vec<ListedRecipient>,
    /// Every invalid entry, listed or not.
    pub invalid_count: usize,
    /// The first [`INVALID_LISTED`] landlines (first occurrences; a repeat is a duplicate).
    pub landlines: Vec<ListedRecipient>,
    /// Every landline, listed or not, skipped or not.
    pub landline_count: usize,
    /// The landlines left out of `valid` (`skip_landlines`).
    pub landlines_skipped: usize,
    /// `valid` by destination country (ISO 3166, `001` for non-geographic numbers): what
    /// an estimate prices.
    pub countries: BTreeMap<&'static str, u64>,
}

impl RecipientList {
    /// Parses the entries: a number must be E.164 and valid by the numbering plans
    /// ([`numbering::classify`]); a landline is listed, and left out with `skip_landlines`.
    pub fn parse(entries: &[RecipientEntry], skip_landlines: bool) -> Self {
        // Keyed by the digits' value, not the number: 8 bytes a slot instead of 17, and one
        // word to hash. std's keyed SipHash stays, because the caller chooses every key and a
        // fixed fast hash would let a crafted list collide.
        let mut seen: HashSet<u64> = HashSet::with_capacity(entries.len());
        let mut list = Self {
            valid: Vec::with_capacity(entries.len()),
            ..Self::default()
        };
        for (index, entry) in entries.iter().enumerate() {
            let number = match entry {
                RecipientEntry::Number(n) => n.clone(),
                // Parsed again to name the reason (a `Text` built by hand may even be valid).
                RecipientEntry::Text(raw) => match PhoneNumber::parse(raw) {
                    Ok(n) => n,
                    Err(e) => {
                        list.push_invalid(index, raw, || e.to_string());
                        continue;
                    }
                },
                RecipientEntry::NotAString(kind) => {
                    list.push_invalid(index, "", || format!("must be a string, not {kind}"));
                    continue;
                }
            };
            // Checked before de-duplication, so every entry of a number no one has is reported
            // at its index, as a malformed one is.
            let numbering = match numbering::classify(&number) {
                Ok(numbering) => numbering,
                Err(e) => {
                    list.push_invalid(index, number.as_str(), || e.to_string());
                    continue;
                }
            };
            if !seen.insert(number.digits_value()) {
                list.duplicates += 1;
                continue;
            }
            if numbering.is_landline() {
                list.landline_count += 1;
                if list.landlines.len() < INVALID_LISTED {
                    list.landlines.push(ListedRecipient {
                        index,
                        value: number.as_str().to_owned(),
                        reason: numbering.landline_note(),
                    });
                }
                if skip_landlines {
                    list.landlines_skipped += 1;
                    continue;
                }
            }
            *list.countries.entry(numbering.region).or_default() += 1;
            list.valid.push(number);
        }
        list
    }

    /// Counts an invalid entry, and lists it while fewer than [`INVALID_LISTED`] are.
    fn push_invalid(&mut self, index: usize, raw: &str, reason: impl FnOnce() -> String) {
        self.invalid_count += 1;
        if self.invalid.len() < INVALID_LISTED {
            self.invalid.push(ListedRecipient {
                index,
                value: raw.chars().take(ECHO_MAX).collect(),
                reason: reason(),
            });
        }
    }
}

/// The queue message for one batch (docs/architecture.md, "The queue"). One SQS message is
/// one Plivo request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchMessage {
    pub job_id: JobId,
    pub batch: u32,
    pub from: Sender,
    pub text: MessageText,
    pub recipients: Vec<PhoneNumber>,
    pub callback_url: String,
    /// The job's deadline (`domain::validity`): the batch is not sent after it, and Plivo is
    /// told what is left of it. Absent for a job without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The job's quiet hours (`domain::quiet_hours`): the batch waits while they hold in any
    /// of its recipients' zones (they share them: `zones::batch_by_window`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<crate::domain::quiet_hours::QuietHours>,
    /// A capped job's batch: what its claim reserves of the job's caps
    /// (`domain::estimate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<crate::domain::estimate::Reservation>,
    /// The job asked that its batches go through the fallback provider while Plivo's circuit
    /// is open (`fallback`), where the deployment allows it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fallback: bool,
}

impl BatchMessage {
    /// The status callback URL Plivo is given for this batch: the job's callback URL with the
    /// batch index added, so every delivery report names its batch (see [`BatchRef`]). Plivo
    /// signs the URL it calls, so the index in a verified report is the one given here.
    pub fn plivo_callback_url(&self) -> String {
        let separator = if self.callback_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{separator}batch={}", self.callback_url, self.batch)
    }
}

/// A message on the job-files queue: one task on one job (docs/architecture.md, "A job from
/// an upload").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "lowercase", deny_unknown_fields)]
pub enum FileTask {
    /// Read the job's upload into its ledger, commit the job and enqueue its batches.
    Plan { job_id: JobId },
    /// Build (or go on building) generation `generation` of the job's results file.
    Results { job_id: JobId, generation: u32 },
    /// Bring the job's ledger in line with its control, from batch `from` on: a running
    /// job's parked batches enqueued again, a cancelled job's unsent batches cancelled.
    Sweep {
        job_id: JobId,
        #[serde(default)]
        from: u32,
    },
    /// Arrange for a scheduled job to start at `at`: its one-time schedule (EventBridge
    /// Scheduler) puts a `Start` on this queue then; a time already past starts it at once.
    Schedule {
        job_id: JobId,
        at: chrono::DateTime<chrono::Utc>,
    },
    /// A scheduled job's time came: make it running and enqueue its batches.
    Start { job_id: JobId },
    /// Settle batch `batch`, whose outcome is unknown, from Plivo's records and reports;
    /// `round` counts the tries that found the records unreadable.
    Reconcile {
        job_id: JobId,
        batch: u32,
        #[serde(default)]
        round: u32,
    },
}

impl FileTask {
    pub fn job_id(&self) -> &JobId {
        match self {
            Self::Plan { job_id }
            | Self::Results { job_id, .. }
            | Self::Sweep { job_id, .. }
            | Self::Schedule { job_id, .. }
            | Self::Start { job_id }
            | Self::Reconcile { job_id, .. } => job_id,
        }
    }
}

/// The bulk batch a delivery report's message was sent in, as its signed callback URL names
/// it (`…?job_id=<uuid>&batch=<index>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRef {
    pub job_id: JobId,
    pub batch: u32,
}

impl BatchRef {
    /// The job and batch of a callback URL's query string. None unless both are there and
    /// well-formed: a report without its batch cannot be counted consistently (a single send,
    /// or a URL handed out before batches were named).
    pub fn from_callback_query(query: &str) -> Option<Self> {
        let mut job_id = None;
        let mut batch = None;
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "job_id" if job_id.is_none() => job_id = Some(v.into_owned()),
                "batch" if batch.is_none() => batch = Some(v.into_owned()),
                _ => {}
            }
        }
        let job_id = JobId::parse(&job_id?).ok()?;
        let batch = batch?.parse().ok()?;
        Some(Self { job_id, batch })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchMessageError {
    /// Not JSON of this shape, or a field that does not parse (an id, a number, the text).
    #[error("not a batch message: {0}")]
    Shape(String),
    #[error("recipients must hold 1 to {MAX_BATCH_SIZE} numbers, found {0}")]
    Size(usize),
    #[error("recipients must not repeat a number")]
    Duplicate,
}

impl BatchMessage {
    /// Parses an SQS message body and checks everything the sender needs before touching
    /// Plivo. A body that fails here is malformed: retrying cannot fix it, and it must not
    /// hold up the other records of its receive.
    pub fn parse(body: &str) -> Result<Self, BatchMessageError> {
        let message: BatchMessage =
            serde_json::from_str(body).map_err(|e| BatchMessageError::Shape(e.to_string()))?;
        if message.recipients.is_empty() || message.recipients.len() > MAX_BATCH_SIZE {
            return Err(BatchMessageError::Size(message.recipients.len()));
        }
        let unique: HashSet<_> = message.recipients.iter().collect();
        if unique.len() != message.recipients.len() {
            return Err(BatchMessageError::Duplicate);
        }
        Ok(message)
    }
}

/// Batch size from `PLIVO_BATCH_SIZE`: at most Plivo's 1,000.
pub fn batch_size(configured: Option<&str>) -> Result<usize, String> {
    match configured {
        None => Ok(MAX_BATCH_SIZE),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_BATCH_SIZE).contains(&n) => Ok(n),
            _ => Err(format!(
                "must be a whole number from 1 to {MAX_BATCH_SIZE}, not {v:?}"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(json: &str) -> Vec<RecipientEntry> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn keeps_first_occurrences_in_order_and_counts_duplicates() {
        let list = RecipientList::parse(
            &entries(r#"["+14155550001", "+14155550002", "+14155550001", "+14155550001"]"#),
            false,
        );
        let valid: Vec<_> = list.valid.iter().map(|n| n.as_str()).collect();
        assert_eq!(valid, ["+14155550001", "+14155550002"]);
        assert_eq!(list.duplicates, 2);
        assert!(list.invalid.is_empty());
    }

    #[test]
    fn reports_invalid_entries_with_index_value_and_reason() {
        let list = RecipientList::parse(
            &entries(r#"["+14155550001", "4155550002", 14155550003, null, "+1 415", {"a": 1}]"#),
            false,
        );
        assert_eq!(list.valid.len(), 1);
        let got: Vec<_> = list
            .invalid
            .iter()
            .map(|i| (i.index, i.value.as_str(), i.reason.as_str()))
            .collect();
        assert_eq!(
            got[0],
            (
                1,
                "4155550002",
                "must start with '+' followed by the country code (E.164)"
            )
        );
        assert_eq!(got[1], (2, "", "must be a string, not a number"));
        assert_eq!(got[2], (3, "", "must be a string, not null"));
        assert_eq!(got[3], (4, "+1 415", "must contain only digits after '+'"));
        assert_eq!(got[4], (5, "", "must be a string, not an object"));
    }

    #[test]
    fn entries_serialize_as_they_were_sent() {
        // The idempotency fingerprint is this serialization: a valid number parsed on the way
        // in must still read as the string that was sent.
        let sent = r#"["+14155550001","4155550002","+14155550001",7,null,"\u002b14155550003"]"#;
        let parsed = entries(sent);
        assert_eq!(
            parsed[..3],
            [
                RecipientEntry::Number(PhoneNumber::parse("+14155550001").unwrap()),
                RecipientEntry::Text("4155550002".into()),
                RecipientEntry::Number(PhoneNumber::parse("+14155550001").unwrap()),
            ]
        );
        assert_eq!(
            serde_json::to_string(&parsed).unwrap(),
            r#"["+14155550001","4155550002","+14155550001","<a number>","<null>","+14155550003"]"#
        );
    }

    #[test]
    fn a_valid_number_given_as_text_still_counts() {
        let list = RecipientList::parse(
            &[
                RecipientEntry::Text("+14155550001".into()),
                RecipientEntry::Number(PhoneNumber::parse("+14155550001").unwrap()),
            ],
            false,
        );
        assert_eq!(list.valid.len(), 1);
        assert_eq!(list.duplicates, 1);
    }

    #[test]
    fn numbers_no_one_can_have_are_reported_with_the_country_and_reason() {
        // A US number in a real area code, then `+1 555 0100`, an area code not in use, a
        // repeat of it (reported again: every entry is), and a calling code no one has.
        let list = RecipientList::parse(
            &entries(
                r#"["+14155550001", "+15550100", "+15555550100", "+15555550100", "+99912345678"]"#,
            ),
            false,
        );
        assert_eq!(list.valid.len(), 1);
        assert_eq!(list.invalid_count, 4);
        let got: Vec<_> = list
            .invalid
            .iter()
            .map(|i| (i.index, i.value.as_str(), i.reason.as_str()))
            .collect();
        let no_range = "is not a valid number for +1 (US, AG, AI and 22 more): no such area code or number range";
        assert_eq!(
            got,
            [
                (1, "+15550100", no_range),
                (2, "+15555550100", no_range),
                (3, "+15555550100", no_range),
                (
                    4,
                    "+99912345678",
                    "is not a valid number: no country has the calling code it starts with"
                ),
            ]
        );
        assert_eq!(list.duplicates, 0);
    }

    #[test]
    fn landlines_are_listed_and_sent_unless_skipped() {
        // A London landline (twice), a UK mobile, a US number (landline or mobile: sent).
        let sent = r#"["+442071234567", "+447400123456", "+442071234567", "+14155550001"]"#;
        let kept = RecipientList::parse(&entries(sent), false);
        assert_eq!(kept.valid.len(), 3);
        assert_eq!((kept.landline_count, kept.landlines_skipped), (1, 0));
        assert_eq!(kept.duplicates, 1);
        assert_eq!(
            kept.landlines,
            [ListedRecipient {
                index: 0,
                value: "+442071234567".into(),
                reason: "is a landline in GB (+44): it cannot receive SMS".into(),
            }]
        );
        let skipped = RecipientList::parse(&entries(sent), true);
        let valid: Vec<_> = skipped.valid.iter().map(|n| n.as_str()).collect();
        assert_eq!(valid, ["+447400123456", "+14155550001"]);
        assert_eq!((skipped.landline_count, skipped.landlines_skipped), (1, 1));
        assert_eq!(skipped.landlines, kept.landlines);
        assert_eq!(skipped.duplicates, 1);
    }

    #[test]
    fn only_the_first_landlines_are_listed_but_all_are_counted() {
        let raw: Vec<String> = (0..INVALID_LISTED + 10)
            .map(|i| format!("+4420712{i:05}"))
            .collect();
        let list = RecipientList::parse(&entries(&serde_json::to_string(&raw).unwrap()), true);
        assert_eq!(list.landline_count, INVALID_LISTED + 10);
        assert_eq!(list.landlines_skipped, INVALID_LISTED + 10);
        assert_eq!(list.landlines.len(), INVALID_LISTED);
        assert!(list.valid.is_empty());
    }

    #[test]
    fn a_huge_invalid_entry_is_echoed_truncated() {
        let long = format!("\"{}\"", "x".repeat(10_000));
        let list = RecipientList::parse(&entries(&format!("[{long}]")), false);
        assert_eq!(list.invalid[0].value.len(), ECHO_MAX);
    }

    #[test]
    fn only_the_first_invalid_entries_are_listed_but_all_are_counted() {
        let mut raw: Vec<String> = (0..INVALID_LISTED + 500).map(|i| format!("{i}")).collect();
        raw.push("+14155550001".into());
        let list = RecipientList::parse(&entries(&serde_json::to_string(&raw).unwrap()), false);
        assert_eq!(list.invalid_count, INVALID_LISTED + 500);
        assert_eq!(list.invalid.len(), INVALID_LISTED);
        assert_eq!(list.invalid.last().unwrap().index, INVALID_LISTED - 1);
        assert_eq!(list.valid.len(), 1);
    }

    fn batch_json(recipients: &[&str]) -> String {
        serde_json::json!({
            "job_id": "9a7d6c1e-0000-4000-8000-000000000001", "batch": 0,
            "from": "+14155550100", "text": "hi",
            "recipients": recipients, "callback_url": "https://x/cb"
        })
        .to_string()
    }

    #[test]
    fn batch_messages_round_trip_and_malformed_ones_are_named() {
        let ok = BatchMessage::parse(&batch_json(&["+14155550001", "+14155550002"])).unwrap();
        assert_eq!(ok.recipients.len(), 2);
        assert_eq!(ok.text.as_str(), "hi");
        // Every field is checked as it is read: the job id, the text.
        for (field, value) in [("job_id", "j"), ("text", " ")] {
            let mut body: serde_json::Value =
                serde_json::from_str(&batch_json(&["+14155550001"])).unwrap();
            body[field] = value.into();
            assert!(
                matches!(
                    BatchMessage::parse(&body.to_string()),
                    Err(BatchMessageError::Shape(_))
                ),
                "{field}"
            );
        }
        assert!(matches!(
            BatchMessage::parse("not json"),
            Err(BatchMessageError::Shape(_))
        ));
        assert!(matches!(
            BatchMessage::parse(&batch_json(&[])),
            Err(BatchMessageError::Size(0))
        ));
        assert!(matches!(
            BatchMessage::parse(&batch_json(&["123"])),
            Err(BatchMessageError::Shape(_))
        ));
        assert_eq!(
            BatchMessage::parse(&batch_json(&["+14155550001", "+14155550001"])).unwrap_err(),
            BatchMessageError::Duplicate
        );
        let many: Vec<String> = (0..1001).map(|i| format!("+1415555{i:04}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            BatchMessage::parse(&batch_json(&many)).unwrap_err(),
            BatchMessageError::Size(1001)
        );
    }

    #[test]
    fn the_plivo_callback_url_names_the_batch_and_reads_back() {
        let job = "9a7d6c1e-0000-4000-8000-000000000002";
        let mut msg = BatchMessage::parse(&batch_json(&["+14155550001"])).unwrap();
        msg.job_id = JobId::parse(job).unwrap();
        msg.batch = 7;
        msg.callback_url = format!("https://x/v1/callbacks/plivo/status?job_id={job}");
        let url = msg.plivo_callback_url();
        assert_eq!(
            url,
            format!("https://x/v1/callbacks/plivo/status?job_id={job}&batch=7")
        );
        let query = url.split_once('?').unwrap().1;
        assert_eq!(
            BatchRef::from_callback_query(query),
            Some(BatchRef {
                job_id: JobId::parse(job).unwrap(),
                batch: 7
            })
        );
        msg.callback_url = "https://x/cb".into();
        assert_eq!(msg.plivo_callback_url(), "https://x/cb?batch=7");
    }

    #[test]
    fn a_callback_query_without_a_valid_job_and_batch_names_no_batch() {
        let job = "9a7d6c1e-0000-4000-8000-000000000002";
        for query in [
            String::new(),
            format!("job_id={job}"),
            "job_id=not-a-uuid&batch=1".into(),
            format!("job_id={job}&batch=-1"),
            format!("job_id={job}&batch=x"),
            "batch=1".into(),
        ] {
            assert_eq!(BatchRef::from_callback_query(&query), None, "{query}");
        }
    }

    #[test]
    fn batch_size_is_bounded_by_plivos_limit() {
        assert_eq!(batch_size(None), Ok(1000));
        assert_eq!(batch_size(Some("250")), Ok(250));
        assert!(batch_size(Some("1001")).is_err());
        assert!(batch_size(Some("0")).is_err());
        assert!(batch_size(Some("many")).is_err());
    }
}
