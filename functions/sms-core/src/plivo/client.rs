//! `PlivoClient`: sends messages through Plivo's Message API and classifies every failure
//! once, for every caller, as retryable, permanent, unauthorised or outcome-unknown.

use std::time::Duration;

use crate::telemetry::error_chain;
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::{
    domain::text::MessageText,
    domain::validity::Deadline,
    domain::{
        phone::{PhoneNumber, mask_numbers},
        sender::Sender,
    },
    pace::{Pace, PaceError},
    retry::RetryPolicy,
    secrets::{PlivoCredentials, SecretError, SecretProvider},
};

/// How the client reaches Plivo.
#[derive(Debug, Clone)]
pub struct PlivoConfig {
    pub base_url: String,
    pub connect_timeout: Duration,
    /// Whole-request timeout. Past it the request may have reached Plivo, so the outcome is
    /// unknown and the message is not sent again.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
}

impl PlivoConfig {
    pub const DEFAULT_BASE_URL: &'static str = "https://api.plivo.com";

    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }

    pub fn with_retry(self, retry: RetryPolicy) -> Self {
        Self { retry, ..self }
    }
}

/// One request to Plivo: one text from one sender to up to 1,000 destinations.
#[derive(Debug, Clone, Copy)]
pub struct OutboundMessage<'a> {
    pub src: &'a Sender,
    pub dst: &'a [PhoneNumber],
    pub text: &'a MessageText,
    /// Where Plivo posts the delivery reports.
    pub callback_url: &'a str,
    /// When the message stops being worth sending: each attempt tells Plivo what is left
    /// (`message_expiry`), and none is made once too little is.
    pub expires_at: Option<Deadline>,
}

impl OutboundMessage<'_> {
    /// Plivo's limit of destinations per request.
    pub const MAX_DESTINATIONS: usize = 1000;
}

#[derive(Serialize)]
struct SendBody<'a> {
    /// A number or sender ID; Plivo takes it or a Powerpack, never both.
    #[serde(skip_serializing_if = "Option::is_none")]
    src: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    powerpack_uuid: Option<&'a str>,
    dst: String,
    text: &'a str,
    url: &'a str,
    method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_expiry: Option<u32>,
}

/// Plivo's 202 answer. `message_uuid` has one uuid per accepted destination, in no promised
/// order; `invalid_number` lists the destinations Plivo refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Accepted {
    #[serde(default)]
    pub api_id: String,
    #[serde(default)]
    pub message: String,
    pub message_uuid: Vec<String>,
    #[serde(default)]
    pub invalid_number: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlivoError {
    /// 400, 403, 404 and other 4xx: Plivo looked at the request and said no.
    #[error("Plivo refused the request ({status}): {error}")]
    Refused {
        status: u16,
        api_id: Option<String>,
        error: String,
    },
    /// 401: the credentials are wrong, perhaps rotated since they were read.
    #[error("Plivo did not accept the credentials: {error}")]
    Unauthorized { error: String },
    /// 429: over the account's request rate.
    #[error("Plivo rate limit reached: {error}")]
    RateLimited { error: String },
    /// 5xx.
    #[error("Plivo failed ({status}): {error}")]
    ServerError { status: u16, error: String },
    /// The connection failed before the request was sent: nothing reached Plivo.
    #[error("Plivo could not be reached: {reason}")]
    NotSent { reason: String },
    /// The request may have reached Plivo but no answer came back (timeout after sending, a
    /// cut connection, an unreadable 2xx). Sending again could deliver twice.
    #[error("outcome unknown: {reason}")]
    OutcomeUnknown { reason: String },
    /// The message's validity ended (less than Plivo's 5 s minimum left) before this attempt
    /// could go: nothing was sent, and nothing should be.
    #[error("the message's validity ended before it could be sent")]
    Expired,
}

/// What a caller should do about a failure: the retry rules, in one place (docs/plivo.md,
/// "How each failure is classified").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Nothing was sent; try again after a backoff.
    Retryable,
    /// Sending again will fail the same way.
    Permanent,
    /// Re-read the credentials once, then treat as permanent.
    Unauthorized,
    /// Do not send again; record the outcome as unknown.
    Unknown,
}

impl PlivoError {
    /// What an API caller is told. Fixed sentences except for Plivo's own refusal, which
    /// says what to change: transport errors name hosts, addresses and the account's URL,
    /// which stay in the logs.
    pub fn public_detail(&self) -> String {
        match self {
            Self::Refused { status, error, .. } => {
                format!("Plivo refused the message ({status}): {error}")
            }
            Self::Unauthorized { .. } => "Plivo did not accept the service's credentials".into(),
            Self::RateLimited { .. } => "Plivo's request rate limit was reached".into(),
            Self::ServerError { status, .. } => format!("Plivo failed ({status})"),
            Self::NotSent { .. } => "Plivo could not be reached".into(),
            Self::OutcomeUnknown { .. } => "Plivo did not answer in time".into(),
            Self::Expired => "the message's validity ended before it could be sent".into(),
        }
    }

