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

pub fn reference(reference: Option<&str>) -> Result<(), FieldError> {
    match reference {
        Some(r) if r.chars().count() > REFERENCE_MAX => Err(FieldError::new(
            "reference",
            format!("must be at most {REFERENCE_MAX} characters"),
        )),
        _ => Ok(()),
    }
}

/// The fields every send shares: `text`, `from` (defaulting to the secret's sender) and
/// `reference`. Problems are added to `errors`, so a route reports all of them at once.
pub fn message(
    text: String,
    from: Option<&str>,
    reference: Option<&str>,
    default_src: &PhoneNumber,
    errors: &mut Vec<FieldError>,
) -> Option<(MessageText, PhoneNumber)> {
    let text = MessageText::parse(text)
        .map_err(|e| errors.push(FieldError::new("text", e)))
        .ok();
    let from = sender(from, default_src).map_err(|e| errors.push(e)).ok();
    if let Err(e) = self::reference(reference) {
        errors.push(e);
    }
    text.zip(from)
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
        assert!(reference(Some(&"r".repeat(256))).is_ok());
        assert_eq!(
            reference(Some(&"r".repeat(257))).unwrap_err().field,
            "reference"
        );
        assert!(reference(None).is_ok());
    }
}
