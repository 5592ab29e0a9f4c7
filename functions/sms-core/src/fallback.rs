//! The fallback provider (docs/architecture.md, "The fallback provider"): Amazon SNS's SMS
//! delivery (AWS End User Messaging), used for a job that allows it while Plivo's circuit is
//! open (`store::PlivoCircuit`). One `Publish` per recipient, from the deployment's
//! origination identity; each failure classified once, like Plivo's.

use aws_sdk_sns::{error::ProvideErrorMetadata, types::MessageAttributeValue};
use futures::future::BoxFuture;

use crate::{
    config::ConfigError,
    domain::{phone::PhoneNumber, sender::Sender},
    store::CircuitRule,
};

/// What the sender needs to use the fallback provider: the provider, which jobs may use it,
/// when Plivo's circuit opens, and the provider's own rate.
pub struct Fallback {
    pub sms: Box<dyn FallbackSms>,
    pub policy: FallbackPolicy,
    pub rule: CircuitRule,
    /// The most messages a second it is sent (SNS's account quota for SMS, 20 by default):
    /// `FALLBACK_MESSAGES_PER_SECOND`.
    pub messages_per_second: u32,
}

impl Fallback {
    pub const DEFAULT_MESSAGES_PER_SECOND: u32 = 20;
}

/// Which jobs may go through the fallback provider (`FALLBACK`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FallbackPolicy {
    /// None: every batch waits for Plivo (the default).
    Off,
    /// Jobs that ask for it (`"fallback": true`).
    JobsThatAsk(Origination),
    /// Every job.
    AllJobs(Origination),
}

impl FallbackPolicy {
    /// From `FALLBACK` (`off`, `jobs`, `all`) and `FALLBACK_ORIGINATION`, whose values the
    /// caller reads (see `config::flag`).
    pub fn parse(policy: Option<&str>, origination: Option<&str>) -> Result<Self, ConfigError> {
        let Some(every_job) = Self::mode(policy)? else {
            return Ok(Self::Off);
        };
        let raw = origination.ok_or(ConfigError::Missing("FALLBACK_ORIGINATION"))?;
        let origination = Origination::parse(raw).map_err(|reason| ConfigError::Invalid {
            name: "FALLBACK_ORIGINATION",
            reason,
        })?;
        Ok(if every_job {
            Self::AllJobs(origination)
        } else {
            Self::JobsThatAsk(origination)
        })
    }

    /// Whether `FALLBACK` lets a job ask (`jobs` or `all`), for a function that needs to know
    /// no more than that.
    pub fn is_enabled(policy: Option<&str>) -> Result<bool, ConfigError> {
        Ok(Self::mode(policy)?.is_some())
    }

    /// `FALLBACK`'s value: None when off, else whether it is for every job.
    fn mode(policy: Option<&str>) -> Result<Option<bool>, ConfigError> {
        match policy {
            None | Some("off") => Ok(None),
            Some("jobs") => Ok(Some(false)),
            Some("all") => Ok(Some(true)),
            Some(other) => Err(ConfigError::Invalid {
                name: "FALLBACK",
                reason: format!("{other:?} is none of off, jobs, all"),
            }),
        }
    }

    /// Whether a job that did (or did not) ask may go through the fallback provider.
    pub fn allows(&self, job_asked: bool) -> bool {
        match self {
            Self::Off => false,
            Self::JobsThatAsk(_) => job_asked,
            Self::AllJobs(_) => true,
        }
    }

    /// Who its messages are from; None when it is off.
    pub fn origination(&self) -> Option<&Sender> {
        match self {
            Self::Off => None,
            Self::JobsThatAsk(o) | Self::AllJobs(o) => Some(o.sender()),
        }
    }
}

/// Who the fallback provider's messages are from: one of the account's numbers registered
/// with AWS End User Messaging, or a sender ID where carriers take one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origination(Sender);

