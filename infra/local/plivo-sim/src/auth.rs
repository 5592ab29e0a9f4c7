//! HTTP Basic auth as Plivo's API checks it: auth id and auth token, and the auth id in the
//! path must be the caller's own.

use axum::http::{HeaderMap, header::AUTHORIZATION};
use base64::{Engine, engine::general_purpose::STANDARD};
use sms_core::secrets::PlivoCredentials;
use subtle::ConstantTimeEq;

/// Why a request is not authenticated; the text goes into the 401 body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Malformed,
    WrongCredentials,
    WrongAccount,
}

impl AuthFailure {
    pub fn message(self) -> &'static str {
        match self {
            Self::Missing => {
                "authentication required: send HTTP Basic auth with your auth id and auth token"
            }
            Self::Malformed => "the Authorization header is not valid HTTP Basic auth",
            Self::WrongCredentials => "authentication failed: the auth id or auth token is wrong",
            Self::WrongAccount => "the auth id in the URL does not match the authenticated account",
        }
    }
}

pub fn check(
    headers: &HeaderMap,
    path_auth_id: Option<&str>,
    creds: &PlivoCredentials,
) -> Result<(), AuthFailure> {
    let value = headers.get(AUTHORIZATION).ok_or(AuthFailure::Missing)?;
    let value = value.to_str().map_err(|_| AuthFailure::Malformed)?.trim();
    let (scheme, encoded) = value.split_once(' ').ok_or(AuthFailure::Malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthFailure::Malformed);
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| AuthFailure::Malformed)?;
    let decoded = String::from_utf8(decoded).map_err(|_| AuthFailure::Malformed)?;
    let (id, token) = decoded.split_once(':').ok_or(AuthFailure::Malformed)?;
    let id_ok = id.as_bytes().ct_eq(creds.auth_id.as_bytes());
    let token_ok = token.as_bytes().ct_eq(creds.token().as_bytes());
    if !bool::from(id_ok & token_ok) {
        return Err(AuthFailure::WrongCredentials);
    }
    match path_auth_id {
        Some(p) if p == creds.auth_id => Ok(()),
        _ => Err(AuthFailure::WrongAccount),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, value.parse().unwrap());
        h
    }

    fn basic(id: &str, token: &str) -> HeaderMap {
        headers(&format!(
            "Basic {}",
            STANDARD.encode(format!("{id}:{token}"))
        ))
    }

    #[test]
    fn accepts_only_the_configured_account() {
        let creds = PlivoCredentials::new("MAID", "tok:en");
        assert_eq!(
            check(&basic("MAID", "tok:en"), Some("MAID"), &creds),
            Ok(())
        );
        assert_eq!(
            check(&HeaderMap::new(), Some("MAID"), &creds),
            Err(AuthFailure::Missing)
        );
        assert_eq!(
            check(&headers("Bearer x"), Some("MAID"), &creds),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            check(&headers("Basic !!!"), Some("MAID"), &creds),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            check(&basic("MAID", "tok"), Some("MAID"), &creds),
            Err(AuthFailure::WrongCredentials)
        );
        assert_eq!(
            check(&basic("MAOTHER", "tok:en"), Some("MAID"), &creds),
            Err(AuthFailure::WrongCredentials)
        );
        assert_eq!(
            check(&basic("MAID", "tok:en"), Some("MAOTHER"), &creds),
            Err(AuthFailure::WrongAccount)
        );
        assert_eq!(
            check(&basic("MAID", "tok:en"), None, &creds),
            Err(AuthFailure::WrongAccount)
        );
    }
}
