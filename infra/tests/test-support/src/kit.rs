//! The kit every handler and adapter test shares: the service secret, requests as API
//! Gateway delivers them, reading answers, a fast Plivo client for a wiremock server, and the
//! macros that run one store scenario, or one object store scenario, against both adapters.

use std::time::Duration;

use lambda_http::{Body, Request, Response, http};
use serde_json::{Value, json};
use sms_core::{
    files::S3Files,
    pace::{Pacer, RequestRate},
    plivo::{PlivoClient, PlivoConfig},
    retry::RetryPolicy,
    secrets::ServiceSecret,
    store::DynamoStore,
    store::MemoryStore,
};

/// The API key of [`secret_json`]'s secret.
pub const API_KEY: &str = "test-api-key-0123456789abcdef0123456789";
/// The Plivo account of [`secret_json`]'s secret.
pub const PLIVO_AUTH_ID: &str = "MATESTACCOUNT0000001";
/// The path of Plivo's Message API for [`PLIVO_AUTH_ID`].
pub const PLIVO_MESSAGE_PATH: &str = "/v1/Account/MATESTACCOUNT0000001/Message/";
/// The sender number of [`secret_json`]'s secret.
pub const PLIVO_SRC: &str = "+14155550100";

/// The service secret's JSON, as Secrets Manager holds it, with `token` as the Plivo auth
/// token and [`API_KEY`] as the one API key.
pub fn secret_json(token: &str) -> String {
    json!({
        "plivo_auth_id": PLIVO_AUTH_ID,
        "plivo_auth_token": token,
        "plivo_src": PLIVO_SRC,
        "api_keys": [API_KEY],
    })
    .to_string()
}

/// [`secret_json`], parsed.
pub fn service_secret(token: &str) -> ServiceSecret {
    ServiceSecret::from_json("test", &secret_json(token)).expect("the test secret is valid")
}

/// A request to `uri` as API Gateway hands it over, with [`API_KEY`] as its bearer key.
pub fn request(method: &str, uri: &str) -> http::request::Builder {
    http::Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {API_KEY}"))
}

/// A `POST` of `body` as JSON, with an `Idempotency-Key` when `key` is given.
pub fn post_json(uri: &str, body: &Value, key: Option<&str>) -> Request {
    let mut builder = request("POST", uri).header("content-type", "application/json");
    if let Some(key) = key {
        builder = builder.header("idempotency-key", key);
    }
    builder
        .body(Body::Text(body.to_string()))
        .expect("a valid request")
}

/// A `GET` of `uri`.
pub fn get(uri: &str) -> Request {
    request("GET", uri)
        .body(Body::Empty)
        .expect("a valid request")
}

/// An answer's text body.
///
/// # Panics
/// When the body is not text: every answer of the API is.
pub fn text_of(response: &Response<Body>) -> &str {
    match response.body() {
        Body::Text(text) => text,
        other => panic!("unexpected body {other:?}"),
    }
}

/// An answer's body, parsed as JSON.
pub fn json_of(response: &Response<Body>) -> Value {
    serde_json::from_str(text_of(response)).expect("the answer is JSON")
}

/// A Plivo client for a stand-in at `base_url` that fails fast: a 500 ms timeout and three
/// attempts a millisecond apart.
pub fn fast_plivo(base_url: &str) -> PlivoClient {
    let mut config = PlivoConfig::new(base_url);
    config.request_timeout = Duration::from_millis(500);
    config.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
    };
    PlivoClient::new(config).expect("the test Plivo client builds")
}

/// The account budget for tests that are not about pacing: a schedule of its own, at a
/// pace (10,000 requests a second) no test reaches.
pub fn test_pace() -> Pacer<MemoryStore> {
    Pacer::new(
        MemoryStore::new(),
        RequestRate::new(RequestRate::MAX).expect("the largest rate is a rate"),
    )
}

