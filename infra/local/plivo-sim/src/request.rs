//! The send request's body, read and judged the way Plivo does (docs/plivo.md).
//!
//! Reading is lenient (whatever fields are strings are kept, so the inspection log shows
//! what a faulty client sent); judging is strict and answers with one human sentence.

use std::collections::HashSet;

use serde_json::Value;
use sms_core::{MessageText, PhoneNumber, plivo::OutboundMessage};

/// The fields of a send request as they arrived.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendFields {
    pub src: Option<String>,
    /// A Powerpack to send from instead of `src`: Plivo picks the number.
    pub powerpack_uuid: Option<String>,
    pub dst: Option<String>,
    pub text: Option<String>,
    pub url: Option<String>,
    pub method: Option<String>,
    /// `message_expiry` as sent: seconds a message may wait in Plivo's queue (a number, or a
    /// string of digits, as Plivo takes both).
    pub message_expiry: Option<String>,
}

impl SendFields {
    /// `dst` cut at `<`, as sent (trimmed, empty pieces dropped), duplicates included.
    pub fn destinations(&self) -> Vec<String> {
        self.dst
            .as_deref()
            .map(|d| {
                d.split('<')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The body read as far as it goes, with the first reason it cannot be used, if any.
#[derive(Debug, Clone, Default)]
pub struct ParsedBody {
    pub fields: SendFields,
    pub problem: Option<String>,
}

pub fn parse_body(body: &[u8]) -> ParsedBody {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return ParsedBody {
                fields: SendFields::default(),
                problem: Some(format!("the request body is not valid JSON: {e}")),
            };
        }
    };
    let Value::Object(map) = value else {
        return ParsedBody {
            fields: SendFields::default(),
            problem: Some("the request body must be a JSON object".to_owned()),
        };
    };
    let mut problem = None;
    let mut field = |name: &str| match map.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            problem.get_or_insert_with(|| format!("the {name} parameter must be a string"));
            None
        }
    };
    let fields = SendFields {
        src: field("src"),
        powerpack_uuid: field("powerpack_uuid"),
        dst: field("dst"),
        text: field("text"),
        url: field("url"),
        method: field("method"),
        message_expiry: None,
    };
    let message_expiry = match map.get("message_expiry") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            problem.get_or_insert_with(|| "the message_expiry parameter must be a number".into());
            None
        }
    };
    let fields = SendFields {
        message_expiry,
        ..fields
    };
    ParsedBody { fields, problem }
}

/// The number the simulator's Powerpacks send from, as reports name it: any well-formed
/// UUID is a Powerpack here, and each has this one number.
pub const POWERPACK_NUMBER: &str = "14155550177";

/// Who the message is from: a number, an alphanumeric sender ID where carriers allow one,
/// or a Powerpack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    Number(PhoneNumber),
    Alphanumeric(String),
    Powerpack(String),
}

impl Sender {
    fn parse(raw: &str) -> Option<Self> {
        if let Ok(n) = PhoneNumber::from_plivo(raw) {
            return Some(Self::Number(n));
        }
        let raw = raw.trim();
        let ok = (1..=11).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
            && raw.bytes().any(|b| b.is_ascii_alphabetic());
        ok.then(|| Self::Alphanumeric(raw.to_owned()))
    }

    /// As Plivo writes it in delivery reports: digits without `+`, the sender ID, or the
    /// number the Powerpack picked.
    pub fn report_form(&self) -> &str {
        match self {
            Self::Number(n) => n.digits(),
            Self::Alphanumeric(s) => s,
            Self::Powerpack(_) => POWERPACK_NUMBER,
        }
    }

