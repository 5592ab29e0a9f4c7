//! E.164 phone numbers. A `PhoneNumber` that exists is E.164 by form; raw strings stop at the
//! edge. Whether someone can have it, and what kind of line it is, is `domain::numbering`'s
//! question, asked of recipients where they come in (a sender, a delivery report's number or a
//! stored job's need only the form, so newer numbering data never makes them unreadable).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string is not an E.164 number. The message is written for API callers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    #[error("must not be empty")]
    Empty,
    #[error("must start with '+' followed by the country code (E.164)")]
    MissingPlus,
    #[error("must contain only digits after '+'")]
    NotDigits,
    #[error("must have 8 to 15 digits after '+', found {0}")]
    Length(usize),
    #[error("country code cannot start with 0")]
    LeadingZero,
}

/// A number in E.164 form: `+`, then 8 to 15 digits, the first not 0.
///
/// Kept inline (`+` and the digits, then zero padding) rather than as a `String`: a bulk
/// request holds up to ~300,000 of them, and one heap allocation per number dominated its
/// parse time and memory. Equality and hashing over the padded array match equality of the
/// text, because the length is part of the value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    /// How many bytes of `text` are the number.
    len: u8,
    /// `+`, the digits, then zeros. Only ever ASCII.
    text: [u8; 1 + PhoneNumber::MAX_DIGITS],
}

impl PhoneNumber {
    pub const MIN_DIGITS: usize = 8;
    pub const MAX_DIGITS: usize = 15;

    /// Parses strict E.164 as the public API accepts it (leading `+` required).
    pub fn parse(raw: &str) -> Result<Self, PhoneNumberError> {
        if raw.is_empty() {
            return Err(PhoneNumberError::Empty);
        }
        let digits = raw.strip_prefix('+').ok_or(PhoneNumberError::MissingPlus)?;
        Self::from_digits(digits)
    }

    /// Parses a number as people write it in files: E.164 with spaces, hyphens, dots or
    /// parentheses between the digits (`+1 (415) 555-0123`), trimmed. The `+` and the
    /// country code are still required: a number is never guessed.
    pub fn parse_formatted(raw: &str) -> Result<Self, PhoneNumberError> {
        const SEPARATORS: [char; 5] = [' ', '-', '.', '(', ')'];
        let raw = raw.trim();
        if !raw.contains(SEPARATORS) {
            return Self::parse(raw);
        }
        let compact: String = raw.chars().filter(|c| !SEPARATORS.contains(c)).collect();
        Self::parse(&compact)
    }

    /// Parses a number as Plivo writes it in callbacks: E.164 with or without the `+`.
    pub fn from_plivo(raw: &str) -> Result<Self, PhoneNumberError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(PhoneNumberError::Empty);
        }
        Self::from_digits(raw.strip_prefix('+').unwrap_or(raw))
    }

    fn from_digits(digits: &str) -> Result<Self, PhoneNumberError> {
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneNumberError::NotDigits);
        }
        if !(Self::MIN_DIGITS..=Self::MAX_DIGITS).contains(&digits.len()) {
            return Err(PhoneNumberError::Length(digits.len()));
        }
        if digits.starts_with('0') {
            return Err(PhoneNumberError::LeadingZero);
        }
        let mut text = [0; 1 + Self::MAX_DIGITS];
        text[0] = b'+';
        text[1..=digits.len()].copy_from_slice(digits.as_bytes());
        Ok(Self {
            // At most 16: the length was checked above.
            len: 1 + digits.len() as u8,
            text,
        })
    }

    /// The number with its leading `+`.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and `+` are ever stored, so this cannot fail; the check costs a
        // few nanoseconds on 16 bytes and keeps the crate free of `unsafe`.
        std::str::from_utf8(&self.text[..usize::from(self.len)]).unwrap_or_default()
    }

    /// The digits without `+`, the form Plivo echoes back in delivery reports.
    pub fn digits(&self) -> &str {
        &self.as_str()[1..]
    }

    /// The digits as one integer: the same for two numbers exactly when they are equal (the
    /// first digit is never 0, so no two digit strings share a value, and 15 digits fit).
    /// A compact key for de-duplicating a large list.
    pub fn digits_value(&self) -> u64 {
        self.digits()
            .bytes()
            .fold(0, |value, digit| value * 10 + u64::from(digit - b'0'))
    }

    /// The number as it may appear in a log line: every digit but the last four hidden
    /// (`+*******0123`). A full number is personal data; the tail is enough to tell which.
    pub fn masked(&self) -> Masked<'_> {
        Masked(self.digits())
    }
}

/// `text` with every run of [`PhoneNumber::MIN_DIGITS`] or more digits masked like
/// [`PhoneNumber::masked`]: for text from outside (an error sentence of Plivo's) that may quote
/// a number and is about to be logged.
pub fn mask_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= PhoneNumber::MIN_DIGITS {
            let hidden = run.len() - Masked::SHOWN;
            out.extend(std::iter::repeat_n('*', hidden));
            out.push_str(&run[hidden..]);
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// A number shown with all but its last [`Masked::SHOWN`] digits hidden.
#[derive(Clone, Copy)]
pub struct Masked<'a>(&'a str);

impl Masked<'_> {
    pub const SHOWN: usize = 4;
}

impl fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Digits are ASCII, so byte offsets are character offsets.
        let hidden = self.0.len().saturating_sub(Self::SHOWN);
        f.write_str("+")?;
        for _ in 0..hidden {
            f.write_str("*")?;
        }
        f.write_str(&self.0[hidden..])
    }
}

