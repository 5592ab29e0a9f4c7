//! The account's Plivo request budget (docs/architecture.md, "Pacing"): every request to
//! Plivo, from every sender and send-sms instance, first books a turn in one shared
//! schedule ([`RequestSchedule`], a DynamoDB item), so that together they keep to
//! `PLIVO_REQUESTS_PER_SECOND` however many instances run.
//!
//! Turns are one spacing (1 / rate) apart and each is handed out once, so in any interval of
//! T seconds at most ⌊rate × T⌋ + 1 requests start: at the default 55 per second, 276 in any
//! 5 seconds against Plivo's 300, whatever the alignment of Plivo's window. A 429 (the account
//! may share its limit with other software) holds every turn back by [`PAUSE_AFTER_429`] and
//! halves the pace for [`SLOW_SPELL`].

use std::{
    future::Future,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use chrono::{DateTime, Utc};
use tracing::{debug, warn};

use crate::store::{RequestSchedule, StoreError};

/// What every turn waits for before its request goes to Plivo.
pub trait Pace: Send + Sync {
    /// Waits until this request's turn.
    fn wait_turn(&self) -> impl Future<Output = Result<(), PaceError>> + Send;

    /// Plivo answered 429: slow every instance down for a while.
    fn rate_limited(&self) -> impl Future<Output = ()> + Send;

    /// Books `count` consecutive turns at once, for requests about to be made together
    /// (the records of one sender invocation): see [`FirstTurn`].
    fn reserve(
        &self,
        count: usize,
    ) -> impl Future<Output = Result<Vec<DateTime<Utc>>, PaceError>> + Send;
}

/// Waits until `turn`, measured now (not from when it was booked).
async fn sleep_until(turn: DateTime<Utc>) {
    let wait = (turn - Utc::now()).to_std().unwrap_or_default();
    if !wait.is_zero() {
        debug!(
            wait_ms = wait.as_millis() as u64,
            "waiting for this request's turn"
        );
        tokio::time::sleep(wait).await;
    }
}

/// One request's [`Pace`] when its first turn was reserved with others: the first attempt
/// takes the reserved turn, any retry books its own.
///
/// Why reserve: the records of one invocation finish together (the invocation answers for
/// all of them), so if each booked alone, their turns would interleave with every other
/// instance's, all instances would finish, and book again, at the same moment, and the
/// schedule would run dry for a Plivo round trip every cycle. Consecutive blocks keep the
/// instances staggered, so some instance is always booked.
pub struct FirstTurn<'a, P> {
    pace: &'a P,
    turn: Mutex<Option<DateTime<Utc>>>,
}

impl<'a, P: Pace> FirstTurn<'a, P> {
    pub fn new(pace: &'a P, turn: Option<DateTime<Utc>>) -> Self {
        Self {
            pace,
            turn: Mutex::new(turn),
        }
    }
}

