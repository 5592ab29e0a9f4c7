//! The service secret (docs/architecture.md, "The secret and the settings"): Plivo
//! credentials, the default sender and the API keys.
//!
//! Read from Secrets Manager once per cold start and kept for a TTL, so a rotation takes
//! effect within minutes without a deploy. Every value is wrapped: `Debug` shows no secret.

use std::{
    fmt,
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::{domain::sender::Sender, http::auth::ApiKeys};

/// Plivo account credentials. The auth id is not secret (it is part of every API path);
/// the token is.
#[derive(Clone)]
pub struct PlivoCredentials {
    pub auth_id: String,
    pub auth_token: SecretString,
}

impl PlivoCredentials {
    pub fn new(auth_id: impl Into<String>, auth_token: impl Into<String>) -> Self {
        Self {
            auth_id: auth_id.into(),
            auth_token: SecretString::from(auth_token.into()),
        }
    }
    pub fn token(&self) -> &str {
        self.auth_token.expose_secret()
    }
}

impl fmt::Debug for PlivoCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlivoCredentials")
            .field("auth_id", &self.auth_id)
            .field("auth_token", &"[redacted]")
            .finish()
    }
}

/// Everything the functions read from the secret, parsed.
#[derive(Clone, Debug)]
pub struct ServiceSecret {
    pub plivo: PlivoCredentials,
    /// `plivo_src`: a number, a sender ID or a Powerpack's UUID.
    pub default_src: Sender,
    pub api_keys: ApiKeys,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {secret_id} could not be read: {reason}")]
    Unavailable { secret_id: String, reason: String },
    #[error("secret {secret_id} is malformed: {reason}")]
    Malformed { secret_id: String, reason: String },
}

/// The secret's JSON. Field names only ever reach error messages, never values.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretDocument {
    plivo_auth_id: String,
    plivo_auth_token: String,
    plivo_src: String,
    api_keys: Vec<String>,
}

impl ServiceSecret {
    /// Parses the secret's JSON string. Errors name the problem but never echo the input,
    /// because the input is the secret.
    pub fn from_json(secret_id: &str, json: &str) -> Result<Self, SecretError> {
        let malformed = |reason: String| SecretError::Malformed {
            secret_id: secret_id.to_owned(),
            reason,
        };
        let doc: SecretDocument = serde_json::from_str(json).map_err(|e| {
            // serde_json's messages quote unknown field names but not values; keep only
            // the category and position to be safe.
            malformed(format!(
                "{:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        if doc.plivo_auth_id.trim().is_empty() {
            return Err(malformed("plivo_auth_id is empty".into()));
        }
        if doc.plivo_auth_token.is_empty() {
            return Err(malformed("plivo_auth_token is empty".into()));
        }
        let default_src =
            Sender::parse(&doc.plivo_src).map_err(|e| malformed(format!("plivo_src {e}")))?;
        let api_keys =
            ApiKeys::new(doc.api_keys).map_err(|e| malformed(format!("api_keys {e}")))?;
        Ok(Self {
            plivo: PlivoCredentials::new(doc.plivo_auth_id, doc.plivo_auth_token),
            default_src,
            api_keys,
        })
    }
}

/// Where the secret comes from: Secrets Manager in Lambda, a fixed value in handler tests.
pub trait SecretSource: Send + Sync {
    fn fetch(&self) -> impl Future<Output = Result<ServiceSecret, SecretError>> + Send;
}

/// What handlers depend on: the current secret, a forced re-read after Plivo says 401, and a
/// bounded re-read for what unauthenticated requests may trigger.
pub trait SecretProvider: Send + Sync {
    fn current(&self) -> impl Future<Output = Result<Arc<ServiceSecret>, SecretError>> + Send;
    fn refresh(&self) -> impl Future<Output = Result<Arc<ServiceSecret>, SecretError>> + Send;
    /// Re-reads the secret only if the one held was read at least `min_age` ago; otherwise
    /// answers with the one held. A callback with a bad signature may mean a rotated token,
    /// but anyone can send one: this way a flood of them costs at most one read per
    /// `min_age` per instance.
    fn refresh_if_older(
        &self,
        min_age: Duration,
    ) -> impl Future<Output = Result<Arc<ServiceSecret>, SecretError>> + Send;
}

/// Reads the secret from AWS Secrets Manager.
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretsManagerSource {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
        }
    }
}

impl SecretSource for SecretsManagerSource {
    async fn fetch(&self) -> Result<ServiceSecret, SecretError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| SecretError::Unavailable {
                secret_id: self.secret_id.clone(),
                reason: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
            })?;
        let json = out.secret_string().ok_or_else(|| SecretError::Malformed {
            secret_id: self.secret_id.clone(),
            reason: "SecretString is missing (binary secrets are not supported)".into(),
        })?;
        ServiceSecret::from_json(&self.secret_id, json)
    }
}

