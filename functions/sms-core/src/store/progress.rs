//! How fast a job's batches are ending, for `GET /v1/bulk/{id}`'s recent rate: the sender
//! counts each ended batch's recipients into the job's current 10-second sample, and the
//! reader sums the samples of the last minute.

use std::future::Future;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::StoreError;
use crate::domain::ids::JobId;

/// The length of one sample.
pub const SAMPLE_SECONDS: i64 = 10;

/// How far back the recent rate looks.
pub const RECENT_WINDOW: Duration = Duration::seconds(60);

/// Recipients whose batch ended within one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgressSample {
    pub start: DateTime<Utc>,
    pub recipients: u64,
}

/// The start of the sample `at` falls in.
pub fn sample_start(at: DateTime<Utc>) -> DateTime<Utc> {
    let secs = at.timestamp().div_euclid(SAMPLE_SECONDS) * SAMPLE_SECONDS;
    Utc.timestamp_opt(secs, 0).single().unwrap_or(at)
}

pub trait ProgressLog: Send + Sync {
    /// Adds `recipients` to the job's sample for `now`. Best effort: a lost count only makes
    /// the recent rate read low for a minute.
    fn note_progress(
        &self,
        job_id: &JobId,
        recipients: u64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The job's samples starting at or after `since`, oldest first.
    fn recent_progress(
        &self,
        job_id: &JobId,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<ProgressSample>, StoreError>> + Send;
}

/// Recipients per second over the last [`RECENT_WINDOW`] (or since the first sample, if the
/// job is younger), from the samples [`ProgressLog::recent_progress`] returned for
/// `now - RECENT_WINDOW`. `None` when nothing ended in the window.
pub fn recent_rate(samples: &[ProgressSample], now: DateTime<Utc>) -> Option<f64> {
    let window_start = sample_start(now - RECENT_WINDOW);
    let within: Vec<_> = samples.iter().filter(|s| s.start >= window_start).collect();
    let total: u64 = within.iter().map(|s| s.recipients).sum();
    let first = within.iter().map(|s| s.start).min()?;
    if total == 0 {
        return None;
    }
    // At least one second, so a first sample a moment old does not read as a huge rate.
    let seconds = ((now - first).num_milliseconds() as f64 / 1000.0).max(1.0);
    Some(total as f64 / seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn samples_start_on_ten_second_boundaries() {
        assert_eq!(sample_start(at(0)), at(0));
        assert_eq!(sample_start(at(9)), at(0));
        assert_eq!(sample_start(at(10)), at(10));
    }

    #[test]
    fn the_recent_rate_is_the_last_minute_of_samples_over_their_time() {
        let samples = [
            ProgressSample {
                start: at(0),
                recipients: 99_000,
            },
            ProgressSample {
                start: at(100),
                recipients: 5_000,
            },
            ProgressSample {
                start: at(110),
                recipients: 5_000,
            },
        ];
        // At 120 s, the sample at 0 is out of the window; 10,000 in 20 s.
        assert_eq!(recent_rate(&samples, at(120)), Some(500.0));
        // Nothing in the last minute: no rate rather than a stale one.
        assert_eq!(recent_rate(&samples, at(300)), None);
        assert_eq!(recent_rate(&[], at(0)), None);
    }
}