impl<P: Pace> Pace for FirstTurn<'_, P> {
    async fn wait_turn(&self) -> Result<(), PaceError> {
        let reserved = self
            .turn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match reserved {
            Some(turn) => {
                sleep_until(turn).await;
                Ok(())
            }
            None => self.pace.wait_turn().await,
        }
    }

    async fn rate_limited(&self) {
        self.pace.rate_limited().await
    }

    async fn reserve(&self, count: usize) -> Result<Vec<DateTime<Utc>>, PaceError> {
        self.pace.reserve(count).await
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PaceError {
    #[error("the request schedule could not be read: {0}")]
    Schedule(#[from] StoreError),
    /// The schedule is so far ahead that waiting would outlast any invocation: something
    /// other than load moved it (nothing in the service books that far ahead).
    #[error("the next turn is {0:?} away, longer than any request may wait")]
    TooFar(Duration),
}

/// Plivo requests per second for the whole account (`PLIVO_REQUESTS_PER_SECOND`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestRate(f64);

impl RequestRate {
    /// 55 a second: 92 % of Plivo's default 300 per 5 seconds, leaving 24 requests in every
    /// 5 seconds for network jitter and for other software on the same account.
    pub const DEFAULT: Self = Self(55.0);

    /// Plivo raises an account's limit on request; past this a typo is likelier than a deal.
    pub const MAX: f64 = 10_000.0;

    pub fn new(per_second: f64) -> Result<Self, String> {
        // Written so that NaN fails too.
        if per_second > 0.0 && per_second <= Self::MAX {
            Ok(Self(per_second))
        } else {
            Err(format!(
                "must be a number of requests per second above 0 and at most {}, got {per_second}",
                Self::MAX
            ))
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        let value: f64 = raw
            .trim()
            .parse()
            .map_err(|_| format!("expected requests per second such as 55, got {raw:?}"))?;
        Self::new(value)
    }

    pub fn per_second(self) -> f64 {
        self.0
    }

    /// The time between two turns, rounded up to the microsecond so the pace never exceeds
    /// the rate.
    pub fn spacing(self) -> chrono::Duration {
        chrono::Duration::microseconds((1_000_000.0 / self.0).ceil() as i64)
    }
}

impl Default for RequestRate {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How long every instance holds back after a 429 before its next turn.
pub const PAUSE_AFTER_429: chrono::Duration = chrono::Duration::seconds(1);

/// How long the pace stays lowered after a 429.
pub const SLOW_SPELL: chrono::Duration = chrono::Duration::seconds(60);

/// How much a slow spell stretches the spacing of turns.
const SLOWDOWN: i32 = 2;

/// The longest a turn may be ahead. Each instance holds at most a few turns ahead (one per
/// request in flight), so even 1,000 requests in flight at 55 a second stay under 20 s.
const MAX_WAIT: chrono::Duration = chrono::Duration::seconds(60);

/// The most turns one booking takes.
const MAX_BLOCK: usize = 1_000;

/// The [`Pace`] of the service: turns booked in a shared [`RequestSchedule`].
#[derive(Debug)]
pub struct Pacer<S> {
    schedule: S,
    rate: RequestRate,
    /// The slow spell this instance last read from the schedule.
    slowed_until: Mutex<Option<DateTime<Utc>>>,
}

impl<S: RequestSchedule> Pacer<S> {
    pub fn new(schedule: S, rate: RequestRate) -> Self {
        Self {
            schedule,
            rate,
            slowed_until: Mutex::new(None),
        }
    }

    pub fn rate(&self) -> RequestRate {
        self.rate
    }

    fn slowed_until(&self) -> Option<DateTime<Utc>> {
        *self
            .slowed_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The spacing this instance books with at `now`: stretched during a slow spell.
    pub fn spacing(&self, now: DateTime<Utc>) -> chrono::Duration {
        match self.slowed_until() {
            Some(until) if until > now => self.rate.spacing() * SLOWDOWN,
            _ => self.rate.spacing(),
        }
    }

    /// Books the next turn at `now` and returns it.
    pub async fn book(&self, now: DateTime<Utc>) -> Result<DateTime<Utc>, PaceError> {
        Ok(self.book_block(1, now).await?[0])
    }

    /// Books `count` (at least one) consecutive turns at `now` and returns them.
    pub async fn book_block(
        &self,
        count: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, PaceError> {
        // Bounded, so the block's length can never overflow: a block is one invocation's
        // records, at most 10 from SQS.
        let count = count.clamp(1, MAX_BLOCK) as u32;
        let spacing = self.spacing(now);
        let booking = self.schedule.book_turns(count, spacing, now).await?;
        *self
            .slowed_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = booking.slowed_until;
        let ahead = booking.turn - now;
        if ahead > MAX_WAIT {
            return Err(PaceError::TooFar(ahead.to_std().unwrap_or_default()));
        }
        Ok((0..count as i32)
            .map(|i| booking.turn + spacing * i)
            .collect())
    }
}

impl<S: RequestSchedule> Pace for Pacer<S> {
    async fn wait_turn(&self) -> Result<(), PaceError> {
        // Measured from after the booking: the time the booking itself took is already part
        // of the wait, and counting it twice would send late and bunch this request up with
        // the next one.
        sleep_until(self.book(Utc::now()).await?).await;
        Ok(())
    }

    async fn reserve(&self, count: usize) -> Result<Vec<DateTime<Utc>>, PaceError> {
        self.book_block(count, Utc::now()).await
    }

    async fn rate_limited(&self) {
        let now = Utc::now();
        let until = now + SLOW_SPELL;
        *self
            .slowed_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(until);
        if let Err(e) = self.schedule.hold_back(now + PAUSE_AFTER_429, until).await {
            // This instance slows down anyway; the others learn of the spell at the next 429.
            warn!(error = %e, "the slow spell could not be recorded in the schedule");
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::MemoryStore;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_700_000_000_000 + ms).unwrap()
    }

    #[test]
    fn the_rate_is_a_positive_number_and_its_spacing_never_runs_fast() {
        assert_eq!(
            RequestRate::new(55.0).unwrap().spacing(),
            chrono::Duration::microseconds(18_182)
        );
        assert_eq!(
            RequestRate::parse(" 4 ").unwrap().spacing(),
            chrono::Duration::milliseconds(250)
        );
        assert_eq!(RequestRate::parse("0.5").unwrap().per_second(), 0.5);
        for bad in ["0", "-3", "NaN", "inf", "fast", "", "10001"] {
            assert!(RequestRate::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn turns_are_one_spacing_apart_and_a_quiet_spell_never_bursts() {
        let pacer = Pacer::new(MemoryStore::new(), RequestRate::new(10.0).unwrap());
        // Three at once: now, +100 ms, +200 ms.
        let turns: Vec<_> = [
            pacer.book(at(0)).await.unwrap(),
            pacer.book(at(0)).await.unwrap(),
            pacer.book(at(0)).await.unwrap(),
        ]
        .into();
        assert_eq!(turns, [at(0), at(100), at(200)]);
        // Ten seconds idle: the schedule restarts at now, no saved-up turns.
        assert_eq!(pacer.book(at(10_000)).await.unwrap(), at(10_000));
        assert_eq!(pacer.book(at(10_000)).await.unwrap(), at(10_100));
    }

    #[tokio::test]
    async fn a_block_of_turns_is_consecutive_and_a_first_turn_is_used_once() {
        let pacer = Pacer::new(MemoryStore::new(), RequestRate::new(10.0).unwrap());
        let block = pacer.book_block(3, at(0)).await.unwrap();
        assert_eq!(block, [at(0), at(100), at(200)]);
        assert_eq!(pacer.book(at(0)).await.unwrap(), at(300));

        // A first turn in the past: the first attempt goes at once, the retry books anew.
        let first = FirstTurn::new(&pacer, Some(Utc::now() - chrono::Duration::seconds(1)));
        first.wait_turn().await.unwrap();
        assert!(first.turn.lock().unwrap().is_none());
    }

    #[tokio::test]
    async fn a_429_holds_every_instance_back_and_halves_the_pace_for_a_while() {
        let schedule = std::sync::Arc::new(MemoryStore::new());
        let rate = RequestRate::new(10.0).unwrap();
        let (one, other) = (
            Pacer::new(schedule.clone(), rate),
            Pacer::new(schedule.clone(), rate),
        );
        one.rate_limited().await;
        let now = Utc::now();
        // The other instance learns of the spell with its next booking, which waits for the
        // pause...
        let turn = other.book(now).await.unwrap();
        assert!(turn - now > chrono::Duration::milliseconds(900), "{turn:?}");
        assert!(other.spacing(now) == rate.spacing() * 2);
        // ...and the turns after it are twice as far apart.
        let next = other.book(now).await.unwrap();
        assert_eq!(next - turn, chrono::Duration::milliseconds(100));
        let after = other.book(now).await.unwrap();
        assert_eq!(after - next, chrono::Duration::milliseconds(200));
        // Past the spell, the full pace again.
        assert_eq!(other.spacing(now + SLOW_SPELL), rate.spacing());
    }

    #[tokio::test]
    async fn a_turn_absurdly_far_ahead_is_refused_rather_than_waited_for() {
        let schedule = MemoryStore::new();
        schedule
            .hold_back(at(0) + chrono::Duration::hours(2), at(0))
            .await
            .unwrap();
        let pacer = Pacer::new(schedule, RequestRate::DEFAULT);
        assert!(matches!(pacer.book(at(0)).await, Err(PaceError::TooFar(_))));
    }
}
