//! API-key authentication (DESIGN §3): `Authorization: Bearer <key>`, compared in constant time.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The keys that may call the API. Stored as SHA-256 digests so every comparison is over
/// 32 bytes whatever the presented length, and so `Debug` has nothing secret to show.
#[derive(Clone)]
pub struct ApiKeys(Vec<[u8; 32]>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeysError {
    #[error("must list at least one key")]
    Empty,
    #[error("must not contain an empty key")]
    EmptyKey,
}

impl ApiKeys {
    pub fn new<I, K>(keys: I) -> Result<Self, ApiKeysError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        let digests = keys
            .into_iter()
            .map(|k| {
                let k = k.as_ref();
                if k.is_empty() {
                    Err(ApiKeysError::EmptyKey)
                } else {
                    Ok(digest(k))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        if digests.is_empty() {
            return Err(ApiKeysError::Empty);
        }
        Ok(Self(digests))
    }

    /// True when `presented` is one of the keys. Every key is compared, matched or not, so
    /// the time taken does not tell which key (or how much of one) matched.
    pub fn verify(&self, presented: &str) -> bool {
        let presented = digest(presented);
        self.0
            .iter()
            .fold(subtle::Choice::from(0), |found, key| {
                found | key.ct_eq(&presented)
            })
            .into()
    }
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeys({} keys, [redacted])", self.0.len())
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Why a request was not let in. 401: no usable credentials; 403: credentials refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Malformed,
    Forbidden,
}

/// Checks an `Authorization` header value against the keys.
pub fn check_bearer(header: Option<&str>, keys: &ApiKeys) -> Result<(), AuthFailure> {
    let value = header.ok_or(AuthFailure::Missing)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(AuthFailure::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthFailure::Malformed);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthFailure::Malformed);
    }
    if keys.verify(token) {
        Ok(())
    } else {
        Err(AuthFailure::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> ApiKeys {
        ApiKeys::new(["alpha-key", "beta-key"]).unwrap()
    }

    #[test]
    fn accepts_any_configured_key() {
        assert_eq!(check_bearer(Some("Bearer alpha-key"), &keys()), Ok(()));
        assert_eq!(check_bearer(Some("bearer beta-key"), &keys()), Ok(()));
    }

    #[test]
    fn classifies_missing_malformed_and_wrong_credentials() {
        assert_eq!(check_bearer(None, &keys()), Err(AuthFailure::Missing));
        assert_eq!(
            check_bearer(Some("alpha-key"), &keys()),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            check_bearer(Some("Basic alpha-key"), &keys()),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            check_bearer(Some("Bearer "), &keys()),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            check_bearer(Some("Bearer alpha-ke"), &keys()),
            Err(AuthFailure::Forbidden)
        );
        assert_eq!(
            check_bearer(Some("Bearer alpha-key2"), &keys()),
            Err(AuthFailure::Forbidden)
        );
    }

    #[test]
    fn refuses_an_empty_key_list_or_empty_keys() {
        assert_eq!(
            ApiKeys::new(Vec::<String>::new()).unwrap_err(),
            ApiKeysError::Empty
        );
        assert_eq!(ApiKeys::new([""]).unwrap_err(), ApiKeysError::EmptyKey);
    }

    #[test]
    fn debug_hides_keys() {
        assert!(!format!("{:?}", keys()).contains("alpha"));
    }
}
