//! What a list's job will cost, and its cap checked before anything is written
//! (docs/api.md, "Budget"): segments need no price; `max_cost` needs every destination
//! country priced, from the deployment's table or Plivo's Pricing API.

use std::collections::BTreeMap;

use sms_core::{
    Problem, ProblemKind,
    domain::{
        estimate::{Budget, Estimate, OverBudget, Rate, Reservation, Tally},
        numbering,
    },
    secrets::SecretProvider,
    store::JobBudget,
};
use tracing::info;

use crate::{App, BulkRequest, intake::Intake};

/// Recipients and segments per destination country.
fn tallies(intake: &Intake) -> BTreeMap<&'static str, Tally> {
    intake
        .countries
        .iter()
        .map(|(&country, &recipients)| {
            let mut tally = Tally::default();
            tally.add(recipients, intake.segments as u64);
            (country, tally)
        })
        .collect()
}

/// The intake priced: every country, from the table or Plivo.
pub async fn estimate<S, Q, P: SecretProvider, F, T>(
    intake: &Intake,
    app: &App<S, Q, P, F, T>,
) -> Estimate {
    estimate_tallies(&tallies(intake), app).await
}

/// `tallies` (recipients and segments per country) priced: every country, from the table or
/// Plivo.
pub async fn estimate_tallies<S, Q, P: SecretProvider, F, T>(
    tallies: &BTreeMap<&str, Tally>,
    app: &App<S, Q, P, F, T>,
) -> Estimate {
    let countries = tallies.keys().copied();
    let secret = app.secrets.current().await;
    let rates = app
        .prices
        .rates_with_secret(countries, secret.as_deref())
        .await;
    Estimate::new(tallies, &rates)
}

/// The request's cap against its intake: when the job fits, its caps and what each batch
/// reserves of them (none without a cap); or the answer that refuses it.
pub async fn check<S, Q, P: SecretProvider, F, T>(
    request: &BulkRequest,
    intake: &Intake,
    app: &App<S, Q, P, F, T>,
) -> Result<Option<JobBudget>, Problem> {
    let budget = request.budget;
    if !budget.is_set() {
        return Ok(None);
    }
    let estimate = if budget.max_cost.is_some() {
        estimate(intake, app).await
    } else {
        Estimate::new(&tallies(intake), &BTreeMap::new())
    };
    match budget.check(&estimate) {
        Ok(()) => Ok(Some(JobBudget {
            caps: budget,
            reservations: reservations(&budget, intake, &estimate),
        })),
        Err(OverBudget::Unpriced { .. }) if estimate.prices_unavailable() => Err(Problem::new(
            ProblemKind::PlivoUnavailable,
            "max_cost cannot be checked now: Plivo's prices could not be read; nothing was \
             sent. Retry shortly",
        )
        .with("estimate", &estimate)),
        Err(over) => {
            info!(%over, "job refused: over its cap");
            Err(Problem::new(ProblemKind::OverBudget, over.to_string())
                .with("estimate", &estimate)
                .with("budget", budget))
        }
    }
}

/// What each batch of `intake` reserves of `budget` when it is claimed: its segments and
/// its recipients' countries priced at the estimate's rates.
fn reservations(budget: &Budget, intake: &Intake, estimate: &Estimate) -> Vec<Reservation> {
    let rates: BTreeMap<String, Rate> = estimate
        .countries
        .iter()
        .filter_map(|line| {
            Some((
                line.country.clone(),
                Rate::Priced {
                    per_segment: line.rate?,
                    source: line.rate_source?,
                },
            ))
        })
        .collect();
    intake
        .batches
        .iter()
        .map(|batch| {
            let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
            for number in batch {
                // Every accepted number was classified at intake; one that somehow is not
                // counts as non-geographic, which no table prices.
                let region = numbering::classify(number).map_or("001", |n| n.region);
                tallies
                    .entry(region)
                    .or_default()
                    .add(1, intake.segments as u64);
            }
            Reservation::of(budget, &tallies, &rates)
        })
        .collect()
}

/// A dry run's word on the cap: whether the job would be accepted, and if not why.
#[derive(Debug, serde::Serialize)]
pub struct Verdict {
    #[serde(flatten)]
    pub budget: sms_core::domain::estimate::Budget,
    pub fits: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Verdict {
    /// `None` without a cap.
    pub fn of(request: &BulkRequest, estimate: &Estimate) -> Option<Self> {
        Self::of_caps(request.budget, estimate)
    }

    /// `None` without a cap: for an upload's dry run as for a list's.
    pub fn of_caps(budget: Budget, estimate: &Estimate) -> Option<Self> {
        budget.is_set().then(|| {
            let detail = budget.check(estimate).err().map(|over| over.to_string());
            Self {
                budget,
                fits: detail.is_none(),
                detail,
            }
        })
    }
}
