//! Plivo's webhook signatures, V3 and V2 (docs/plivo.md, "Webhook signatures", with the test
//! vectors the tests below check). The status callback verifies with this module and the
//! local Plivo simulator signs with it, so the signed string is built in exactly one place.

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

/// Byte order of keys (upper case before lower case), then of values for repeated keys.
fn sorted(mut pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    pairs.sort();
    pairs
}

fn hmac_sha256(key: &str, message: &str) -> [u8; MAC_LEN] {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts any key length");
    mac.update(message.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Bytes of an HMAC-SHA256, and the length of its standard base64 form (with `=` padding).
const MAC_LEN: usize = 32;
const MAC_BASE64_LEN: usize = 44;

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
        // Sorted by reference: the parameters are not copied.
        let mut params: Vec<&(String, String)> = req.params.iter().collect();
        params.sort();
        let post: String = params
            .into_iter()
            .flat_map(|(k, v)| [k.as_str(), v.as_str()])
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
        STANDARD.encode(hmac_sha256(auth_token, &Self::string_to_sign(req, nonce)))
    }
}

/// `X-Plivo-Signature-V2` / `-Ma-V2`, with the nonce in `X-Plivo-Signature-V2-Nonce`.
///
/// V2 signs only the URL (without its query) and the nonce: it cannot vouch for a body.
pub struct SignatureV2;

impl SignatureV2 {
    pub const HEADER: &'static str = "x-plivo-signature-v2";
    pub const MA_HEADER: &'static str = "x-plivo-signature-ma-v2";
    pub const NONCE_HEADER: &'static str = "x-plivo-signature-v2-nonce";

    fn string_to_sign(url: &str, nonce: &str) -> String {
        format!("{}{nonce}", split_url(url).base)
    }

    pub fn sign(url: &str, nonce: &str, auth_token: &str) -> String {
        STANDARD.encode(hmac_sha256(auth_token, &Self::string_to_sign(url, nonce)))
    }
}

/// Which signature family vouched for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureFamily {
    /// Covers the URL, the parameters and the nonce.
    V3,
    /// Covers the URL (without query) and the nonce only: anyone who saw one request can
    /// attach any body to its signature, so the receiver must honour each nonce once.
    V2,
}

impl SignatureFamily {
    fn headers(self) -> [&'static str; 2] {
        match self {
            Self::V3 => [SignatureV3::HEADER, SignatureV3::MA_HEADER],
            Self::V2 => [SignatureV2::HEADER, SignatureV2::MA_HEADER],
        }
    }

    fn nonce_header(self) -> &'static str {
        match self {
            Self::V3 => SignatureV3::NONCE_HEADER,
            Self::V2 => SignatureV2::NONCE_HEADER,
        }
    }
}

/// Why a request's signature headers cannot be checked at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UncheckableSignature {
    /// No signature header of either family.
    Missing,
    /// A header of the deciding family is absent or not of Plivo's form; names which, and why.
    Malformed {
        header: &'static str,
        reason: &'static str,
    },
}

/// The most characters of a nonce (Plivo's are 20 digits); a V2 nonce becomes a table key.
pub const MAX_NONCE_LEN: usize = 64;

/// A request's signatures, read and shape-checked without a secret or an HMAC, so that
/// malformed headers cost nothing.
///
/// When any V3 header is present, V3 alone decides and V2 headers are ignored: a V2
/// signature cannot vouch for a body whose V3 signature failed. V2 decides only when no V3
/// header is present.
#[derive(Debug, Clone)]
pub struct CallbackSignatures<'h> {
    family: SignatureFamily,
    nonce: &'h str,
    candidates: Vec<[u8; MAC_LEN]>,
}

impl<'h> CallbackSignatures<'h> {
    pub fn from_headers(headers: &'h HeaderMap) -> Result<Self, UncheckableSignature> {
        let present = |family: SignatureFamily| {
            family
                .headers()
                .into_iter()
                .chain([family.nonce_header()])
                .any(|name| headers.contains_key(name))
        };
        let family = if present(SignatureFamily::V3) {
            SignatureFamily::V3
        } else if present(SignatureFamily::V2) {
            SignatureFamily::V2
        } else {
            return Err(UncheckableSignature::Missing);
        };
        let malformed = |header, reason| UncheckableSignature::Malformed { header, reason };

        let nonce_header = family.nonce_header();
        let nonce = single_value(headers, nonce_header)
            .ok_or(malformed(nonce_header, "is missing"))?
            .map_err(|reason| malformed(nonce_header, reason))?;
        if nonce.is_empty() || nonce.len() > MAX_NONCE_LEN {
            return Err(malformed(nonce_header, "must be 1 to 64 characters"));
        }

        let mut candidates = Vec::new();
        for name in family.headers() {
            let Some(value) = single_value(headers, name) else {
                continue;
            };
            let value = value.map_err(|reason| malformed(name, reason))?;
            for candidate in value.split(',').map(str::trim) {
                candidates.push(decode_mac(candidate).ok_or(malformed(
                    name,
                    "each comma-separated signature must be the 44-character base64 of an HMAC-SHA256",
                ))?);
            }
        }
        if candidates.is_empty() {
            return Err(malformed(family.headers()[0], "is missing"));
        }
        Ok(Self {
            family,
            nonce,
            candidates,
        })
    }

