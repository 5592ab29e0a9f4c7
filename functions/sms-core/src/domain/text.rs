//! Message text: encoding detection (GSM-7 or UCS-2), segment count and length limits.
//!
//! One place for the segment arithmetic (docs/api.md): GSM-7 carries 160 septets in a single
//! segment and 153 per segment once concatenated (the user-data header takes the rest); UCS-2
//! carries 70 UTF-16 units single and 67 concatenated. A unit that takes two slots (a GSM-7
//! extension character or a UTF-16 surrogate pair) never straddles two segments.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The GSM 03.38 basic character set, one septet each.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The GSM 03.38 extension table: an escape septet plus one, so two septets each.
const GSM7_EXTENSION: &str = "\u{000C}^{}\\[~]|€";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Encoding {
    #[serde(rename = "GSM-7")]
    Gsm7,
    #[serde(rename = "UCS-2")]
    Ucs2,
}

impl Encoding {
    /// Units that fit in one single-part message.
    const fn single(self) -> usize {
        match self {
            Self::Gsm7 => 160,
            Self::Ucs2 => 70,
        }
    }
    /// Units per part of a concatenated message.
    const fn per_part(self) -> usize {
        match self {
            Self::Gsm7 => 153,
            Self::Ucs2 => 67,
        }
    }
    /// Longest text Plivo accepts, in units of this encoding.
    pub const fn max_units(self) -> usize {
        match self {
            Self::Gsm7 => 1600,
            Self::Ucs2 => 737,
        }
    }
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Gsm7 => "GSM-7",
            Self::Ucs2 => "UCS-2",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageTextError {
    #[error("must not be empty")]
    Empty,
    #[error("is {units} {unit_name} long; {encoding} text may be at most {max}")]
    TooLong {
        encoding: Encoding,
        units: usize,
        max: usize,
        unit_name: &'static str,
    },
}

/// Text that Plivo will accept, with its encoding and segment count worked out once.
#[derive(Clone, PartialEq, Eq)]
pub struct MessageText {
    text: String,
    encoding: Encoding,
    units: usize,
    segments: usize,
}

/// A text's encoding, length and segments, whatever its length: what [`MessageText::parse`]
/// checks against the limits, and what a preview shows of a text that is not sent as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Shape {
    pub encoding: Encoding,
    /// Length in the encoding's units: septets for GSM-7, UTF-16 units for UCS-2.
    pub units: usize,
    pub segments: usize,
}

impl Shape {
    pub fn of(text: &str) -> Self {
        let encoding = if text.chars().all(is_gsm7) {
            Encoding::Gsm7
        } else {
            Encoding::Ucs2
        };
        let widths = || {
            text.chars().map(move |c| match encoding {
                Encoding::Gsm7 => gsm7_septets(c).unwrap_or(2),
                Encoding::Ucs2 => c.len_utf16(),
            })
        };
        let units: usize = widths().sum();
        Self {
            encoding,
            units,
            segments: count_segments(widths(), units, encoding),
        }
    }
}

impl MessageText {
    pub fn parse(raw: impl Into<String>) -> Result<Self, MessageTextError> {
        let text = raw.into();
        if text.trim().is_empty() {
            return Err(MessageTextError::Empty);
        }
        let Shape {
            encoding,
            units,
            segments,
        } = Shape::of(&text);
        if units > encoding.max_units() {
            return Err(MessageTextError::TooLong {
                encoding,
                units,
                max: encoding.max_units(),
                unit_name: match encoding {
                    Encoding::Gsm7 => "GSM-7 characters",
                    Encoding::Ucs2 => "UTF-16 units",
                },
            });
        }
        Ok(Self {
            text,
            encoding,
            units,
            segments,
        })
    }

    /// The text with GSM-7 look-alikes in place of the characters that have one
    /// ([`crate::domain::lookalike`]), its encoding and segments worked out again. Characters
    /// without a GSM-7 form stay, and so does UCS-2 if any is left. An error if the result
    /// is too long (an ellipsis becomes three characters) or blank (only removed characters).
    pub fn smart_encoded(&self) -> Result<Self, MessageTextError> {
        match crate::domain::lookalike::replace(&self.text) {
            std::borrow::Cow::Borrowed(_) => Ok(self.clone()),
            std::borrow::Cow::Owned(replaced) => Self::parse(replaced),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }
    /// Length in the encoding's units: septets for GSM-7, UTF-16 units for UCS-2.
    pub fn units(&self) -> usize {
        self.units
    }
    pub fn segments(&self) -> usize {
        self.segments
    }
}

impl Serialize for MessageText {
    /// The text itself; used to fingerprint requests, never for logs.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for MessageText {
    /// A text is checked as it is read (a queue message, a stored job): what deserializes is
    /// valid.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for MessageText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Message bodies can be personal data; Debug shows the shape, not the words.
        f.debug_struct("MessageText")
            .field("encoding", &self.encoding)
            .field("units", &self.units)
            .field("segments", &self.segments)
            .finish()
    }
}

/// Whether GSM-7 carries the character (in its basic set or its extension table); one that
/// it does not makes the whole text UCS-2.
pub fn is_gsm7(c: char) -> bool {
    gsm7_septets(c).is_some()
}

