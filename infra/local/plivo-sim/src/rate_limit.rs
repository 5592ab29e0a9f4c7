//! The enforced request-rate limit: Plivo's "300 requests per 5 seconds", answered with 429
//! beyond it (docs/plivo.md), as opposed to the *injected* 429s of `faults.rs`.
//!
//! The simulator enforces it as a **sliding** window: in any interval of length T at most N
//! requests are admitted. Plivo counts in fixed windows, and every fixed window is one of the
//! intervals a sliding window bounds, so the sliding limit is the stricter of the two: a client
//! that never trips the simulator never trips Plivo, however its requests line up with Plivo's
//! window boundaries. (The converse does not hold: a burst straddling a fixed boundary may pass
//! Plivo and still be refused here.)

use std::{
    collections::VecDeque,
    fmt,
    str::FromStr,
    time::{Duration, Instant},
};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// At most `requests` requests in any `window`. Written `N/Ts` or `N/Tms`: `300/5s`, `50/500ms`;
/// parsing is what checks the bounds below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// At least 1.
    pub requests: u32,
    /// At least 1 ms; whole milliseconds, as it is written.
    pub window: Duration,
}

const FORMAT: &str = "N/Ts or N/Tms such as 300/5s or 50/500ms";

impl FromStr for RateLimit {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let malformed = || format!("expected {FORMAT}, got {raw:?}");
        let (requests, window) = raw.trim().split_once('/').ok_or_else(malformed)?;
        let requests: u32 = requests.trim().parse().map_err(|_| malformed())?;
        let window = window.trim();
        // `ms` first: `s` is its suffix too.
        let (count, millis_per_unit) = if let Some(ms) = window.strip_suffix("ms") {
            (ms, 1)
        } else if let Some(s) = window.strip_suffix('s') {
            (s, 1_000)
        } else {
            return Err(malformed());
        };
        let count: u64 = count.trim().parse().map_err(|_| malformed())?;
        let millis = count
            .checked_mul(millis_per_unit)
            .ok_or_else(|| format!("the window of {raw:?} is too long"))?;
        if requests == 0 {
            return Err(format!("must admit at least 1 request, got {raw:?}"));
        }
        if millis == 0 {
            return Err(format!("the window must be at least 1 ms, got {raw:?}"));
        }
        Ok(Self {
            requests,
            window: Duration::from_millis(millis),
        })
    }
}

impl fmt::Display for RateLimit {
    /// Seconds when the window is whole seconds, otherwise milliseconds; parsing the text
    /// gives the same limit back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.window.as_millis();
        if millis.is_multiple_of(1_000) {
            write!(f, "{}/{}s", self.requests, millis / 1_000)
        } else {
            write!(f, "{}/{millis}ms", self.requests)
        }
    }
}

impl Serialize for RateLimit {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(de::Error::custom)
    }
}

/// The `rate_limit` setting: `off`, or a limit the simulator enforces. Written and shown as
/// `off` or as the limit (`300/5s`), so what `GET /__sim/config` shows can be posted back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateLimitSetting {
    #[default]
    Off,
    On(RateLimit),
}

impl RateLimitSetting {
    pub fn limit(self) -> Option<RateLimit> {
        match self {
            Self::Off => None,
            Self::On(limit) => Some(limit),
        }
    }
}

impl FromStr for RateLimitSetting {
    type Err = String;

    /// `off` (any case) or blank turns the limit off.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        if raw.is_empty() || raw.eq_ignore_ascii_case("off") {
            return Ok(Self::Off);
        }
        raw.parse()
            .map(Self::On)
            .map_err(|e| format!("{e} (or off)"))
    }
}

impl fmt::Display for RateLimitSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::On(limit) => limit.fmt(f),
        }
    }
}

impl Serialize for RateLimitSetting {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RateLimitSetting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(de::Error::custom)
    }
}

