//! The body of `POST /v1/messages`, parsed into domain types at the edge.

use serde::{Deserialize, Serialize};
use sms_core::{
    FieldError, MessageText, PhoneNumber, Problem, ProblemKind, Sender,
    domain::{start::SendAt, validity::Deadline},
    http::fields,
};

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
    /// Refuse (422) a `to` that is a landline rather than send it (docs/api.md, "Numbers").
    #[serde(default)]
    pub skip_landlines: bool,
    /// Seconds from now the message stays worth sending (docs/api.md, "Validity").
    #[serde(default)]
    pub valid_for: Option<u64>,
    /// Or the time (RFC 3339) it stops being worth sending.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// When to send it (RFC 3339, up to 35 days ahead): the message becomes a scheduled job
    /// of one recipient (docs/api.md, "Scheduled messages").
    #[serde(default)]
    pub send_at: Option<String>,
}

/// A valid send request. Serialized only to fingerprint it for idempotency: the text as
/// given and the flag, so a retry that changes either is another request. The flag is left
/// out when off, so a request without it keeps the fingerprint it always had.
#[derive(Debug, Clone, Serialize)]
pub struct SendMessage {
    pub to: PhoneNumber,
    pub from: Sender,
    #[serde(rename = "text")]
    pub given_text: String,
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub smart_encoding: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skip_landlines: bool,
    /// The validity as given (absent, the fingerprint is the one it always was).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_for: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The start as given (likewise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_at: Option<String>,
    /// When to send it, if not now.
    #[serde(skip)]
    pub start: Option<SendAt>,
    /// When the message stops being worth sending: Plivo is told what is left of it.
    #[serde(skip)]
    pub deadline: Option<Deadline>,
    /// What is sent: the text as given, or smart-encoded.
    #[serde(skip)]
    pub text: MessageText,
}

impl SendMessage {
    /// Checks every field and reports all problems at once (a 400), a `to` that `from`
    /// cannot reach among them (a sender ID towards the US or Canada); then, with
    /// `skip_landlines`, refuses a landline `to` (a 422 naming `to`).
    pub fn parse(body: SendMessageBody, default_src: &Sender) -> Result<Self, Problem> {
        let mut errors = Vec::new();
        let to = fields::recipient("to", &body.to)
            .map_err(|e| errors.push(e))
            .ok();
        let (start, deadline) = fields::schedule(
            body.send_at.as_deref(),
            body.valid_for,
            body.expires_at.as_deref(),
            chrono::Utc::now(),
            &mut errors,
        );
        let message = fields::message(
            body.text,
            body.smart_encoding,
            body.from.as_deref(),
            body.reference,
            default_src,
            &mut errors,
        );
        if let (Some((_, numbering)), Some(message)) = (&to, &message)
            && let Some(reason) = message.from.cannot_reach(numbering.region)
        {
            errors.push(FieldError::new("to", reason));
        }
        match (to, message) {
            (Some((_, numbering)), Some(_))
                if errors.is_empty() && body.skip_landlines && numbering.is_landline() =>
            {
                let note = numbering.landline_note();
                Err(Problem {
                    errors: vec![FieldError::new("to", &note)],
                    ..Problem::new(
                        ProblemKind::Landline,
                        format!("to {note}, and skip_landlines is set; nothing was sent"),
                    )
                })
            }
            (
                Some((to, _)),
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
                skip_landlines: body.skip_landlines,
                valid_for: body.valid_for,
                expires_at: body.expires_at,
                send_at: body.send_at,
                start,
                deadline,
                text,
            }),
            _ => Err(Problem::fields(errors)),
        }
    }
}
