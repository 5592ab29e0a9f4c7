//! The one test kit: real AWS resources in moto (`moto_server`) for adapter and end-to-end
//! tests, and (in [`kit`]) the secret, requests, answers, a fast Plivo client,
//! [`both_adapters!`] and [`both_object_stores!`] that handler, store and file tests share.
//!
//! The tests talk to moto through the real AWS SDK, so they exercise the same requests as
//! production. moto is started by `infra/tests/with-moto.sh` (which `make test` uses), which exports
//! `SMS_TEST_MOTO_URL`. A test that needs moto and runs without it **fails** with a message
//! saying how to run it: it never skips silently.
//!
//! Every fixture creates fresh resources with a unique name, so tests run in parallel against
//! one moto without seeing each other's data. Fixtures panic on failure: they are for tests.
//! Build clients inside each test (each `#[tokio::test]` has its own runtime, and a client's
//! connection pool must not outlive the runtime it was made on).

pub mod contract;
mod kit;

pub use kit::*;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

/// The environment variable that holds moto's URL.
pub const MOTO_URL_VAR: &str = "SMS_TEST_MOTO_URL";

/// The region every fixture uses.
pub const REGION: &str = "us-east-1";

/// moto's base URL, e.g. `http://127.0.0.1:41234`.
///
/// # Panics
/// When `SMS_TEST_MOTO_URL` is not set: the test was not started through moto.
pub fn moto_url() -> String {
    match std::env::var(MOTO_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{MOTO_URL_VAR} is not set: this test needs moto_server. \
             Run it through `make test` or `infra/tests/with-moto.sh cargo test`."
        ),
    }
}

/// An AWS SDK configuration pointed at moto: its endpoint, region `us-east-1`, static test
/// credentials and the latest behavior version. Nothing is read from the environment's
/// AWS settings, so a developer's real credentials are never used. Its HTTP client is the
/// functions' own (`sms_core::tls`), so every adapter test goes through it.
pub async fn aws_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(sms_core::tls::aws_http_client())
        .endpoint_url(moto_url())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "sms-test-support",
        ))
        .load()
        .await
}

/// A name no other test uses: `prefix-<32 hex digits>`. Valid for tables, queues, secrets
/// and (with a lowercase prefix) buckets.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A fresh table with the schema of docs/architecture.md, "The table" (through
/// [`sms_core::store::schema::create_table`]), and a client for it.
pub async fn table() -> (aws_sdk_dynamodb::Client, String) {
    let client = aws_sdk_dynamodb::Client::new(&aws_config().await);
    let name = unique("sms-test");
    sms_core::store::schema::create_table(&client, &name)
        .await
        .unwrap_or_else(|e| panic!("creating table {name} in moto: {e}"));
    (client, name)
}

/// A fresh secret whose `SecretString` is `json`, and a client. The `String` is the secret's
/// name, usable as its id.
pub async fn secret(json: &str) -> (aws_sdk_secretsmanager::Client, String) {
    let client = aws_sdk_secretsmanager::Client::new(&aws_config().await);
    let name = unique("sms-test/secret");
    local_stack::secret(&client, &name, json)
        .await
        .unwrap_or_else(|e| panic!("in moto: {e}"));
    (client, name)
}

/// A fresh queue whose messages move to a fresh dead-letter queue after `max_receive`
/// receives (the local stack's provisioning, as in template.yaml). Returns a client, the
/// queue's URL and the dead-letter queue's URL. The visibility timeout is 30 s; a test can
/// make a received message visible again at once with `ChangeMessageVisibility` to 0.
pub async fn queue_with_dlq(max_receive: u32) -> (aws_sdk_sqs::Client, String, String) {
    let client = aws_sdk_sqs::Client::new(&aws_config().await);
    let (queue_url, dlq_url) =
        local_stack::queue_with_dlq(&client, &unique("sms-test"), max_receive, 30)
            .await
            .unwrap_or_else(|e| panic!("in moto: {e}"));
    (client, queue_url, dlq_url)
}

/// A fresh private bucket (the local stack's provisioning, [`local_stack::bucket`]) and an S3
/// client for it, addressing buckets in the path as moto needs. The `String` is the bucket.
pub async fn bucket() -> (aws_sdk_s3::Client, String) {
    let client = sms_core::files::s3_client(&aws_config().await, true);
    let name = unique("sms-test");
    local_stack::bucket(&client, &name)
        .await
        .unwrap_or_else(|e| panic!("in moto: {e}"));
    (client, name)
}
