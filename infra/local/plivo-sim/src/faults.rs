//! Fault injection: which authenticated send request is refused (429, 5xx), lost (held past
//! the client's timeout and never taken) or answered late.
//!
//! Counting is per authenticated send request since the last reset or config change (those
//! the enforced limit of `rate_limit.rs` refused never get here), so a test that sets
//! `rate_limit_every: 3` knows its third request will be refused.

use std::time::Duration;

use rand::RngExt;

use crate::config::Settings;

/// When a fault fires: on every `every`th request (0: never by count), and otherwise at
/// random with probability `share`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fault {
    pub share: f64,
    pub every: u64,
}

impl Fault {
    pub fn new(share: f64, every: u64) -> Self {
        Self { share, every }
    }

    pub fn fires(&self, tick: u64) -> bool {
        if self.every > 0 && tick.is_multiple_of(self.every) {
            return true;
        }
        // Settings are validated to 0..=1, but a share that slipped through must not panic.
        self.share > 0.0 && rand::rng().random_bool(self.share.clamp(0.0, 1.0))
    }
}

/// What happens to one request. Refusals win over slowness: a refused request was not
/// accepted, so there is nothing to answer late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    None,
    RateLimited,
    ServerError(u16),
    /// Hold the request this long, then drop it without taking it.
    Lost(Duration),
    /// Accept, then hold the 202 back this long.
    Slow(Duration),
}

pub fn decide(settings: &Settings, tick: u64) -> Decision {
    if settings.injected_rate_limit().fires(tick) {
        Decision::RateLimited
    } else if settings.server_error().fires(tick) {
        Decision::ServerError(settings.server_error_status)
    } else if settings.lost().fires(tick) {
        Decision::Lost(Duration::from_millis(settings.slow_ms))
    } else if settings.slow().fires(tick) {
        Decision::Slow(Duration::from_millis(settings.slow_ms))
    } else {
        Decision::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nth_fires_on_multiples_only() {
        let t = Fault::new(0.0, 3);
        let fired: Vec<u64> = (1..=9).filter(|&n| t.fires(n)).collect();
        assert_eq!(fired, [3, 6, 9]);
    }

    #[test]
    fn shares_of_zero_and_one_are_never_and_always() {
        let (never, always) = (Fault::new(0.0, 0), Fault::new(1.0, 0));
        assert!((1..100).all(|n| !never.fires(n) && always.fires(n)));
    }

    #[test]
    fn rate_limit_wins_then_server_error_then_slow() {
        let s = Settings {
            rate_limit_every: 2,
            server_error_every: 3,
            server_error_status: 503,
            slow_every: 5,
            slow_ms: 40,
            ..Settings::default()
        };
        assert_eq!(decide(&s, 1), Decision::None);
        assert_eq!(decide(&s, 6), Decision::RateLimited);
        assert_eq!(decide(&s, 3), Decision::ServerError(503));
        assert_eq!(decide(&s, 5), Decision::Slow(Duration::from_millis(40)));
    }
}
