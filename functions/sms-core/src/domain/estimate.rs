//! What a job will cost before it costs it: recipients and segments per destination country,
//! priced at each country's rate per segment, and the job's cap (`max_cost`, `max_segments`)
//! checked against the totals (docs/api.md, "Budget").

use std::collections::BTreeMap;

use serde::Serialize;

use super::{money::Money, numbering, phone::PhoneNumber};

/// The country a recipient is counted under: its number's region, or `001` (non-geographic,
/// which no table prices) for a number that somehow cannot be classified.
pub fn country_of(number: &PhoneNumber) -> &'static str {
    numbering::classify(number).map_or("001", |n| n.region)
}

/// Recipients and segments per country of one batch: `recipients`, each sent a text of
/// `segments_each` segments.
pub fn tally_batch(
    recipients: &[PhoneNumber],
    segments_each: u64,
) -> BTreeMap<&'static str, Tally> {
    let mut tallies: BTreeMap<&'static str, Tally> = BTreeMap::new();
    for number in recipients {
        tallies
            .entry(country_of(number))
            .or_default()
            .add(1, segments_each);
    }
    tallies
}

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

/// What one batch of a capped job takes of its caps: its estimated cost (when the job has
/// `max_cost`) and its segments (when it has `max_segments`). The batch's claim reserves it
/// on the job, and only while the job's caps have room for it (docs/architecture.md, "A
/// budget's guard").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct Reservation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<u64>,
}

impl Reservation {
    /// Whether it takes anything: a reservation naming neither cap is none at all.
    pub fn takes_any(&self) -> bool {
        self.cost.is_some() || self.segments.is_some()
    }

    /// A batch of `tallies` (recipients and segments per country) under `budget`, priced at
    /// `rates`. A country without a price counts nothing: a capped job's countries were all
    /// priced when it was accepted.
    pub fn of(
        budget: &Budget,
        tallies: &BTreeMap<&str, Tally>,
        rates: &BTreeMap<String, Rate>,
    ) -> Self {
        Self {
            cost: budget.max_cost.map(|_| {
                tallies.iter().fold(Money::ZERO, |sum, (country, tally)| {
                    match rates.get(*country) {
                        Some(Rate::Priced { per_segment, .. }) => {
                            sum.saturating_add(per_segment.times(tally.segments))
                        }
                        _ => sum,
                    }
                })
            }),
            segments: budget
                .max_segments
                .map(|_| tallies.values().map(|t| t.segments).sum()),
        }
    }
}

/// A job's caps and what is left of them to reserve: the cap less the reservations of the
/// batches claimed so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BudgetLeft {
    pub caps: Budget,
    pub cost: Option<Money>,
    pub segments: Option<u64>,
}

impl BudgetLeft {
    /// A job's caps before any batch was claimed.
    pub fn full(caps: Budget) -> Self {
        Self {
            caps,
            cost: caps.max_cost,
            segments: caps.max_segments,
        }
    }

    /// Whether `reservation` fits in what is left. A reservation names only its job's caps
    /// ([`Reservation::of`]); one that names a cap the job does not have never fits, as the
    /// table's condition on the missing attribute never holds.
    pub fn has_room_for(&self, reservation: &Reservation) -> bool {
        let fits = |left: Option<u64>, wanted: Option<u64>| match (left, wanted) {
            (Some(left), Some(wanted)) => wanted <= left,
            (None, Some(_)) => false,
            (_, None) => true,
        };
        fits(
            self.cost.map(Money::micros),
            reservation.cost.map(Money::micros),
        ) && fits(self.segments, reservation.segments)
    }

    /// Whether what the job's reports already `charged` leaves room under `max_cost` for
    /// `reservation`: charges beyond the estimates (a price that rose, a carrier's
    /// surcharge) count against the cap as they are reported.
    pub fn charges_leave_room_for(&self, charged: Money, reservation: &Reservation) -> bool {
        match (self.caps.max_cost, reservation.cost) {
            (Some(cap), Some(cost)) => charged.saturating_add(cost) <= cap,
            _ => true,
        }
    }