    pub fn family(&self) -> SignatureFamily {
        self.family
    }

    pub fn nonce(&self) -> &'h str {
        self.nonce
    }

    /// Whether any signature matches under any of `auth_tokens`. The signed string is built
    /// once, one HMAC per token, and every candidate is compared in constant time.
    pub fn verify(&self, req: &SignedRequest<'_>, auth_tokens: &[&str]) -> bool {
        let message = match self.family {
            SignatureFamily::V3 => SignatureV3::string_to_sign(req, self.nonce),
            SignatureFamily::V2 => SignatureV2::string_to_sign(req.url, self.nonce),
        };
        let mut valid = subtle::Choice::from(0);
        for token in auth_tokens {
            let want = hmac_sha256(token, &message);
            for candidate in &self.candidates {
                valid |= candidate.as_slice().ct_eq(want.as_slice());
            }
        }
        valid.into()
    }
}

/// The one value of a header: `None` when absent, an error when repeated or not visible ASCII.
fn single_value<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Option<Result<&'h str, &'static str>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return Some(Err("is repeated"));
    }
    Some(
        first
            .to_str()
            .map(str::trim)
            .map_err(|_| "must be visible ASCII"),
    )
}

fn decode_mac(candidate: &str) -> Option<[u8; MAC_LEN]> {
    if candidate.len() != MAC_BASE64_LEN {
        return None;
    }
    STANDARD.decode(candidate).ok()?.try_into().ok()
}

/// The verdict on a request's signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// The deciding family's signature matched.
    Valid(SignatureFamily),
    /// No signature header at all.
    Missing,
    /// Signature headers that are not of Plivo's form.
    Malformed,
    /// Well-formed signatures, none matching.
    Invalid,
}

