//! API-key authentication (docs/api.md): `Authorization: Bearer <key>`, compared in constant
//! time.

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
    /// The error names the key by position and length only: its text is the secret.
    #[error(
        "key {index} has {length} characters; keys must have at least {} (e.g. `openssl rand -hex 32`)",
        ApiKeys::MIN_LENGTH
    )]
    TooShort { index: usize, length: usize },
}

impl ApiKeys {
    /// Shortest key accepted. A key is the only thing between the internet and sending SMS on
    /// the account's bill: 32 characters of `openssl rand -hex 16` or more cannot be guessed,
    /// while short, human-chosen keys can.
    pub const MIN_LENGTH: usize = 32;

    pub fn new<I, K>(keys: I) -> Result<Self, ApiKeysError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        let digests = keys
            .into_iter()
            .enumerate()
            .map(|(index, k)| {
                let length = k.as_ref().chars().count();
                if length < Self::MIN_LENGTH {
                    Err(ApiKeysError::TooShort { index, length })
                } else {
                    Ok(digest(k.as_ref()))
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

    const ALPHA: &str = "alpha-key-0123456789abcdef0123456789";
    const BETA: &str = "beta-key-0123456789abcdef01234567890";

    fn keys() -> ApiKeys {
        ApiKeys::new([ALPHA, BETA]).unwrap()
    }

    #[test]
    fn accepts_any_configured_key() {
        assert_eq!(
            check_bearer(Some(&format!("Bearer {ALPHA}")), &keys()),
            Ok(())
        );
        assert_eq!(
            check_bearer(Some(&format!("bearer {BETA}")), &keys()),
            Ok(())
        );
    }

    #[test]
    fn classifies_missing_malformed_and_wrong_credentials() {
        let bearer = |token: &str| check_bearer(Some(&format!("Bearer {token}")), &keys());
        assert_eq!(check_bearer(None, &keys()), Err(AuthFailure::Missing));
        assert_eq!(
            check_bearer(Some(ALPHA), &keys()),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            check_bearer(Some(&format!("Basic {ALPHA}")), &keys()),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            check_bearer(Some("Bearer "), &keys()),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            bearer(&ALPHA[..ALPHA.len() - 1]),
            Err(AuthFailure::Forbidden)
        );
        assert_eq!(bearer(&format!("{ALPHA}2")), Err(AuthFailure::Forbidden));
    }

    #[test]
    fn refuses_an_empty_key_list_and_keys_shorter_than_32_characters() {
        assert_eq!(
            ApiKeys::new(Vec::<String>::new()).unwrap_err(),
            ApiKeysError::Empty
        );
        assert_eq!(
            ApiKeys::new([""]).unwrap_err(),
            ApiKeysError::TooShort {
                index: 0,
                length: 0
            }
        );
        let short = "k".repeat(31);
        let err = ApiKeys::new([ALPHA, short.as_str()]).unwrap_err();
        assert_eq!(
            err,
            ApiKeysError::TooShort {
                index: 1,
                length: 31
            }
        );
        assert!(!err.to_string().contains(&short), "{err}");
        assert!(ApiKeys::new(["k".repeat(32)]).is_ok());
    }

    #[test]
    fn debug_hides_keys() {
        assert!(!format!("{:?}", keys()).contains("alpha"));
        assert!(!format!("{:?}", keys()).contains("0123"));
    }
}