    /// Whether carriers deliver a message from this sender to `to`.
    fn reaches(&self, to: &PhoneNumber) -> bool {
        !matches!(self, Self::Alphanumeric(_))
            || !sms_core::domain::numbering::classify(to)
                .is_ok_and(|n| sms_core::domain::sender::NUMBER_ONLY_REGIONS.contains(&n.region))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackMethod {
    Get,
    Post,
}

impl CallbackMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// Where delivery reports go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// Exactly as the client sent it: the signature covers this string.
    pub url: String,
    pub method: CallbackMethod,
}

/// A request Plivo would queue.
#[derive(Debug, Clone)]
pub struct Valid {
    pub src: Sender,
    /// Unique valid destinations, in `dst` order.
    pub recipients: Vec<PhoneNumber>,
    /// Refused destinations as sent, unique, in `dst` order.
    pub invalid: Vec<String>,
    /// Billing units (segments) per message.
    pub units: usize,
    pub callback: Option<Callback>,
}

/// Judges a request. `invalid_prefixes` are digit prefixes of numbers to refuse although
/// they are well-formed (the simulator's stand-in for numbers Plivo knows are bad).
pub fn validate(fields: &SendFields, invalid_prefixes: &[String]) -> Result<Valid, String> {
    let present = |v: &Option<String>| v.as_deref().filter(|s| !s.trim().is_empty()).is_some();
    let src = match (present(&fields.src), present(&fields.powerpack_uuid)) {
        (true, true) => return Err("src and powerpack_uuid cannot both be given".into()),
        (false, false) => {
            return Err("the src parameter is required (or powerpack_uuid)".into());
        }
        (true, false) => fields
            .src
            .as_deref()
            .and_then(Sender::parse)
            .ok_or_else(|| "src is not a valid phone number or sender ID".to_owned())?,
        (false, true) => fields
            .powerpack_uuid
            .as_deref()
            .and_then(|raw| uuid::Uuid::try_parse(raw.trim()).ok())
            .map(|uuid| Sender::Powerpack(uuid.to_string()))
            .ok_or_else(|| "powerpack_uuid is not a valid Powerpack UUID".to_owned())?,
    };
    for (name, value) in [("dst", &fields.dst), ("text", &fields.text)] {
        if !present(value) {
            return Err(format!("the {name} parameter is required"));
        }
    }
    let text = MessageText::parse(fields.text.clone().unwrap_or_default())
        .map_err(|e| format!("the text {e}"))?;
    let callback = callback(fields)?;
    if let Some(expiry) = fields.message_expiry.as_deref() {
        // Plivo's bounds: 5 to 10,799 seconds (its default, 10,800, is the most).
        match expiry.trim().parse::<u32>() {
            Ok(5..=10_799) => {}
            _ => {
                return Err(
                    "message_expiry must be a whole number of seconds from 5 to 10799".into(),
                );
            }
        }
    }

    let mut seen = HashSet::new();
    let mut recipients = Vec::new();
    let mut invalid = Vec::new();
    for raw in fields.destinations() {
        match PhoneNumber::from_plivo(&raw) {
            Ok(n) if !in_ranges(&n, invalid_prefixes) => {
                if seen.insert(n.as_str().to_owned()) {
                    recipients.push(n);
                }
            }
            Ok(n) => {
                if seen.insert(n.as_str().to_owned()) {
                    invalid.push(raw);
                }
            }
            Err(_) => {
                if seen.insert(raw.clone()) {
                    invalid.push(raw);
                }
            }
        }
    }
    let max = OutboundMessage::MAX_DESTINATIONS;
    if seen.len() > max {
        return Err(format!(
            "too many destination numbers: {} unique numbers given, at most {max} are allowed per request",
            seen.len()
        ));
    }
    if recipients.is_empty() {
        return Err("none of the destination numbers is valid".to_owned());
    }
    if let Some(to) = recipients.iter().find(|to| !src.reaches(to)) {
        return Err(format!(
            "an alphanumeric sender ID cannot send to {}: US and Canadian carriers take \
             messages from numbers only",
            to.as_str()
        ));
    }
    Ok(Valid {
        src,
        recipients,
        invalid,
        units: text.segments(),
        callback,
    })
}

fn callback(fields: &SendFields) -> Result<Option<Callback>, String> {
    let method = match fields.method.as_deref().map(str::trim) {
        None | Some("") => CallbackMethod::Post,
        Some(m) if m.eq_ignore_ascii_case("POST") => CallbackMethod::Post,
        Some(m) if m.eq_ignore_ascii_case("GET") => CallbackMethod::Get,
        Some(_) => return Err("the method parameter must be GET or POST".to_owned()),
    };
    let Some(url) = fields.url.as_deref().filter(|u| !u.trim().is_empty()) else {
        return Ok(None);
    };
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(Some(Callback {
            url: url.to_owned(),
            method,
        })),
        _ => Err("the url parameter must be an absolute http or https URL".to_owned()),
    }
}

