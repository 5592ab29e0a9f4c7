//! What a dry run shows of each distinct text (docs/api.md, "Text previews and smart
//! encoding"): its encoding and segments, the characters that made it UCS-2 and where they
//! are, and what smart encoding would make of it. Every part is bounded, since the answer
//! must be whatever the text or the file.

use std::{
    collections::HashSet,
    hash::{BuildHasher, BuildHasherDefault, DefaultHasher},
};

use serde::Serialize;

use crate::domain::{
    lookalike::{self, Ucs2Character},
    text::{Encoding, Shape},
};

/// UCS-2 characters listed per text; `ucs2_characters_count` counts them all.
pub const CHARACTERS_LISTED: usize = 20;

/// Longest echo of a text, in characters: the longest text Plivo takes. Only a text that
/// smart encoding shortens (characters it removes) can be longer, and is echoed cut.
pub const TEXT_ECHO_MAX: usize = 1600;

/// Distinct texts previewed by a dry run of a file; `texts_count` counts them all.
pub const TEXTS_LISTED: usize = 10;

/// One distinct text as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextPreview {
    /// The text, cut to [`TEXT_ECHO_MAX`] characters.
    pub text: String,
    pub encoding: Encoding,
    pub segments: usize,
    /// The first [`CHARACTERS_LISTED`] characters that make it UCS-2 (none for GSM-7).
    pub ucs2_characters: Vec<Ucs2Character>,
    pub ucs2_characters_count: usize,
    /// What `"smart_encoding": true` sends instead; absent when it would change nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smart_encoding: Option<SmartForm>,
}

/// A text with its look-alikes replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmartForm {
    pub text: String,
    pub encoding: Encoding,
    pub segments: usize,
}

fn echo(text: &str) -> String {
    text.chars().take(TEXT_ECHO_MAX).collect()
}

impl TextPreview {
    /// Shown whatever the text's length: a dry run previews what a request would send, and
    /// the limits are checked (and named) where the text is parsed.
    pub fn of(text: &str) -> Self {
        let shape = Shape::of(text);
        let (mut ucs2_characters, mut ucs2_characters_count) = (Vec::new(), 0);
        for character in lookalike::ucs2_characters(text) {
            if ucs2_characters.len() < CHARACTERS_LISTED {
                ucs2_characters.push(character);
            }
            ucs2_characters_count += 1;
        }
        let smart_encoding = match lookalike::replace(text) {
            std::borrow::Cow::Borrowed(_) => None,
            std::borrow::Cow::Owned(replaced) => {
                let smart = Shape::of(&replaced);
                Some(SmartForm {
                    text: echo(&replaced),
                    encoding: smart.encoding,
                    segments: smart.segments,
                })
            }
        };
        Self {
            text: echo(text),
            encoding: shape.encoding,
            segments: shape.segments,
            ucs2_characters,
            ucs2_characters_count,
            smart_encoding,
        }
    }
}

/// The distinct texts a dry run saw: the first [`TEXTS_LISTED`] previewed, all counted.
#[derive(Debug, Default)]
pub struct TextPreviews {
    listed: Vec<TextPreview>,
    /// A hash of each distinct text: a count, so a rare collision would only undercount.
    seen: HashSet<u64>,
}

impl TextPreviews {
    pub fn note(&mut self, text: &str) {
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(text);
        if self.seen.insert(hash) && self.listed.len() < TEXTS_LISTED {
            self.listed.push(TextPreview::of(text));
        }
    }

    /// The answer's `texts` and `texts_count`.
    pub fn answer(&self) -> Texts<'_> {
        Texts {
            texts: &self.listed,
            texts_count: self.seen.len() as u64,
        }
    }
}

/// The previews in an answer, beside its other fields.
#[derive(Debug, Serialize)]
pub struct Texts<'a> {
    pub texts: &'a [TextPreview],
    pub texts_count: u64,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_text_with_a_curly_apostrophe_shows_it_and_its_gsm7_form() {
        let text = format!("It\u{2019}s {}", "a".repeat(95));
        let preview = serde_json::to_value(TextPreview::of(&text)).unwrap();
        assert_eq!(
            preview,
            json!({
                "text": text,
                "encoding": "UCS-2",
                "segments": 2,
                "ucs2_characters": [{"character": "\u{2019}", "code_point": "U+2019", "position": 2, "replacement": "'"}],
                "ucs2_characters_count": 1,
                "smart_encoding": {"text": format!("It's {}", "a".repeat(95)), "encoding": "GSM-7", "segments": 1},
            })
        );
    }

    #[test]
    fn a_gsm7_text_has_nothing_to_list_or_replace() {
        let preview = serde_json::to_value(TextPreview::of("Sale: 20% off [today] €")).unwrap();
        assert_eq!(preview["encoding"], "GSM-7");
        assert_eq!(preview["ucs2_characters"], json!([]));
        assert_eq!(preview["ucs2_characters_count"], 0);
        assert!(preview.get("smart_encoding").is_none(), "{preview}");
    }

    #[test]
    fn characters_are_listed_to_a_bound_and_all_counted() {
        let text = "\u{1F600}".repeat(50);
        let preview = TextPreview::of(&text);
        assert_eq!(preview.ucs2_characters.len(), CHARACTERS_LISTED);
        assert_eq!(preview.ucs2_characters_count, 50);
        assert_eq!(preview.ucs2_characters[19].position, 19);
        assert_eq!(preview.smart_encoding, None, "an emoji has no GSM-7 form");
    }

    #[test]
    fn a_text_longer_than_any_message_is_echoed_cut() {
        // Zero-width spaces are removed by smart encoding, so such a text can be sent.
        let text = format!("{}Hi", "\u{200B}".repeat(5000));
        let preview = TextPreview::of(&text);
        assert_eq!(preview.text.chars().count(), TEXT_ECHO_MAX);
        assert_eq!(preview.ucs2_characters_count, 5000);
        let smart = preview.smart_encoding.unwrap();
        assert_eq!(
            (smart.text.as_str(), smart.encoding),
            ("Hi", Encoding::Gsm7)
        );
    }

    #[test]
    fn distinct_texts_are_previewed_to_a_bound_and_all_counted() {
        let mut previews = TextPreviews::default();
        for i in 0..30 {
            previews.note(&format!("Hi {i}"));
            previews.note("Hi 0");
        }
        let answer = previews.answer();
        assert_eq!(answer.texts_count, 30);
        assert_eq!(answer.texts.len(), TEXTS_LISTED);
        assert_eq!(answer.texts[0].text, "Hi 0");
        assert_eq!(answer.texts[1].text, "Hi 1");
    }
}
