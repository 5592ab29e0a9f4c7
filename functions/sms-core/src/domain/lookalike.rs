//! GSM-7 look-alikes (docs/api.md, "Text previews and smart encoding"): the characters that
//! make a text UCS-2, where each sits, and the GSM-7 form of those that word processors and
//! phones put in by themselves (curly quotes, dashes, the ellipsis, unusual spaces).
//!
//! One character outside GSM-7 makes the whole text UCS-2, which carries 70 characters a
//! segment instead of 160: a pasted `’` can double what a message costs. Replacing a
//! look-alike changes how the text looks, never what it says, so it happens only when the
//! caller asks (`"smart_encoding": true`). Characters with no GSM-7 form (emoji, most
//! scripts, `ç`) are kept; a text that still holds one stays UCS-2.

use std::borrow::Cow;

use serde::Serialize;

use crate::domain::text::is_gsm7;

/// Each look-alike and its GSM-7 form; an empty form removes the character. Every key is
/// outside GSM-7 and every form inside its basic set (both checked by the tests), so
/// replacing is idempotent and never makes a text UCS-2.
const LOOKALIKES: &[(char, &str)] = &[
    // Single quotes and the prime: ‘ ’ ‚ ‛ ′, and the single guillemets ‹ ›.
    ('\u{2018}', "'"),
    ('\u{2019}', "'"),
    ('\u{201A}', "'"),
    ('\u{201B}', "'"),
    ('\u{2032}', "'"),
    ('\u{2039}', "'"),
    ('\u{203A}', "'"),
    // Double quotes and the double prime: “ ” „ ‟ ″, and the guillemets « ».
    ('\u{201C}', "\""),
    ('\u{201D}', "\""),
    ('\u{201E}', "\""),
    ('\u{201F}', "\""),
    ('\u{2033}', "\""),
    ('\u{00AB}', "\""),
    ('\u{00BB}', "\""),
    // Hyphen, non-breaking hyphen, figure dash, en dash, em dash, horizontal bar, minus.
    ('\u{2010}', "-"),
    ('\u{2011}', "-"),
    ('\u{2012}', "-"),
    ('\u{2013}', "-"),
    ('\u{2014}', "-"),
    ('\u{2015}', "-"),
    ('\u{2212}', "-"),
    // The ellipsis becomes three full stops: two more characters.
    ('\u{2026}', "..."),
    // Spaces of other widths: no-break, en quad to hair space, narrow no-break.
    ('\u{00A0}', " "),
    ('\u{2000}', " "),
    ('\u{2001}', " "),
    ('\u{2002}', " "),
    ('\u{2003}', " "),
    ('\u{2004}', " "),
    ('\u{2005}', " "),
    ('\u{2006}', " "),
    ('\u{2007}', " "),
    ('\u{2008}', " "),
    ('\u{2009}', " "),
    ('\u{200A}', " "),
    ('\u{202F}', " "),
    // Invisible: zero-width space, byte-order mark (zero-width no-break space), soft hyphen.
    ('\u{200B}', ""),
    ('\u{FEFF}', ""),
    ('\u{00AD}', ""),
];

/// The GSM-7 form of a look-alike (empty: the character is removed), or `None` if it has
/// none.
pub fn gsm7_form(c: char) -> Option<&'static str> {
    LOOKALIKES
        .iter()
        .find(|(lookalike, _)| *lookalike == c)
        .map(|(_, form)| *form)
}

/// The text with every look-alike replaced by its GSM-7 form; borrowed when it holds none.
pub fn replace(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| gsm7_form(c).is_some()) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match gsm7_form(c) {
            Some(form) => out.push_str(form),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A character that makes its text UCS-2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ucs2Character {
    pub character: char,
    /// `U+2019`: which character it is, when it cannot be told from its look.
    pub code_point: CodePoint,
    /// Where it is: 0-based, counted in characters (Unicode scalar values, so an emoji is
    /// one, as Python's `text[position]` counts; not bytes, not UTF-16 units).
    pub position: usize,
    /// Its GSM-7 form (`""`: removed), or `None` (`null`) when it has none.
    pub replacement: Option<&'static str>,
}

/// A character's code point, written `U+XXXX` (at least four hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodePoint(pub char);

impl Serialize for CodePoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("U+{:04X}", u32::from(self.0)))
    }
}

