//! Fault injection: which authenticated send request is refused (429, 5xx) or answered late.
//!
//! Counting is per authenticated send request since the last reset or config change, so a
//! test that sets `rate_limit_every: 3` knows its third request will be refused.

use std::time::Duration;

use rand::RngExt;

use crate::config::Settings;

/// When a fault fires: on every `every`th request (0: never by count), and otherwise at
/// random with probability `share`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trigger {
    pub share: f64,
    pub every: u64,
}

impl Trigger {
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
pub enum Fault {
    None,
    RateLimited,
    ServerError(u16),
    /// Accept, then hold the 202 back this long.
    Slow(Duration),
}

pub fn decide(settings: &Settings, tick: u64) -> Fault {
    let rate_limit = Trigger {
        share: settings.rate_limit_share,
        every: settings.rate_limit_every,
    };
    let server_error = Trigger {
        share: settings.server_error_share,
        every: settings.server_error_every,
    };
    let slow = Trigger {
        share: settings.slow_share,
        every: settings.slow_every,
    };
    if rate_limit.fires(tick) {
        Fault::RateLimited
    } else if server_error.fires(tick) {
        Fault::ServerError(settings.server_error_status)
    } else if slow.fires(tick) {
        Fault::Slow(Duration::from_millis(settings.slow_ms))
    } else {
        Fault::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nth_fires_on_multiples_only() {
        let t = Trigger {
            share: 0.0,
            every: 3,
        };
        let fired: Vec<u64> = (1..=9).filter(|&n| t.fires(n)).collect();
        assert_eq!(fired, [3, 6, 9]);
    }

    #[test]
    fn shares_of_zero_and_one_are_never_and_always() {
        let never = Trigger {
            share: 0.0,
            every: 0,
        };
        let always = Trigger {
            share: 1.0,
            every: 0,
        };
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
        assert_eq!(decide(&s, 1), Fault::None);
        assert_eq!(decide(&s, 6), Fault::RateLimited);
        assert_eq!(decide(&s, 3), Fault::ServerError(503));
        assert_eq!(decide(&s, 5), Fault::Slow(Duration::from_millis(40)));
    }
}
