//! Prices per destination country, for estimates and budget caps (docs/api.md, "Budget"):
//! the deployment's table (`SMS_PRICES`) first, then Plivo's Pricing API
//! (`GET /v1/Account/{auth_id}/Pricing/?country_iso=XX`), each answer kept for an hour by the
//! function instance.
//!
//! The Pricing API is called through the AWS SDK's HTTPS connector (hyper and rustls, already
//! in every function for AWS), not reqwest: send-bulk, the one caller, has no other use for
//! reqwest and no room for it in its 5 MiB zip.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Mutex, OnceLock},
    time::{Duration, Instant},
};

use aws_smithy_http_client::{
    Connector,
    tls::{Provider, rustls_provider::CryptoMode},
};
use aws_smithy_runtime_api::client::{http::HttpConnector, orchestrator::HttpRequest};
use aws_smithy_types::byte_stream::ByteStream;
use base64::{Engine, engine::general_purpose::STANDARD};
use futures::{StreamExt, stream};
use serde::Deserialize;
use tracing::warn;

use crate::{
    domain::{
        estimate::{Rate, RateSource},
        money::Money,
    },
    secrets::{PlivoCredentials, SecretError, ServiceSecret},
};

/// The deployment's rates per segment, by ISO 3166 country code: `SMS_PRICES`, JSON such as
/// `{"US": "0.0050", "GB": 0.0400}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceTable(BTreeMap<String, Money>);

impl PriceTable {
    pub fn parse(json: &str) -> Result<Self, String> {
        if json.trim().is_empty() {
            return Ok(Self::default());
        }
        let raw: BTreeMap<String, Money> = serde_json::from_str(json).map_err(|e| {
            format!("expected an object of country codes to prices per segment, such as {{\"US\": \"0.0050\"}}: {e}")
        })?;
        for country in raw.keys() {
            let iso = country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase());
            if !iso && country != "001" {
                return Err(format!(
                    "{country:?} is not an ISO 3166 country code such as \"US\""
                ));
            }
        }
        Ok(Self(raw))
    }

    pub fn get(&self, country: &str) -> Option<Money> {
        self.0.get(country).copied()
    }
}

/// How long an instance keeps a price from Plivo, and a "no such country" answer.
const PRICE_KEPT: Duration = Duration::from_secs(3600);
const NOT_LISTED_KEPT: Duration = Duration::from_secs(600);
/// Countries asked of Plivo at once.
const CONCURRENT_LOOKUPS: usize = 4;

/// Plivo's Pricing API.
#[derive(Debug)]
pub struct PlivoPricing {
    base_url: String,
    timeout: Duration,
    /// Built on the first lookup, like the SDK's own connector (see `tls`).
    connector: OnceLock<Connector>,
}

impl PlivoPricing {
    pub fn new(base_url: impl Into<String>, timeout: Duration) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            timeout,
            connector: OnceLock::new(),
        }
    }

    fn connector(&self) -> &Connector {
        self.connector.get_or_init(|| {
            Connector::builder()
                .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                .tls_context(crate::tls::tls_context())
                .build()
        })
    }

    /// The country's outbound rate per segment.
    pub async fn fetch(&self, creds: &PlivoCredentials, country: &str) -> Rate {
        match tokio::time::timeout(self.timeout, self.get(creds, country)).await {
            Ok(rate) => rate,
            Err(_) => {
                Rate::Unavailable(format!("no answer within {} s", self.timeout.as_secs_f32()))
            }
        }
    }

    async fn get(&self, creds: &PlivoCredentials, country: &str) -> Rate {
        let url = format!(
            "{}/v1/Account/{}/Pricing/?country_iso={country}",
            self.base_url, creds.auth_id
        );
        let mut request = match HttpRequest::get(url.as_str()) {
            Ok(r) => r,
            Err(_) => return Rate::Unavailable("the Pricing API's address is not valid".into()),
        };
        let basic = STANDARD.encode(format!("{}:{}", creds.auth_id, creds.token()));
        request
            .headers_mut()
            .insert("authorization", format!("Basic {basic}"));
        request.headers_mut().insert("accept", "application/json");
        let response = match self.connector().call(request).await {
            Ok(r) => r,
            // The error names the URL, which carries the auth id: say only what kind it was.
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timed out"
                } else if e.is_io() {
                    "could not connect"
                } else {
                    "failed"
                };
                return Rate::Unavailable(format!("the request {kind}"));
            }
        };
        let status = response.status().as_u16();
        let body = match ByteStream::new(response.into_body()).collect().await {
            Ok(b) => b.into_bytes(),
            Err(_) => return Rate::Unavailable(format!("status {status}, body unreadable")),
        };
        interpret(status, &body)
    }
}

/// Reads a Pricing API answer: `message.outbound.rate`, a decimal string.
fn interpret(status: u16, body: &[u8]) -> Rate {
    #[derive(Deserialize)]
    struct Pricing {
        message: MessagePricing,
    }
    #[derive(Deserialize)]
    struct MessagePricing {
        outbound: Outbound,
    }
    #[derive(Deserialize)]
    struct Outbound {
        rate: String,
    }
    match status {
        200 => match serde_json::from_slice::<Pricing>(body) {
            Ok(p) if p.message.outbound.rate.trim().is_empty() => Rate::NotListed,
            Ok(p) => match Money::parse(&p.message.outbound.rate) {
                Ok(per_segment) => Rate::Priced {
                    per_segment,
                    source: RateSource::Plivo,
                },
                Err(e) => Rate::Unavailable(format!("Plivo's rate {e}")),
            },
            Err(_) => Rate::Unavailable("Plivo's answer was not a price".into()),
        },
        // Plivo's answer for a country it does not serve.
        400 | 404 => Rate::NotListed,
        401 | 403 => Rate::Unavailable(format!("Plivo refused the credentials ({status})")),
        _ => Rate::Unavailable(format!("Plivo answered {status}")),
    }
}

