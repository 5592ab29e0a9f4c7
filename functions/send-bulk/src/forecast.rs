//! How long a job will take: to hand every batch to Plivo at the account's request budget,
//! and for Plivo to dispatch every message at the account's MPS (docs/api.md, "Forecast").
//! Plivo accepts requests far faster than it dispatches messages, so for any large job the
//! second is what the recipients wait for.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sms_core::{domain::validity::Deadline, pace::RequestRate};

/// Plivo expires a message still queued 3 hours after it was accepted (status `failed`,
/// error 420, not charged).
pub const PLIVO_QUEUE_EXPIRY: Duration = Duration::hours(3);

/// What the estimates assume: the account's request budget and its MPS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub requests: RequestRate,
    /// Messages per second Plivo dispatches for the account (`PLIVO_ACCOUNT_MPS`).
    pub account_mps: f64,
}

impl Rates {
    /// Plivo's default for SMS.
    pub const DEFAULT_ACCOUNT_MPS: f64 = 5.0;

    pub fn parse_mps(raw: &str) -> Result<f64, String> {
        match raw.trim().parse::<f64>() {
            Ok(mps) if mps > 0.0 && mps <= 100_000.0 => Ok(mps),
            _ => Err(format!(
                "expected messages per second above 0 and at most 100000, got {raw:?}"
            )),
        }
    }
}

impl Default for Rates {
    fn default() -> Self {
        Self {
            requests: RequestRate::DEFAULT,
            account_mps: Self::DEFAULT_ACCOUNT_MPS,
        }
    }
}

/// `forecast` in the answer of `POST /v1/bulk`: estimates from the settings, with the job
/// alone on the account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    pub plivo_requests: u64,
    pub requests_per_second: f64,
    /// Seconds to hand every batch to Plivo at the full budget.
    pub submission_seconds: f64,
    pub submitted_by: String,
    pub account_mps: f64,
    /// Seconds for Plivo to dispatch every message at the account's MPS: the earliest the
    /// last recipient can have it.
    pub delivery_seconds: f64,
    pub delivered_by: String,
    /// Set when Plivo would still hold messages past its 3-hour queue expiry, or past the
    /// job's own deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// The job's deadline (`valid_for`, `expires_at`), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Whether every batch can reach Plivo before the deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fits_validity: Option<bool>,
}

fn seconds(s: f64) -> Duration {
    Duration::milliseconds((s * 1000.0).round() as i64)
}