impl Origination {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match Sender::parse(raw.trim()) {
            Ok(sender @ (Sender::Number(_) | Sender::Alphanumeric(_))) => Ok(Self(sender)),
            Ok(Sender::Powerpack(_)) => {
                Err("a Powerpack is Plivo's; SNS needs a number or a sender ID".into())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    pub fn sender(&self) -> &Sender {
        &self.0
    }
}

/// Why a message did not go through the fallback provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FallbackError {
    /// It refused this message (an invalid or opted-out number, a bad parameter): not sent,
    /// and sending it again would not help.
    #[error("refused: {0}")]
    Refused(String),
    /// It could not take messages now (throttled, unavailable, not reached): not sent.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// No answer came after the request left: it may have been sent, so it is not sent again.
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

/// Sends one text to one number; answers the provider's message id. Boxed futures: the
/// sender holds it as a trait object, so tests can stand in for SNS.
pub trait FallbackSms: Send + Sync {
    fn publish<'a>(
        &'a self,
        to: &'a PhoneNumber,
        text: &'a str,
    ) -> BoxFuture<'a, Result<String, FallbackError>>;
}

/// [`FallbackSms`] over SNS `Publish` to a phone number.
pub struct SnsSms {
    client: aws_sdk_sns::Client,
    origination: Origination,
}

impl SnsSms {
    pub fn new(client: aws_sdk_sns::Client, origination: Origination) -> Self {
        Self {
            client,
            origination,
        }
    }
}

fn attribute(value: &str) -> Option<MessageAttributeValue> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .ok()
}

/// SNS error codes that mean "not now" rather than "not this message".
const UNAVAILABLE_CODES: [&str; 5] = [
    "Throttled",
    "ThrottledException",
    "Throttling",
    "InternalError",
    "ServiceUnavailable",
];

impl FallbackSms for SnsSms {
    fn publish<'a>(
        &'a self,
        to: &'a PhoneNumber,
        text: &'a str,
    ) -> BoxFuture<'a, Result<String, FallbackError>> {
        Box::pin(self.publish_one(to, text))
    }
}

impl SnsSms {
    async fn publish_one(&self, to: &PhoneNumber, text: &str) -> Result<String, FallbackError> {
        let (name, value) = match self.origination.sender() {
            Sender::Number(n) => ("AWS.MM.SMS.OriginationNumber", n.as_str()),
            // `Origination::parse` takes no Powerpack.
            Sender::Alphanumeric(id) | Sender::Powerpack(id) => {
                ("AWS.SNS.SMS.SenderID", id.as_str())
            }
        };
        let request = self
            .client
            .publish()
            .phone_number(to.as_str())
            .message(text)
            .set_message_attributes(Some(
                [
                    ("AWS.SNS.SMS.SMSType", attribute("Transactional")),
                    (name, attribute(value)),
                ]
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_owned(), v?)))
                .collect(),
            ));
        use aws_sdk_sns::error::SdkError;
        match request.send().await {
            Ok(out) => out
                .message_id
                .ok_or_else(|| FallbackError::Unknown("SNS answered without a message id".into())),
            Err(SdkError::ServiceError(e)) => {
                let code = e.err().code().unwrap_or("").to_owned();
                let why = format!("{code}: {}", e.err().message().unwrap_or(""));
                if UNAVAILABLE_CODES.iter().any(|c| code.starts_with(c)) {
                    Err(FallbackError::Unavailable(why))
                } else {
                    Err(FallbackError::Refused(why))
                }
            }
            Err(SdkError::ConstructionFailure(e)) => Err(FallbackError::Refused(format!("{e:?}"))),
            // The request may have reached SNS: never sent again.
            Err(e) => Err(FallbackError::Unknown(
                aws_sdk_sns::error::DisplayErrorContext(e).to_string(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_is_off_unless_set_and_needs_an_origination_to_be_on() {
        assert_eq!(
            FallbackPolicy::parse(None, None).unwrap(),
            FallbackPolicy::Off
        );
        assert_eq!(
            FallbackPolicy::parse(Some("off"), Some("+14155550100")).unwrap(),
            FallbackPolicy::Off
        );
        let jobs = FallbackPolicy::parse(Some("jobs"), Some("+14155550100")).unwrap();
        assert!(jobs.allows(true) && !jobs.allows(false));
        let all = FallbackPolicy::parse(Some("all"), Some("ACME")).unwrap();
        assert!(all.allows(true) && all.allows(false));
        assert!(FallbackPolicy::parse(Some("jobs"), None).is_err());
        assert!(FallbackPolicy::parse(Some("sometimes"), Some("ACME")).is_err());
        assert!(
            FallbackPolicy::parse(Some("all"), Some("2f1c6f1e-6f0b-4a2c-9c1f-0e6a5b1d2c3e"))
                .is_err(),
            "a Powerpack is Plivo's"
        );
    }
}