/// Septets a character takes in GSM-7, or `None` if GSM-7 cannot carry it.
fn gsm7_septets(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

fn count_segments(widths: impl Iterator<Item = usize>, total: usize, encoding: Encoding) -> usize {
    if total <= encoding.single() {
        return 1;
    }
    let capacity = encoding.per_part();
    let (mut segments, mut used) = (1, 0);
    for width in widths {
        if used + width > capacity {
            segments += 1;
            used = 0;
        }
        used += width;
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> MessageText {
        MessageText::parse(s).unwrap()
    }

    fn shape(s: &str) -> (Encoding, usize, usize) {
        let t = text(s);
        (t.encoding(), t.units(), t.segments())
    }

    #[test]
    fn gsm7_single_and_concatenated_boundaries() {
        use Encoding::Gsm7;
        assert_eq!(shape(&"a".repeat(160)), (Gsm7, 160, 1));
        assert_eq!(shape(&"a".repeat(161)), (Gsm7, 161, 2));
        assert_eq!(shape(&"a".repeat(306)), (Gsm7, 306, 2));
        assert_eq!(shape(&"a".repeat(307)), (Gsm7, 307, 3));
        assert_eq!(shape(&"a".repeat(1600)), (Gsm7, 1600, 11));
    }

    #[test]
    fn ucs2_single_and_concatenated_boundaries() {
        use Encoding::Ucs2;
        assert_eq!(shape(&"ж".repeat(70)), (Ucs2, 70, 1));
        assert_eq!(shape(&"ж".repeat(71)), (Ucs2, 71, 2));
        assert_eq!(shape(&"ж".repeat(134)), (Ucs2, 134, 2));
        assert_eq!(shape(&"ж".repeat(135)), (Ucs2, 135, 3));
        assert_eq!(shape(&"ж".repeat(737)), (Ucs2, 737, 11));
    }

    #[test]
    fn every_extension_character_counts_twice_and_stays_gsm7() {
        for c in ['€', '[', ']', '{', '}', '~', '^', '\\', '|', '\u{000C}'] {
            let t = text(&format!("a{c}"));
            assert_eq!((t.encoding(), t.units()), (Encoding::Gsm7, 3), "char {c:?}");
        }
        // 80 euro signs are 160 septets: still one segment; one more character makes two.
        assert_eq!(shape(&"€".repeat(80)), (Encoding::Gsm7, 160, 1));
        assert_eq!(
            shape(&format!("{}a", "€".repeat(80))),
            (Encoding::Gsm7, 161, 2)
        );
    }

    #[test]
    fn an_extension_character_never_straddles_two_segments() {
        // 306 septets fill two parts exactly, unless '€' sits on the 153|154 boundary: then it
        // moves whole to part two and one septet spills into a third part.
        let s = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(shape(&s), (Encoding::Gsm7, 306, 3));
        let s = format!("{}€{}", "a".repeat(151), "a".repeat(153));
        assert_eq!(shape(&s), (Encoding::Gsm7, 306, 2));
    }

    #[test]
    fn non_bmp_characters_force_ucs2_and_count_two_units() {
        assert_eq!(shape("😀"), (Encoding::Ucs2, 2, 1));
        assert_eq!(shape(&"😀".repeat(35)), (Encoding::Ucs2, 70, 1));
        assert_eq!(
            shape(&format!("{}a", "😀".repeat(35))),
            (Encoding::Ucs2, 71, 2)
        );
        // 𝄞 (U+1D11E) is outside the BMP too.
        assert_eq!(shape("𝄞"), (Encoding::Ucs2, 2, 1));
    }

    #[test]
    fn a_surrogate_pair_never_splits() {
        // 66 units then an emoji would split at 67|68: it moves whole to the next part.
        let s = format!("{}😀{}", "ж".repeat(66), "ж".repeat(66));
        assert_eq!(shape(&s), (Encoding::Ucs2, 134, 3));
        let s = format!("{}😀{}", "ж".repeat(65), "ж".repeat(67));
        assert_eq!(shape(&s), (Encoding::Ucs2, 134, 2));
    }

    #[test]
    fn one_non_gsm_character_makes_the_whole_text_ucs2() {
        let s = format!("{}ç", "a".repeat(69)); // ç is not GSM-7 (only Ç is)
        assert_eq!(shape(&s), (Encoding::Ucs2, 70, 1));
        assert_eq!(shape("Grüße"), (Encoding::Gsm7, 5, 1)); // ü and ß are in the basic set
        assert_eq!(shape("naïve"), (Encoding::Ucs2, 5, 1)); // ï is not
    }

    #[test]
    fn gsm7_basic_set_specials_are_single_septets() {
        let specials = "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\n\r";
        assert_eq!(
            shape(specials),
            (Encoding::Gsm7, specials.chars().count(), 1)
        );
    }

    #[test]
    fn limits_are_enforced_in_each_encoding() {
        let err = MessageText::parse("a".repeat(1601)).unwrap_err();
        assert!(matches!(
            err,
            MessageTextError::TooLong {
                encoding: Encoding::Gsm7,
                units: 1601,
                max: 1600,
                ..
            }
        ));
        let err = MessageText::parse("€".repeat(801)).unwrap_err();
        assert!(matches!(err, MessageTextError::TooLong { units: 1602, .. }));
        let err = MessageText::parse("ж".repeat(738)).unwrap_err();
        assert!(matches!(
            err,
            MessageTextError::TooLong {
                encoding: Encoding::Ucs2,
                units: 738,
                max: 737,
                ..
            }
        ));
        let err = MessageText::parse("😀".repeat(369)).unwrap_err();
        assert!(matches!(err, MessageTextError::TooLong { units: 738, .. }));
    }

    #[test]
    fn empty_or_blank_text_is_refused() {
        assert_eq!(MessageText::parse(""), Err(MessageTextError::Empty));
        assert_eq!(MessageText::parse("  \n "), Err(MessageTextError::Empty));
    }

    #[test]
    fn debug_does_not_show_the_text() {
        let t = text("secret code 123456");
        assert!(!format!("{t:?}").contains("123456"));
    }
}