    pub fn class(&self) -> FailureClass {
        match self {
            Self::RateLimited { .. } | Self::ServerError { .. } | Self::NotSent { .. } => {
                FailureClass::Retryable
            }
            Self::Refused { .. } | Self::Expired => FailureClass::Permanent,
            Self::Unauthorized { .. } => FailureClass::Unauthorized,
            Self::OutcomeUnknown { .. } => FailureClass::Unknown,
        }
    }
}

/// A send that could not be made, with the cause: Plivo, the secret that holds its
/// credentials, or the request budget (in the last two cases nothing reached Plivo).
#[derive(Debug, thiserror::Error)]
pub enum SendFailure {
    #[error(transparent)]
    Plivo(#[from] PlivoError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Pace(#[from] PaceError),
}

#[derive(Debug, Clone)]
pub struct PlivoClient {
    http: reqwest::Client,
    base_url: String,
    retry: RetryPolicy,
}

impl PlivoClient {
    pub fn new(config: PlivoConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("plivo-sms-lambdas/", env!("CARGO_PKG_VERSION")))
            .tls_certs_only(crate::tls::plivo_roots()?)
            .build()?;
        Ok(Self {
            http,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            retry: config.retry,
        })
    }

    pub fn message_url(&self, auth_id: &str) -> String {
        format!("{}/v1/Account/{auth_id}/Message/", self.base_url)
    }

    /// A `GET` of the Message API with `query`: the answer's status and body. A failure to
    /// get an answer is classified as a send's would be; for a read it only means "later".
    pub(super) async fn get_messages(
        &self,
        creds: &PlivoCredentials,
        query: &[(&str, String)],
    ) -> Result<(u16, bytes::Bytes), PlivoError> {
        let url = reqwest::Url::parse_with_params(&self.message_url(&creds.auth_id), query)
            .map_err(|e| PlivoError::NotSent {
                reason: format!("the Message API's address is not valid: {e}"),
            })?;
        let response = self
            .http
            .get(url)
            .basic_auth(&creds.auth_id, Some(creds.token()))
            .send()
            .await
            .map_err(classify_transport_error)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(classify_transport_error)?;
        Ok((status, body))
    }

    /// One attempt, no retry.
    pub async fn send_once(
        &self,
        creds: &PlivoCredentials,
        msg: &OutboundMessage<'_>,
    ) -> Result<Accepted, PlivoError> {
        // What is left of the message's validity as this attempt goes; too little, no attempt.
        let message_expiry = match msg.expires_at {
            Some(deadline) => Some(
                deadline
                    .message_expiry(chrono::Utc::now())
                    .ok_or(PlivoError::Expired)?,
            ),
            None => None,
        };
        let dst = msg
            .dst
            .iter()
            .map(PhoneNumber::digits)
            .collect::<Vec<_>>()
            .join("<");
        let body = SendBody {
            src: msg.src.plivo_src(),
            powerpack_uuid: msg.src.powerpack_uuid(),
            dst,
            text: msg.text.as_str(),
            url: msg.callback_url,
            method: "POST",
            message_expiry,
        };
        let response = self
            .http
            .post(self.message_url(&creds.auth_id))
            .basic_auth(&creds.auth_id, Some(creds.token()))
            .json(&body)
            .send()
            .await
            .map_err(classify_transport_error)?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| PlivoError::OutcomeUnknown {
                reason: format!(
                    "the answer's body could not be read after status {status}: {}",
                    error_chain(&e.without_url())
                ),
            })?;
        interpret(status, &bytes)
    }

    /// Sends with retries on retryable failures (429, 5xx, connection not made), backing off
    /// with jitter between attempts. Other failures return at once. Every attempt waits for
    /// its turn in `pace` first, and a 429 slows the pace down for everyone.
    pub async fn send(
        &self,
        pace: &impl Pace,
        creds: &PlivoCredentials,
        msg: &OutboundMessage<'_>,
    ) -> Result<Accepted, SendFailure> {
        let mut attempt = 1;
        loop {
            pace.wait_turn().await?;
            let outcome = self.send_once(creds, msg).await;
            // Every request made (an expired message makes none), and every 429, for the
            // operations dashboard (docs/operations.md, "Dashboard").
            if !matches!(outcome, Err(PlivoError::Expired)) {
                crate::metrics::count("PlivoRequests", 1);
            }
            if let Err(PlivoError::RateLimited { .. }) = &outcome {
                crate::metrics::count("PlivoRateLimited", 1);
            }
            match outcome {
                Err(e)
                    if e.class() == FailureClass::Retryable
                        && attempt < self.retry.max_attempts =>
                {
                    if matches!(e, PlivoError::RateLimited { .. }) {
                        pace.rate_limited().await;
                    }
                    let delay = self.retry.delay(attempt);
                    warn!(attempt, delay_ms = delay.as_millis() as u64, error = %e, "Plivo send failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => {
                    debug!(attempt, ok = other.is_ok(), "Plivo send finished");
                    if let Err(PlivoError::RateLimited { .. }) = &other {
                        pace.rate_limited().await;
                    }
                    return Ok(other?);
                }
            }
        }
    }

    /// Sends with the current credentials; on 401 re-reads the secret once (it may have been
    /// rotated) and tries again with the new credentials.
    pub async fn send_refreshing_credentials<P: SecretProvider>(
        &self,
        pace: &impl Pace,
        secrets: &P,
        msg: &OutboundMessage<'_>,
    ) -> Result<Accepted, SendFailure> {
        let secret = secrets.current().await?;
        match self.send(pace, &secret.plivo, msg).await {
            Err(SendFailure::Plivo(e)) if e.class() == FailureClass::Unauthorized => {
                warn!("Plivo answered 401; re-reading the secret once in case it was rotated");
                let fresh = secrets.refresh().await?;
                self.send(pace, &fresh.plivo, msg).await
            }
            other => other,
        }
    }
}

