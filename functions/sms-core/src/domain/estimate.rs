//! What a job will cost before it costs it: recipients and segments per destination country,
//! priced at each country's rate per segment, and the job's cap (`max_cost`, `max_segments`)
//! checked against the totals (docs/api.md, "Budget").

use std::collections::BTreeMap;

use serde::Serialize;

use super::money::Money;

/// Where a country's rate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateSource {
    /// The deployment's own table (`SMS_PRICES`): a negotiated rate wins over the list price.
    Configured,
    /// Plivo's Pricing API (`message.outbound.rate`).
    Plivo,
}

/// A destination country's price per segment, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rate {
    Priced {
        per_segment: Money,
        source: RateSource,
    },
    /// Neither the table nor Plivo lists the country.
    NotListed,
    /// Plivo's Pricing API did not answer; the reason is safe to show.
    Unavailable(String),
}

/// Recipients and segments bound for one country.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub recipients: u64,
    pub segments: u64,
}

impl Tally {
    pub fn add(&mut self, recipients: u64, segments_each: u64) {
        self.recipients += recipients;
        self.segments += recipients * segments_each;
    }
}

/// One country's line of an estimate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CountryLine {
    /// ISO 3166 code (`001` for a non-geographic number).
    pub country: String,
    pub recipients: u64,
    pub segments: u64,
    /// Per segment; absent when the country has no price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_source: Option<RateSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<Money>,
    /// Why there is no price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unpriced: Option<String>,
    /// The price is missing only because Plivo did not answer: a retry may find it.
    #[serde(skip)]
    pub retryable: bool,
}

/// A job's estimate. `cost` is the sum over countries, and absent when any country has no
/// price: a partial sum would read as the whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Estimate {
    pub recipients: u64,
    pub segments: u64,
    pub cost: Option<Money>,
    pub countries: Vec<CountryLine>,
}

impl Estimate {
    /// Prices `tallies` at `rates` (a country missing from `rates` was not asked for: it is
    /// shown unpriced, the cost absent).
    pub fn new(tallies: &BTreeMap<&str, Tally>, rates: &BTreeMap<String, Rate>) -> Self {
        let mut cost = Some(Money::ZERO);
        let countries = tallies
            .iter()
            .map(|(&country, tally)| {
                let mut line = CountryLine {
                    country: country.to_owned(),
                    recipients: tally.recipients,
                    segments: tally.segments,
                    rate: None,
                    rate_source: None,
                    cost: None,
                    unpriced: None,
                    retryable: false,
                };
                match rates.get(country) {
                    Some(Rate::Priced {
                        per_segment,
                        source,
                    }) => {
                        let line_cost = per_segment.times(tally.segments);
                        cost = cost.map(|c| c.saturating_add(line_cost));
                        line.rate = Some(*per_segment);
                        line.rate_source = Some(*source);
                        line.cost = Some(line_cost);
                    }
                    other => {
                        cost = None;
                        line.retryable = matches!(other, Some(Rate::Unavailable(_)));
                        line.unpriced = Some(match other {
                            Some(Rate::Unavailable(why)) => {
                                format!("Plivo's price could not be read: {why}")
                            }
                            _ => "no price is known: neither SMS_PRICES nor Plivo lists it".into(),
                        });
                    }
                }
                line
            })
            .collect();
        Self {
            recipients: tallies.values().map(|t| t.recipients).sum(),
            segments: tallies.values().map(|t| t.segments).sum(),
            cost,
            countries,
        }
    }

    /// The countries without a price.
    pub fn unpriced(&self) -> impl Iterator<Item = &CountryLine> {
        self.countries.iter().filter(|c| c.unpriced.is_some())
    }

    /// Whether any price is missing only because Plivo did not answer (worth a retry).
    pub fn prices_unavailable(&self) -> bool {
        self.unpriced().any(|c| c.retryable)
    }
}

/// A job's cap: `max_cost` in the account's currency, `max_segments` in message parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct Budget {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cost: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_segments: Option<u64>,
}

/// Why a job is refused before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverBudget {
    Segments {
        estimate: u64,
        cap: u64,
    },
    Cost {
        estimate: Money,
        cap: Money,
    },
    /// `max_cost` cannot be checked: these countries have no price.
    Unpriced {
        countries: Vec<String>,
    },
}

impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Segments { estimate, cap } => write!(
                f,
                "the job takes {estimate} segments, over its max_segments of {cap}; nothing was sent"
            ),
            Self::Cost { estimate, cap } => write!(
                f,
                "the job's estimated cost is {estimate}, over its max_cost of {cap}; nothing was sent"
            ),
            Self::Unpriced { countries } => write!(
                f,
                "max_cost cannot be checked: no price is known for {}; add them to the \
                 deployment's SMS_PRICES, or leave max_cost out. Nothing was sent",
                countries.join(", ")
            ),
        }
    }
}

impl Budget {
    pub fn is_set(&self) -> bool {
        self.max_cost.is_some() || self.max_segments.is_some()
    }

    /// Whether a job of `estimate` fits: segments first (they need no price), then cost.
    pub fn check(&self, estimate: &Estimate) -> Result<(), OverBudget> {
        if let Some(cap) = self.max_segments
            && estimate.segments > cap
        {
            return Err(OverBudget::Segments {
                estimate: estimate.segments,
                cap,
            });
        }
        if let Some(cap) = self.max_cost {
            match estimate.cost {
                Some(cost) if cost > cap => {
                    return Err(OverBudget::Cost {
                        estimate: cost,
                        cap,
                    });
                }
                Some(_) => {}
                None => {
                    return Err(OverBudget::Unpriced {
                        countries: estimate.unpriced().map(|c| c.country.clone()).collect(),
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    fn tallies() -> BTreeMap<&'static str, Tally> {
        let mut t = BTreeMap::new();
        t.entry("US").or_insert_with(Tally::default).add(1_000, 2);
        t.entry("GB").or_insert_with(Tally::default).add(10, 2);
        t
    }

    #[test]
    fn each_country_is_priced_at_its_rate_per_segment() {
        let rates = BTreeMap::from([
            (
                "US".to_owned(),
                Rate::Priced {
                    per_segment: money("0.0050"),
                    source: RateSource::Plivo,
                },
            ),
            (
                "GB".to_owned(),
                Rate::Priced {
                    per_segment: money("0.0400"),
                    source: RateSource::Configured,
                },
            ),
        ]);
        let e = Estimate::new(&tallies(), &rates);
        assert_eq!((e.recipients, e.segments), (1_010, 2_020));
        // 2,000 × 0.005 + 20 × 0.04
        assert_eq!(e.cost, Some(money("10.80")));
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json["countries"][0],
            serde_json::json!({"country": "GB", "recipients": 10, "segments": 20,
                "rate": "0.04", "rate_source": "configured", "cost": "0.80"})
        );
    }

    #[test]
    fn a_country_without_a_price_leaves_the_total_out_and_says_why() {
        let rates = BTreeMap::from([
            (
                "US".to_owned(),
                Rate::Priced {
                    per_segment: money("0.0050"),
                    source: RateSource::Plivo,
                },
            ),
            ("GB".to_owned(), Rate::Unavailable("timed out".into())),
        ]);
        let e = Estimate::new(&tallies(), &rates);
        assert_eq!(e.cost, None);
        assert!(e.prices_unavailable());
        let unpriced: Vec<_> = e.unpriced().map(|c| c.country.as_str()).collect();
        assert_eq!(unpriced, ["GB"]);
        assert_eq!(
            Budget {
                max_cost: Some(money("100")),
                max_segments: None
            }
            .check(&e),
            Err(OverBudget::Unpriced {
                countries: vec!["GB".into()]
            })
        );
        // Segments need no price.
        let segments_only = Budget {
            max_cost: None,
            max_segments: Some(2_020),
        };
        assert_eq!(segments_only.check(&e), Ok(()));
    }

    #[test]
    fn a_cap_below_the_estimate_refuses_with_both_figures() {
        let rates = BTreeMap::from([
            (
                "US".to_owned(),
                Rate::Priced {
                    per_segment: money("0.0050"),
                    source: RateSource::Plivo,
                },
            ),
            ("GB".to_owned(), Rate::NotListed),
        ]);
        let mut t = tallies();
        t.remove("GB");
        let e = Estimate::new(&t, &rates);
        let cap = |c: &str| Budget {
            max_cost: Some(money(c)),
            max_segments: None,
        };
        assert_eq!(cap("10").check(&e), Ok(()));
        let refused = cap("9.99").check(&e).unwrap_err();
        assert_eq!(
            refused,
            OverBudget::Cost {
                estimate: money("10"),
                cap: money("9.99")
            }
        );
        assert!(
            refused
                .to_string()
                .contains("10.00, over its max_cost of 9.99")
        );
        let segments = Budget {
            max_cost: Some(money("1000")),
            max_segments: Some(1_999),
        };
        assert_eq!(
            segments.check(&e),
            Err(OverBudget::Segments {
                estimate: 2_000,
                cap: 1_999
            })
        );
    }
}
