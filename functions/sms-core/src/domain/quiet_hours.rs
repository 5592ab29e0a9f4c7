//! Quiet hours (`quiet_hours: {"from": "21:00", "to": "08:00"}` on a job): a daily window of the
//! recipient's local time in which nothing is handed to Plivo, and the arithmetic of when a
//! group of recipients may be sent.
//!
//! A group shares a set of zones (`zones::ZoneWindow`); when the set has several zones, the
//! group is quiet while any of them is, the most restrictive reading: no recipient of the group
//! gets a message inside quiet hours, whichever of its zones they are really in.
//!
//! "Inside quiet hours" is read on the wall clock: an instant is quiet in a zone when the zone's
//! local time of day then is in `[from, to)` (or, for a window across midnight, at or after
//! `from` or before `to`). So on a day when the clocks jump, a boundary that does not exist is
//! passed when the clock jumps over it (quiet hours ending at 02:30 end at 03:00 EDT on the day
//! New York springs forward), and an hour that repeats is quiet both times if its time of day
//! is (quiet hours ending at 01:30 end at 01:30 EDT, begin again when the clock falls back to
//! 01:00 EST, and end at 01:30 EST). The arithmetic walks from one instant where a zone's state
//! can change to the next (its clock reaching `from` or `to`, or its offset changing), so it is
//! exact to the second without stepping through the day.

use std::fmt;

use chrono::{DateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

const MINUTE: i64 = 60;
const DAY: i64 = 86_400;

/// How far ahead a window is looked for. Quiet hours recur daily, so a set of zones with a
/// common gap shows it within a day, or a little more on a day the clocks change; none within
/// two days means the gap does not exist now.
pub const HORIZON_SECONDS: i64 = 2 * DAY;

/// Offsets are read at most this far apart while walking forward: a zone whose offset changed
/// and changed back in between (no zone's rules do that now) would otherwise go unseen.
const LONGEST_STEP: i64 = 6 * 3_600;

/// A daily quiet window, in whole minutes of the local day. `from` and `to` differ; `to` may be
/// earlier than `from` (a window across midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawQuietHours", into = "RawQuietHours")]
pub struct QuietHours {
    /// Seconds after local midnight at which quiet hours begin.
    from: i64,
    /// Seconds after local midnight at which they end (sending is allowed again from then).
    to: i64,
}

/// The request's shape; unknown fields are refused so a typo (`"until"`) is not silently a
/// window of its own.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuietHours {
    from: String,
    to: String,
}

/// Why quiet hours are refused, as the field's message (the field is named).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuietHoursError {
    #[error("{field}: must be a time of day as HH:MM, 00:00 to 23:59, such as 21:00")]
    NotATime { field: &'static str },
    #[error("to: must differ from `from`: quiet hours from a time to the same time are empty")]
    Empty,
}

impl QuietHoursError {
    /// The field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::NotATime { field } => field,
            Self::Empty => "to",
        }
    }
}

/// No instant within [`HORIZON_SECONDS`] is outside quiet hours in every zone of the set: the
/// group can't be sent at all now (zones hours apart with long quiet hours), which the caller
/// should report up front rather than wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no hour of the day is outside quiet hours for all of the recipient's zones")]
pub struct NoCommonWindow;

/// When a group of recipients may be sent, seen from one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Every zone is outside quiet hours now, until `closes` (the first instant any zone's
    /// quiet hours begin).
    Open { closes: DateTime<Utc> },
    /// Some zone is inside quiet hours: the group waits until `opens`, the first instant no zone
    /// is, and may be sent until `closes`.
    Waits {
        opens: DateTime<Utc>,
        closes: DateTime<Utc>,
    },
}

impl Window {
    /// The first instant of the window: None when it is open now.
    pub fn opens(self) -> Option<DateTime<Utc>> {
        match self {
            Self::Open { .. } => None,
            Self::Waits { opens, .. } => Some(opens),
        }
    }

