//! Plivo's webhook signatures, V3 and V2 (`shared/plivo/SIGNATURES.md`). The status callback
//! verifies with this module and the local Plivo simulator signs with it, so the signed
//! string is built in exactly one place.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// A request as Plivo signed it: the public URL it called (with its own query, if any), the
/// method, and the decoded parameters (form fields for POST, query fields for GET).
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub params: &'a [(String, String)],
}

/// A URL cut as Plivo cuts it: the path is kept byte for byte (`https://a.b` and
/// `https://a.b/` sign differently), so a normalising URL parser cannot be used here.
struct UrlParts<'a> {
    base: &'a str,
    query: Vec<(String, String)>,
}

fn split_url(url: &str) -> UrlParts<'_> {
    let without_fragment = url.split('#').next().unwrap_or(url);
    let (base, query) = match without_fragment.split_once('?') {
        Some((b, q)) => (b, q),
        None => (without_fragment, ""),
    };
    let query = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    UrlParts { base, query }
}

fn sorted(mut pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    // Byte order of keys (upper case before lower case), then of values for repeated keys.
    pairs.sort();
    pairs
}

fn join_query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn hmac_base64(key: &str, message: &str) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts any key length");
    mac.update(message.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// `X-Plivo-Signature-V3` / `-Ma-V3`, with the nonce in `X-Plivo-Signature-V3-Nonce`.
pub struct SignatureV3;

impl SignatureV3 {
    pub const HEADER: &'static str = "x-plivo-signature-v3";
    pub const MA_HEADER: &'static str = "x-plivo-signature-ma-v3";
    pub const NONCE_HEADER: &'static str = "x-plivo-signature-v3-nonce";

    /// The string that is signed, before the `.nonce` suffix.
    pub fn base_string(req: &SignedRequest<'_>) -> String {
        let url = split_url(req.url);
        if req.method.eq_ignore_ascii_case("GET") {
            let mut all = url.query;
            for p in req.params {
                if !all.contains(p) {
                    all.push(p.clone());
                }
            }
            let all = sorted(all);
            return if all.is_empty() {
                url.base.to_owned()
            } else {
                format!("{}?{}", url.base, join_query(&all))
            };
        }
        let post: String = sorted(req.params.to_vec())
            .into_iter()
            .map(|(k, v)| k + &v)
            .collect();
        let query = join_query(&sorted(url.query));
        match (post.is_empty(), query.is_empty()) {
            (true, true) => url.base.to_owned(),
            (true, false) => format!("{}?{query}", url.base),
            (false, true) => format!("{}?{post}", url.base),
            (false, false) => format!("{}?{query}.{post}", url.base),
        }
    }

    pub fn string_to_sign(req: &SignedRequest<'_>, nonce: &str) -> String {
        format!("{}.{nonce}", Self::base_string(req))
    }

    pub fn sign(req: &SignedRequest<'_>, nonce: &str, auth_token: &str) -> String {
        hmac_base64(auth_token, &Self::string_to_sign(req, nonce))
    }
}

/// `X-Plivo-Signature-V2` / `-Ma-V2`, with the nonce in `X-Plivo-Signature-V2-Nonce`.
pub struct SignatureV2;

impl SignatureV2 {
    pub const HEADER: &'static str = "x-plivo-signature-v2";
    pub const MA_HEADER: &'static str = "x-plivo-signature-ma-v2";
    pub const NONCE_HEADER: &'static str = "x-plivo-signature-v2-nonce";

    pub fn sign(url: &str, nonce: &str, auth_token: &str) -> String {
        hmac_base64(auth_token, &format!("{}{nonce}", split_url(url).base))
    }
}

/// The verdict on a request's signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    Valid,
    /// No signature header (with its nonce) at all.
    Missing,
    /// Signatures present, none matching.
    Invalid,
}

