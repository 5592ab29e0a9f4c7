//! What the simulator remembers: every send request it received, per-recipient acceptance
//! counts, report counters and the current settings.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard, RwLock},
    time::{Duration, Instant},
};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sms_core::secrets::PlivoCredentials;

use crate::{
    config::{Settings, SettingsPatch, SimConfig},
    rate_limit::{RateLimit, RateLimitSetting, SlidingWindow},
    reports::{Fate, Reporter},
};

/// How a send request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Accepted,
    RateLimited,
    ServerError,
    Unauthorized,
    BadRequest,
    /// Held past the client's timeout and dropped, never taken.
    Lost,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::RateLimited => "rate_limited",
            Self::ServerError => "server_error",
            Self::Unauthorized => "unauthorized",
            Self::BadRequest => "bad_request",
            Self::Lost => "lost",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientRecord {
    /// E.164 with `+`.
    pub to: String,
    pub message_uuid: String,
}

/// One accepted message as Plivo keeps it: what the Message list and get APIs answer from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub message_uuid: String,
    /// Digits without `+`, as Plivo writes numbers.
    pub to: String,
    /// As reports name it: digits without `+`, the sender ID, or the Powerpack's number.
    pub from: String,
    pub powerpack_uuid: Option<String>,
    /// ISO 3166 code of the destination, when the numbering plans know it.
    pub country: Option<String>,
    pub units: usize,
    /// Charged per unit, as Plivo prints it (`0.00500`): the reports' `TotalRate`.
    pub rate: String,
    pub fate: Fate,
    /// When the simulator accepted it: its `message_time`.
    pub accepted_at: DateTime<Utc>,
    /// The report delay in force at acceptance: the step of its status schedule.
    pub step: Duration,
    /// When it first appears in the list and get APIs (`listing_delay_ms` after acceptance).
    pub visible_at: DateTime<Utc>,
}

/// One send request as `GET /__sim/requests` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    pub seq: u64,
    pub received_at: String,
    pub auth_ok: bool,
    pub src: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub powerpack_uuid: Option<String>,
    /// `dst` cut at `<`, as sent, duplicates included.
    pub dst: Vec<String>,
    pub text: Option<String>,
    pub url: Option<String>,
    pub method: Option<String>,
    /// `message_expiry` as sent, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_expiry: Option<String>,
    pub outcome: Outcome,
    pub status: u16,
    /// Accepted, but the answer was held back by the slow fault.
    pub slow: bool,
    /// The error sentence of a refused request.
    pub error: Option<String>,
    /// In the order of the answer (not `dst` order).
    pub message_uuids: Vec<String>,
    pub invalid_number: Vec<String>,
    /// Accepted recipients in `dst` order, each with its uuid.
    pub recipients: Vec<RecipientRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutcomeCounts {
    pub accepted: u64,
    pub rate_limited: u64,
    pub server_error: u64,
    pub unauthorized: u64,
    pub bad_request: u64,
    pub lost: u64,
}

/// The enforced rate limit since it was set (at startup, by a reset or through
/// `POST /__sim/config`); all zero and null while it is off. Deserialize lets a benchmark read
/// it back from `GET /__sim/stats`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateLimitStats {
    /// `"300/5s"`, or null when off.
    pub limit: Option<RateLimit>,
    /// Authenticated send requests the limit let through (they may still meet an injected
    /// fault or a 400).
    pub admitted: u64,
    /// Requests refused by the limit; injected 429s are not counted here.
    pub refused: u64,
    /// The most admitted requests any one window held; never above the limit's N.
    pub peak_in_window: u64,
    /// RFC 3339, milliseconds, UTC. With `last_admitted_at`, an achieved rate is
    /// `(admitted - 1) / (last - first)`.
    pub first_admitted_at: Option<String>,
    pub last_admitted_at: Option<String>,
}

/// The rate at which a limit's requests were admitted, beside the limit's own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AchievedRate {
    /// `(admitted - 1) / (last - first)`: requests a second over the admitted span.
    pub per_second: f64,
    pub span_seconds: f64,
    /// The limit's N / T.
    pub limit_per_second: f64,
}

impl AchievedRate {
    /// `per_second` ÷ `limit_per_second`: the fraction of the limit used.
    pub fn ratio(&self) -> f64 {
        self.per_second / self.limit_per_second
    }
}