    /// The first instant after the window: quiet hours begin then in some zone.
    pub fn closes(self) -> DateTime<Utc> {
        match self {
            Self::Open { closes } | Self::Waits { closes, .. } => closes,
        }
    }
}

/// The zones a slice names, or UTC for an empty slice (the rule for a number whose zones are
/// unknown, `zones::ZoneWindow::UNKNOWN`).
fn or_utc(zones: &[Tz]) -> &[Tz] {
    if zones.is_empty() { &[Tz::UTC] } else { zones }
}

impl QuietHours {
    /// Quiet hours from `from` to `to`, each `HH:MM`.
    pub fn parse(from: &str, to: &str) -> Result<Self, QuietHoursError> {
        let from = time_of_day(from).ok_or(QuietHoursError::NotATime { field: "from" })?;
        let to = time_of_day(to).ok_or(QuietHoursError::NotATime { field: "to" })?;
        if from == to {
            return Err(QuietHoursError::Empty);
        }
        Ok(Self { from, to })
    }

    /// Whether local time of day `second` (after midnight) is inside quiet hours.
    fn contains(self, second: i64) -> bool {
        if self.from < self.to {
            self.from <= second && second < self.to
        } else {
            second >= self.from || second < self.to
        }
    }

    /// Whether `at` is inside quiet hours in `zone`.
    pub fn is_quiet(self, zone: Tz, at: DateTime<Utc>) -> bool {
        offset(zone, at.timestamp()).is_some_and(|off| self.quiet_at(at.timestamp(), off))
    }

    /// Whether UNIX second `t` is inside quiet hours where the offset is `off`.
    fn quiet_at(self, t: i64, off: i64) -> bool {
        self.contains((t + off).rem_euclid(DAY))
    }

    /// When a group whose recipients may be in any of `zones` can be sent, seen at `now` (an
    /// empty slice reads as UTC). [`NoCommonWindow`] if no instant within the next
    /// [`HORIZON_SECONDS`] is outside quiet hours in all of them.
    pub fn window(self, zones: &[Tz], now: DateTime<Utc>) -> Result<Window, NoCommonWindow> {
        let zones = or_utc(zones);
        // Every zone's state changes only on a whole second (offsets, and so their
        // transitions, are whole seconds; `from` and `to` whole minutes): the state at `now`
        // is the state at its second.
        let start = now.timestamp();
        let opens = Walk::new(self, zones, start)
            .find(start + HORIZON_SECONDS, false)
            .ok_or(NoCommonWindow)?;
        let closes = Walk::new(self, zones, opens)
            .find(opens + HORIZON_SECONDS, true)
            .and_then(instant)
            .ok_or(NoCommonWindow)?;
        if opens == start {
            return Ok(Window::Open { closes });
        }
        let opens = instant(opens).ok_or(NoCommonWindow)?;
        Ok(Window::Waits { opens, closes })
    }

    /// None if no zone of `zones` is inside quiet hours at `now` (send now); else the earliest
    /// instant after `now` at which none is.
    pub fn opens_at(
        self,
        zones: &[Tz],
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, NoCommonWindow> {
        self.window(zones, now).map(Window::opens)
    }

    /// The end of the allowed window that is open at `now`, or of the next one if none is: the
    /// first instant quiet hours begin in any of `zones`. A batch that would still be sending
    /// then should wait for the window after.
    pub fn closes_at(
        self,
        zones: &[Tz],
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, NoCommonWindow> {
        self.window(zones, now).map(Window::closes)
    }
}

/// Walks forward through the instants where some zone's quiet state can change.
struct Walk<'a> {
    hours: QuietHours,
    zones: &'a [Tz],
    t: i64,
    /// For each zone, the next instant after `t` where its state can change (None: the time is
    /// past what chrono can represent).
    next: Vec<Option<i64>>,
}

impl<'a> Walk<'a> {
    fn new(hours: QuietHours, zones: &'a [Tz], t: i64) -> Self {
        let next = zones
            .iter()
            .map(|&zone| next_change(hours, zone, t))
            .collect();
        Self {
            hours,
            zones,
            t,
            next,
        }
    }

