//! Plivo's circuit (docs/architecture.md, "The fallback provider"): one record, shared by
//! every sender, of how Plivo has been failing. Sustained failures open it for a while; it
//! closes on its own when that while is over, and a batch Plivo takes counts the failures
//! from zero again. While it is open, a batch whose job allows it goes through the fallback
//! provider instead of Plivo.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};

use super::StoreError;

/// When the circuit opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitRule {
    /// Batches Plivo could not take (after their retries) that open the circuit…
    pub failures: u32,
    /// …when they all came within this long of the first.
    pub window: Duration,
    /// How long it then stays open.
    pub open_for: Duration,
}

impl Default for CircuitRule {
    /// Three batches that each spent their retries on Plivo within two minutes: Plivo has
    /// been failing for a minute or more. Open for five minutes, then Plivo is tried again.
    fn default() -> Self {
        Self {
            failures: 3,
            window: Duration::minutes(2),
            open_for: Duration::minutes(5),
        }
    }
}

/// The circuit as read at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CircuitState {
    /// Until when it is open; None when it is closed.
    pub open_until: Option<DateTime<Utc>>,
    /// Failures counted in the current window.
    pub failures: u32,
}

impl CircuitState {
    pub fn is_open(&self) -> bool {
        self.open_until.is_some()
    }
}

pub trait PlivoCircuit: Send + Sync {
    /// The circuit at `now`: open until a time still ahead of `now`, or closed.
    fn circuit(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<CircuitState, StoreError>> + Send;

    /// Counts a batch Plivo could not take. A failure more than `rule.window` after the
    /// first one counted starts a new count; the count reaching `rule.failures` opens the
    /// circuit until `now + rule.open_for` and starts the count again. Returns that time when
    /// this failure opened it. Concurrent failures are each counted once.
    fn note_plivo_failure(
        &self,
        rule: CircuitRule,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send;

    /// A batch Plivo took: the count starts again from zero (an open circuit stays open
    /// until its time is up).
    fn note_plivo_success(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}