/// Plivo's answer to an accepted send: `202` with one uuid per destination.
pub fn plivo_accepted(uuids: &[&str]) -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(202).set_body_json(json!({
        "api_id": "00000000-0000-4000-8000-000000000000",
        "message": "message(s) queued",
        "message_uuid": uuids,
    }))
}

/// A DynamoDB store over a fresh table in moto ([`crate::table`]).
pub async fn dynamo_store() -> DynamoStore {
    let (client, table) = crate::table().await;
    DynamoStore::new(client, table)
}

/// Runs each named scenario (an `async fn(&S)` over store traits, found under `$scenarios`)
/// against the DynamoDB adapter in moto and against the in-memory store, as
/// `dynamo::<name>` and `memory::<name>`: the two must behave alike.
#[macro_export]
macro_rules! both_adapters {
    ($scenarios:path; $($name:ident),* $(,)?) => {
        mod dynamo {
            use $scenarios as scenarios;
            $(
                #[tokio::test]
                async fn $name() {
                    scenarios::$name(&$crate::dynamo_store().await).await;
                }
            )*
        }
        mod memory {
            use $scenarios as scenarios;
            $(
                #[tokio::test]
                async fn $name() {
                    scenarios::$name(&sms_core::store::MemoryStore::new()).await;
                }
            )*
        }
    };
}

/// The S3 adapter over a fresh bucket in moto ([`crate::bucket`]).
pub async fn s3_files() -> S3Files {
    let (client, bucket) = crate::bucket().await;
    S3Files::new(client, bucket)
}

/// Runs each named scenario (an `async fn(&F)` over `sms_core::files::ObjectStore`, found
/// under `$scenarios`) against S3 in moto and against the in-memory object store, as
/// `s3::<name>` and `memory::<name>`: the two must behave alike.
#[macro_export]
macro_rules! both_object_stores {
    ($scenarios:path; $($name:ident),* $(,)?) => {
        mod s3 {
            use $scenarios as scenarios;
            $(
                #[tokio::test]
                async fn $name() {
                    scenarios::$name(&$crate::s3_files().await).await;
                }
            )*
        }
        mod memory {
            use $scenarios as scenarios;
            $(
                #[tokio::test]
                async fn $name() {
                    scenarios::$name(&sms_core::files::MemoryFiles::new()).await;
                }
            )*
        }
    };
}

/// Brings a store's job counts up to date with the reports applied to it, as the deployed
/// service does a moment after each report: DynamoDB's are kept from the table's stream
/// (function report-counts), so for a store in moto this reads the table's stream and hands
/// every new record, in Lambda's events, to `sms_core::store::table_stream::apply_stream_event`,
/// the code report-counts runs. The in-memory store counts at once: nothing to do.
pub use local_stack::streams::TableStream;

pub trait SettleCounts {
    fn settle_counts(&self) -> impl std::future::Future<Output = ()>;
}

/// What each table's stream has been read up to, across calls.
static STREAMS: std::sync::Mutex<
    std::collections::BTreeMap<String, local_stack::streams::TableStream>,
> = std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Records per event handed to the counts code: small, so the tests' batches span
/// several events.
const STREAM_BATCH: usize = 7;

impl SettleCounts for DynamoStore {
    async fn settle_counts(&self) {
        let taken = STREAMS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(self.table());
        let mut stream = taken.unwrap_or_else(|| {
            local_stack::streams::TableStream::new(crate::moto_url(), crate::REGION, self.table())
        });
        let events = stream
            .poll(STREAM_BATCH)
            .await
            .unwrap_or_else(|e| panic!("reading the stream of {}: {e}", self.table()));
        for event in events {
            let event: sms_core::store::table_stream::StreamEvent =
                serde_json::from_value(event).expect("a stream event");
            sms_core::store::table_stream::apply_stream_event(self, &event, chrono::Utc::now())
                .await
                .expect("counts applied");
        }
        STREAMS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(self.table().to_owned(), stream);
    }
}

impl SettleCounts for MemoryStore {
    async fn settle_counts(&self) {}
}
