//! The account's request schedule (`store::RequestSchedule`, behind `sms_core::pace`):
//! every scenario runs against the DynamoDB adapter in moto (real conditional updates) and
//! against the in-memory adapter, so both hand out turns by the same rules.
//!
//! Needs moto: run through `make test` or `infra/tests/with-moto.sh cargo test`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::future::join_all;
use sms_core::store::RequestSchedule;

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_800_000_000_000 + ms).unwrap()
}

const SPACING: Duration = Duration::milliseconds(20);

pub async fn an_idle_schedule_starts_now_and_hands_out_turns_one_spacing_apart<
    S: RequestSchedule,
>(
    store: &S,
) {
    let first = store.book_turns(1, SPACING, at(0)).await.unwrap();
    assert_eq!(first.turn, at(0));
    assert_eq!(first.slowed_until, None);
    assert_eq!(
        store.book_turns(1, SPACING, at(5)).await.unwrap().turn,
        at(20)
    );
    assert_eq!(
        store.book_turns(1, SPACING, at(5)).await.unwrap().turn,
        at(40)
    );
    // Booked turns in the past are not handed out again after a quiet spell: the schedule
    // restarts at now, so it never bursts to catch up.
    assert_eq!(
        store.book_turns(1, SPACING, at(1_000)).await.unwrap().turn,
        at(1_000)
    );
    assert_eq!(
        store.book_turns(1, SPACING, at(1_000)).await.unwrap().turn,
        at(1_020)
    );
}

pub async fn instances_booking_at_once_each_get_their_own_turn<S: RequestSchedule>(store: &S) {
    // The schedule idle, then forty bookings at the same instant, as from many instances.
    let bookings = join_all((0..40).map(|_| store.book_turns(1, SPACING, at(0)))).await;
    let mut turns: Vec<_> = bookings.into_iter().map(|b| b.unwrap().turn).collect();
    turns.sort();
    let expected: Vec<_> = (0..40).map(|k| at(0) + SPACING * k).collect();
    assert_eq!(turns, expected);
}

pub async fn turns_booked_together_are_consecutive<S: RequestSchedule>(store: &S) {
    assert_eq!(
        store.book_turns(10, SPACING, at(0)).await.unwrap().turn,
        at(0)
    );
    // The next booking starts after the block's ten turns.
    assert_eq!(
        store.book_turns(3, SPACING, at(0)).await.unwrap().turn,
        at(200)
    );
    assert_eq!(
        store.book_turns(1, SPACING, at(0)).await.unwrap().turn,
        at(260)
    );
}

pub async fn a_hold_back_delays_the_next_turn_and_names_the_slow_spell<S: RequestSchedule>(
    store: &S,
) {
    store.book_turns(1, SPACING, at(0)).await.unwrap();
    store.hold_back(at(1_000), at(60_000)).await.unwrap();
    let booking = store.book_turns(1, SPACING, at(10)).await.unwrap();
    assert_eq!(booking.turn, at(1_000));
    assert_eq!(booking.slowed_until, Some(at(60_000)));
    // A shorter hold-back changes neither the schedule nor the spell.
    store.hold_back(at(500), at(30_000)).await.unwrap();
    let booking = store.book_turns(1, SPACING, at(20)).await.unwrap();
    assert_eq!(booking.turn, at(1_020));
    assert_eq!(booking.slowed_until, Some(at(60_000)));
    // Once the spell is over, bookings no longer report it.
    let booking = store.book_turns(1, SPACING, at(61_000)).await.unwrap();
    assert_eq!(booking.turn, at(61_000));
    assert_eq!(booking.slowed_until, None);
}

sms_test_support::both_adapters!(
    crate;
    an_idle_schedule_starts_now_and_hands_out_turns_one_spacing_apart,
    instances_booking_at_once_each_get_their_own_turn,
    turns_booked_together_are_consecutive,
    a_hold_back_delays_the_next_turn_and_names_the_slow_spell,
);
