//! Settings read from the environment at cold start (docs/operations.md, "Function
//! configuration"). A missing required variable stops the function before it takes a
//! request, with a message naming it.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

pub fn required(name: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
        _ => Err(ConfigError::Missing(name)),
    }
}

pub fn optional(name: &'static str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

pub fn seconds(name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
    match optional(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| ConfigError::Invalid {
                name,
                reason: e.to_string(),
            }),
    }
}

/// A switch read with [`optional`]: `true` or `false`, off when unset. The caller reads the
/// variable, so that the template checks see which one it is.
pub fn flag(name: &'static str, value: Option<&str>) -> Result<bool, ConfigError> {
    match value {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ConfigError::Invalid {
            name,
            reason: "must be true or false".into(),
        }),
    }
}

/// A positive whole number read with [`optional`], `default` when unset. The caller reads
/// the variable, so that the template checks see which one it is.
pub fn positive(name: &'static str, value: Option<&str>, default: u64) -> Result<u64, ConfigError> {
    match value {
        None => Ok(default),
        Some(raw) => raw
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or(ConfigError::Invalid {
                name,
                reason: format!("{raw:?} is not a positive whole number"),
            }),
    }
}

/// The public base URL of the API (`PUBLIC_BASE_URL`), from which callback URLs are made.
/// Plivo signs the URL it called, so this must be exactly what Plivo is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicBaseUrl {
    api: String,
    /// Where Plivo is to send delivery reports, when not to the API: status-callback's
    /// function URL (`STATUS_CALLBACK_BASE_URL`; docs/cost.md, "Delivery reports").
    status_callbacks: Option<String>,
}

impl PublicBaseUrl {
    pub const STATUS_CALLBACK_PATH: &'static str = "/v1/callbacks/plivo/status";
    pub const INBOUND_PATH: &'static str = "/v1/callbacks/plivo/inbound";

    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            api: Self::base("PUBLIC_BASE_URL", raw)?,
            status_callbacks: None,
        })
    }

    /// The same, with delivery reports sent to `base` (status-callback's function URL).
    pub fn with_status_callbacks_at(self, base: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            status_callbacks: Some(Self::base("STATUS_CALLBACK_BASE_URL", base)?),
            ..self
        })
    }

    fn base(name: &'static str, raw: &str) -> Result<String, ConfigError> {
        let invalid = |reason: &str| ConfigError::Invalid {
            name,
            reason: reason.to_owned(),
        };
        let trimmed = raw.trim().trim_end_matches('/');
        let parsed = url::Url::parse(trimmed).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid("must be an http or https URL"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid("must not carry a query or fragment"));
        }
        Ok(trimmed.to_owned())
    }

    /// `PUBLIC_BASE_URL`, and `STATUS_CALLBACK_BASE_URL` when set.
    pub fn from_env() -> Result<Self, ConfigError> {
        let base = Self::parse(&required("PUBLIC_BASE_URL")?)?;
        match optional("STATUS_CALLBACK_BASE_URL") {
            Some(callbacks) => base.with_status_callbacks_at(&callbacks),
            None => Ok(base),
        }
    }

    /// The API's URL for a route path such as [`Self::INBOUND_PATH`].
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    /// The delivery-report URL Plivo is given: under `STATUS_CALLBACK_BASE_URL` when set,
    /// else the API's.
    pub fn status_callback_url(&self) -> String {
        let base = self.status_callbacks.as_deref().unwrap_or(&self.api);
        format!("{base}{}", Self::STATUS_CALLBACK_PATH)
    }
}

/// How status-callback treats Plivo's signatures (`PLIVO_ACCEPT_V2_SIGNATURES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallbackSettings {
    /// Whether a request signed with V2 alone is accepted (once per nonce). Off unless set:
    /// Plivo signs its messaging callbacks with V3, and V2 does not cover the body.
    pub accept_v2_signatures: bool,
    /// The least time between two secret re-reads that a bad signature may cause.
    pub secret_reread_interval: Duration,
}

impl CallbackSettings {
    pub const DEFAULT_SECRET_REREAD_INTERVAL: Duration = Duration::from_secs(60);

    pub fn from_env() -> Result<Self, ConfigError> {
        let accept_v2_signatures = flag(
            "PLIVO_ACCEPT_V2_SIGNATURES",
            optional("PLIVO_ACCEPT_V2_SIGNATURES").as_deref(),
        )?;
        Ok(Self {
            accept_v2_signatures,
            ..Self::default()
        })
    }
}

impl Default for CallbackSettings {
    fn default() -> Self {
        Self {
            accept_v2_signatures: false,
            secret_reread_interval: Self::DEFAULT_SECRET_REREAD_INTERVAL,
        }
    }
}