    /// Whether any zone is quiet at the walk's instant (None past chrono's range).
    fn any_quiet(&self) -> Option<bool> {
        let mut quiet = false;
        for &zone in self.zones {
            quiet |= self.hours.quiet_at(self.t, offset(zone, self.t)?);
        }
        Some(quiet)
    }

    /// The first instant from the walk's start to `limit` at which `any_quiet` is `quiet`.
    fn find(mut self, limit: i64, quiet: bool) -> Option<i64> {
        loop {
            if self.any_quiet()? == quiet {
                return Some(self.t);
            }
            // No zone's state changes before the earliest of their next changes.
            let t = self.next.iter().copied().min().flatten()?;
            if t > limit {
                return None;
            }
            self.t = t;
            for (next, &zone) in self.next.iter_mut().zip(self.zones) {
                if next.is_some_and(|at| at <= t) {
                    *next = next_change(self.hours, zone, t);
                }
            }
        }
    }
}

/// The next instant after `t` at which `zone`'s quiet state can change: its clock reaching
/// `from` or `to` at today's offset, or, if the offset changes before that, the change.
fn next_change(hours: QuietHours, zone: Tz, t: i64) -> Option<i64> {
    let off = offset(zone, t)?;
    let wall = (t + off).rem_euclid(DAY);
    let until = |boundary: i64| match (boundary - wall).rem_euclid(DAY) {
        0 => DAY,
        ahead => ahead,
    };
    let mut candidate = t + until(hours.from).min(until(hours.to)).min(LONGEST_STEP);
    if offset(zone, candidate)? != off {
        // The offset changes in (t, candidate]: find the first second it differs.
        let mut same = t;
        while candidate - same > 1 {
            let mid = same + (candidate - same) / 2;
            if offset(zone, mid)? == off {
                same = mid;
            } else {
                candidate = mid;
            }
        }
    }
    Some(candidate)
}

/// `zone`'s offset from UTC at UNIX second `t`, in seconds.
fn offset(zone: Tz, t: i64) -> Option<i64> {
    let at = DateTime::from_timestamp(t, 0)?;
    Some(i64::from(
        zone.offset_from_utc_datetime(&at.naive_utc())
            .fix()
            .local_minus_utc(),
    ))
}

fn instant(t: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(t, 0).single()
}

/// Seconds after midnight of a strict `HH:MM`.
fn time_of_day(raw: &str) -> Option<i64> {
    let (hours, minutes) = raw.split_once(':')?;
    let two_digits = |s: &str| {
        (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i64>().ok())
            .flatten()
    };
    let (hours, minutes) = (two_digits(hours)?, two_digits(minutes)?);
    (hours < 24 && minutes < 60).then_some((hours * 60 + minutes) * MINUTE)
}

/// `HH:MM` of seconds after midnight.
fn hhmm(second: i64) -> String {
    format!("{:02}:{:02}", second / 3_600, second / MINUTE % 60)
}

/// `21:00-08:00`, for a status line.
impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", hhmm(self.from), hhmm(self.to))
    }
}

impl TryFrom<RawQuietHours> for QuietHours {
    type Error = QuietHoursError;
    fn try_from(raw: RawQuietHours) -> Result<Self, Self::Error> {
        Self::parse(&raw.from, &raw.to)
    }
}

impl From<QuietHours> for RawQuietHours {
    fn from(hours: QuietHours) -> Self {
        Self {
            from: hhmm(hours.from),
            to: hhmm(hours.to),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, NaiveTime};

    use super::*;
    use crate::domain::phone::PhoneNumber;
    use crate::domain::zones::{ZoneWindow, zones_of};

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn quiet(from: &str, to: &str) -> QuietHours {
        QuietHours::parse(from, to).unwrap()
    }

    fn waits(opens: &str, closes: &str) -> Result<Window, NoCommonWindow> {
        Ok(Window::Waits {
            opens: at(opens),
            closes: at(closes),
        })
    }

    fn open(closes: &str) -> Result<Window, NoCommonWindow> {
        Ok(Window::Open { closes: at(closes) })
    }

    fn number_zones(number: &str) -> &'static [Tz] {
        zones_of(&PhoneNumber::parse(number).unwrap())
    }