/// The characters of `text` that GSM-7 cannot carry, in order, each with its position and
/// its GSM-7 form if it has one. Empty for a GSM-7 text (extension characters such as `€`
/// or `[` are GSM-7: they take two septets but do not force UCS-2).
pub fn ucs2_characters(text: &str) -> impl Iterator<Item = Ucs2Character> + '_ {
    text.chars()
        .enumerate()
        .filter(|(_, c)| !is_gsm7(*c))
        .map(|(position, character)| Ucs2Character {
            character,
            code_point: CodePoint(character),
            position,
            replacement: gsm7_form(character),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::text::{Encoding, MessageText};

    fn listed(text: &str) -> Vec<(char, usize, Option<&'static str>)> {
        ucs2_characters(text)
            .map(|c| (c.character, c.position, c.replacement))
            .collect()
    }

    #[test]
    fn the_table_maps_outside_gsm7_into_its_basic_set_once() {
        for (i, (lookalike, form)) in LOOKALIKES.iter().enumerate() {
            assert!(!is_gsm7(*lookalike), "{lookalike:?} is GSM-7 already");
            assert!(
                form.chars().all(|c| is_gsm7(c) && c != '€' && c.is_ascii()),
                "{form:?} is not plain GSM-7"
            );
            assert!(
                LOOKALIKES[..i].iter().all(|(other, _)| other != lookalike),
                "{lookalike:?} is listed twice"
            );
        }
    }

    #[test]
    fn each_lookalike_has_its_form() {
        let cases: [(&str, &str); 8] = [
            (
                "\u{2018}\u{2019}\u{201A}\u{201B}\u{2032}\u{2039}\u{203A}",
                "'''''''",
            ),
            (
                "\u{201C}\u{201D}\u{201E}\u{201F}\u{2033}\u{00AB}\u{00BB}",
                "\"\"\"\"\"\"\"",
            ),
            (
                "\u{2010}\u{2011}\u{2012}\u{2013}\u{2014}\u{2015}\u{2212}",
                "-------",
            ),
            ("\u{2026}", "..."),
            ("a\u{00A0}b\u{202F}c", "a b c"),
            (
                "\u{2000}\u{2001}\u{2002}\u{2003}\u{2004}\u{2005}\u{2006}\u{2007}\u{2008}\u{2009}\u{200A}",
                "           ",
            ),
            ("a\u{200B}b\u{FEFF}c\u{00AD}d", "abcd"),
            ("plain [GSM-7] €5", "plain [GSM-7] €5"),
        ];
        for (given, expected) in cases {
            assert_eq!(replace(given), expected, "{given:?}");
        }
        for (lookalike, _) in LOOKALIKES {
            assert!(
                cases.iter().any(|(given, _)| given.contains(*lookalike)),
                "{lookalike:?} has no case here"
            );
        }
        assert!(matches!(replace("no look-alike"), Cow::Borrowed(_)));
        assert_eq!(replace(&replace("It\u{2019}s\u{2026}")), "It's...");
    }

    #[test]
    fn a_curly_apostrophe_is_named_with_its_position_and_replacement() {
        let text = "It\u{2019}s here";
        let found: Vec<Ucs2Character> = ucs2_characters(text).collect();
        assert_eq!(
            found,
            [Ucs2Character {
                character: '\u{2019}',
                code_point: CodePoint('\u{2019}'),
                position: 2,
                replacement: Some("'"),
            }]
        );
        assert_eq!(
            serde_json::to_value(&found[0]).unwrap(),
            serde_json::json!({"character": "\u{2019}", "code_point": "U+2019", "position": 2, "replacement": "'"})
        );
    }

    #[test]
    fn one_curly_apostrophe_in_100_characters_costs_a_segment() {
        let given = format!("It\u{2019}s {}", "a".repeat(95));
        assert_eq!(given.chars().count(), 100);
        let text = MessageText::parse(given).unwrap();
        assert_eq!((text.encoding(), text.segments()), (Encoding::Ucs2, 2));
        let smart = text.smart_encoded().unwrap();
        assert_eq!((smart.encoding(), smart.segments()), (Encoding::Gsm7, 1));
        assert_eq!(smart.as_str(), format!("It's {}", "a".repeat(95)));
    }

    #[test]
    fn an_emoji_has_no_replacement_and_keeps_the_text_ucs2() {
        assert_eq!(listed("Hi \u{1F600}"), [('\u{1F600}', 3, None)]);
        let serialized = serde_json::to_value(ucs2_characters("\u{1F600}").next()).unwrap();
        assert_eq!(serialized["code_point"], "U+1F600");
        assert_eq!(serialized["replacement"], serde_json::Value::Null);
        // The apostrophe is still replaced; the emoji keeps the text UCS-2.
        let text = MessageText::parse("It\u{2019}s \u{1F600}").unwrap();
        let smart = text.smart_encoded().unwrap();
        assert_eq!(smart.as_str(), "It's \u{1F600}");
        assert_eq!(smart.encoding(), Encoding::Ucs2);
    }

    #[test]
    fn gsm7_extension_characters_do_not_force_ucs2() {
        assert_eq!(listed("Price: €5 [sale] {x} ~^|\\"), []);
        assert_eq!(listed("Grüße à Ñandú"), [('ú', 12, None)]);
    }

    #[test]
    fn positions_count_characters_not_bytes_or_utf16_units() {
        // The emoji is one character (two UTF-16 units, four bytes): the dash after it is at 2.
        assert_eq!(
            listed("a\u{1F600}\u{2014}b\u{1D11E}\u{2019}"),
            [
                ('\u{1F600}', 1, None),
                ('\u{2014}', 2, Some("-")),
                ('\u{1D11E}', 4, None),
                ('\u{2019}', 5, Some("'")),
            ]
        );
    }

    #[test]
    fn an_ellipsis_adds_two_characters_and_may_add_a_segment() {
        // 157 characters and an ellipsis: 160 GSM-7 characters once replaced, one segment.
        let fits = MessageText::parse(format!("{}\u{2026}", "a".repeat(157))).unwrap();
        assert_eq!((fits.encoding(), fits.segments()), (Encoding::Ucs2, 3));
        let smart = fits.smart_encoded().unwrap();
        assert_eq!(
            (smart.encoding(), smart.units(), smart.segments()),
            (Encoding::Gsm7, 160, 1)
        );
        // One more character: 161 GSM-7 characters, two segments.
        let over = MessageText::parse(format!("{}\u{2026}", "a".repeat(158))).unwrap();
        let smart = over.smart_encoded().unwrap();
        assert_eq!(
            (smart.encoding(), smart.units(), smart.segments()),
            (Encoding::Gsm7, 161, 2)
        );
    }

    #[test]
    fn a_smart_encoded_text_that_is_too_long_or_blank_is_an_error() {
        // 737 ellipses are 737 UTF-16 units, a valid UCS-2 text; as 2,211 full stops, too long.
        let text = MessageText::parse("\u{2026}".repeat(737)).unwrap();
        assert!(text.smart_encoded().is_err());
        let invisible = MessageText::parse("\u{200B}\u{FEFF}").unwrap();
        assert!(invisible.smart_encoded().is_err());
    }
}