/// A fixed secret, for tests (feature `test-util`).
#[cfg(any(test, feature = "test-util"))]
pub struct StaticSecret(pub ServiceSecret);

#[cfg(any(test, feature = "test-util"))]
impl SecretSource for StaticSecret {
    async fn fetch(&self) -> Result<ServiceSecret, SecretError> {
        Ok(self.0.clone())
    }
}

/// Caches a [`SecretSource`] for `ttl`. One fetch at a time: concurrent callers wait for it
/// rather than each calling Secrets Manager.
pub struct SecretCache<S> {
    source: S,
    ttl: Duration,
    slot: Mutex<Option<(Instant, Arc<ServiceSecret>)>>,
}

impl<S: SecretSource> SecretCache<S> {
    pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

    pub fn new(source: S, ttl: Duration) -> Self {
        Self {
            source,
            ttl,
            slot: Mutex::new(None),
        }
    }

    /// The source, for tests that count its reads.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The secret held, unless it was read `max_age` or more before `now`: then a fresh one.
    /// `now` is a parameter so that tests drive time without sleeping.
    async fn load(
        &self,
        max_age: Duration,
        now: Instant,
    ) -> Result<Arc<ServiceSecret>, SecretError> {
        let mut slot = self.slot.lock().await;
        if let Some((at, secret)) = slot.as_ref()
            && now.saturating_duration_since(*at) < max_age
        {
            return Ok(secret.clone());
        }
        let fresh = Arc::new(self.source.fetch().await?);
        *slot = Some((now, fresh.clone()));
        Ok(fresh)
    }
}

impl<S: SecretSource> SecretProvider for SecretCache<S> {
    async fn current(&self) -> Result<Arc<ServiceSecret>, SecretError> {
        self.load(self.ttl, Instant::now()).await
    }
    async fn refresh(&self) -> Result<Arc<ServiceSecret>, SecretError> {
        self.load(Duration::ZERO, Instant::now()).await
    }
    async fn refresh_if_older(&self, min_age: Duration) -> Result<Arc<ServiceSecret>, SecretError> {
        // Never older than the TTL allows either.
        self.load(min_age.min(self.ttl), Instant::now()).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const JSON: &str = r#"{"plivo_auth_id":"MAXXXXXXXXXXXXXXXXXX","plivo_auth_token":"tok-very-secret","plivo_src":"+14155550100","api_keys":["key-one-secret-0123456789abcdef012345"]}"#;

    #[test]
    fn parses_the_documented_shape() {
        let s = ServiceSecret::from_json("id", JSON).unwrap();
        assert_eq!(s.plivo.auth_id, "MAXXXXXXXXXXXXXXXXXX");
        assert_eq!(s.plivo.token(), "tok-very-secret");
        assert_eq!(s.default_src.as_str(), "+14155550100");
        assert!(s.api_keys.verify("key-one-secret-0123456789abcdef012345"));
    }

    #[test]
    fn debug_output_never_shows_secret_values() {
        let s = ServiceSecret::from_json("id", JSON).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("tok-very-secret"), "{shown}");
        assert!(
            !shown.contains("key-one-secret-0123456789abcdef012345"),
            "{shown}"
        );
    }

