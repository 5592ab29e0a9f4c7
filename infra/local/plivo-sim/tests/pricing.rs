//! The Pricing API as the service's `Prices` reads it, and reports charging each message at
//! its destination country's rate.

mod common;

use std::time::Duration;

use common::*;
use plivo_sim::Settings;
use sms_core::{
    domain::{
        estimate::{Rate, RateSource},
        money::Money,
    },
    pricing::{PlivoPricing, PriceTable, Prices},
    secrets::PlivoCredentials,
};

#[tokio::test]
async fn the_pricing_api_answers_each_listed_country_and_404s_the_rest() {
    let mut settings = quick();
    settings.prices = [("US", "0.00500"), ("GB", "0.04000")]
        .map(|(c, r)| (c.to_owned(), r.to_owned()))
        .into();
    let sim = sim_with(settings).await;
    let prices = Prices::new(
        PriceTable::default(),
        Some(PlivoPricing::new(sim.url(), Duration::from_secs(2))),
    );

    let rates = prices
        .rates(
            ["US", "GB", "FR"],
            Some(&PlivoCredentials::new(AUTH_ID, TOKEN)),
        )
        .await;
    let priced = |r: &str| Rate::Priced {
        per_segment: Money::parse(r).unwrap(),
        source: RateSource::Plivo,
    };
    assert_eq!(rates["US"], priced("0.005"));
    assert_eq!(rates["GB"], priced("0.04"));
    assert_eq!(rates["FR"], Rate::NotListed);

    // Wrong credentials: a 401, which the client reports without caching.
    let wrong = Prices::new(
        PriceTable::default(),
        Some(PlivoPricing::new(sim.url(), Duration::from_secs(2))),
    );
    let rates = wrong
        .rates(
            ["US"],
            Some(&PlivoCredentials::new(AUTH_ID, "not-the-token")),
        )
        .await;
    assert_eq!(
        rates["US"],
        Rate::Unavailable("Plivo refused the credentials (401)".into())
    );
}

#[tokio::test]
async fn the_prices_setting_is_checked_and_each_country_is_charged_its_rate() {
    let bad = serde_json::from_str::<plivo_sim::SettingsPatch>(r#"{"prices": {"usa": "1"}}"#)
        .map(|patch| Settings::default().patched(patch));
    assert!(matches!(bad, Ok(Err(e)) if e.contains("usa")));
    let bad_rate =
        serde_json::from_str::<plivo_sim::SettingsPatch>(r#"{"prices": {"US": "cheap"}}"#)
            .map(|patch| Settings::default().patched(patch));
    assert!(matches!(bad_rate, Ok(Err(e)) if e.contains("US")));
    let d = Settings::default();
    assert_eq!(
        d.rate_for(&sms_core::PhoneNumber::parse("+447400123456").unwrap()),
        "0.04000"
    );
    // Brazil is not in the default table: charged the unlisted rate.
    assert_eq!(
        d.rate_for(&sms_core::PhoneNumber::parse("+5511987654321").unwrap()),
        plivo_sim::config::UNLISTED_RATE
    );
}
