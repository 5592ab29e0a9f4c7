//! The fallback provider's adapter, `SnsSms`, against SNS in moto: real `Publish` calls to
//! phone numbers, read back from what moto recorded.
//!
//! Needs moto: run through `make test` or `infra/tests/with-moto.sh cargo test`.

use serde_json::Value;
use sms_core::{
    PhoneNumber,
    fallback::{FallbackSms, Origination, SnsSms},
};

/// The texts moto's SNS has sent: (number, text) by message id.
async fn sent_by_moto() -> Vec<(String, String, String)> {
    let data: Value = reqwest::get(format!(
        "{}/moto-api/data.json",
        sms_test_support::moto_url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    data["sns"]["SMS"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["message_id"].as_str().unwrap().to_owned(),
                m["phone_number"].as_str().unwrap().to_owned(),
                m["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_text_is_published_to_the_number_and_answers_its_message_id() {
    let client = aws_sdk_sns::Client::new(&sms_test_support::aws_config().await);
    let sns = SnsSms::new(client, Origination::parse("+14155550100").unwrap());
    let to = PhoneNumber::parse("+14155550177").unwrap();
    let text = format!("Your code is {}", uuid::Uuid::new_v4().simple());

    let id = sns.publish(&to, &text).await.unwrap();

    assert!(
        sent_by_moto()
            .await
            .contains(&(id, to.as_str().to_owned(), text)),
        "moto has the message"
    );
}

#[tokio::test]
async fn a_text_too_long_for_sns_is_refused_not_sent() {
    let client = aws_sdk_sns::Client::new(&sms_test_support::aws_config().await);
    let sns = SnsSms::new(client, Origination::parse("ACME").unwrap());
    let to = PhoneNumber::parse("+447700900123").unwrap();

    let refused = sns.publish(&to, &"x".repeat(1_700)).await;

    assert!(
        matches!(refused, Err(sms_core::fallback::FallbackError::Refused(_))),
        "{refused:?}"
    );
}
