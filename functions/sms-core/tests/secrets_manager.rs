//! `SecretsManagerSource` and `SecretCache` against Secrets Manager in moto
//! (docs/architecture.md, "The secret and the settings"): the documented JSON, malformed and
//! missing secrets (named, never echoed), and rotation.
//!
//! Needs moto: run through `make test` or `infra/tests/with-moto.sh cargo test`.

use std::time::Duration;

use aws_sdk_secretsmanager::primitives::Blob;
use serde_json::json;
use sms_core::secrets::{
    SecretCache, SecretError, SecretProvider, SecretSource, SecretsManagerSource,
};

const TOKEN: &str = "plivo-token-very-secret-1";
const ROTATED_TOKEN: &str = "plivo-token-very-secret-2";
const API_KEY: &str = "api-key-very-secret-0123456789abcdef";

fn document(token: &str) -> String {
    json!({
        "plivo_auth_id": "MAZDQ1ZJIYMDZKMMZKYM",
        "plivo_auth_token": token,
        "plivo_src": "+14155550100",
        "api_keys": [API_KEY, "second-api-key-0123456789abcdef01234"],
    })
    .to_string()
}

fn assert_shows_no_secret(e: &SecretError) {
    for shown in [e.to_string(), format!("{e:?}")] {
        for value in [TOKEN, ROTATED_TOKEN, API_KEY] {
            assert!(
                !shown.contains(value),
                "secret value {value:?} shown in: {shown}"
            );
        }
    }
}

async fn put_value(client: &aws_sdk_secretsmanager::Client, id: &str, json: &str) {
    client
        .put_secret_value()
        .secret_id(id)
        .secret_string(json)
        .send()
        .await
        .expect("PutSecretValue in moto");
}

#[tokio::test]
async fn reads_and_parses_the_documented_secret() {
    // Arrange
    let (client, id) = sms_test_support::secret(&document(TOKEN)).await;
    let source = SecretsManagerSource::new(client, &id);

    // Act
    let secret = source.fetch().await.unwrap();

    // Assert
    assert_eq!(secret.plivo.auth_id, "MAZDQ1ZJIYMDZKMMZKYM");
    assert_eq!(secret.plivo.token(), TOKEN);
    assert_eq!(secret.default_src.as_str(), "+14155550100");
    assert!(secret.api_keys.verify(API_KEY));
    assert!(
        secret
            .api_keys
            .verify("second-api-key-0123456789abcdef01234")
    );
    assert!(!secret.api_keys.verify("not-a-key"));
    let shown = format!("{secret:?}");
    assert!(
        !shown.contains(TOKEN) && !shown.contains(API_KEY),
        "{shown}"
    );
}

#[tokio::test]
async fn a_malformed_secret_names_the_problem_but_no_value() {
    let cases = [
        // Not JSON at all, with the token in it.
        (format!("plivo_auth_token={TOKEN}"), "Syntax"),
        // A field with the wrong value.
        (
            json!({"plivo_auth_id": "MAZDQ1ZJIYMDZKMMZKYM", "plivo_auth_token": TOKEN,
                   "plivo_src": "14155550100", "api_keys": [API_KEY]})
            .to_string(),
            "plivo_src",
        ),
        (
            json!({"plivo_auth_id": "MAZDQ1ZJIYMDZKMMZKYM", "plivo_auth_token": "",
                   "plivo_src": "+14155550100", "api_keys": [API_KEY]})
            .to_string(),
            "plivo_auth_token",
        ),
        (
            json!({"plivo_auth_id": "MAZDQ1ZJIYMDZKMMZKYM", "plivo_auth_token": TOKEN,
                   "plivo_src": "+14155550100", "api_keys": []})
            .to_string(),
            "api_keys",
        ),
        // A missing field.
        (
            json!({"plivo_auth_id": "MAZDQ1ZJIYMDZKMMZKYM", "plivo_auth_token": TOKEN,
                   "plivo_src": "+14155550100"})
            .to_string(),
            "Data",
        ),
    ];
    for (json, problem) in cases {
        // Arrange
        let (client, id) = sms_test_support::secret(&json).await;
        let source = SecretsManagerSource::new(client, &id);

        // Act
        let err = source.fetch().await.unwrap_err();

        // Assert
        assert!(matches!(err, SecretError::Malformed { .. }), "{err:?}");
        let shown = err.to_string();
        assert!(shown.contains(&id), "names the secret: {shown}");
        assert!(
            shown.contains(problem),
            "names the problem ({problem}): {shown}"
        );
        assert_shows_no_secret(&err);
    }
}