fn classify_transport_error(e: reqwest::Error) -> PlivoError {
    // The URL carries the account's auth id: keep it out of every message built from here.
    let e = e.without_url();
    // A connect failure (refused, DNS, TLS handshake, connect timeout) means the request never
    // left; anything later may have reached Plivo.
    if e.is_connect() {
        PlivoError::NotSent {
            reason: error_chain(&e),
        }
    } else if e.is_timeout() {
        PlivoError::OutcomeUnknown {
            reason: format!("no answer within the timeout: {}", error_chain(&e)),
        }
    } else {
        PlivoError::OutcomeUnknown {
            reason: error_chain(&e),
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    api_id: Option<String>,
    error: Option<serde_json::Value>,
}

fn interpret(status: u16, body: &[u8]) -> Result<Accepted, PlivoError> {
    if (200..300).contains(&status) {
        return serde_json::from_slice::<Accepted>(body).map_err(|e| PlivoError::OutcomeUnknown {
            reason: format!("Plivo answered {status} with a body that is not a send result: {e}"),
        });
    }
    Err(error_of(status, body))
}

/// The failure a non-2xx answer stands for, classified once for every API.
pub(super) fn error_of(status: u16, body: &[u8]) -> PlivoError {
    let (api_id, error) = describe_error_body(status, body);
    match status {
        401 => PlivoError::Unauthorized { error },
        429 => PlivoError::RateLimited { error },
        500..=599 => PlivoError::ServerError { status, error },
        400..=499 => PlivoError::Refused {
            status,
            api_id,
            error,
        },
        _ => PlivoError::OutcomeUnknown {
            reason: format!("unexpected status {status}: {error}"),
        },
    }
}

/// Plivo's error sentence when the body is its JSON error shape, else a short excerpt of the
/// body, else the status's reason phrase. Numbers in it are masked: the sentence is logged,
/// and Plivo's sentences can quote the destination.
fn describe_error_body(status: u16, body: &[u8]) -> (Option<String>, String) {
    if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) {
        let error = match parsed.error {
            Some(serde_json::Value::String(s)) => Some(s),
            Some(other) => Some(other.to_string()),
            None => None,
        };
        if let Some(error) = error {
            return (parsed.api_id, mask_numbers(&error));
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("no reason given");
        (None, reason.to_owned())
    } else {
        (
            None,
            mask_numbers(&text.chars().take(200).collect::<String>()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_retry_rules() {
        let cases = [
            (400, FailureClass::Permanent),
            (403, FailureClass::Permanent),
            (404, FailureClass::Permanent),
            (401, FailureClass::Unauthorized),
            (429, FailureClass::Retryable),
            (500, FailureClass::Retryable),
            (503, FailureClass::Retryable),
        ];
        for (status, class) in cases {
            assert_eq!(
                interpret(status, b"{}").unwrap_err().class(),
                class,
                "{status}"
            );
        }
    }

    #[test]
    fn error_text_comes_from_json_text_or_reason_phrase() {
        assert_eq!(
            describe_error_body(400, br#"{"api_id":"a1","error":"invalid src"}"#),
            (Some("a1".into()), "invalid src".into())
        );
        assert_eq!(
            describe_error_body(502, b"<html>Bad Gateway</html>").1,
            "<html>Bad Gateway</html>"
        );
        assert_eq!(describe_error_body(503, b"").1, "Service Unavailable");
        assert_eq!(
            describe_error_body(400, br#"{"error":{"dst":"bad"}}"#).1,
            r#"{"dst":"bad"}"#
        );
    }

    #[test]
    fn an_unreadable_success_is_an_unknown_outcome() {
        assert_eq!(
            interpret(202, b"oops").unwrap_err().class(),
            FailureClass::Unknown
        );
    }
}
