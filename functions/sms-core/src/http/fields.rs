//! Request fields that several routes share, parsed once here: the optional sender (which
//! defaults to the secret's) and the client's reference.

use crate::{domain::phone::PhoneNumber, domain::text::MessageText, http::problem::FieldError};

/// Longest client reference stored with a message or job.
pub const REFERENCE_MAX: usize = 256;

/// `from` as given, or the secret's default sender when absent.
pub fn sender(from: Option<&str>, default_src: &PhoneNumber) -> Result<PhoneNumber, FieldError> {
    match from {
        None => Ok(default_src.clone()),
        Some(raw) => PhoneNumber::parse(raw).map_err(|e| FieldError::new("from", e)),
    }
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
    pub text: MessageText,
    pub from: PhoneNumber,
    pub reference: Option<String>,
}

/// Checks `text`, `from` (defaulting to the secret's sender) and `reference`, and returns
/// them checked. Problems are added to `errors`, so a route reports all of them at once.
pub fn message(
    text: String,
    from: Option<&str>,
    reference: Option<String>,
    default_src: &PhoneNumber,
    errors: &mut Vec<FieldError>,
) -> Option<MessageFields> {
    let text = MessageText::parse(text)
        .map_err(|e| errors.push(FieldError::new("text", e)))
        .ok();
    let from = sender(from, default_src).map_err(|e| errors.push(e)).ok();
    let reference = self::reference(reference).map_err(|e| errors.push(e)).ok();
    Some(MessageFields {
        text: text?,
        from: from?,
        reference: reference?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