impl RateLimitStats {
    /// None while the limit is off or before two requests were admitted (no span to divide by).
    pub fn achieved(&self) -> Option<AchievedRate> {
        let limit = self.limit?;
        let time = |t: &Option<String>| DateTime::parse_from_rfc3339(t.as_deref()?).ok();
        let span = time(&self.last_admitted_at)? - time(&self.first_admitted_at)?;
        let span_seconds = span.num_milliseconds() as f64 / 1000.0;
        (self.admitted >= 2 && span_seconds > 0.0).then(|| AchievedRate {
            per_second: (self.admitted - 1) as f64 / span_seconds,
            span_seconds,
            limit_per_second: f64::from(limit.requests) / limit.window.as_secs_f64(),
        })
    }
}

/// `GET /__sim/stats`.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub requests: u64,
    /// `rate_limited` counts both the enforced limit's refusals and the injected 429s.
    pub outcomes: OutcomeCounts,
    pub rate_limit: RateLimitStats,
    /// Messages accepted, one per recipient per accepted request.
    pub recipients_accepted: u64,
    pub distinct_recipients: u64,
    /// Numbers (E.164) accepted more than once: what "no duplicate sends" tests look for.
    pub duplicates: Vec<String>,
    pub invalid_numbers: u64,
    /// Callbacks answered 2xx (each copy counts in duplicate mode).
    pub reports_sent: u64,
    /// Callbacks dropped after every retry failed.
    pub reports_failed: u64,
    /// Callback requests made, each retry counted: what API Gateway and the status callback
    /// each serve (the cost benchmark prices them).
    pub report_attempts: u64,
    /// Callbacks scheduled and not yet sent or dropped.
    pub reports_pending: u64,
}

/// The enforced limit's window, and when it first and last admitted a request.
struct Limiter {
    window: SlidingWindow,
    first_admitted_at: Option<DateTime<Utc>>,
    last_admitted_at: Option<DateTime<Utc>>,
}

impl Limiter {
    fn new(setting: RateLimitSetting) -> Option<Self> {
        setting.limit().map(|limit| Self {
            window: SlidingWindow::new(limit),
            first_admitted_at: None,
            last_admitted_at: None,
        })
    }

    fn stats(limiter: Option<&Self>) -> RateLimitStats {
        let at =
            |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true));
        RateLimitStats {
            limit: limiter.map(|l| l.window.limit()),
            admitted: limiter.map_or(0, |l| l.window.admitted()),
            refused: limiter.map_or(0, |l| l.window.refused()),
            peak_in_window: limiter.map_or(0, |l| l.window.peak_in_window()),
            first_admitted_at: at(limiter.and_then(|l| l.first_admitted_at)),
            last_admitted_at: at(limiter.and_then(|l| l.last_admitted_at)),
        }
    }
}

/// Everything `POST /__sim/reset` clears. The epoch tells background report tasks that the
/// log they were counting into is gone, so they stop instead of counting into the new one.
struct Log {
    epoch: u64,
    next_seq: u64,
    fault_tick: u64,
    /// Message list and get requests, for their "every Nth" fault.
    list_fault_tick: u64,
    /// `None` while the limit is off.
    limiter: Option<Limiter>,
    /// The List Message API's own limit; `None` while off.
    list_limiter: Option<SlidingWindow>,
    requests: Vec<RequestRecord>,
    /// Accepted messages in acceptance order, and where each uuid is among them.
    messages: Vec<StoredMessage>,
    message_index: HashMap<String, usize>,
    accepted_per_recipient: HashMap<String, u64>,
    reports_sent: u64,
    reports_failed: u64,
    report_attempts: u64,
    reports_pending: u64,
}

impl Log {
    fn new(epoch: u64, settings: &Settings) -> Self {
        Self {
            epoch,
            next_seq: 0,
            fault_tick: 0,
            list_fault_tick: 0,
            limiter: Limiter::new(settings.rate_limit),
            list_limiter: settings.list_rate_limit.limit().map(SlidingWindow::new),
            requests: Vec::new(),
            messages: Vec::new(),
            message_index: HashMap::new(),
            accepted_per_recipient: HashMap::new(),
            reports_sent: 0,
            reports_failed: 0,
            report_attempts: 0,
            reports_pending: 0,
        }
    }
}

/// Shared by every handler and report task; cheap to clone.
#[derive(Clone)]
pub struct SimState(Arc<Inner>);

struct Inner {
    credentials: PlivoCredentials,
    initial: Settings,
    settings: RwLock<Settings>,
    log: Mutex<Log>,
    reporter: Reporter,
}