    /// What is left once `reservation` is taken (saturating at zero).
    pub fn less(self, reservation: &Reservation) -> Self {
        Self {
            caps: self.caps,
            cost: self.cost.map(|left| {
                Money::from_micros(
                    left.micros()
                        .saturating_sub(reservation.cost.map_or(0, Money::micros)),
                )
            }),
            segments: self
                .segments
                .map(|left| left.saturating_sub(reservation.segments.unwrap_or(0))),
        }
    }

    /// What is left once the caps are raised to `caps` (a cap never goes down).
    pub fn raised(self, caps: Budget) -> Self {
        let raise = |left: Option<u64>, old: Option<u64>, new: Option<u64>| match (old, new) {
            (Some(old), Some(new)) => Some(left.unwrap_or(0) + new.saturating_sub(old)),
            (old, _) => old.and(left),
        };
        Self {
            caps: Budget {
                max_cost: match (self.caps.max_cost, caps.max_cost) {
                    (Some(old), Some(new)) => Some(old.max(new)),
                    (old, _) => old,
                },
                max_segments: match (self.caps.max_segments, caps.max_segments) {
                    (Some(old), Some(new)) => Some(old.max(new)),
                    (old, _) => old,
                },
            },
            cost: raise(
                self.cost.map(Money::micros),
                self.caps.max_cost.map(Money::micros),
                caps.max_cost.map(Money::micros),
            )
            .map(Money::from_micros),
            segments: raise(self.segments, self.caps.max_segments, caps.max_segments),
        }
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

    #[test]
    fn a_batch_reserves_what_its_job_caps() {
        let rates: BTreeMap<String, Rate> = [(
            "US".to_owned(),
            Rate::Priced {
                per_segment: money("0.005"),
                source: RateSource::Plivo,
            },
        )]
        .into();
        let both = Budget {
            max_cost: Some(money("100")),
            max_segments: Some(5_000),
        };
        // GB has no price: it counts nothing toward the cost, but its segments count.
        assert_eq!(
            Reservation::of(&both, &tallies(), &rates),
            Reservation {
                cost: Some(money("10")),
                segments: Some(2_020),
            }
        );
        let segments_only = Budget {
            max_cost: None,
            max_segments: Some(5_000),
        };
        assert_eq!(
            Reservation::of(&segments_only, &tallies(), &rates).cost,
            None
        );
    }

    #[test]
    fn what_is_left_of_the_caps_takes_reservations_and_raises() {
        let caps = Budget {
            max_cost: Some(money("1.00")),
            max_segments: None,
        };
        let batch = Reservation {
            cost: Some(money("0.40")),
            segments: None,
        };
        let left = BudgetLeft::full(caps).less(&batch).less(&batch);
        assert_eq!(left.cost, Some(money("0.20")));
        assert!(!left.has_room_for(&batch), "a third batch would cross 1.00");
        assert!(left.has_room_for(&Reservation {
            cost: Some(money("0.20")),
            segments: None
        }));
        // Raised to 2.00: 1.00 more room; a lower cap, or one the job never had, changes
        // nothing.
        let raised = left.raised(Budget {
            max_cost: Some(money("2.00")),
            max_segments: Some(10),
        });
        assert_eq!(raised.cost, Some(money("1.20")));
        assert_eq!(raised.caps.max_cost, Some(money("2.00")));
        assert_eq!((raised.caps.max_segments, raised.segments), (None, None));
        // Reports that charged more than the estimates leave less room than the reservations.
        assert!(left.has_room_for(&Reservation {
            cost: Some(money("0.20")),
            segments: None
        }));
        assert!(!left.charges_leave_room_for(
            money("0.85"),
            &Reservation {
                cost: Some(money("0.20")),
                segments: None
            }
        ));
        let lowered = raised.raised(Budget {
            max_cost: Some(money("0.50")),
            max_segments: None,
        });
        assert_eq!(lowered, raised);
    }
}
