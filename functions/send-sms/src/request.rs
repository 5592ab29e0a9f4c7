//! The body of `POST /v1/messages`, parsed into domain types at the edge.

use serde::{Deserialize, Serialize};
use sms_core::{FieldError, MessageText, PhoneNumber, Problem, http::fields};

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
    pub text: MessageText,
    pub reference: Option<String>,
}

impl SendMessage {
    /// Checks every field and reports all problems at once.
    pub fn parse(body: SendMessageBody, default_src: &PhoneNumber) -> Result<Self, Problem> {
        let mut errors = Vec::new();
        let to = PhoneNumber::parse(&body.to)
            .map_err(|e| errors.push(FieldError::new("to", e)))
            .ok();
        let message = fields::message(
            body.text,
            body.from.as_deref(),
            body.reference,
            default_src,
            &mut errors,
        );
        match (to, message) {
            (
                Some(to),
                Some(fields::MessageFields {
                    text,
                    from,
                    reference,
                }),
            ) if errors.is_empty() => Ok(Self {
                to,
                from,
                text,
                reference,
            }),
            _ => Err(Problem::fields(errors)),
        }
    }
}