/// A time as the answers write it: RFC 3339 to the second, in UTC.
pub fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A moment the service recorded (a job's creation or last change, a control change, a
/// results request): RFC 3339 in UTC (`Z`), to the millisecond.
pub fn moment(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Forecast {
    pub fn new(plivo_requests: u64, messages: u64, rates: Rates, now: DateTime<Utc>) -> Self {
        let requests_per_second = rates.requests.per_second();
        let submission_seconds = plivo_requests as f64 / requests_per_second;
        let delivery_seconds = messages as f64 / rates.account_mps;
        let expiring = (messages as f64
            - rates.account_mps * PLIVO_QUEUE_EXPIRY.num_seconds() as f64)
            .max(0.0) as u64;
        let warning = (expiring > 0).then(|| {
            format!(
                "at {} messages per second Plivo would dispatch the last message after {:.1} hours, \
                 but expires messages queued longer than 3 hours (error 420): about {expiring} of \
                 {messages} would fail. Split the job over time, or ask Plivo for a higher MPS",
                rates.account_mps,
                delivery_seconds / 3600.0
            )
        });
        Self {
            plivo_requests,
            requests_per_second,
            submission_seconds: round(submission_seconds),
            submitted_by: stamp(now + seconds(submission_seconds)),
            account_mps: rates.account_mps,
            delivery_seconds: round(delivery_seconds),
            delivered_by: stamp(now + seconds(delivery_seconds)),
            warning,
            expires_at: None,
            fits_validity: None,
        }
    }

    /// The forecast of a job whose messages expire at `deadline`, made at `now`, and the
    /// sentence to refuse it with when its last batch cannot reach Plivo before the deadline
    /// at the full budget: such a job would leave recipients out, so it is refused up front.
    /// Batches that do reach Plivo in time but would wait in its queue past the deadline (at
    /// the account's MPS) are a warning: Plivo fails them, uncharged (error 420).
    pub fn against(mut self, deadline: Deadline, now: DateTime<Utc>) -> (Self, Option<String>) {
        let at = deadline.time();
        let submitted = now + seconds(self.submission_seconds);
        self.expires_at = Some(stamp(at));
        self.fits_validity = Some(submitted <= at);
        if submitted > at {
            let why = format!(
                "the job's last batch would reach Plivo at {} ({} requests at {} a second) but its messages expire at {}: give it at least {} seconds, or split the job",
                self.submitted_by,
                self.plivo_requests,
                self.requests_per_second,
                stamp(at),
                self.submission_seconds.ceil() as u64 + 1
            );
            return (self, Some(why));
        }
        let dispatchable =
            ((at - now).num_milliseconds().max(0) as f64 / 1000.0 * self.account_mps) as u64;
        let messages = (self.delivery_seconds * self.account_mps).round() as u64;
        if messages > dispatchable && self.warning.is_none() {
            self.warning = Some(format!(
                "at {} messages per second Plivo can dispatch about {dispatchable} of the job's {messages} messages before they expire at {}; it fails the rest, uncharged (error 420)",
                self.account_mps,
                stamp(at)
            ));
        }
        (self, None)
    }
}

/// An answer with the forecast beside its fields: `{..., "forecast": {...}}`.
#[derive(Serialize)]
pub struct WithForecast<'a, T: Serialize> {
    #[serde(flatten)]
    pub answer: &'a T,
    pub forecast: &'a Forecast,
}

impl Forecast {
    pub fn beside<'a, T: Serialize>(&'a self, answer: &'a T) -> WithForecast<'a, T> {
        WithForecast {
            answer,
            forecast: self,
        }
    }
}

/// To the tenth of a second: an estimate, not a measurement.
pub fn round(s: f64) -> f64 {
    (s * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_deadline_before_the_last_batch_is_refused_and_one_before_dispatch_is_a_warning() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        // 1,000 requests take 18.2 s at 55 a second.
        let f = Forecast::new(1_000, 10_000, Rates::default(), now);
        let (refused, why) = f.clone().against(Deadline::after(10, now).unwrap(), now);
        let why = why.unwrap();
        assert_eq!(refused.fits_validity, Some(false));
        assert!(why.contains("2026-12-01T00:00:18Z"), "{why}");
        assert!(why.contains("at least 20 seconds"), "{why}");

        // In time for Plivo, but 10,000 messages at 5 a second outlast ten minutes.
        let (ok, refusal) = f.against(Deadline::after(600, now).unwrap(), now);
        assert_eq!(refusal, None);
        assert_eq!(ok.fits_validity, Some(true));
        assert_eq!(ok.expires_at.as_deref(), Some("2026-12-01T00:10:00Z"));
        let warning = ok.warning.unwrap();
        assert!(
            warning.contains("about 3000 of the job's 10000"),
            "{warning}"
        );

        let (small, _) = Forecast::new(1, 10, Rates::default(), now)
            .against(Deadline::after(600, now).unwrap(), now);
        assert_eq!((small.fits_validity, small.warning), (Some(true), None));
    }

    #[test]
    fn a_million_at_five_mps_takes_55_hours_to_reach_phones_and_says_most_would_expire() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let f = Forecast::new(1_000, 1_000_000, Rates::default(), now);
        assert_eq!(f.submission_seconds, 18.2); // 1,000 requests at 55 a second
        assert_eq!(f.submitted_by, "2026-12-01T00:00:18Z");
        assert_eq!(f.delivery_seconds, 200_000.0); // 55.6 hours
        assert_eq!(f.delivered_by, "2026-12-03T07:33:20Z");
        let warning = f.warning.unwrap();
        assert!(warning.contains("55.6 hours"), "{warning}");
        assert!(warning.contains("about 946000 of 1000000"), "{warning}");
    }

    #[test]
    fn a_job_plivo_dispatches_within_three_hours_has_no_warning() {
        let rates = Rates {
            requests: RequestRate::new(20.0).unwrap(),
            account_mps: 100.0,
        };
        let f = Forecast::new(10, 10_000, rates, Utc::now());
        assert_eq!((f.submission_seconds, f.delivery_seconds), (0.5, 100.0));
        assert_eq!(f.warning, None);
    }

    #[test]
    fn the_account_mps_is_a_positive_number() {
        assert_eq!(Rates::parse_mps(" 30 "), Ok(30.0));
        for bad in ["0", "-1", "x", "NaN", ""] {
            assert!(Rates::parse_mps(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod moments {
    use chrono::TimeZone;

    #[test]
    fn a_moment_is_utc_to_the_millisecond() {
        let t = chrono::Utc
            .timestamp_opt(1_796_400_000, 118_394_512)
            .unwrap();

        assert_eq!(super::moment(t), "2026-12-04T16:00:00.118Z");
    }
}