impl fmt::Debug for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Ordered as the text is, as when the number was a `String` (a derived order would sort by
/// length first).
impl Ord for PhoneNumber {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for PhoneNumber {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Masked like a log line: `Debug` output ends up in logs and error chains (`?value`).
impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

impl std::str::FromStr for PhoneNumber {
    type Err = PhoneNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Parsed from the deserializer's own buffer: no `String` per number.
        struct NumberVisitor;
        impl serde::de::Visitor<'_> for NumberVisitor {
            type Value = PhoneNumber;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, raw: &str) -> Result<PhoneNumber, E> {
                PhoneNumber::parse(raw).map_err(E::custom)
            }
            // A `String` accepts UTF-8 bytes too, and so did this when it read one.
            fn visit_bytes<E: serde::de::Error>(self, raw: &[u8]) -> Result<PhoneNumber, E> {
                let raw = std::str::from_utf8(raw)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Bytes(raw), &self))?;
                self.visit_str(raw)
            }
        }
        d.deserialize_str(NumberVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_e164_numbers() {
        for n in [
            "+14155550123",
            "+12345678",
            "+123456789012345",
            "+447700900123",
        ] {
            assert_eq!(PhoneNumber::parse(n).unwrap().as_str(), n);
        }
    }

    #[test]
    fn names_the_reason_for_each_invalid_form() {
        use PhoneNumberError::*;
        let cases = [
            ("", Empty),
            ("14155550123", MissingPlus),
            ("+1415555012a", NotDigits),
            ("+1 415 555 0123", NotDigits),
            ("+", Length(0)),
            ("+1234567", Length(7)),
            ("+1234567890123456", Length(16)),
            ("+04155550123", LeadingZero),
            ("++14155550123", NotDigits),
            ("+１４１５５５５０１２３", NotDigits),
        ];
        for (raw, want) in cases {
            assert_eq!(PhoneNumber::parse(raw), Err(want), "input {raw:?}");
        }
    }

    #[test]
    fn numbers_order_as_their_text_and_their_digits_value_tells_them_apart() {
        let short = PhoneNumber::parse("+92345678").unwrap();
        let long = PhoneNumber::parse("+123456789012345").unwrap();
        // As text, not by length first.
        assert!(long < short);
        assert_eq!(short.digits_value(), 92_345_678);
        assert_eq!(long.digits_value(), 123_456_789_012_345);
        let a = PhoneNumber::parse("+12345678").unwrap();
        let b = PhoneNumber::parse("+123456780").unwrap();
        assert_ne!(a.digits_value(), b.digits_value());
        assert_eq!(a.digits(), "12345678");
    }

    #[test]
    fn plivo_form_accepts_with_or_without_plus() {
        let a = PhoneNumber::from_plivo("14155550123").unwrap();
        let b = PhoneNumber::from_plivo("+14155550123").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.digits(), "14155550123");
    }

    #[test]
    fn formatted_numbers_lose_their_separators_but_keep_every_rule() {
        for raw in ["+1 (415) 555-0123", " +1.415.555.0123 ", "+14155550123"] {
            assert_eq!(
                PhoneNumber::parse_formatted(raw).map(|n| n.as_str().to_owned()),
                Ok("+14155550123".to_owned()),
                "{raw:?}"
            );
        }
        assert_eq!(
            PhoneNumber::parse_formatted("(415) 555-0123"),
            Err(PhoneNumberError::MissingPlus)
        );
        assert_eq!(
            PhoneNumber::parse_formatted("+1 415 555 O123"),
            Err(PhoneNumberError::NotDigits)
        );
        assert_eq!(
            PhoneNumber::parse_formatted("  "),
            Err(PhoneNumberError::Empty)
        );
    }

    #[test]
    fn masked_and_debug_forms_show_only_the_last_four_digits() {
        let n = PhoneNumber::parse("+14155550123").unwrap();
        assert_eq!(n.masked().to_string(), "+*******0123");
        assert_eq!(format!("{n:?}"), "PhoneNumber(+*******0123)");
        assert!(!format!("{n:?}").contains("415555"));
        let short = PhoneNumber::parse("+12345678").unwrap();
        assert_eq!(short.masked().to_string(), "+****5678");
    }

    #[test]
    fn numbers_inside_text_are_masked_and_short_figures_kept() {
        assert_eq!(
            mask_numbers("dst 14155550123 is not valid (code 400, 1234567)"),
            "dst *******0123 is not valid (code 400, 1234567)"
        );
        assert_eq!(mask_numbers("+447700900123"), "+********0123");
        assert_eq!(mask_numbers(""), "");
    }

    #[test]
    fn deserializes_only_valid_numbers() {
        assert!(serde_json::from_str::<PhoneNumber>("\"+14155550123\"").is_ok());
        let err = serde_json::from_str::<PhoneNumber>("\"12\"").unwrap_err();
        assert!(err.to_string().contains("must start with '+'"));
        // An escaped string is read too (through the deserializer's scratch buffer).
        let escaped = serde_json::from_str::<PhoneNumber>(r#""\u002b14155550123""#).unwrap();
        assert_eq!(escaped.as_str(), "+14155550123");
        let err = serde_json::from_str::<PhoneNumber>("14155550123").unwrap_err();
        assert!(err.to_string().contains("expected a string"), "{err}");
    }
}
