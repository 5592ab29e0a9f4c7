//! The committed sample events are exactly what `local_stack::events` makes, and the signed
//! ones pass the status callback's real check for `make dev`'s settings.

use std::path::PathBuf;

use base64::{Engine, engine::general_purpose::STANDARD};
use sms_core::plivo::{SignatureCheck, SignatureFamily, SignedRequest, verify_request};

#[test]
fn committed_events_match_the_generator() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../events");
    for (name, want) in local_stack::events::all() {
        let text = std::fs::read_to_string(dir.join(name))
            .unwrap_or_else(|e| panic!("events/{name}: {e}"));
        let got: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            got, want,
            "events/{name} is stale: run `cargo run -p local-stack --bin sample-events`"
        );
    }
}

#[test]
fn signed_callbacks_verify_and_the_forged_one_does_not() {
    for (name, event) in local_stack::events::all() {
        if !name.starts_with("status-callback") {
            continue;
        }
        let mut headers = http::HeaderMap::new();
        for (k, v) in event["headers"].as_object().unwrap() {
            headers.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.as_str().unwrap().parse().unwrap(),
            );
        }
        let body = STANDARD.decode(event["body"].as_str().unwrap()).unwrap();
        let params: Vec<(String, String)> = url::form_urlencoded::parse(&body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let query = event["rawQueryString"].as_str().unwrap();
        let mut url = format!(
            "{}{}",
            local_stack::events::PUBLIC_BASE_URL,
            event["rawPath"].as_str().unwrap()
        );
        if !query.is_empty() {
            url = format!("{url}?{query}");
        }
        let check = verify_request(
            &headers,
            &SignedRequest {
                method: "POST",
                url: &url,
                params: &params,
            },
            &[local_stack::events::PLIVO_AUTH_TOKEN],
        );
        let want = if name.contains("forged") {
            SignatureCheck::Invalid
        } else {
            SignatureCheck::Valid(SignatureFamily::V3)
        };
        assert_eq!(check, want, "{name}");
    }
}
