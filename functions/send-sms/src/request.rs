//! The body of `POST /v1/messages`, parsed into domain types at the edge.

use serde::{Deserialize, Serialize};
use sms_core::{FieldError, MessageText, PhoneNumber, Problem};

/// The JSON as sent. Unknown fields are refused so a typo (`"txt"`) is not silently ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendMessageBody {
    pub to: String,
    pub text: String,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub reference: Option<String>,
}

/// A valid send request. Serialized only to fingerprint it for idempotency.
#[derive(Debug, Clone, Serialize)]
pub struct SendMessage {
    pub to: PhoneNumber,
    pub from: PhoneNumber,
    #[serde(serialize_with = "text_as_str")]
    pub text: MessageText,
    pub reference: Option<String>,
}

fn text_as_str<S: serde::Serializer>(t: &MessageText, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.as_str())
}

/// Longest client reference stored with a message.
pub const REFERENCE_MAX: usize = 256;

impl SendMessage {
    /// Checks every field and reports all problems at once.
    pub fn parse(body: SendMessageBody, default_src: &PhoneNumber) -> Result<Self, Problem> {
        let mut errors = Vec::new();
        let to = PhoneNumber::parse(&body.to).map_err(|e| errors.push(FieldError::new("to", e))).ok();
        let text = MessageText::parse(body.text).map_err(|e| errors.push(FieldError::new("text", e))).ok();
        let from = match body.from {
            None => Some(default_src.clone()),
            Some(raw) => PhoneNumber::parse(&raw).map_err(|e| errors.push(FieldError::new("from", e))).ok(),
        };
        if let Some(r) = &body.reference {
            if r.chars().count() > REFERENCE_MAX {
                errors.push(FieldError::new("reference", format!("must be at most {REFERENCE_MAX} characters")));
            }
        }
        match (to, text, from) {
            (Some(to), Some(text), Some(from)) if errors.is_empty() => Ok(Self {
                to,
                from,
                text,
                reference: body.reference,
            }),
            _ => {
                let detail = errors
                    .iter()
                    .map(|e| format!("{} {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                Err(Problem::invalid(detail, errors))
            }
        }
    }
}