/// Accepts the request when any signature in any of the four headers matches under any of
/// `auth_tokens`. Every candidate is compared in constant time.
pub fn verify_request(
    headers: &HeaderMap,
    req: &SignedRequest<'_>,
    auth_tokens: &[&str],
) -> SignatureCheck {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let mut present = false;
    let mut valid = subtle::Choice::from(0);

    let mut check =
        |sig_headers: [&str; 2], nonce_header: &str, expected: &dyn Fn(&str, &str) -> String| {
            let Some(nonce) = header(nonce_header) else {
                return;
            };
            for name in sig_headers {
                let Some(value) = header(name) else { continue };
                present = true;
                for token in auth_tokens {
                    let want = expected(nonce, token);
                    for candidate in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                        valid |= candidate.as_bytes().ct_eq(want.as_bytes());
                    }
                }
            }
        };
    check(
        [SignatureV3::HEADER, SignatureV3::MA_HEADER],
        SignatureV3::NONCE_HEADER,
        &|nonce, token| SignatureV3::sign(req, nonce, token),
    );
    check(
        [SignatureV2::HEADER, SignatureV2::MA_HEADER],
        SignatureV2::NONCE_HEADER,
        &|nonce, token| SignatureV2::sign(req.url, nonce, token),
    );

    match (present, bool::from(valid)) {
        (_, true) => SignatureCheck::Valid,
        (false, false) => SignatureCheck::Missing,
        (true, false) => SignatureCheck::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str = "31627761595286130198";
    const TOKEN: &str = "Y2Q2ZDgxZmY5YWRiOTI5YmQ1Njg0MTAxZWIyOTc4";
    const WITH_QUERY: &str =
        "https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml/?a=b&c=d";
    const PLAIN: &str = "https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml";

    fn params() -> Vec<(String, String)> {
        [
            ("Direction", "outbound"),
            ("From", "19792014278"),
            ("ALegUUID", "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"),
            ("CallStatus", "in-progress"),
            ("BillRate", "0.002"),
            ("ParentAuthID", "MANWVLYTK4ZWU1YTY4QA"),
            (
                "To",
                "sip:PlivoSignature382029104058171078704104@phone-qa.voice.plivodev.com",
            ),
            ("ALegRequestUUID", "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"),
            ("CallUUID", "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"),
            ("RequestUUID", "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"),
            (
                "SIP-H-To",
                "<sip:PlivoSignature382029104058171078704104@52.9.11.55;transport=udp>;tag=1",
            ),
            ("SessionStart", "2020-04-08 11:34:33.238707"),
            ("Event", "StartApp"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn v3(method: &str, url: &str) -> String {
        let p = params();
        SignatureV3::sign(
            &SignedRequest {
                method,
                url,
                params: &p,
            },
            NONCE,
            TOKEN,
        )
    }

    #[test]
    fn v3_matches_every_vector_from_plivos_sdks() {
        assert_eq!(
            v3("POST", WITH_QUERY),
            "k7Pusd4OxCIjR5IfA9iedDNu/h/gbdYqdzG/MiYtd1c="
        );
        assert_eq!(
            v3("GET", WITH_QUERY),
            "UBq8jAtd32wR8EK9VgxbBn4n5rpI/l1H9iN4WfSEHFQ="
        );
        assert_eq!(
            v3("POST", PLAIN),
            "iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0="
        );
        assert_eq!(
            v3("GET", PLAIN),
            "i/MQsaQSAd6fiKhOh2qeeeLHZ9faldADSb3/7+Akfbc="
        );
    }

    #[test]
    fn v3_signed_string_matches_the_documented_one() {
        let p = params();
        let s = SignatureV3::string_to_sign(
            &SignedRequest {
                method: "POST",
                url: PLAIN,
                params: &p,
            },
            NONCE,
        );
        assert_eq!(
            s,
            "https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml?ALegRequestUUID3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36ALegUUID3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36BillRate0.002CallStatusin-progressCallUUID3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36DirectionoutboundEventStartAppFrom19792014278ParentAuthIDMANWVLYTK4ZWU1YTY4QARequestUUID3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36SIP-H-To<sip:PlivoSignature382029104058171078704104@52.9.11.55;transport=udp>;tag=1SessionStart2020-04-08 11:34:33.238707Tosip:PlivoSignature382029104058171078704104@phone-qa.voice.plivodev.com.31627761595286130198"
        );
    }

    #[test]
    fn v2_matches_every_vector_from_plivos_sdks() {
        assert_eq!(
            SignatureV2::sign("https://answer.url", "12345", "my_auth_token"),
            "ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc="
        );
        assert_ne!(
            SignatureV2::sign("https://answer.url", "12345", "my_auth_tokens"),
            "ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc="
        );
        assert_eq!(
            SignatureV2::sign("https://answer.url/", "12345", "my_auth_token"),
            "do1CXv+k99A6+B+eTcyqbxWlezFIxJ/1vz72787r37g="
        );
        assert_eq!(
            SignatureV2::sign("https://answer.url:8000", "12345", "my_auth_token"),
            "Gm7Z7AGBmf5JpSHrtUmeofrGyA4xV0ZiV0rH8JPXWGU="
        );
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn verification_accepts_any_matching_signature_in_either_family() {
        let p = params();
        let req = SignedRequest {
            method: "POST",
            url: PLAIN,
            params: &p,
        };
        let good = v3("POST", PLAIN);
        let several = format!("bogus=, {good}");
        let h = headers(&[
            (SignatureV3::HEADER, &several),
            (SignatureV3::NONCE_HEADER, NONCE),
        ]);
        assert_eq!(verify_request(&h, &req, &[TOKEN]), SignatureCheck::Valid);
        let h = headers(&[
            (SignatureV3::MA_HEADER, &good),
            (SignatureV3::NONCE_HEADER, NONCE),
        ]);
        assert_eq!(
            verify_request(&h, &req, &["old-token", TOKEN]),
            SignatureCheck::Valid
        );
        let v2 = SignatureV2::sign(PLAIN, "12345", TOKEN);
        let h = headers(&[
            (SignatureV2::HEADER, &v2),
            (SignatureV2::NONCE_HEADER, "12345"),
        ]);
        assert_eq!(verify_request(&h, &req, &[TOKEN]), SignatureCheck::Valid);
    }

    #[test]
    fn verification_rejects_tampering_and_reports_missing() {
        let p = params();
        let good = v3("POST", PLAIN);
        let h = headers(&[
            (SignatureV3::HEADER, &good),
            (SignatureV3::NONCE_HEADER, NONCE),
        ]);
        let req = SignedRequest {
            method: "POST",
            url: PLAIN,
            params: &p,
        };
        assert_eq!(
            verify_request(&h, &req, &["wrong-token"]),
            SignatureCheck::Invalid
        );
        let other_url = SignedRequest {
            url: "https://evil.example/api",
            ..req
        };
        assert_eq!(
            verify_request(&h, &other_url, &[TOKEN]),
            SignatureCheck::Invalid
        );
        let mut tampered = p.clone();
        tampered[0].1 = "inbound".into();
        let body = SignedRequest {
            params: &tampered,
            ..req
        };
        assert_eq!(verify_request(&h, &body, &[TOKEN]), SignatureCheck::Invalid);
        let h2 = headers(&[
            (SignatureV3::HEADER, &good),
            (SignatureV3::NONCE_HEADER, "1"),
        ]);
        assert_eq!(verify_request(&h2, &req, &[TOKEN]), SignatureCheck::Invalid);
        assert_eq!(
            verify_request(&HeaderMap::new(), &req, &[TOKEN]),
            SignatureCheck::Missing
        );
        // A signature without its nonce cannot be checked: treated as missing.
        let h3 = headers(&[(SignatureV3::HEADER, &good)]);
        assert_eq!(verify_request(&h3, &req, &[TOKEN]), SignatureCheck::Missing);
    }

    #[test]
    fn non_ascii_values_are_signed_as_utf8() {
        let p = vec![("Text".to_owned(), "héllo €".to_owned())];
        let req = SignedRequest {
            method: "POST",
            url: "https://x.test/cb",
            params: &p,
        };
        assert_eq!(
            SignatureV3::base_string(&req),
            "https://x.test/cb?Texthéllo €"
        );
    }
}