/// [`CallbackSignatures`] read and verified in one step, for callers that have the tokens at
/// hand (the simulator's and sample events' own checks).
pub fn verify_request(
    headers: &HeaderMap,
    req: &SignedRequest<'_>,
    auth_tokens: &[&str],
) -> SignatureCheck {
    match CallbackSignatures::from_headers(headers) {
        Err(UncheckableSignature::Missing) => SignatureCheck::Missing,
        Err(UncheckableSignature::Malformed { .. }) => SignatureCheck::Malformed,
        Ok(s) if s.verify(req, auth_tokens) => SignatureCheck::Valid(s.family()),
        Ok(_) => SignatureCheck::Invalid,
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
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn post() -> Vec<(String, String)> {
        params()
    }

    fn request(p: &[(String, String)]) -> SignedRequest<'_> {
        SignedRequest {
            method: "POST",
            url: PLAIN,
            params: p,
        }
    }

    #[test]
    fn verification_accepts_any_matching_signature_in_either_family() {
        let p = post();
        let req = request(&p);
        let good = v3("POST", PLAIN);
        let other = SignatureV3::sign(&req, NONCE, "another-token");
        let several = format!("{other}, {good}");
        let h = headers(&[
            (SignatureV3::HEADER, &several),
            (SignatureV3::NONCE_HEADER, NONCE),
        ]);
        assert_eq!(
            verify_request(&h, &req, &[TOKEN]),
            SignatureCheck::Valid(SignatureFamily::V3)
        );
        let h = headers(&[
            (SignatureV3::MA_HEADER, &good),
            (SignatureV3::NONCE_HEADER, NONCE),
        ]);
        assert_eq!(
            verify_request(&h, &req, &["old-token", TOKEN]),
            SignatureCheck::Valid(SignatureFamily::V3)
        );
        let v2 = SignatureV2::sign(PLAIN, "12345", TOKEN);
        let h = headers(&[
            (SignatureV2::HEADER, &v2),
            (SignatureV2::NONCE_HEADER, "12345"),
        ]);
        assert_eq!(
            verify_request(&h, &req, &[TOKEN]),
            SignatureCheck::Valid(SignatureFamily::V2)
        );
        let read = CallbackSignatures::from_headers(&h).unwrap();
        assert_eq!(
            (read.family(), read.nonce()),
            (SignatureFamily::V2, "12345")
        );
    }

    #[test]
    fn when_any_v3_header_is_present_v3_alone_decides() {
        let p = post();
        let req = request(&p);
        let v2 = SignatureV2::sign(PLAIN, "12345", TOKEN);
        let wrong_v3 = SignatureV3::sign(&req, NONCE, "not-the-token");
        let h = headers(&[
            (SignatureV3::HEADER, &wrong_v3),
            (SignatureV3::NONCE_HEADER, NONCE),
            (SignatureV2::HEADER, &v2),
            (SignatureV2::NONCE_HEADER, "12345"),
        ]);
        assert_eq!(verify_request(&h, &req, &[TOKEN]), SignatureCheck::Invalid);
        // A V3 nonce alone still makes V3 the deciding family: it has no signature.
        let h = headers(&[
            (SignatureV3::NONCE_HEADER, NONCE),
            (SignatureV2::HEADER, &v2),
            (SignatureV2::NONCE_HEADER, "12345"),
        ]);
        assert_eq!(
            verify_request(&h, &req, &[TOKEN]),
            SignatureCheck::Malformed
        );
        // Both valid: V3 vouched, so no V2 nonce needs recording.
        let good = v3("POST", PLAIN);
        let h = headers(&[
            (SignatureV3::HEADER, &good),
            (SignatureV3::NONCE_HEADER, NONCE),
            (SignatureV2::HEADER, &v2),
            (SignatureV2::NONCE_HEADER, "12345"),
        ]);
        assert_eq!(
            verify_request(&h, &req, &[TOKEN]),
            SignatureCheck::Valid(SignatureFamily::V3)
        );
    }

    #[test]
    fn verification_rejects_tampering_and_reports_missing() {
        let p = post();
        let good = v3("POST", PLAIN);
        let h = headers(&[
            (SignatureV3::HEADER, &good),
            (SignatureV3::NONCE_HEADER, NONCE),
        ]);
        let req = request(&p);
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
    }

    #[test]
    fn headers_not_of_plivos_form_are_refused_before_any_hmac() {
        let good = v3("POST", PLAIN);
        let long_nonce = "9".repeat(MAX_NONCE_LEN + 1);
        let cases: [(&[(&'static str, &str)], &str); 8] = [
            (&[(SignatureV3::HEADER, &good)], SignatureV3::NONCE_HEADER),
            (&[(SignatureV3::NONCE_HEADER, NONCE)], SignatureV3::HEADER),
            (
                &[
                    (SignatureV3::HEADER, "bogus="),
                    (SignatureV3::NONCE_HEADER, NONCE),
                ],
                SignatureV3::HEADER,
            ),
            (
                // 44 characters, but not base64.
                &[
                    (SignatureV3::HEADER, &"!".repeat(44)),
                    (SignatureV3::NONCE_HEADER, NONCE),
                ],
                SignatureV3::HEADER,
            ),
            (
                // Base64 of 33 bytes: not an HMAC-SHA256.
                &[
                    (SignatureV3::MA_HEADER, &format!("{}A", &good[..43])),
                    (SignatureV3::NONCE_HEADER, NONCE),
                ],
                SignatureV3::MA_HEADER,
            ),
            (
                &[
                    (SignatureV3::HEADER, &format!("{good},")),
                    (SignatureV3::NONCE_HEADER, NONCE),
                ],
                SignatureV3::HEADER,
            ),
            (
                &[
                    (SignatureV3::HEADER, &good),
                    (SignatureV3::NONCE_HEADER, &long_nonce),
                ],
                SignatureV3::NONCE_HEADER,
            ),
            (
                &[
                    (SignatureV3::HEADER, &good),
                    (SignatureV3::HEADER, &good),
                    (SignatureV3::NONCE_HEADER, NONCE),
                ],
                SignatureV3::HEADER,
            ),
        ];
        for (pairs, named) in cases {
            let h = headers(pairs);
            match CallbackSignatures::from_headers(&h) {
                Err(UncheckableSignature::Malformed { header, .. }) => {
                    assert_eq!(header, named, "{pairs:?}")
                }
                other => panic!("{pairs:?}: {other:?}"),
            }
        }
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