/// A sliding window over the times of admitted requests: admits a request when fewer than N
/// were admitted in the T before it. Only admissions are remembered, so refused requests do
/// not push the window forward (a client that backs off is let in again once T has passed
/// since its earlier admissions). Time comes from the caller, so tests can drive it.
#[derive(Debug, Clone)]
pub struct SlidingWindow {
    limit: RateLimit,
    /// Admission times within the last T, oldest first; never more than N.
    admitted_at: VecDeque<Instant>,
    admitted: u64,
    refused: u64,
    peak: u64,
}

impl SlidingWindow {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            // N may be large and never reached; grow as needed rather than reserve N.
            admitted_at: VecDeque::new(),
            admitted: 0,
            refused: 0,
            peak: 0,
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Whether a request arriving at `now` is admitted; if so it counts from `now` on. Times
    /// must not go backwards (`SimState` reads the clock under its lock); one that does
    /// expires nothing and is kept longer than it should be, so the window only gets stricter.
    pub fn admit(&mut self, now: Instant) -> bool {
        // An admission exactly T ago has left the window: [t, t + T) holds at most N.
        while let Some(&oldest) = self.admitted_at.front() {
            if now.saturating_duration_since(oldest) >= self.limit.window {
                self.admitted_at.pop_front();
            } else {
                break;
            }
        }
        if self.admitted_at.len() >= self.limit.requests as usize {
            self.refused += 1;
            return false;
        }
        self.admitted_at.push_back(now);
        self.admitted += 1;
        self.peak = self.peak.max(self.admitted_at.len() as u64);
        true
    }

    /// Requests admitted since the window was made.
    pub fn admitted(&self) -> u64 {
        self.admitted
    }

