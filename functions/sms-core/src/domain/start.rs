//! When a job starts: `send_at` on a request (docs/api.md, "Scheduled jobs"). A job with a
//! start is planned and written at once, and sent from its start on: its batches are
//! enqueued by the `Start` task its one-time schedule delivers (`crate::schedule`).

use chrono::{DateTime, Duration, Utc};

/// The furthest ahead a job may be scheduled (as EventBridge Scheduler's one-time schedules
/// and Twilio's scheduled messages allow): further is more likely a typo than a plan.
pub const MAX_AHEAD: Duration = Duration::days(35);

/// A start in the future, at most [`MAX_AHEAD`] away when it was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SendAt(DateTime<Utc>);

/// Why a `send_at` is refused, as the field's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendAtError {
    #[error("must be an RFC 3339 time with its offset, such as 2026-12-08T10:00:00-05:00")]
    NotATime,
    #[error("is already past: leave it out to send now")]
    Past,
    #[error("must be at most 35 days ahead")]
    TooFar,
}

impl SendAt {
    /// A `send_at` as given, judged at `now`.
    pub fn parse(raw: &str, now: DateTime<Utc>) -> Result<Self, SendAtError> {
        let at = DateTime::parse_from_rfc3339(raw)
            .map_err(|_| SendAtError::NotATime)?
            .with_timezone(&Utc);
        if at <= now {
            return Err(SendAtError::Past);
        }
        if at - now > MAX_AHEAD {
            return Err(SendAtError::TooFar);
        }
        Ok(Self(at))
    }

    pub fn time(self) -> DateTime<Utc> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-04T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_start_is_a_future_time_within_35_days() {
        let at = SendAt::parse("2026-12-08T10:00:00-05:00", now()).unwrap();
        assert_eq!(
            at.time(),
            "2026-12-08T15:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert!(SendAt::parse("2027-01-08T12:00:00Z", now()).is_ok());
    }

    #[test]
    fn past_far_and_malformed_starts_are_refused() {
        for (raw, error) in [
            ("2026-12-04T12:00:00Z", SendAtError::Past),
            ("2026-12-04T11:00:00Z", SendAtError::Past),
            ("2027-01-08T12:00:01Z", SendAtError::TooFar),
            ("2026-12-08 10:00", SendAtError::NotATime),
            ("tomorrow", SendAtError::NotATime),
            ("2026-12-08T10:00:00", SendAtError::NotATime),
        ] {
            assert_eq!(SendAt::parse(raw, now()), Err(error), "{raw}");
        }
    }
}
