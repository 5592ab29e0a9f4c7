//! Request fields that several routes share, parsed once here: the optional sender (which
//! defaults to the secret's) and the client's reference.

use crate::{
    domain::{
        lookalike,
        numbering::{self, Numbering},
        phone::PhoneNumber,
        text::MessageText,
        validity::Deadline,
    },
    http::problem::FieldError,
};

/// Longest client reference stored with a message or job.
pub const REFERENCE_MAX: usize = 256;

/// `from` as given, or the secret's default sender when absent.
pub fn sender(from: Option<&str>, default_src: &PhoneNumber) -> Result<PhoneNumber, FieldError> {
    match from {
        None => Ok(default_src.clone()),
        Some(raw) => PhoneNumber::parse(raw).map_err(|e| FieldError::new("from", e)),
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
    pub from: PhoneNumber,
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
    default_src: &PhoneNumber,
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let default = PhoneNumber::parse("+14155550100").unwrap();
        assert_eq!(sender(None, &default).unwrap(), default);
        assert_eq!(
            sender(Some("+447700900001"), &default).unwrap().as_str(),
            "+447700900001"
        );
        assert_eq!(sender(Some("x"), &default).unwrap_err().field, "from");
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
        let default = PhoneNumber::parse("+14155550100").unwrap();
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