/// The rates an instance knows: the table, then Plivo's (cached).
#[derive(Debug, Default)]
pub struct Prices {
    table: PriceTable,
    plivo: Option<PlivoPricing>,
    cache: Mutex<HashMap<String, (Rate, Instant)>>,
}

impl Prices {
    pub fn new(table: PriceTable, plivo: Option<PlivoPricing>) -> Self {
        Self {
            table,
            plivo,
            cache: Mutex::default(),
        }
    }

    /// From the table alone.
    pub fn table(table: PriceTable) -> Self {
        Self::new(table, None)
    }

    /// Each country's rate with the service secret as it could be read. When it could not,
    /// a country the table lacks is `Unavailable` (worth a retry), never `NotListed`: the
    /// price is unknown, not missing.
    pub async fn rates_with_secret<'a>(
        &self,
        countries: impl IntoIterator<Item = &'a str>,
        secret: Result<&ServiceSecret, &SecretError>,
    ) -> BTreeMap<String, Rate> {
        match secret {
            Ok(secret) => self.rates(countries, Some(&secret.plivo)).await,
            Err(e) => {
                warn!(error = %e, "the service secret could not be read; only SMS_PRICES prices");
                let mut rates = self.rates(countries, None).await;
                for rate in rates.values_mut() {
                    if *rate == Rate::NotListed {
                        *rate = Rate::Unavailable(
                            "the service's Plivo credentials could not be read".into(),
                        );
                    }
                }
                rates
            }
        }
    }

    /// Each country's rate. `creds` is needed only for countries the table lacks and the
    /// instance has not priced within the hour; without Plivo (or credentials) they are
    /// `NotListed`.
    pub async fn rates<'a>(
        &self,
        countries: impl IntoIterator<Item = &'a str>,
        creds: Option<&PlivoCredentials>,
    ) -> BTreeMap<String, Rate> {
        let mut rates = BTreeMap::new();
        let mut ask = Vec::new();
        for country in countries {
            if let Some(per_segment) = self.table.get(country) {
                let source = RateSource::Configured;
                rates.insert(
                    country.to_owned(),
                    Rate::Priced {
                        per_segment,
                        source,
                    },
                );
            } else if let Some(rate) = self.cached(country) {
                rates.insert(country.to_owned(), rate);
            } else {
                ask.push(country.to_owned());
            }
        }
        let (Some(plivo), Some(creds)) = (&self.plivo, creds) else {
            rates.extend(ask.into_iter().map(|c| (c, Rate::NotListed)));
            return rates;
        };
        // Owned names: a future over a borrowed one would not be `Send` for every lifetime.
        let fetched: Vec<(String, Rate)> = stream::iter(ask)
            .map(|country: String| async move {
                let rate = plivo.fetch(creds, &country).await;
                (country, rate)
            })
            .buffer_unordered(CONCURRENT_LOOKUPS)
            .collect()
            .await;
        for (country, rate) in fetched {
            if let Rate::Unavailable(why) = &rate {
                warn!(%country, reason = %why, "Plivo's price could not be read");
            }
            self.keep(&country, &rate);
            rates.insert(country, rate);
        }
        rates
    }

    fn cached(&self, country: &str) -> Option<Rate> {
        let cache = self.cache.lock().ok()?;
        let (rate, at) = cache.get(country)?;
        let kept = match rate {
            Rate::NotListed => NOT_LISTED_KEPT,
            _ => PRICE_KEPT,
        };
        (at.elapsed() < kept).then(|| rate.clone())
    }

    /// Keeps an answer; a failure is not kept, so the next request asks again.
    fn keep(&self, country: &str, rate: &Rate) {
        if matches!(rate, Rate::Unavailable(_)) {
            return;
        }
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(country.to_owned(), (rate.clone(), Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_takes_strings_or_numbers_by_iso_code() {
        let t = PriceTable::parse(r#"{"US": "0.0050", "GB": 0.04, "001": "1"}"#).unwrap();
        assert_eq!(t.get("GB"), Some(Money::parse("0.04").unwrap()));
        assert_eq!(t.get("FR"), None);
        assert_eq!(PriceTable::parse("  ").unwrap(), PriceTable::default());
        assert!(
            PriceTable::parse(r#"{"usa": "1"}"#)
                .unwrap_err()
                .contains("\"usa\"")
        );
        assert!(PriceTable::parse(r#"{"US": "-1"}"#).is_err());
        assert!(PriceTable::parse("[1]").is_err());
    }

    #[test]
    fn a_pricing_answer_is_read_from_message_outbound_rate() {
        let body = br#"{"api_id": "x", "country": "United States", "country_code": 1,
            "country_iso": "US", "message": {"inbound": {"rate": "0.00000"},
            "outbound": {"rate": "0.00500"}, "outbound_networks_list": []}}"#;
        assert_eq!(
            interpret(200, body),
            Rate::Priced {
                per_segment: Money::from_micros(5_000),
                source: RateSource::Plivo
            }
        );
        assert_eq!(
            interpret(200, br#"{"message": {"outbound": {"rate": ""}}}"#),
            Rate::NotListed
        );
        assert_eq!(interpret(404, b"{}"), Rate::NotListed);
        assert!(matches!(interpret(200, b"<html>"), Rate::Unavailable(_)));
        assert!(matches!(interpret(500, b""), Rate::Unavailable(_)));
        assert!(matches!(interpret(401, b""), Rate::Unavailable(_)));
    }
}
