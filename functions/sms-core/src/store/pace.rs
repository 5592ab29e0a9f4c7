//! The port behind the account's request budget (`crate::pace`): one schedule of Plivo
//! requests that every sender and send-sms instance books its turns from.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};

use super::StoreError;

/// Turns booked in the schedule: `turn`, then one spacing apart after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Booking {
    /// The first booked turn: never earlier than the `now` it was booked at.
    pub turn: DateTime<Utc>,
    /// Until when the pace is lowered (a 429 was met), if it is: read from the schedule with
    /// the booking, so every instance learns of it at its next turn.
    pub slowed_until: Option<DateTime<Utc>>,
}

/// The schedule: the time of the next free turn, and until when the pace is lowered.
///
/// Turns are handed out one `spacing` apart, each exactly once, however many instances book
/// at once: that is what keeps the whole account under Plivo's request rate. After a quiet
/// spell the schedule restarts at `now` rather than handing out turns in the past, so it
/// never bursts to catch up.
pub trait RequestSchedule: Send + Sync {
    /// Books `turns` turns one `spacing` apart, the first at the later of the next free turn
    /// and `now`, and moves the next free turn one `spacing` past the last of them. Turns
    /// booked together are consecutive, so the requests of one invocation go out in one
    /// run rather than interleaved with every other instance's.
    fn book_turns(
        &self,
        turns: u32,
        spacing: Duration,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Booking, StoreError>> + Send;

    /// Holds every turn not yet booked back to `resume` at the earliest, and lowers the pace
    /// until `slowed_until` (never shortening a longer slow spell already recorded).
    fn hold_back(
        &self,
        resume: DateTime<Utc>,
        slowed_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl<T: RequestSchedule> RequestSchedule for std::sync::Arc<T> {
    fn book_turns(
        &self,
        turns: u32,
        spacing: Duration,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Booking, StoreError>> + Send {
        (**self).book_turns(turns, spacing, now)
    }

    fn hold_back(
        &self,
        resume: DateTime<Utc>,
        slowed_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).hold_back(resume, slowed_until)
    }
}