#[tokio::test]
async fn a_binary_secret_is_malformed() {
    let (client, id) = sms_test_support::secret(&document(TOKEN)).await;
    client
        .put_secret_value()
        .secret_id(&id)
        .secret_binary(Blob::new(document(TOKEN).into_bytes()))
        .send()
        .await
        .unwrap();

    let err = SecretsManagerSource::new(client, &id)
        .fetch()
        .await
        .unwrap_err();

    assert!(matches!(err, SecretError::Malformed { .. }), "{err:?}");
    assert!(err.to_string().contains("SecretString"), "{err}");
    assert_shows_no_secret(&err);
}

#[tokio::test]
async fn a_missing_secret_is_unavailable_and_named() {
    // Arrange: a client for moto, and a secret id nobody created.
    let client = aws_sdk_secretsmanager::Client::new(&sms_test_support::aws_config().await);
    let id = sms_test_support::unique("sms-test/missing");
    let cache = SecretCache::new(
        SecretsManagerSource::new(client, &id),
        SecretCache::<SecretsManagerSource>::DEFAULT_TTL,
    );

    // Act
    let err = cache.current().await.unwrap_err();

    // Assert
    assert!(matches!(err, SecretError::Unavailable { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(shown.contains(&id), "{shown}");
    assert!(
        shown.contains("ResourceNotFound"),
        "the AWS error is kept: {shown}"
    );
}

#[tokio::test]
async fn a_rotated_secret_is_seen_on_refresh_not_before_the_ttl() {
    // Arrange
    let (client, id) = sms_test_support::secret(&document(TOKEN)).await;
    let cache = SecretCache::new(
        SecretsManagerSource::new(client.clone(), &id),
        Duration::from_secs(300),
    );
    assert_eq!(cache.current().await.unwrap().plivo.token(), TOKEN);

    // Act: rotate the secret in Secrets Manager.
    put_value(&client, &id, &document(ROTATED_TOKEN)).await;

    // Assert
    assert_eq!(
        cache.current().await.unwrap().plivo.token(),
        TOKEN,
        "within the TTL the cached value is used"
    );
    assert_eq!(cache.refresh().await.unwrap().plivo.token(), ROTATED_TOKEN);
    assert_eq!(
        cache.current().await.unwrap().plivo.token(),
        ROTATED_TOKEN,
        "the refreshed value is cached"
    );
}

#[tokio::test]
async fn a_rotated_secret_is_seen_once_the_ttl_has_passed() {
    let (client, id) = sms_test_support::secret(&document(TOKEN)).await;
    let cache = SecretCache::new(
        SecretsManagerSource::new(client.clone(), &id),
        Duration::from_millis(100),
    );
    assert_eq!(cache.current().await.unwrap().plivo.token(), TOKEN);

    put_value(&client, &id, &document(ROTATED_TOKEN)).await;
    tokio::time::sleep(Duration::from_millis(150)).await;

    assert_eq!(cache.current().await.unwrap().plivo.token(), ROTATED_TOKEN);
}

#[tokio::test]
async fn a_rotation_to_a_malformed_value_fails_the_refresh_without_showing_it() {
    let (client, id) = sms_test_support::secret(&document(TOKEN)).await;
    let cache = SecretCache::new(
        SecretsManagerSource::new(client.clone(), &id),
        Duration::from_secs(300),
    );
    cache.current().await.unwrap();
    put_value(
        &client,
        &id,
        &format!("{{\"plivo_auth_token\": \"{ROTATED_TOKEN}\""),
    )
    .await;

    let err = cache.refresh().await.unwrap_err();

    assert!(matches!(err, SecretError::Malformed { .. }), "{err:?}");
    assert_shows_no_secret(&err);
}
