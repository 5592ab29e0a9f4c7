//! Request fields that several routes share, parsed once here: the optional sender (which
//! defaults to the secret's) and the client's reference.

use crate::{
    domain::{
        lookalike,
        numbering::{self, Numbering},
        phone::PhoneNumber,
        sender::Sender,
        start::SendAt,
        text::MessageText,
        validity::Deadline,
    },
    http::problem::FieldError,
};

/// Longest client reference stored with a message or job.
pub const REFERENCE_MAX: usize = 256;

/// `from` as given, or the secret's default sender when absent.
pub fn sender(from: Option<&str>, default_src: &Sender) -> Result<Sender, FieldError> {
    match from {
        None => Ok(default_src.clone()),
        Some(raw) => Sender::parse(raw).map_err(|e| FieldError::new("from", e)),
    }
}

/// A recipient given in `field`: E.164, and valid by the numbering plans
/// ([`numbering::classify`]), with its region and line type.
pub fn recipient(field: &str, raw: &str) -> Result<(PhoneNumber, Numbering), FieldError> {
    let number = PhoneNumber::parse(raw).map_err(|e| FieldError::new(field, e))?;
    let numbering = numbering::classify(&number).map_err(|e| FieldError::new(field, e))?;
    Ok((number, numbering))
}

/// The client's `reference`, if it is at most [`REFERENCE_MAX`] characters.
pub fn reference(reference: Option<String>) -> Result<Option<String>, FieldError> {
    match reference {
        Some(r) if r.chars().count() > REFERENCE_MAX => Err(FieldError::new(
            "reference",
            format!("must be at most {REFERENCE_MAX} characters"),
        )),
        r => Ok(r),
    }
}

/// The fields every send shares, checked.
#[derive(Debug, Clone)]
pub struct MessageFields {
    /// What is sent: the text as given, or with `smart_encoding` its GSM-7 look-alikes
    /// replaced ([`crate::domain::lookalike`]). Limits are checked on this one.
    pub text: MessageText,
    /// The text as given: what a request's fingerprint covers and a preview shows.
    pub given_text: String,
    pub from: Sender,
    pub reference: Option<String>,
}

/// Checks `text` (smart-encoded first when asked), `from` (defaulting to the secret's
/// sender) and `reference`, and returns them checked. Problems are added to `errors`, so a
/// route reports all of them at once.
pub fn message(
    text: String,
    smart_encoding: bool,
    from: Option<&str>,
    reference: Option<String>,
    default_src: &Sender,
    errors: &mut Vec<FieldError>,
) -> Option<MessageFields> {
    let sent = if smart_encoding {
        lookalike::replace(&text).into_owned()
    } else {
        text.clone()
    };
    let sent = MessageText::parse(sent)
        .map_err(|e| errors.push(FieldError::new("text", e)))
        .ok();
    let from = sender(from, default_src).map_err(|e| errors.push(e)).ok();
    let reference = self::reference(reference).map_err(|e| errors.push(e)).ok();
    Some(MessageFields {
        text: sent?,
        given_text: text,
        from: from?,
        reference: reference?,
    })
}

/// The deadline of `valid_for` (seconds) or `expires_at` (RFC 3339), at most one of them,
/// judged at `now` (`domain::validity`). Problems are added to `errors`.
pub fn deadline(
    valid_for: Option<u64>,
    expires_at: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
    errors: &mut Vec<FieldError>,
) -> Option<Deadline> {
    match (valid_for, expires_at) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "expires_at",
                "and valid_for cannot both be given: say how long, or until when",
            ));
            None
        }
        (Some(seconds), None) => Deadline::after(seconds, now)
            .map_err(|e| errors.push(FieldError::new("valid_for", e)))
            .ok(),
        (None, Some(at)) => Deadline::parse(at, now)
            .map_err(|e| errors.push(FieldError::new("expires_at", e)))
            .ok(),
        (None, None) => None,
    }
}

/// The start of `send_at` (RFC 3339), judged at `now` (`domain::start`). Problems are added
/// to `errors`.
pub fn send_at(
    raw: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
    errors: &mut Vec<FieldError>,
) -> Option<SendAt> {
    SendAt::parse(raw?, now)
        .map_err(|e| errors.push(FieldError::new("send_at", e)))
        .ok()
}