    #[test]
    fn malformed_secrets_name_the_problem_without_echoing_values() {
        let cases = [
            ("not json tok-very-secret", "Syntax"),
            (
                r#"{"plivo_auth_id":"MA","plivo_auth_token":"tok-very-secret","plivo_src":"+1","api_keys":["key-two-secret-0123456789abcdef012345"]}"#,
                "plivo_src",
            ),
            (
                r#"{"plivo_auth_id":"MA","plivo_auth_token":"tok-very-secret","plivo_src":"+14155550100","api_keys":[]}"#,
                "api_keys",
            ),
            (
                r#"{"plivo_auth_id":"MA","plivo_auth_token":"tok-very-secret","plivo_src":"+14155550100"}"#,
                "Data",
            ),
            (
                r#"{"plivo_auth_id":"MA","plivo_auth_token":"tok-very-secret","plivo_src":"+14155550100","api_keys":["tok-very-secret"]}"#,
                "at least 32",
            ),
            (
                r#"{"plivo_auth_id":"","plivo_auth_token":"tok-very-secret","plivo_src":"+14155550100","api_keys":["key-two-secret-0123456789abcdef012345"]}"#,
                "plivo_auth_id",
            ),
        ];
        for (json, needle) in cases {
            let err = ServiceSecret::from_json("sms/secret", json)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err}");
            assert!(err.contains("sms/secret"), "{err}");
            assert!(!err.contains("tok-very-secret"), "{err}");
        }
    }

    struct Counting(AtomicUsize);
    impl SecretSource for Counting {
        async fn fetch(&self) -> Result<ServiceSecret, SecretError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            ServiceSecret::from_json("id", JSON)
        }
    }

    #[tokio::test]
    async fn cache_reads_once_within_ttl_and_again_on_refresh_or_expiry() {
        let cache = SecretCache::new(Counting(AtomicUsize::new(0)), Duration::from_secs(60));
        cache.current().await.unwrap();
        cache.current().await.unwrap();
        assert_eq!(cache.source.0.load(Ordering::SeqCst), 1);
        cache.refresh().await.unwrap();
        assert_eq!(cache.source.0.load(Ordering::SeqCst), 2);

        let short = SecretCache::new(Counting(AtomicUsize::new(0)), Duration::ZERO);
        short.current().await.unwrap();
        short.current().await.unwrap();
        assert_eq!(short.source.0.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_bounded_refresh_rereads_at_most_once_per_interval() {
        // Arrange: a secret read at t0; the bounded re-read allows one read per 60 s.
        let cache = SecretCache::new(Counting(AtomicUsize::new(0)), Duration::from_secs(300));
        let interval = Duration::from_secs(60);
        let t0 = Instant::now();
        let reads = || cache.source.0.load(Ordering::SeqCst);
        cache.load(cache.ttl, t0).await.unwrap();

        // Act + Assert: a storm within the interval reads nothing more.
        for s in 0..60 {
            cache
                .load(interval, t0 + Duration::from_secs(s))
                .await
                .unwrap();
        }
        assert_eq!(reads(), 1);
        // Past the interval: one read, then quiet again for the next interval.
        for ms in 0..1000 {
            cache
                .load(interval, t0 + interval + Duration::from_millis(ms))
                .await
                .unwrap();
        }
        assert_eq!(reads(), 2);
        cache.load(interval, t0 + 2 * interval).await.unwrap();
        assert_eq!(reads(), 3);
    }

    #[tokio::test]
    async fn a_bounded_refresh_through_the_trait_does_not_reread_a_fresh_secret() {
        let cache = SecretCache::new(Counting(AtomicUsize::new(0)), Duration::from_secs(300));
        cache.current().await.unwrap();
        for _ in 0..100 {
            cache
                .refresh_if_older(Duration::from_secs(60))
                .await
                .unwrap();
        }
        assert_eq!(cache.source.0.load(Ordering::SeqCst), 1);
        // A zero interval is a plain refresh.
        cache.refresh_if_older(Duration::ZERO).await.unwrap();
        assert_eq!(cache.source.0.load(Ordering::SeqCst), 2);
    }
}