    #[test]
    fn parse_takes_strict_hh_mm_and_names_the_field() {
        assert!(QuietHours::parse("21:00", "08:00").is_ok());
        assert!(QuietHours::parse("00:00", "23:59").is_ok());
        assert!(QuietHours::parse("12:00", "14:30").is_ok());
        let not_a_time = |field| Err(QuietHoursError::NotATime { field });
        for bad in [
            "9:00",
            "24:00",
            "21:60",
            "21-00",
            "",
            " 21:00",
            "21:00:00",
            "+1:00",
            "２１:00",
            "21:0",
        ] {
            assert_eq!(
                QuietHours::parse(bad, "08:00"),
                not_a_time("from"),
                "{bad:?}"
            );
            assert_eq!(QuietHours::parse("21:00", bad), not_a_time("to"), "{bad:?}");
        }
        assert_eq!(
            QuietHours::parse("08:00", "08:00"),
            Err(QuietHoursError::Empty)
        );
        assert_eq!(QuietHoursError::Empty.field(), "to");
        let message = QuietHoursError::NotATime { field: "from" }.to_string();
        assert!(
            message.starts_with("from: must be a time of day as HH:MM"),
            "{message}"
        );
    }

    #[test]
    fn reads_and_writes_the_request_shape() {
        let hours: QuietHours =
            serde_json::from_str(r#"{"from": "21:00", "to": "08:00"}"#).unwrap();
        assert_eq!(hours, quiet("21:00", "08:00"));
        assert_eq!(
            serde_json::to_string(&hours).unwrap(),
            r#"{"from":"21:00","to":"08:00"}"#
        );
        assert_eq!(hours.to_string(), "21:00-08:00");
        let refused = |json: &str| {
            serde_json::from_str::<QuietHours>(json)
                .unwrap_err()
                .to_string()
        };
        let cases = [
            (r#"{"from": "21:00"}"#, "missing field `to`"),
            (
                r#"{"from": "25:00", "to": "08:00"}"#,
                "from: must be a time of day",
            ),
            (r#"{"from": "21:00", "to": 8}"#, "invalid type: integer `8`"),
            (r#"{"from": "21:00", "to": "21:00"}"#, "to: must differ"),
            (
                r#"{"from": "21:00", "to": "08:00", "until": "09:00"}"#,
                "unknown field `until`",
            ),
        ];
        for (json, want) in cases {
            let got = refused(json);
            assert!(got.contains(want), "{json}: {got}");
        }
    }

    #[test]
    fn quiet_hours_across_midnight() {
        // London in December is UTC+0, so the local and UTC times read the same.
        let hours = quiet("21:00", "08:00");
        let london = [Tz::Europe__London];
        let window = |now| hours.window(&london, at(now));
        assert_eq!(window("2026-12-04T12:00:00Z"), open("2026-12-04T21:00:00Z"));
        assert_eq!(
            window("2026-12-04T20:59:59.999Z"),
            open("2026-12-04T21:00:00Z")
        );
        assert_eq!(
            window("2026-12-04T21:00:00Z"),
            waits("2026-12-05T08:00:00Z", "2026-12-05T21:00:00Z")
        );
        assert_eq!(
            window("2026-12-05T03:00:00Z"),
            waits("2026-12-05T08:00:00Z", "2026-12-05T21:00:00Z")
        );
        assert_eq!(
            window("2026-12-05T07:59:59.500Z"),
            waits("2026-12-05T08:00:00Z", "2026-12-05T21:00:00Z")
        );
        assert_eq!(window("2026-12-05T08:00:00Z"), open("2026-12-05T21:00:00Z"));
        assert_eq!(
            hours.opens_at(&london, at("2026-12-05T03:00:00Z")),
            Ok(Some(at("2026-12-05T08:00:00Z")))
        );
        assert_eq!(
            hours.opens_at(&london, at("2026-12-05T12:00:00Z")),
            Ok(None)
        );
        assert_eq!(
            hours.closes_at(&london, at("2026-12-05T03:00:00Z")),
            Ok(at("2026-12-05T21:00:00Z"))
        );
    }

    #[test]
    fn quiet_hours_within_one_day() {
        // Tokyo: UTC+9, no daylight saving time. Quiet 12:00-14:00 is 03:00-05:00 UTC.
        let hours = quiet("12:00", "14:00");
        let tokyo = [Tz::Asia__Tokyo];
        assert_eq!(
            hours.window(&tokyo, at("2026-12-04T03:30:00Z")),
            waits("2026-12-04T05:00:00Z", "2026-12-05T03:00:00Z")
        );
        assert_eq!(
            hours.window(&tokyo, at("2026-12-04T05:00:00Z")),
            open("2026-12-05T03:00:00Z")
        );
        assert!(!hours.is_quiet(Tz::Asia__Tokyo, at("2026-12-04T02:59:59Z")));
        assert!(hours.is_quiet(Tz::Asia__Tokyo, at("2026-12-04T03:00:00Z")));
        assert!(!hours.is_quiet(Tz::Asia__Tokyo, at("2026-12-04T05:00:00Z")));
    }

    #[test]
    fn new_york_springing_forward() {
        // 2026-03-08: 02:00 EST (UTC-5) becomes 03:00 EDT (UTC-4) at 07:00 UTC.
        let ny = [Tz::America__New_York];
        assert_eq!(
            quiet("21:00", "08:00").window(&ny, at("2026-03-08T05:00:00Z")),
            waits("2026-03-08T12:00:00Z", "2026-03-09T01:00:00Z"),
            "08:00 is EDT already, an hour earlier in UTC than the day before"
        );
        assert_eq!(
            quiet("22:00", "02:30").window(&ny, at("2026-03-08T06:30:00Z")),
            waits("2026-03-08T07:00:00Z", "2026-03-09T02:00:00Z"),
            "02:30 does not exist that day: quiet hours end when the clock jumps past it"
        );
        assert_eq!(
            quiet("02:30", "06:00").window(&ny, at("2026-03-08T06:00:00Z")),
            open("2026-03-08T07:00:00Z"),
            "and begin there when it is their start"
        );
    }

    #[test]
    fn new_york_falling_back() {
        // 2026-11-01: 02:00 EDT (UTC-4) becomes 01:00 EST (UTC-5) at 06:00 UTC.
        let ny = [Tz::America__New_York];
        assert_eq!(
            quiet("21:00", "08:00").window(&ny, at("2026-11-01T04:00:00Z")),
            waits("2026-11-01T13:00:00Z", "2026-11-02T02:00:00Z")
        );
        // 01:30 happens twice. Quiet hours end at the first; the clock then falls back into
        // them at 01:00 EST, and they end again at the second 01:30.
        let hours = quiet("22:00", "01:30");
        assert_eq!(
            hours.window(&ny, at("2026-11-01T04:00:00Z")),
            waits("2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z")
        );
        assert_eq!(
            hours.window(&ny, at("2026-11-01T06:00:00Z")),
            waits("2026-11-01T06:30:00Z", "2026-11-02T03:00:00Z")
        );
    }

    #[test]
    fn london_changing_clocks() {
        let london = [Tz::Europe__London];
        // 2026-03-29: 01:00 GMT becomes 02:00 BST (UTC+1) at 01:00 UTC.
        assert_eq!(
            quiet("21:00", "08:00").window(&london, at("2026-03-28T22:00:00Z")),
            waits("2026-03-29T07:00:00Z", "2026-03-29T20:00:00Z")
        );
        assert_eq!(
            quiet("23:00", "01:30").window(&london, at("2026-03-29T00:00:00Z")),
            waits("2026-03-29T01:00:00Z", "2026-03-29T22:00:00Z")
        );
        // 2026-10-25: 02:00 BST becomes 01:00 GMT at 01:00 UTC.
        assert_eq!(
            quiet("21:00", "08:00").window(&london, at("2026-10-24T22:00:00Z")),
            waits("2026-10-25T08:00:00Z", "2026-10-25T21:00:00Z")
        );
    }

    #[test]
    fn a_number_in_several_zones_waits_for_the_latest_and_stops_at_the_earliest() {
        // +1 208 5: Boise (MST, UTC-7) or Los Angeles (PST, UTC-8). At 15:30 UTC it is 08:30 in
        // Boise, 07:30 in Los Angeles.
        let hours = quiet("21:00", "08:00");
        let zones = number_zones("+12085001234");
        assert_eq!(zones, [Tz::America__Boise, Tz::America__Los_Angeles]);
        let now = at("2026-12-04T15:30:00Z");
        assert_eq!(
            hours.window(&[Tz::America__Boise], now),
            open("2026-12-05T04:00:00Z")
        );
        assert_eq!(
            hours.window(&[Tz::America__Los_Angeles], now),
            waits("2026-12-04T16:00:00Z", "2026-12-05T05:00:00Z")
        );
        assert_eq!(
            hours.window(zones, now),
            waits("2026-12-04T16:00:00Z", "2026-12-05T04:00:00Z"),
            "opens when Los Angeles does, closes when Boise does"
        );
    }

    #[test]
    fn a_set_spanning_many_zones_has_a_narrow_window_or_none() {
        // +1 208 1 is known only as +1: Pago Pago (UTC-11) to Guam (UTC+10), St. John's at
        // UTC-3:30. In December 08:00-21:00 local is common to all from 22:00 UTC (08:00 in
        // Guam) to 00:30 UTC (21:00 in St. John's).
        let zones = number_zones("+12081001234");
        assert!(zones.contains(&Tz::Pacific__Pago_Pago) && zones.contains(&Tz::Pacific__Guam));
        assert_eq!(
            quiet("21:00", "08:00").window(zones, at("2026-12-04T12:00:00Z")),
            waits("2026-12-04T22:00:00Z", "2026-12-05T00:30:00Z")
        );
        // Nine open hours a day cannot cover 21 hours of offsets.
        let long = quiet("18:00", "09:00");
        assert_eq!(
            long.window(zones, at("2026-12-04T12:00:00Z")),
            Err(NoCommonWindow)
        );
        assert_eq!(
            long.opens_at(zones, at("2026-06-04T12:00:00Z")),
            Err(NoCommonWindow)
        );
        // Each zone alone has its window.
        assert!(
            long.window(&[Tz::Pacific__Guam], at("2026-12-04T12:00:00Z"))
                .is_ok()
        );
        assert_eq!(
            NoCommonWindow.to_string(),
            "no hour of the day is outside quiet hours for all of the recipient's zones"
        );
    }

    #[test]
    fn unknown_zones_keep_quiet_hours_in_utc() {
        let hours = quiet("21:00", "08:00");
        let now = at("2026-06-04T22:00:00Z");
        let utc = waits("2026-06-05T08:00:00Z", "2026-06-05T21:00:00Z");
        assert_eq!(hours.window(ZoneWindow::UNKNOWN.zones(), now), utc);
        assert_eq!(hours.window(&[], now), utc);
    }

    /// xorshift64*: a fixed sequence, so a failure reproduces.
    struct Random(u64);

    impl Random {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
        }
    }

    /// The window found by trying every minute, with the clock read by chrono: independent of
    /// the walk above. Exact for a `now` on a whole minute, since every zone's offset changes
    /// on whole minutes in these years.
    fn window_minute_by_minute(
        hours: (NaiveTime, NaiveTime),
        zones: &[Tz],
        now: DateTime<Utc>,
    ) -> Result<Window, NoCommonWindow> {
        let (from, to) = hours;
        let quiet_in_any = |t: DateTime<Utc>| {
            zones.iter().any(|zone| {
                let local = t.with_timezone(zone).time();
                if from < to {
                    from <= local && local < to
                } else {
                    local >= from || local < to
                }
            })
        };
        let first = |start: DateTime<Utc>, quiet: bool| {
            (0..=HORIZON_SECONDS / MINUTE)
                .map(|m| start + Duration::minutes(m))
                .find(|&t| quiet_in_any(t) == quiet)
        };
        let opens = first(now, false).ok_or(NoCommonWindow)?;
        let closes = first(opens, true).ok_or(NoCommonWindow)?;
        Ok(if opens == now {
            Window::Open { closes }
        } else {
            Window::Waits { opens, closes }
        })
    }

    /// Random quiet hours on whole minutes.
    fn random_hours(random: &mut Random) -> (QuietHours, (NaiveTime, NaiveTime)) {
        let from = random.below(1440) as u32;
        let to = (from + 1 + random.below(1439) as u32) % 1440;
        let time = |m: u32| NaiveTime::from_hms_opt(m / 60, m % 60, 0).unwrap();
        let hhmm = |m: u32| time(m).format("%H:%M").to_string();
        let hours = QuietHours::parse(&hhmm(from), &hhmm(to)).unwrap();
        (hours, (time(from), time(to)))
    }

    /// Compares the walk with trying every minute; true if the group waited.
    fn agrees(random: &mut Random, zones: &[Tz], now: DateTime<Utc>) -> bool {
        let (hours, times) = random_hours(random);
        let want = window_minute_by_minute(times, zones, now);
        let got = hours.window(zones, now);
        assert_eq!(got, want, "{hours} in {zones:?} at {now}");
        let Ok(window) = got else { return false };
        let opens = window.opens().unwrap_or(now);
        for &zone in zones {
            assert!(!hours.is_quiet(zone, opens), "{hours} in {zone} at {opens}");
        }
        let closes = window.closes();
        assert!(zones.iter().any(|&zone| hours.is_quiet(zone, closes)));
        window.opens().is_some()
    }

    #[test]
    fn the_walk_agrees_with_trying_every_minute() {
        let mut random = Random(0x9E37_79B9_7F4A_7C15);
        let start = at("2026-01-01T00:00:00Z");
        let sets = (0..u16::MAX)
            .map_while(ZoneWindow::from_id)
            .collect::<Vec<_>>();
        let mut waited = 0;
        for _ in 0..200 {
            let now = start + Duration::minutes(random.below(2 * 366 * 1440) as i64);
            let set = sets[random.below(sets.len() as u64) as usize];
            waited += usize::from(agrees(&mut random, set.zones(), now));
        }
        // The cases are worth something only if they cover both answers.
        assert!((30..170).contains(&waited), "{waited} of 200 waited");
    }

    #[test]
    fn the_walk_agrees_with_trying_every_minute_around_clock_changes() {
        let mut random = Random(0x2545_F491_4F6C_DD1D);
        // Each with a day its clocks change in 2026; Lord Howe's change by half an hour.
        let cases: [(&[Tz], &str); 5] = [
            (&[Tz::America__New_York], "2026-03-08T07:00:00Z"),
            (&[Tz::America__New_York], "2026-11-01T06:00:00Z"),
            (&[Tz::Europe__London], "2026-03-29T01:00:00Z"),
            (
                &[Tz::America__Boise, Tz::America__Los_Angeles],
                "2026-11-01T09:00:00Z",
            ),
            (
                &[Tz::Australia__Lord_Howe, Tz::Australia__Sydney],
                "2026-04-04T15:00:00Z",
            ),
        ];
        for (zones, change) in cases {
            for _ in 0..40 {
                let now = at(change) - Duration::minutes(random.below(3 * 1440) as i64);
                agrees(&mut random, zones, now);
            }
        }
    }
}