/// The AWS SDK configuration. `AWS_ENDPOINT_URL` (standard to the SDK) points it at an
/// emulator locally; nothing else differs between local runs and AWS. Its HTTPS client trusts
/// the compiled-in roots (crate::tls), which keeps the system's store out of the cold start.
pub async fn aws() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::tls::aws_http_client())
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_numbers_default_when_unset_and_name_their_variable_when_wrong() {
        assert_eq!(positive("N", None, 7).unwrap(), 7);
        assert_eq!(positive("N", Some("12"), 7).unwrap(), 12);
        for bad in ["0", "-1", "x", "1.5"] {
            let e = positive("N", Some(bad), 7).unwrap_err().to_string();
            assert!(e.contains('N') && e.contains(bad), "{e}");
        }
    }

    #[test]
    fn public_base_url_joins_route_paths_without_double_slashes() {
        let base =
            PublicBaseUrl::parse("https://abc.execute-api.us-east-1.amazonaws.com/").unwrap();
        assert_eq!(
            base.status_callback_url(),
            "https://abc.execute-api.us-east-1.amazonaws.com/v1/callbacks/plivo/status"
        );
        let staged = PublicBaseUrl::parse("http://127.0.0.1:3000/prod").unwrap();
        assert_eq!(staged.join("/v1/x"), "http://127.0.0.1:3000/prod/v1/x");
    }

    #[test]
    fn delivery_reports_go_to_the_function_url_when_one_is_set() {
        let base = PublicBaseUrl::parse("https://abc.execute-api.us-east-1.amazonaws.com")
            .unwrap()
            .with_status_callbacks_at("https://xyz.lambda-url.us-east-1.on.aws/")
            .unwrap();
        assert_eq!(
            base.status_callback_url(),
            "https://xyz.lambda-url.us-east-1.on.aws/v1/callbacks/plivo/status"
        );
        assert_eq!(
            base.join(PublicBaseUrl::INBOUND_PATH),
            "https://abc.execute-api.us-east-1.amazonaws.com/v1/callbacks/plivo/inbound"
        );
        let err = PublicBaseUrl::parse("https://x")
            .unwrap()
            .with_status_callbacks_at("ftp://y")
            .unwrap_err();
        assert!(
            err.to_string().contains("STATUS_CALLBACK_BASE_URL"),
            "{err}"
        );
    }

    #[test]
    fn public_base_url_refuses_non_http_and_queries() {
        assert!(PublicBaseUrl::parse("ftp://x").is_err());
        assert!(PublicBaseUrl::parse("https://x/?a=b").is_err());
        assert!(PublicBaseUrl::parse("not a url").is_err());
    }

    #[test]
    fn a_flag_is_true_false_or_unset_and_names_itself_when_invalid() {
        assert!(!flag("S3_FORCE_PATH_STYLE", None).unwrap());
        assert!(!flag("S3_FORCE_PATH_STYLE", Some("false")).unwrap());
        assert!(flag("S3_FORCE_PATH_STYLE", Some("true")).unwrap());
        let err = flag("S3_FORCE_PATH_STYLE", Some("yes")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable S3_FORCE_PATH_STYLE is invalid: must be true or false"
        );
    }
}

/// What becomes of a batch whose outcome is unknown (`UNKNOWN_OUTCOME`, docs/operations.md):
/// reported and left for an operator, or settled from Plivo's records (the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownOutcome {
    Report,
    /// job-files settles it `delay_seconds` after it was recorded (`RECONCILE_DELAY_SECONDS`):
    /// time for Plivo's records of a send to appear.
    Reconcile {
        delay_seconds: u32,
    },
}

impl UnknownOutcome {
    pub const DEFAULT_DELAY_SECONDS: u32 = 120;

    /// From the two variables' values, which the caller reads (see [`flag`]).
    pub fn parse(outcome: Option<&str>, delay: Option<&str>) -> Result<Self, ConfigError> {
        match outcome {
            Some("report") => Ok(Self::Report),
            None | Some("reconcile") => {
                let delay_seconds = positive(
                    "RECONCILE_DELAY_SECONDS",
                    delay,
                    u64::from(Self::DEFAULT_DELAY_SECONDS),
                )?;
                match u32::try_from(delay_seconds) {
                    Ok(d) if d <= crate::queue::MAX_DELAY_SECONDS => {
                        Ok(Self::Reconcile { delay_seconds: d })
                    }
                    _ => Err(ConfigError::Invalid {
                        name: "RECONCILE_DELAY_SECONDS",
                        reason: format!(
                            "at most {} (SQS's longest delay)",
                            crate::queue::MAX_DELAY_SECONDS
                        ),
                    }),
                }
            }
            Some(other) => Err(ConfigError::Invalid {
                name: "UNKNOWN_OUTCOME",
                reason: format!("{other:?} is neither report nor reconcile"),
            }),
        }
    }
}

#[cfg(test)]
mod unknown_outcome_tests {
    use super::UnknownOutcome;

    #[test]
    fn reconcile_is_the_default_and_report_turns_it_off() {
        assert_eq!(
            UnknownOutcome::parse(None, None).unwrap(),
            UnknownOutcome::Reconcile { delay_seconds: 120 }
        );
        assert_eq!(
            UnknownOutcome::parse(Some("reconcile"), Some("30")).unwrap(),
            UnknownOutcome::Reconcile { delay_seconds: 30 }
        );
        assert_eq!(
            UnknownOutcome::parse(Some("report"), Some("30")).unwrap(),
            UnknownOutcome::Report
        );
        for (outcome, delay) in [
            (Some("resend"), None),
            (None, Some("901")),
            (None, Some("0")),
        ] {
            assert!(
                UnknownOutcome::parse(outcome, delay).is_err(),
                "{outcome:?} {delay:?}"
            );
        }
    }
}