/// A lock that a panicking holder left poisoned still guards consistent-enough test data;
/// serving it beats failing every later request.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimState {
    pub fn new(config: &SimConfig) -> Result<Self, reqwest::Error> {
        Ok(Self(Arc::new(Inner {
            credentials: config.credentials.clone(),
            initial: config.settings.clone(),
            settings: RwLock::new(config.settings.clone()),
            log: Mutex::new(Log::new(0, &config.settings)),
            reporter: Reporter::new(config.report_concurrency)?,
        })))
    }

    pub fn credentials(&self) -> &PlivoCredentials {
        &self.0.credentials
    }

    pub(crate) fn reporter(&self) -> &Reporter {
        &self.0.reporter
    }

    pub fn settings(&self) -> Settings {
        self.0
            .settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Applies a partial update. The fault count restarts so "every Nth" counts from here; a
    /// patch that names `rate_limit` (even with the value in force) starts a fresh window and
    /// fresh rate-limit counts, so a benchmark can set the limit and then measure from zero.
    pub fn update_settings(&self, patch: SettingsPatch) -> Result<Settings, String> {
        let mut settings = self.0.settings.write().unwrap_or_else(|e| e.into_inner());
        let sets_rate_limit = patch.rate_limit.is_some();
        let sets_list_rate_limit = patch.list_rate_limit.is_some();
        let next = settings.patched(patch)?;
        *settings = next.clone();
        let mut log = lock(&self.0.log);
        log.fault_tick = 0;
        log.list_fault_tick = 0;
        if sets_rate_limit {
            log.limiter = Limiter::new(next.rate_limit);
        }
        if sets_list_rate_limit {
            log.list_limiter = next.list_rate_limit.limit().map(SlidingWindow::new);
        }
        Ok(next)
    }

    /// Forgets everything received and restores the startup settings, so one test's faults
    /// never leak into the next. Report tasks still running stop at their next step.
    pub fn reset(&self) {
        *self.0.settings.write().unwrap_or_else(|e| e.into_inner()) = self.0.initial.clone();
        let mut log = lock(&self.0.log);
        let epoch = log.epoch + 1;
        *log = Log::new(epoch, &self.0.initial);
    }

    /// The next request's sequence number (1-based) and the epoch it belongs to.
    pub(crate) fn next_seq(&self) -> (u64, u64) {
        let mut log = lock(&self.0.log);
        log.next_seq += 1;
        (log.next_seq, log.epoch)
    }

    /// Puts an authenticated send request of `epoch` through the enforced limit: `Err` with
    /// the limit when it is refused. Time is read under the lock, so admissions are recorded
    /// in the order they happen. A request from before a reset is let through uncounted: its
    /// record will be dropped with the log it belonged to.
    pub(crate) fn admit(&self, epoch: u64) -> Result<(), RateLimit> {
        let mut log = lock(&self.0.log);
        if log.epoch != epoch {
            return Ok(());
        }
        let Some(limiter) = log.limiter.as_mut() else {
            return Ok(());
        };
        if !limiter.window.admit(Instant::now()) {
            return Err(limiter.window.limit());
        }
        let now = Utc::now();
        limiter.first_admitted_at.get_or_insert(now);
        limiter.last_admitted_at = Some(now);
        Ok(())
    }

    /// Puts an authenticated Message list request through the List API's own limit, as
    /// [`Self::admit`] does for the account's. Refusals are not counted in `/__sim/stats`.
    pub(crate) fn admit_list(&self, epoch: u64) -> Result<(), RateLimit> {
        let mut log = lock(&self.0.log);
        if log.epoch != epoch {
            return Ok(());
        }
        let Some(window) = log.list_limiter.as_mut() else {
            return Ok(());
        };
        if window.admit(Instant::now()) {
            Ok(())
        } else {
            Err(window.limit())
        }
    }

    /// Counts one Message list or get request for the list API's "every Nth" fault.
    pub(crate) fn next_list_fault_tick(&self) -> u64 {
        let mut log = lock(&self.0.log);
        log.list_fault_tick += 1;
        log.list_fault_tick
    }

    /// Runs `f` over the accepted messages, in acceptance order, under the lock.
    pub(crate) fn with_messages<R>(&self, f: impl FnOnce(&[StoredMessage]) -> R) -> R {
        f(&lock(&self.0.log).messages)
    }

    /// The accepted message with this uuid, whether or not it is visible yet.
    pub fn message(&self, uuid: &str) -> Option<StoredMessage> {
        let log = lock(&self.0.log);
        log.message_index
            .get(uuid)
            .and_then(|&i| log.messages.get(i))
            .cloned()
    }

    /// Counts one authenticated send request for the "every Nth" faults.
    pub(crate) fn next_fault_tick(&self) -> u64 {
        let mut log = lock(&self.0.log);
        log.fault_tick += 1;
        log.fault_tick
    }

    /// Stores a finished request and the messages it had accepted. Returns false when a
    /// reset happened since it arrived, in which case nothing is stored and no reports should
    /// be sent for it.
    pub(crate) fn record(
        &self,
        epoch: u64,
        record: RequestRecord,
        messages: Vec<StoredMessage>,
        reports: u64,
    ) -> bool {
        let mut log = lock(&self.0.log);
        if log.epoch != epoch {
            return false;
        }
        for m in messages {
            let at = log.messages.len();
            log.message_index.insert(m.message_uuid.clone(), at);
            log.messages.push(m);
        }
        for r in &record.recipients {
            *log.accepted_per_recipient.entry(r.to.clone()).or_default() += 1;
        }
        log.reports_pending += reports;
        log.requests.push(record);
        true
    }

    pub(crate) fn epoch(&self) -> u64 {
        lock(&self.0.log).epoch
    }

    /// A callback request is about to be made (a first attempt or a retry).
    pub(crate) fn report_attempted(&self, epoch: u64) {
        let mut log = lock(&self.0.log);
        if log.epoch == epoch {
            log.report_attempts += 1;
        }
    }

    /// A report finished (sent, or dropped after its retries).
    pub(crate) fn report_done(&self, epoch: u64, sent: bool) {
        let mut log = lock(&self.0.log);
        if log.epoch != epoch {
            return;
        }
        log.reports_pending = log.reports_pending.saturating_sub(1);
        if sent {
            log.reports_sent += 1;
        } else {
            log.reports_failed += 1;
        }
    }

    /// Every request received since the last reset, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        let mut all = lock(&self.0.log).requests.clone();
        // Records are stored when a request finishes; faster ones can overtake.
        all.sort_by_key(|r| r.seq);
        all
    }

    pub fn stats(&self) -> Stats {
        let log = lock(&self.0.log);
        let mut by_outcome: BTreeMap<Outcome, u64> = BTreeMap::new();
        let mut invalid_numbers = 0;
        for r in &log.requests {
            *by_outcome.entry(r.outcome).or_default() += 1;
            invalid_numbers += r.invalid_number.len() as u64;
        }
        let count = |o| by_outcome.get(&o).copied().unwrap_or(0);
        let mut duplicates: Vec<String> = log
            .accepted_per_recipient
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(to, _)| to.clone())
            .collect();
        duplicates.sort();
        Stats {
            requests: log.requests.len() as u64,
            outcomes: OutcomeCounts {
                accepted: count(Outcome::Accepted),
                rate_limited: count(Outcome::RateLimited),
                server_error: count(Outcome::ServerError),
                unauthorized: count(Outcome::Unauthorized),
                bad_request: count(Outcome::BadRequest),
                lost: count(Outcome::Lost),
            },
            rate_limit: Limiter::stats(log.limiter.as_ref()),
            recipients_accepted: log.accepted_per_recipient.values().sum(),
            distinct_recipients: log.accepted_per_recipient.len() as u64,
            duplicates,
            invalid_numbers,
            reports_sent: log.reports_sent,
            reports_failed: log.reports_failed,
            report_attempts: log.report_attempts,
            reports_pending: log.reports_pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(admitted: u64, first: Option<&str>, last: Option<&str>) -> RateLimitStats {
        RateLimitStats {
            limit: Some("50/5s".parse().unwrap()),
            admitted,
            refused: 0,
            peak_in_window: 0,
            first_admitted_at: first.map(str::to_owned),
            last_admitted_at: last.map(str::to_owned),
        }
    }

    #[test]
    fn the_achieved_rate_counts_the_gaps_between_admitted_requests() {
        // 20 requests over 2 s are 19 gaps: 9.5 a second, 0.95 of 50/5s.
        let achieved = stats(
            20,
            Some("2026-01-01T00:00:00.000Z"),
            Some("2026-01-01T00:00:02.000Z"),
        )
        .achieved()
        .unwrap();
        assert_eq!(achieved.per_second, 9.5);
        assert_eq!(achieved.span_seconds, 2.0);
        assert_eq!(achieved.limit_per_second, 10.0);
        assert_eq!(achieved.ratio(), 0.95);
    }

    #[test]
    fn no_rate_without_a_limit_or_a_span() {
        let at = Some("2026-01-01T00:00:00.000Z");
        assert_eq!(stats(1, at, at).achieved(), None);
        assert_eq!(stats(0, None, None).achieved(), None);
        let off = RateLimitStats {
            limit: None,
            ..stats(20, at, Some("2026-01-01T00:00:02.000Z"))
        };
        assert_eq!(off.achieved(), None);
    }
}
