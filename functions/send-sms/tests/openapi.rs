//! The API's contract (docs/openapi.yaml) against send-sms: the route that serves it, and the
//! drift checks that tie the document to the code (the problem kinds, the fields
//! `POST /v1/messages` accepts). The rest of the document is checked against the running
//! stack by infra/tests/contract/.

use std::{collections::BTreeSet, time::Duration};

use lambda_http::{Body, http};
use send_sms::App;
use serde_json::json;
use sms_core::{
    ProblemKind,
    config::PublicBaseUrl,
    queue::MemoryQueue,
    secrets::{SecretCache, StaticSecret},
    store::MemoryStore,
};
use sms_test_support::{contract, fast_plivo, json_of, post_json, service_secret, text_of};

type TestApp =
    App<MemoryStore, SecretCache<StaticSecret>, sms_core::pace::Pacer<MemoryStore>, MemoryQueue>;

fn app() -> TestApp {
    App {
        store: MemoryStore::new(),
        secrets: SecretCache::new(
            StaticSecret(service_secret("plivo-token")),
            Duration::from_secs(60),
        ),
        // Nothing here reaches Plivo.
        plivo: fast_plivo("http://127.0.0.1:9"),
        pace: sms_test_support::test_pace(),
        public_base_url: PublicBaseUrl::parse("https://sms.example.com").unwrap(),
        tasks: MemoryQueue::default(),
    }
}

const CONTRACT_URL: &str = "https://sms.example.com/v1/openapi.json";

#[tokio::test]
async fn the_contract_is_served_as_written_without_a_key() {
    let req = http::Request::builder()
        .method("GET")
        .uri(CONTRACT_URL)
        .body(Body::Empty)
        .unwrap();

    let resp = send_sms::handle(req, &app()).await;

    assert_eq!(resp.status(), 200, "{}", text_of(&resp));
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(json_of(&resp), contract::document());
}

#[tokio::test]
async fn the_contract_is_only_read() {
    let req = sms_test_support::request("POST", CONTRACT_URL)
        .header("content-type", "application/json")
        .body(Body::Text("{}".into()))
        .unwrap();

    let resp = send_sms::handle(req, &app()).await;

    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET");
}

#[test]
fn the_contract_documents_every_problem_kind_and_no_other() {
    let code: BTreeSet<(String, u16, String)> = ProblemKind::ALL
        .iter()
        .map(|kind| {
            let (kind, status, title) = kind.identity();
            (kind, status, title.to_owned())
        })
        .collect();

    let documented = contract::problem_kinds(&contract::document());

    let missing: Vec<_> = code.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&code).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "docs/openapi.yaml lacks {missing:?}; documents problems the code never gives (or with \
         another status or title): {unknown:?}"
    );
}

#[tokio::test]
async fn the_contract_documents_the_fields_a_message_takes() {
    let req = post_json(
        "https://sms.example.com/v1/messages",
        &json!({"zz_no_such_field": 1}),
        None,
    );

    let resp = send_sms::handle(req, &app()).await;

    assert_eq!(resp.status(), 400, "{}", text_of(&resp));
    let accepted = contract::accepted_fields(&json_of(&resp));
    let documented = contract::request_fields(&contract::document(), "sendMessage");
    assert_eq!(
        documented, accepted,
        "docs/openapi.yaml, sendMessage's body"
    );
    assert!(accepted.contains("to"), "{accepted:?}");
}