    /// Requests refused since the window was made.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// The most admissions one window has held: what a client aiming at "≥ 90 % of the limit,
    /// never over it" is judged by.
    pub fn peak_in_window(&self) -> u64 {
        self.peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(raw: &str) -> RateLimit {
        raw.parse().unwrap()
    }

    #[test]
    fn limits_parse_and_display_round_trip() {
        for (raw, requests, window_ms, shown) in [
            ("300/5s", 300, 5_000, "300/5s"),
            ("20/1s", 20, 1_000, "20/1s"),
            ("50/500ms", 50, 500, "50/500ms"),
            (" 7 / 2000ms ", 7, 2_000, "7/2s"),
            ("1/1ms", 1, 1, "1/1ms"),
            ("4294967295/1s", u32::MAX, 1_000, "4294967295/1s"),
        ] {
            let l = limit(raw);
            assert_eq!(
                (l.requests, l.window),
                (requests, Duration::from_millis(window_ms)),
                "{raw}"
            );
            assert_eq!(l.to_string(), shown, "{raw}");
            assert_eq!(limit(shown), l, "{shown}");
        }
    }

    #[test]
    fn bad_limits_are_refused_with_the_expected_form() {
        for raw in [
            "",
            "abc",
            "0/1s",
            "5/0s",
            "5/0ms",
            "5/1h",
            "5/1",
            "5s",
            "/1s",
            "5/s",
            "-5/1s",
            "5/-1s",
            "5/1.5s",
            "4294967296/1s",
            "5/18446744073709551616ms",
            "5/18446744073709551615s",
        ] {
            let err = raw.parse::<RateLimit>().unwrap_err();
            assert!(!err.is_empty(), "{raw}");
        }
        assert!("abc".parse::<RateLimit>().unwrap_err().contains("300/5s"));
        assert!(
            "0/1s"
                .parse::<RateLimit>()
                .unwrap_err()
                .contains("1 request")
        );
        assert!("5/0s".parse::<RateLimit>().unwrap_err().contains("1 ms"));
    }

    #[test]
    fn the_setting_is_off_or_a_limit_and_serializes_as_its_text() {
        assert_eq!("off".parse(), Ok(RateLimitSetting::Off));
        assert_eq!("OFF".parse(), Ok(RateLimitSetting::Off));
        assert_eq!(" ".parse(), Ok(RateLimitSetting::Off));
        assert_eq!("20/1s".parse(), Ok(RateLimitSetting::On(limit("20/1s"))));
        assert!(
            "on".parse::<RateLimitSetting>()
                .unwrap_err()
                .contains("off")
        );
        assert_eq!(RateLimitSetting::default(), RateLimitSetting::Off);

        let on = RateLimitSetting::On(limit("50/500ms"));
        assert_eq!(serde_json::to_value(on).unwrap(), "50/500ms");
        assert_eq!(serde_json::to_value(RateLimitSetting::Off).unwrap(), "off");
        assert_eq!(
            serde_json::from_value::<RateLimitSetting>("50/500ms".into()).unwrap(),
            on
        );
        assert!(serde_json::from_value::<RateLimitSetting>(5.into()).is_err());
        assert!(serde_json::from_value::<RateLimitSetting>("0/1s".into()).is_err());
        assert_eq!(serde_json::to_value(limit("300/5s")).unwrap(), "300/5s");
    }

    #[test]
    fn a_burst_fills_the_window_and_the_next_is_refused_until_t_has_passed() {
        let mut w = SlidingWindow::new(limit("3/1s"));
        let t0 = Instant::now();
        assert!((0..3).all(|_| w.admit(t0)));
        assert!(!w.admit(t0));
        assert!(!w.admit(t0 + Duration::from_millis(999)));
        assert!(w.admit(t0 + Duration::from_secs(1)));
        assert_eq!((w.admitted(), w.refused()), (4, 2));
    }

    #[test]
    fn the_window_slides_rather_than_resetting_at_boundaries() {
        let ms = Duration::from_millis;
        let mut w = SlidingWindow::new(limit("2/1s"));
        let t0 = Instant::now();
        assert!(w.admit(t0));
        assert!(w.admit(t0 + ms(900)));
        assert!(w.admit(t0 + ms(1_000)));
        // A fixed window starting at t0 + 1 s would hold one request and let this in; the
        // sliding one still holds the admissions of 900 ms and 1 s.
        assert!(!w.admit(t0 + ms(1_100)));
        assert!(w.admit(t0 + ms(1_900)));
    }

    #[test]
    fn refused_requests_do_not_consume_the_window() {
        let ms = Duration::from_millis;
        let mut w = SlidingWindow::new(limit("2/1s"));
        let t0 = Instant::now();
        assert!(w.admit(t0) && w.admit(t0));
        // A client hammering away while refused...
        for i in 1..10 {
            assert!(!w.admit(t0 + ms(i * 100)));
        }
        // ...is let in again once T has passed since the admissions, not since its refusals.
        assert!(w.admit(t0 + ms(1_000)));
        assert!(w.admit(t0 + ms(1_000)));
        assert!(!w.admit(t0 + ms(1_001)));
        assert_eq!((w.admitted(), w.refused()), (4, 10));
    }

    #[test]
    fn the_peak_is_the_most_admissions_one_window_held() {
        let ms = Duration::from_millis;
        let mut w = SlidingWindow::new(limit("10/1s"));
        let t0 = Instant::now();
        assert_eq!(w.peak_in_window(), 0);
        // Four in the first half second, then one every 300 ms: windows hold 4, then fewer.
        for i in 0..4 {
            assert!(w.admit(t0 + ms(i * 100)));
        }
        assert_eq!(w.peak_in_window(), 4);
        for i in 0..5 {
            assert!(w.admit(t0 + ms(1_400 + i * 300)));
        }
        assert_eq!(w.peak_in_window(), 4);
        assert_eq!(w.admitted(), 9);
        // A burst of 8 on top of the 4 in the window: 6 fit, which is the limit exactly.
        let late = t0 + ms(1_400 + 4 * 300);
        let admitted = (0..8).filter(|_| w.admit(late)).count();
        assert_eq!(admitted, 6);
        assert_eq!(w.peak_in_window(), 10);
    }

    #[test]
    fn a_time_going_backwards_does_not_panic_or_free_the_window() {
        let mut w = SlidingWindow::new(limit("1/1s"));
        let t0 = Instant::now() + Duration::from_secs(5);
        assert!(w.admit(t0));
        assert!(!w.admit(t0 - Duration::from_secs(3)));
    }
}