/// Whether the number's digits start with any of `prefixes`.
pub fn in_ranges(number: &PhoneNumber, prefixes: &[String]) -> bool {
    prefixes
        .iter()
        .any(|p| number.digits().starts_with(p.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(dst: &str) -> SendFields {
        SendFields {
            src: Some("14155550100".into()),
            powerpack_uuid: None,
            dst: Some(dst.into()),
            text: Some("hi".into()),
            url: Some("http://127.0.0.1:1/cb".into()),
            method: Some("POST".into()),
            message_expiry: None,
        }
    }

    #[test]
    fn message_expiry_is_held_to_plivos_bounds() {
        let p = parse_body(br#"{"src": "1", "message_expiry": 600}"#);
        assert_eq!(p.fields.message_expiry.as_deref(), Some("600"));
        assert_eq!(p.problem, None);
        let p = parse_body(br#"{"message_expiry": [1]}"#);
        assert!(p.problem.unwrap().contains("message_expiry"));
        for (given, ok) in [
            ("5", true),
            ("10799", true),
            ("4", false),
            ("10800", false),
            ("1.5", false),
            ("soon", false),
        ] {
            let f = SendFields {
                message_expiry: Some(given.into()),
                ..fields("14155550123")
            };
            assert_eq!(validate(&f, &prefixes()).is_ok(), ok, "{given}");
        }
    }

    fn prefixes() -> Vec<String> {
        vec!["1312555010".into()]
    }

    #[test]
    fn reads_strings_and_names_the_first_wrong_type() {
        let p = parse_body(br#"{"src": "1", "dst": 14155550123, "text": "t", "extra": true}"#);
        assert_eq!(p.fields.src.as_deref(), Some("1"));
        assert_eq!(p.fields.dst, None);
        assert_eq!(
            p.problem.as_deref(),
            Some("the dst parameter must be a string")
        );
        assert!(
            parse_body(b"src=1")
                .problem
                .unwrap()
                .contains("not valid JSON")
        );
        assert!(parse_body(b"[1]").problem.unwrap().contains("JSON object"));
    }

    #[test]
    fn splits_dedupes_and_sorts_out_invalid_numbers() {
        let f =
            fields("14155550123<+14155550123< 14155550124 <13125550101<+13125550101<abc<abc<123");
        let v = validate(&f, &prefixes()).unwrap();
        let got: Vec<&str> = v.recipients.iter().map(PhoneNumber::as_str).collect();
        assert_eq!(got, ["+14155550123", "+14155550124"]);
        assert_eq!(v.invalid, ["13125550101", "abc", "123"]);
    }

    #[test]
    fn refuses_like_plivo() {
        let missing = |mutate: fn(&mut SendFields)| {
            let mut f = fields("14155550123");
            mutate(&mut f);
            validate(&f, &prefixes()).unwrap_err()
        };
        assert!(missing(|f| f.src = None).contains("src"));
        assert!(missing(|f| f.dst = Some(" ".into())).contains("dst"));
        assert!(missing(|f| f.text = Some(String::new())).contains("text"));
        assert!(missing(|f| f.src = Some("not a sender!".into())).contains("src"));
        assert!(missing(|f| f.method = Some("PUT".into())).contains("method"));
        assert!(missing(|f| f.url = Some("ftp://x/y".into())).contains("url"));
        assert!(missing(|f| f.text = Some("x".repeat(1601))).contains("text"));
        assert!(missing(|f| f.dst = Some("1312555010000<nope".into())).contains("none"));
        let many: Vec<String> = (0..1001).map(|i| format!("1415600{i:04}")).collect();
        let err = validate(&fields(&many.join("<")), &prefixes()).unwrap_err();
        assert!(err.contains("1001"), "{err}");
        let exactly: Vec<String> = (0..1000).map(|i| format!("1415600{i:04}")).collect();
        assert_eq!(
            validate(&fields(&exactly.join("<")), &prefixes())
                .unwrap()
                .recipients
                .len(),
            1000
        );
    }

    #[test]
    fn accepts_sender_ids_get_callbacks_and_no_callback() {
        let mut f = fields("447400123456");
        f.src = Some("MyBrand".into());
        f.method = Some("get".into());
        let v = validate(&f, &prefixes()).unwrap();
        assert_eq!(v.src.report_form(), "MyBrand");
        assert_eq!(v.callback.unwrap().method, CallbackMethod::Get);
        f.url = None;
        assert!(validate(&f, &prefixes()).unwrap().callback.is_none());
    }

    #[test]
    fn a_sender_id_reaches_no_us_or_canadian_number() {
        for dst in ["447400123456<14155550123", "16135550123"] {
            let mut f = fields(dst);
            f.src = Some("MyBrand".into());
            let err = validate(&f, &prefixes()).unwrap_err();
            assert!(err.contains("cannot send to +1"), "{err}");
        }
    }

    #[test]
    fn a_powerpack_sends_instead_of_src_and_reports_its_number() {
        let pack = "D35F2E82-D387-427F-8594-6FA07613C43A";
        let mut f = fields("14155550123");
        f.powerpack_uuid = Some(pack.into());
        let err = validate(&f, &prefixes()).unwrap_err();
        assert!(err.contains("cannot both"), "{err}");
        f.src = None;
        let v = validate(&f, &prefixes()).unwrap();
        assert_eq!(v.src, Sender::Powerpack(pack.to_lowercase()));
        assert_eq!(v.src.report_form(), POWERPACK_NUMBER);
        f.powerpack_uuid = Some("not-a-uuid".into());
        assert!(
            validate(&f, &prefixes())
                .unwrap_err()
                .contains("powerpack_uuid")
        );
    }

    #[test]
    fn units_are_the_segment_count() {
        let mut f = fields("14155550123");
        f.text = Some("x".repeat(161));
        assert_eq!(validate(&f, &prefixes()).unwrap().units, 2);
    }
}
