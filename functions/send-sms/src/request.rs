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
    /// Send the text with its GSM-7 look-alikes replaced (docs/api.md, "Text previews and smart encoding").
    #[serde(default)]
    pub smart_encoding: bool,
}

/// A valid send request. Serialized only to fingerprint it for idempotency: the text as
/// given and the flag, so a retry that changes either is another request. The flag is left
/// out when off, so a request without it keeps the fingerprint it always had.
#[derive(Debug, Clone, Serialize)]
pub struct SendMessage {
    pub to: PhoneNumber,
    pub from: PhoneNumber,
    #[serde(rename = "text")]
    pub given_text: String,
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub smart_encoding: bool,
    /// What is sent: the text as given, or smart-encoded.
    #[serde(skip)]
    pub text: MessageText,
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
            body.smart_encoding,
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
                    given_text,
                    from,
                    reference,
                }),
            ) if errors.is_empty() => Ok(Self {
                to,
                from,
                given_text,
                reference,
                smart_encoding: body.smart_encoding,
                text,
            }),
            _ => Err(Problem::fields(errors)),
        }
    }
}
