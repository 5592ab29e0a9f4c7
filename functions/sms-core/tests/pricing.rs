//! `Prices` against a wiremock Plivo: the table wins, the Pricing API is asked with Basic
//! auth once per country per hour, and a failure is reported and asked again next time.

use std::time::Duration;

use sms_core::{
    domain::{
        estimate::{Rate, RateSource},
        money::Money,
    },
    pricing::{PlivoPricing, PriceTable, Prices},
    secrets::PlivoCredentials,
};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path, query_param},
};

const AUTH_ID: &str = "MAPRICING0000000001";

fn creds() -> PlivoCredentials {
    PlivoCredentials::new(AUTH_ID, "token-1")
}

fn pricing_path() -> String {
    format!("/v1/Account/{AUTH_ID}/Pricing/")
}

fn answer(rate: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "api_id": "00000000-0000-0000-0000-000000000000",
        "country": "Somewhere", "country_code": 1, "country_iso": "XX",
        "message": {"inbound": {"rate": "0.00000"}, "outbound": {"rate": rate},
                    "outbound_networks_list": []}
    }))
}

fn priced(rate: &str, source: RateSource) -> Rate {
    Rate::Priced {
        per_segment: Money::parse(rate).unwrap(),
        source,
    }
}

#[tokio::test]
async fn the_table_wins_and_plivo_is_asked_once_per_country() {
    let plivo = MockServer::start().await;
    // Basic auth: base64 of "MAPRICING0000000001:token-1".
    Mock::given(method("GET"))
        .and(path(pricing_path()))
        .and(query_param("country_iso", "US"))
        .and(header(
            "authorization",
            "Basic TUFQUklDSU5HMDAwMDAwMDAwMTp0b2tlbi0x",
        ))
        .respond_with(answer("0.00500"))
        .expect(1)
        .mount(&plivo)
        .await;
    Mock::given(method("GET"))
        .and(path(pricing_path()))
        .and(query_param("country_iso", "ZZ"))
        .respond_with(ResponseTemplate::new(404).set_body_string("{}"))
        .expect(1)
        .mount(&plivo)
        .await;
    let prices = Prices::new(
        PriceTable::parse(r#"{"GB": "0.04"}"#).unwrap(),
        Some(PlivoPricing::new(plivo.uri(), Duration::from_secs(2))),
    );

    for _ in 0..2 {
        let rates = prices.rates(["GB", "US", "ZZ"], Some(&creds())).await;
        assert_eq!(rates["GB"], priced("0.04", RateSource::Configured));
        assert_eq!(rates["US"], priced("0.005", RateSource::Plivo));
        assert_eq!(rates["ZZ"], Rate::NotListed);
    }
    // `expect(1)` on each mock: the second round came from the instance's cache.
}

#[tokio::test]
async fn a_failure_is_reported_and_asked_again_next_time() {
    let plivo = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(pricing_path()))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&plivo)
        .await;
    Mock::given(method("GET"))
        .and(path(pricing_path()))
        .respond_with(answer("0.0100"))
        .mount(&plivo)
        .await;
    let prices = Prices::new(
        PriceTable::default(),
        Some(PlivoPricing::new(plivo.uri(), Duration::from_secs(2))),
    );

    let first = prices.rates(["FR"], Some(&creds())).await;
    assert_eq!(first["FR"], Rate::Unavailable("Plivo answered 503".into()));
    let second = prices.rates(["FR"], Some(&creds())).await;
    assert_eq!(second["FR"], priced("0.01", RateSource::Plivo));
}

#[tokio::test]
async fn a_slow_answer_is_unavailable_and_names_no_account() {
    let plivo = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(answer("0.01").set_delay(Duration::from_secs(5)))
        .mount(&plivo)
        .await;
    let prices = Prices::new(
        PriceTable::default(),
        Some(PlivoPricing::new(plivo.uri(), Duration::from_millis(200))),
    );
    let rates = prices.rates(["DE"], Some(&creds())).await;
    match &rates["DE"] {
        Rate::Unavailable(why) => {
            assert!(why.contains("no answer within"), "{why}");
            assert!(!why.contains(AUTH_ID));
        }
        other => panic!("{other:?}"),
    }

    // Nothing listening: the reason says so, without the URL (it carries the auth id).
    let closed = Prices::new(
        PriceTable::default(),
        Some(PlivoPricing::new(
            "http://127.0.0.1:9",
            Duration::from_secs(2),
        )),
    );
    match &closed.rates(["DE"], Some(&creds())).await["DE"] {
        Rate::Unavailable(why) => assert!(!why.contains(AUTH_ID), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn without_plivo_or_credentials_only_the_table_prices() {
    let prices = Prices::table(PriceTable::parse(r#"{"US": "0.005"}"#).unwrap());
    let rates = prices.rates(["US", "CA"], Some(&creds())).await;
    assert_eq!(rates["US"], priced("0.005", RateSource::Configured));
    assert_eq!(rates["CA"], Rate::NotListed);

    let plivo = MockServer::start().await;
    let with_plivo = Prices::new(
        PriceTable::default(),
        Some(PlivoPricing::new(plivo.uri(), Duration::from_secs(2))),
    );
    assert_eq!(with_plivo.rates(["CA"], None).await["CA"], Rate::NotListed);
    assert!(plivo.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn without_the_secret_a_country_the_table_lacks_is_unavailable_not_unlisted() {
    let plivo = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(pricing_path()))
        .respond_with(answer("0.00700"))
        .expect(1)
        .mount(&plivo)
        .await;
    let prices = Prices::new(
        PriceTable::parse(r#"{"US": "0.005"}"#).unwrap(),
        Some(PlivoPricing::new(plivo.uri(), Duration::from_secs(2))),
    );
    let unreadable = sms_core::secrets::SecretError::Unavailable {
        secret_id: "plivo-sms/test".into(),
        reason: "throttled".into(),
    };

    // The secret unreadable: the table still prices, the rest is worth a retry.
    let rates = prices
        .rates_with_secret(["US", "GB"], Err(&unreadable))
        .await;
    assert_eq!(rates["US"], priced("0.005", RateSource::Configured));
    assert!(matches!(&rates["GB"], Rate::Unavailable(why) if why.contains("credentials")));

    // Read: Plivo prices the rest.
    let secret = sms_core::secrets::ServiceSecret::from_json(
        "plivo-sms/test",
        &format!(
            r#"{{"plivo_auth_id": "{AUTH_ID}", "plivo_auth_token": "token-1",
                "plivo_src": "+14155550100", "api_keys": ["{}"]}}"#,
            "k".repeat(32)
        ),
    )
    .unwrap();
    let rates = prices.rates_with_secret(["GB"], Ok(&secret)).await;
    assert_eq!(rates["GB"], priced("0.00700", RateSource::Plivo));
}