/// A job's start and deadline together: `valid_for` counts from the start (a job scheduled
/// for Tuesday with an hour's validity is worth sending until an hour after it starts), and
/// an `expires_at` must come after the start.
pub fn schedule(
    send_at_raw: Option<&str>,
    valid_for: Option<u64>,
    expires_at: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
    errors: &mut Vec<FieldError>,
) -> (Option<SendAt>, Option<Deadline>) {
    let start = send_at(send_at_raw, now, errors);
    // `valid_for` counts from the start; an `expires_at` is a time, judged now.
    let deadline = match (valid_for, expires_at) {
        (Some(_), None) => deadline(valid_for, None, start.map_or(now, SendAt::time), errors),
        _ => deadline(valid_for, expires_at, now, errors),
    };
    if let (Some(start), Some(d)) = (start, deadline)
        && d.time() <= start.time()
    {
        errors.push(FieldError::new(
            "expires_at",
            "must be after send_at: the messages would expire before the job starts",
        ));
        return (Some(start), None);
    }
    (start, deadline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_for_counts_from_the_start_and_expires_at_must_follow_it() {
        let now: chrono::DateTime<chrono::Utc> = "2026-12-04T12:00:00Z".parse().unwrap();
        let mut errors = Vec::new();
        let (start, deadline) = schedule(
            Some("2026-12-08T10:00:00Z"),
            Some(3600),
            None,
            now,
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            (
                start.unwrap().time().to_rfc3339(),
                deadline.unwrap().time().to_rfc3339()
            ),
            (
                "2026-12-08T10:00:00+00:00".to_owned(),
                "2026-12-08T11:00:00+00:00".to_owned()
            )
        );

        let (_, deadline) = schedule(
            Some("2026-12-08T10:00:00Z"),
            None,
            Some("2026-12-08T09:00:00Z"),
            now,
            &mut errors,
        );
        assert_eq!(deadline, None);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "expires_at");
        assert!(errors[0].message.contains("after send_at"), "{errors:?}");

        let mut errors = Vec::new();
        let (start, _) = schedule(Some("2026-12-04T11:00:00Z"), None, None, now, &mut errors);
        assert_eq!(start, None);
        assert_eq!(errors[0].field, "send_at");
        // Without a start, both count from now, as before.
        let mut errors = Vec::new();
        let (start, deadline) = schedule(None, Some(60), None, now, &mut errors);
        assert_eq!(start, None);
        assert_eq!(
            deadline.unwrap().time(),
            now + chrono::Duration::seconds(60)
        );
    }

    #[test]
    fn a_recipient_must_be_e164_and_a_number_someone_can_have() {
        let (number, numbering) = recipient("to", "+442071234567").unwrap();
        assert_eq!(number.as_str(), "+442071234567");
        assert!(numbering.is_landline());
        assert_eq!(
            recipient("to", "+15555550100").unwrap_err(),
            FieldError::new(
                "to",
                "is not a valid number for +1 (US, AG, AI and 22 more): no such area code or number range"
            )
        );
        assert_eq!(recipient("to", "4155550100").unwrap_err().field, "to");
    }

    #[test]
    fn sender_defaults_and_reference_is_bounded() {
        let default = Sender::parse("Acme").unwrap();
        assert_eq!(sender(None, &default).unwrap(), default);
        assert_eq!(
            sender(Some("+447700900001"), &default).unwrap().as_str(),
            "+447700900001"
        );
        assert_eq!(sender(Some("x-1"), &default).unwrap_err().field, "from");
        let longest = "r".repeat(256);
        assert_eq!(reference(Some(longest.clone())).unwrap(), Some(longest));
        assert_eq!(
            reference(Some("r".repeat(257))).unwrap_err().field,
            "reference"
        );
        assert_eq!(reference(None).unwrap(), None);
    }

    #[test]
    fn smart_encoding_checks_and_sends_the_replaced_text_and_keeps_the_given_one() {
        let default = Sender::parse("+14155550100").unwrap();
        let given = "It\u{2019}s here";
        let mut errors = Vec::new();
        let plain = message(given.into(), false, None, None, &default, &mut errors).unwrap();
        assert_eq!(plain.text.as_str(), given);
        let smart = message(given.into(), true, None, None, &default, &mut errors).unwrap();
        assert_eq!(
            (smart.text.as_str(), smart.given_text.as_str()),
            ("It's here", given)
        );
        assert!(errors.is_empty());
        // 800 characters with an apostrophe: too long as UCS-2, not once replaced.
        let long = format!("{}\u{2019}", "a".repeat(799));
        assert!(message(long.clone(), false, None, None, &default, &mut errors).is_none());
        assert_eq!(errors.pop().unwrap().field, "text");
        assert!(message(long, true, None, None, &default, &mut errors).is_some());
    }
}
