//! How long a message is worth sending (`valid_for` or `expires_at` on a request), and what
//! Plivo is told of it (docs/plivo.md, "Message expiry").
//!
//! A deadline is absolute: a bulk job's batches leave over minutes, and each must carry what
//! is left of the job's validity when it goes, not the validity the request asked for. Plivo
//! takes `message_expiry` in whole seconds, 5 to 10,799 (its default is 10,800, three hours):
//! a message still in its queue that long is failed with error 420 and not charged. So a
//! batch with less than 5 s left is not sent at all, and one with more than Plivo's maximum
//! is given the maximum (Plivo would expire it by then anyway).

use chrono::{DateTime, Duration, Utc};

/// Plivo's bounds on `message_expiry`, in seconds.
pub const PLIVO_MIN_EXPIRY: i64 = 5;
pub const PLIVO_MAX_EXPIRY: i64 = 10_799;

/// The furthest ahead a deadline may be: a job is kept 90 days, but nobody means a
/// message to wait more than this, and a typo of a year should be an error.
pub const MAX_VALIDITY: Duration = Duration::days(35);

/// When a message stops being worth sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline(DateTime<Utc>);

/// Why a request's validity is refused, as the field's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidityError {
    #[error("must be at least {PLIVO_MIN_EXPIRY} seconds")]
    TooShort,
    #[error("must be at most 35 days ahead")]
    TooFar,
    #[error("is already past")]
    Past,
    #[error("must be an RFC 3339 time with its offset, such as 2026-12-04T18:00:00Z")]
    NotATime,
}

impl Deadline {
    /// `valid_for` seconds from `now`.
    pub fn after(seconds: u64, now: DateTime<Utc>) -> Result<Self, ValidityError> {
        let seconds = i64::try_from(seconds).map_err(|_| ValidityError::TooFar)?;
        if seconds < PLIVO_MIN_EXPIRY {
            return Err(ValidityError::TooShort);
        }
        if seconds > MAX_VALIDITY.num_seconds() {
            return Err(ValidityError::TooFar);
        }
        Ok(Self(now + Duration::seconds(seconds)))
    }

    /// An `expires_at` given as RFC 3339, judged at `now`.
    pub fn parse(at: &str, now: DateTime<Utc>) -> Result<Self, ValidityError> {
        let at = DateTime::parse_from_rfc3339(at)
            .map_err(|_| ValidityError::NotATime)?
            .with_timezone(&Utc);
        if at <= now {
            return Err(ValidityError::Past);
        }
        if at - now < Duration::seconds(PLIVO_MIN_EXPIRY) {
            return Err(ValidityError::TooShort);
        }
        if at - now > MAX_VALIDITY {
            return Err(ValidityError::TooFar);
        }
        Ok(Self(at))
    }

    /// A deadline as stored.
    pub fn at(at: DateTime<Utc>) -> Self {
        Self(at)
    }

    pub fn time(self) -> DateTime<Utc> {
        self.0
    }

    /// Plivo's `message_expiry` for a request made at `now`: what is left, in whole seconds,
    /// at most Plivo's maximum. None when less than Plivo's minimum is left: too late to send.
    pub fn message_expiry(self, now: DateTime<Utc>) -> Option<u32> {
        let left = (self.0 - now).num_seconds();
        (left >= PLIVO_MIN_EXPIRY).then(|| left.min(PLIVO_MAX_EXPIRY) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-04T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn valid_for_counts_from_the_request() {
        let d = Deadline::after(600, now()).unwrap();
        assert_eq!(d.time(), now() + Duration::seconds(600));
        assert_eq!(Deadline::after(4, now()), Err(ValidityError::TooShort));
        assert_eq!(
            Deadline::after(35 * 86_400 + 1, now()),
            Err(ValidityError::TooFar)
        );
        assert_eq!(Deadline::after(u64::MAX, now()), Err(ValidityError::TooFar));
    }

    #[test]
    fn expires_at_is_a_future_rfc3339_time() {
        let d = Deadline::parse("2026-12-04T13:00:00+01:00", now());
        assert_eq!(d, Err(ValidityError::Past), "13:00 at +01:00 is noon UTC");
        let d = Deadline::parse("2026-12-04T18:30:00+01:00", now()).unwrap();
        assert_eq!(d.time(), now() + Duration::minutes(330));
        assert_eq!(
            Deadline::parse("2026-12-04T12:00:03Z", now()),
            Err(ValidityError::TooShort)
        );
        assert_eq!(
            Deadline::parse("2027-12-04T12:00:00Z", now()),
            Err(ValidityError::TooFar)
        );
        assert_eq!(
            Deadline::parse("tomorrow", now()),
            Err(ValidityError::NotATime)
        );
        assert_eq!(
            Deadline::parse("2026-12-05T12:00:00", now()),
            Err(ValidityError::NotATime),
            "a time without its offset is ambiguous"
        );
    }

    #[test]
    fn plivo_is_told_what_is_left_within_its_bounds() {
        let d = Deadline::after(600, now()).unwrap();
        assert_eq!(d.message_expiry(now()), Some(600));
        assert_eq!(d.message_expiry(now() + Duration::seconds(590)), Some(10));
        assert_eq!(d.message_expiry(now() + Duration::seconds(595)), Some(5));
        assert_eq!(
            d.message_expiry(now() + Duration::milliseconds(595_500)),
            None
        );
        assert_eq!(d.message_expiry(now() + Duration::seconds(700)), None);
        let long = Deadline::after(86_400, now()).unwrap();
        assert_eq!(long.message_expiry(now()), Some(10_799));
    }
}
