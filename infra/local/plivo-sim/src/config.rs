//! The simulator's settings: read once from the environment at startup, and (for everything
//! but the listen address, the credentials and the report concurrency) changeable at runtime
//! through `POST /__sim/config`, so tests can switch faults on and off without a restart.

use std::{collections::BTreeMap, fmt, net::SocketAddr, str::FromStr};

use serde::{Deserialize, Serialize};
use sms_core::{config::ConfigError, domain::money::Money, secrets::PlivoCredentials};

use crate::{faults::Fault, rate_limit::RateLimitSetting};

pub const DEFAULT_ADDR: &str = "127.0.0.1:8089";
/// The same sample credentials `infra/local/dev.sh` seeds into the emulated secret.
pub const DEFAULT_AUTH_ID: &str = "MASIMULATOR000000001";
pub const DEFAULT_AUTH_TOKEN: &str = "local-simulator-token";
/// `+1 312 555 010x`: Plivo answers these in `invalid_number`. The three ranges are fictional
/// 555-01xx numbers of a real area code: the service's intake accepts them (they are valid by
/// libphonenumber's plans), so a test can reach them through the whole stack.
pub const DEFAULT_INVALID_PREFIX: &str = "1312555010";
/// `+1 312 555 011x`: accepted, then reported `undelivered`.
pub const DEFAULT_UNDELIVERABLE_PREFIX: &str = "1312555011";
/// `+1 312 555 012x`: accepted, then reported `failed` with ErrorCode 200 (opted out).
pub const DEFAULT_OPTED_OUT_PREFIX: &str = "1312555012";

/// How delivery reports are sent; the non-normal modes exist to test a receiver's
/// idempotence and its forward-only status rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportMode {
    /// queued, sent, final: in order, each once.
    Normal,
    /// Every report twice (a new nonce each time), as Plivo may when it retries.
    Duplicate,
    /// A message's reports out of order (never in the original order when there are two
    /// or more); each keeps its `Sequence`.
    Shuffle,
}

impl FromStr for ReportMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "normal" => Ok(Self::Normal),
            "duplicate" => Ok(Self::Duplicate),
            "shuffle" => Ok(Self::Shuffle),
            _ => Err(format!("expected normal, duplicate or shuffle, got {s:?}")),
        }
    }
}

/// The one table of runtime settings. Each line gives the field (also its key in
/// `POST /__sim/config`), its type, its default, its environment variable and the check both
/// the variable and the JSON patch pass through. The struct, its defaults, the environment
/// reader and the patch all come from it, so they cannot drift apart.
macro_rules! settings {
    ($(
        $(#[$doc:meta])*
        $field:ident: $ty:ty = $default:expr, $env:ident = $var:literal, $check:path;
    )*) => {
        /// The environment variables, in one place so error messages and docs name the same
        /// thing.
        pub mod env {
            pub const ADDR: &str = "PLIVO_SIM_ADDR";
            pub const AUTH_ID: &str = "PLIVO_AUTH_ID";
            pub const AUTH_TOKEN: &str = "PLIVO_AUTH_TOKEN";
            pub const REPORT_CONCURRENCY: &str = "PLIVO_SIM_REPORT_CONCURRENCY";
            $(pub const $env: &str = $var;)*
        }

        /// What the simulator does with requests and reports. Shares are probabilities in
        /// 0..=1; an `every` of N fires on every Nth authenticated send request (0 turns it
        /// off).
        #[derive(Debug, Clone, PartialEq, Serialize)]
        pub struct Settings {
            $($(#[$doc])* pub $field: $ty,)*
        }

        impl Default for Settings {
            fn default() -> Self {
                Self { $($field: $default,)* }
            }
        }

        /// A partial update of [`Settings`]; absent fields stay as they are.
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct SettingsPatch {
            $(pub $field: Option<$ty>,)*
        }

        impl Settings {
            /// The settings with `patch` applied, or the first problem, naming the JSON field.
            pub fn patched(&self, patch: SettingsPatch) -> Result<Self, String> {
                let mut next = self.clone();
                $(if let Some(v) = patch.$field {
                    next.$field = $check(v)
                        .map_err(|reason| format!("{}: {reason}", stringify!($field)))?;
                })*
                Ok(next)
            }

            fn read(r: &Reader<'_>) -> Result<Self, ConfigError> {
                let defaults = Self::default();
                Ok(Self {
                    $($field: r.checked(env::$env, defaults.$field, $check)?,)*
                })
            }
        }
    };
}

settings! {
    /// Added before every answer.
    latency_ms: u64 = 0, LATENCY_MS = "PLIVO_SIM_LATENCY_MS", unchecked;
    /// The enforced limit (`rate_limit.rs`): `300/5s` is Plivo's. Checked as it is parsed.
    rate_limit: RateLimitSetting = RateLimitSetting::Off,
        RATE_LIMIT = "PLIVO_SIM_RATE_LIMIT", unchecked;
    rate_limit_share: f64 = 0.0, RATE_LIMIT_SHARE = "PLIVO_SIM_RATE_LIMIT_SHARE", check_share;
    rate_limit_every: u64 = 0, RATE_LIMIT_EVERY = "PLIVO_SIM_RATE_LIMIT_EVERY", unchecked;
    server_error_share: f64 = 0.0,
        SERVER_ERROR_SHARE = "PLIVO_SIM_SERVER_ERROR_SHARE", check_share;
    server_error_every: u64 = 0, SERVER_ERROR_EVERY = "PLIVO_SIM_SERVER_ERROR_EVERY", unchecked;
    server_error_status: u16 = 500,
        SERVER_ERROR_STATUS = "PLIVO_SIM_SERVER_ERROR_STATUS", check_server_error_status;
    slow_share: f64 = 0.0, SLOW_SHARE = "PLIVO_SIM_SLOW_SHARE", check_share;
    slow_every: u64 = 0, SLOW_EVERY = "PLIVO_SIM_SLOW_EVERY", unchecked;
    /// Past the Plivo client's 10 s request timeout, so a slow answer is a timeout.
    slow_ms: u64 = 12_000, SLOW_MS = "PLIVO_SIM_SLOW_MS", unchecked;
    /// Requests held `slow_ms` and then dropped, never taken: a timeout before Plivo
    /// recorded anything (no message, no report, no record in the list API).
    lost_share: f64 = 0.0, LOST_SHARE = "PLIVO_SIM_LOST_SHARE", check_share;
    lost_every: u64 = 0, LOST_EVERY = "PLIVO_SIM_LOST_EVERY", unchecked;
    reports: bool = true, REPORTS = "PLIVO_SIM_REPORTS", unchecked;
    report_delay_ms: u64 = 50, REPORT_DELAY_MS = "PLIVO_SIM_REPORT_DELAY_MS", unchecked;
    report_mode: ReportMode = ReportMode::Normal, REPORT_MODE = "PLIVO_SIM_REPORT_MODE", unchecked;
    /// Plivo waits 8 s for a callback's answer.
    report_timeout_ms: u64 = 8_000,
        REPORT_TIMEOUT_MS = "PLIVO_SIM_REPORT_TIMEOUT_MS", check_timeout;
    report_retry_ms: u64 = 250, REPORT_RETRY_MS = "PLIVO_SIM_REPORT_RETRY_MS", unchecked;
    invalid_prefixes: Vec<String> = vec![DEFAULT_INVALID_PREFIX.to_owned()],
        INVALID_PREFIX = "PLIVO_SIM_INVALID_PREFIX", check_prefixes;
    undeliverable_prefixes: Vec<String> = vec![DEFAULT_UNDELIVERABLE_PREFIX.to_owned()],
        UNDELIVERABLE_PREFIX = "PLIVO_SIM_UNDELIVERABLE_PREFIX", check_prefixes;
    opted_out_prefixes: Vec<String> = vec![DEFAULT_OPTED_OUT_PREFIX.to_owned()],
        OPTED_OUT_PREFIX = "PLIVO_SIM_OPTED_OUT_PREFIX", check_prefixes;
    /// Outbound price per segment by country (ISO 3166): what the Pricing API answers and
    /// reports charge (`TotalRate`, `TotalAmount`). A country not listed is not priced (404)
    /// and is charged [`UNLISTED_RATE`]. In the environment: `US=0.00500,GB=0.04000`.
    prices: BTreeMap<String, String> = default_prices(),
        PRICES = "PLIVO_SIM_PRICES", check_prices;
    /// Added to every segment's charge and absent from the Pricing API, as the per-message
    /// fees US carriers add are: what makes a job's charges exceed its estimate.
    carrier_surcharge: Money = Money::ZERO,
        CARRIER_SURCHARGE = "PLIVO_SIM_CARRIER_SURCHARGE", unchecked;
    /// How long after acceptance a message first appears in the Message list and get APIs
    /// (Plivo's records are not instant); the value in force when it was accepted.
    listing_delay_ms: u64 = 0, LISTING_DELAY_MS = "PLIVO_SIM_LISTING_DELAY_MS", unchecked;
    /// The List Message API's own enforced limit (Plivo documents 20 requests a minute,
    /// `20/60s`), on top of the account's `rate_limit`.
    list_rate_limit: RateLimitSetting = RateLimitSetting::Off,
        LIST_RATE_LIMIT = "PLIVO_SIM_LIST_RATE_LIMIT", unchecked;
    /// Message list and get requests answered `server_error_status`, at random and every Nth.
    list_error_share: f64 = 0.0, LIST_ERROR_SHARE = "PLIVO_SIM_LIST_ERROR_SHARE", check_share;
    list_error_every: u64 = 0, LIST_ERROR_EVERY = "PLIVO_SIM_LIST_ERROR_EVERY", unchecked;
}

impl Settings {
    /// The rate per segment Plivo would charge a message to `to`, as a decimal string.
    pub fn rate_for(&self, to: &sms_core::PhoneNumber) -> &str {
        sms_core::domain::numbering::classify(to)
            .ok()
            .and_then(|n| self.prices.get(n.region))
            .map_or(UNLISTED_RATE, String::as_str)
    }

    /// What one segment to `to` is charged: its country's rate and the carrier surcharge,
    /// as Plivo prints an amount (`0.01500`).
    pub fn charge_for(&self, to: &sms_core::PhoneNumber) -> String {
        let rate = Money::parse(self.rate_for(to)).unwrap_or(Money::ZERO);
        let micros = rate.saturating_add(self.carrier_surcharge).micros();
        format!("{}.{:05}", micros / 1_000_000, (micros % 1_000_000) / 10)
    }

    /// The injected 429s; the enforced limit is the `rate_limit` field.
    pub fn injected_rate_limit(&self) -> Fault {
        Fault::new(self.rate_limit_share, self.rate_limit_every)
    }

    pub fn server_error(&self) -> Fault {
        Fault::new(self.server_error_share, self.server_error_every)
    }

    pub fn lost(&self) -> Fault {
        Fault::new(self.lost_share, self.lost_every)
    }

    pub fn slow(&self) -> Fault {
        Fault::new(self.slow_share, self.slow_every)
    }

    /// The injected 5xx of the Message list and get APIs.
    pub fn list_error(&self) -> Fault {
        Fault::new(self.list_error_share, self.list_error_every)
    }
}

/// Everything the simulator needs to start.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub addr: SocketAddr,
    /// What Basic auth must present, and the token that signs delivery reports. Its `Debug`
    /// hides the token.
    pub credentials: PlivoCredentials,
    /// Callbacks in flight at once, across all messages.
    pub report_concurrency: usize,
    pub settings: Settings,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8089)),
            credentials: PlivoCredentials::new(DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN),
            report_concurrency: 16,
            settings: Settings::default(),
        }
    }
}

impl SimConfig {
    /// The defaults on `127.0.0.1:0`, so the OS picks a free port: what tests start.
    pub fn ephemeral() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..Self::default()
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| match std::env::var(name) {
            Ok(v) => Some(v),
            Err(std::env::VarError::NotPresent) => None,
            // Present but unreadable: let the parser refuse it by name rather than ignore it.
            Err(std::env::VarError::NotUnicode(_)) => Some("\u{FFFD}".to_owned()),
        })
    }

    /// Reads settings through `get`, so tests need not touch the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let r = Reader(&get);
        let auth_id = r.text(env::AUTH_ID, DEFAULT_AUTH_ID);
        let auth_token = r.text(env::AUTH_TOKEN, DEFAULT_AUTH_TOKEN);
        let settings = Settings::read(&r)?;
        Ok(Self {
            addr: r.parse(env::ADDR, SocketAddr::from(([127, 0, 0, 1], 8089)))?,
            credentials: PlivoCredentials::new(auth_id, auth_token),
            report_concurrency: r.checked(env::REPORT_CONCURRENCY, 16, |n: usize| {
                if n == 0 {
                    Err("must be at least 1".to_owned())
                } else {
                    Ok(n)
                }
            })?,
            settings,
        })
    }
}

struct Reader<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Reader<'_> {
    /// The trimmed value, `None` when unset or blank.
    fn value(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn text(&self, name: &str, default: &str) -> String {
        self.value(name).unwrap_or_else(|| default.to_owned())
    }

    fn parse<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: Parse,
    {
        self.checked(name, default, Ok)
    }

    fn checked<T, F>(&self, name: &'static str, default: T, check: F) -> Result<T, ConfigError>
    where
        T: Parse,
        F: Fn(T) -> Result<T, String>,
    {
        let Some(raw) = (self.0)(name) else {
            return Ok(default);
        };
        let raw = raw.trim();
        let value = match T::blank() {
            Some(blank) if raw.is_empty() => return Ok(blank),
            _ if raw.is_empty() => return Ok(default),
            _ => raw,
        };
        T::parse(value)
            .and_then(check)
            .map_err(|reason| ConfigError::Invalid { name, reason })
    }
}

/// Parsing with a message that says what was expected.
trait Parse: Sized {
    fn parse(raw: &str) -> Result<Self, String>;

    /// What a variable set to blank means; `None`: the default, as if unset.
    fn blank() -> Option<Self> {
        None
    }
}

fn parse_via<T: FromStr>(raw: &str, what: &str) -> Result<T, String>
where
    T::Err: fmt::Display,
{
    raw.parse::<T>()
        .map_err(|e| format!("expected {what}, got {raw:?} ({e})"))
}

impl Parse for u64 {
    fn parse(raw: &str) -> Result<Self, String> {
        parse_via(raw, "a whole number")
    }
}
impl Parse for usize {
    fn parse(raw: &str) -> Result<Self, String> {
        parse_via(raw, "a whole number")
    }
}
impl Parse for u16 {
    fn parse(raw: &str) -> Result<Self, String> {
        parse_via(raw, "an HTTP status code")
    }
}
impl Parse for f64 {
    fn parse(raw: &str) -> Result<Self, String> {
        parse_via(raw, "a number between 0 and 1")
    }
}
impl Parse for SocketAddr {
    fn parse(raw: &str) -> Result<Self, String> {
        parse_via(raw, "host:port such as 127.0.0.1:8089")
    }
}
impl Parse for ReportMode {
    fn parse(raw: &str) -> Result<Self, String> {
        raw.parse()
    }
}
impl Parse for RateLimitSetting {
    fn parse(raw: &str) -> Result<Self, String> {
        raw.parse()
    }
}
impl Parse for Money {
    fn parse(raw: &str) -> Result<Self, String> {
        Money::parse(raw).map_err(|e| e.to_string())
    }
}
/// `US=0.00500,GB=0.04000`; `none` lists no country.
impl Parse for BTreeMap<String, String> {
    fn parse(raw: &str) -> Result<Self, String> {
        if raw.trim().eq_ignore_ascii_case("none") {
            return Ok(BTreeMap::new());
        }
        raw.split(',')
            .map(|pair| {
                let (country, rate) = pair.split_once('=').ok_or_else(|| {
                    format!("expected COUNTRY=RATE pairs such as US=0.00500, got {pair:?}")
                })?;
                Ok((country.trim().to_owned(), rate.trim().to_owned()))
            })
            .collect()
    }
}

/// What the simulator charges a country that `prices` does not list.
pub const UNLISTED_RATE: &str = "0.00500";

/// List prices of a few countries, of the order Plivo's are.
fn default_prices() -> BTreeMap<String, String> {
    [
        ("AU", "0.04500"),
        ("CA", "0.00500"),
        ("DE", "0.07500"),
        ("FR", "0.07000"),
        ("GB", "0.04000"),
        ("IN", "0.00250"),
        ("US", "0.00500"),
    ]
    .into_iter()
    .map(|(c, r)| (c.to_owned(), r.to_owned()))
    .collect()
}

/// Country codes of two capital letters, each with a decimal rate.
fn check_prices(prices: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String> {
    for (country, rate) in &prices {
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!("{country:?} is not a country code such as US"));
        }
        sms_core::domain::money::Money::parse(rate).map_err(|e| format!("{country}: rate {e}"))?;
    }
    Ok(prices)
}

/// Comma-separated digit prefixes. Set but blank (or `none`) turns the range off, which is
/// why blank does not mean "default" here.
impl Parse for Vec<String> {
    fn parse(raw: &str) -> Result<Self, String> {
        if raw.eq_ignore_ascii_case("none") {
            return Ok(Vec::new());
        }
        Ok(raw.split(',').map(str::to_owned).collect())
    }

    fn blank() -> Option<Self> {
        Some(Vec::new())
    }
}

impl Parse for bool {
    fn parse(raw: &str) -> Result<Self, String> {
        match raw.to_ascii_lowercase().as_str() {
            "on" | "true" | "1" | "yes" => Ok(true),
            "off" | "false" | "0" | "no" => Ok(false),
            _ => Err(format!("expected on or off, got {raw:?}")),
        }
    }
}

/// The check of a setting any value of its type suits.
fn unchecked<T>(value: T) -> Result<T, String> {
    Ok(value)
}

fn check_share(share: f64) -> Result<f64, String> {
    // Written so that NaN fails too.
    if (0.0..=1.0).contains(&share) {
        Ok(share)
    } else {
        Err(format!("must be between 0 and 1, got {share}"))
    }
}

fn check_server_error_status(status: u16) -> Result<u16, String> {
    if (500..=599).contains(&status) {
        Ok(status)
    } else {
        Err(format!("must be a 5xx status, got {status}"))
    }
}

fn check_timeout(ms: u64) -> Result<u64, String> {
    if ms == 0 {
        Err("must be at least 1 ms".to_owned())
    } else {
        Ok(ms)
    }
}

fn check_prefixes(prefixes: Vec<String>) -> Result<Vec<String>, String> {
    prefixes.iter().map(|p| check_prefix(p)).collect()
}

/// A prefix of a number's digits; a leading `+` is allowed and dropped.
fn check_prefix(raw: &str) -> Result<String, String> {
    let digits = raw.trim().trim_start_matches('+');
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(digits.to_owned())
    } else {
        Err(format!("expected digits such as 1312555010, got {raw:?}"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<SimConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        SimConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn a_carrier_surcharge_is_charged_on_top_of_the_listed_rate() {
        let us = sms_core::PhoneNumber::parse("+14155550100").unwrap();
        let plain = from(&[]).unwrap().settings;
        assert_eq!(plain.charge_for(&us), "0.00500");
        let surcharged = from(&[(env::CARRIER_SURCHARGE, "0.0030")])
            .unwrap()
            .settings;
        assert_eq!(surcharged.charge_for(&us), "0.00800");
        assert!(from(&[(env::CARRIER_SURCHARGE, "lots")]).is_err());
    }

    #[test]
    fn unset_variables_give_the_documented_defaults() {
        let c = from(&[]).unwrap();
        assert_eq!(c.addr.to_string(), DEFAULT_ADDR);
        assert_eq!(c.credentials.auth_id, DEFAULT_AUTH_ID);
        assert_eq!(c.credentials.token(), DEFAULT_AUTH_TOKEN);
        assert_eq!(c.report_concurrency, 16);
        assert_eq!(c.settings, Settings::default());
    }

    #[test]
    fn every_variable_is_read() {
        let c = from(&[
            (env::ADDR, "0.0.0.0:9000"),
            (env::AUTH_ID, "MAOTHER"),
            (env::AUTH_TOKEN, "tok"),
            (env::REPORTS, "off"),
            (env::REPORT_DELAY_MS, "5"),
            (env::REPORT_MODE, "Shuffle"),
            (env::REPORT_CONCURRENCY, "3"),
            (env::REPORT_TIMEOUT_MS, "100"),
            (env::REPORT_RETRY_MS, "7"),
            (env::LATENCY_MS, "20"),
            (env::RATE_LIMIT, " 300/5s "),
            (env::RATE_LIMIT_SHARE, "0.5"),
            (env::RATE_LIMIT_EVERY, "4"),
            (env::SERVER_ERROR_SHARE, "0.25"),
            (env::SERVER_ERROR_EVERY, "6"),
            (env::SERVER_ERROR_STATUS, "503"),
            (env::SLOW_SHARE, "1"),
            (env::SLOW_EVERY, "2"),
            (env::SLOW_MS, "300"),
            (env::INVALID_PREFIX, "+1999, 1888"),
            (env::UNDELIVERABLE_PREFIX, ""),
            (env::OPTED_OUT_PREFIX, "none"),
            (env::LISTING_DELAY_MS, "750"),
            (env::LIST_RATE_LIMIT, "20/60s"),
            (env::LIST_ERROR_SHARE, "0.5"),
            (env::LIST_ERROR_EVERY, "2"),
        ])
        .unwrap();
        let s = &c.settings;
        assert_eq!(c.addr.to_string(), "0.0.0.0:9000");
        assert_eq!(
            (c.credentials.auth_id.as_str(), c.credentials.token()),
            ("MAOTHER", "tok")
        );
        assert_eq!(c.report_concurrency, 3);
        assert!(!s.reports);
        assert_eq!((s.report_delay_ms, s.report_mode), (5, ReportMode::Shuffle));
        assert_eq!(
            (s.report_timeout_ms, s.report_retry_ms, s.latency_ms),
            (100, 7, 20)
        );
        assert_eq!(s.rate_limit.to_string(), "300/5s");
        assert_eq!((s.rate_limit_share, s.rate_limit_every), (0.5, 4));
        assert_eq!(
            (
                s.server_error_share,
                s.server_error_every,
                s.server_error_status
            ),
            (0.25, 6, 503)
        );
        assert_eq!((s.slow_share, s.slow_every, s.slow_ms), (1.0, 2, 300));
        assert_eq!(s.invalid_prefixes, ["1999", "1888"]);
        assert!(s.undeliverable_prefixes.is_empty());
        assert!(s.opted_out_prefixes.is_empty());
        assert_eq!(s.listing_delay_ms, 750);
        assert_eq!(s.list_rate_limit.to_string(), "20/60s");
        assert_eq!((s.list_error_share, s.list_error_every), (0.5, 2));
    }

    #[test]
    fn invalid_values_name_the_variable() {
        let cases = [
            (env::ADDR, "localhost"),
            (env::LATENCY_MS, "-1"),
            (env::RATE_LIMIT_SHARE, "1.5"),
            (env::RATE_LIMIT, "0/1s"),
            (env::RATE_LIMIT, "5/0s"),
            (env::RATE_LIMIT, "abc"),
            (env::RATE_LIMIT, "5/1h"),
            (env::RATE_LIMIT, "4294967296/1s"),
            (env::SLOW_SHARE, "NaN"),
            (env::SERVER_ERROR_STATUS, "404"),
            (env::REPORTS, "maybe"),
            (env::REPORT_MODE, "random"),
            (env::REPORT_CONCURRENCY, "0"),
            (env::REPORT_TIMEOUT_MS, "0"),
            (env::INVALID_PREFIX, "15a"),
            (env::LIST_RATE_LIMIT, "none"),
            (env::LIST_ERROR_SHARE, "2"),
            (env::LISTING_DELAY_MS, "soon"),
        ];
        for (name, value) in cases {
            let err = from(&[(name, value)]).unwrap_err().to_string();
            assert!(err.contains(name), "{name}={value}: {err}");
        }
    }

    #[test]
    fn the_rate_limit_is_off_unless_set_and_off_or_blank_turns_it_off() {
        assert_eq!(
            from(&[]).unwrap().settings.rate_limit,
            RateLimitSetting::Off
        );
        for off in ["off", "OFF", "", "  "] {
            let c = from(&[(env::RATE_LIMIT, off)]).unwrap();
            assert_eq!(c.settings.rate_limit, RateLimitSetting::Off, "{off:?}");
        }
        let c = from(&[(env::RATE_LIMIT, "50/500ms")]).unwrap();
        assert_eq!(c.settings.rate_limit.to_string(), "50/500ms");
    }

    #[test]
    fn debug_output_hides_the_token() {
        let c = from(&[(env::AUTH_TOKEN, "very-secret-token")]).unwrap();
        assert!(!format!("{c:?}").contains("very-secret-token"));
    }

    #[test]
    fn a_patch_changes_only_what_it_names_and_is_checked() {
        let base = Settings::default();
        let patch: SettingsPatch =
            serde_json::from_str(r#"{"rate_limit_every": 3, "opted_out_prefixes": ["+1777"]}"#)
                .unwrap();
        let next = base.patched(patch).unwrap();
        assert_eq!(next.rate_limit_every, 3);
        assert_eq!(next.opted_out_prefixes, ["1777"]);
        assert_eq!(next.latency_ms, base.latency_ms);

        let bad: SettingsPatch = serde_json::from_str(r#"{"slow_share": 2}"#).unwrap();
        assert!(base.patched(bad).unwrap_err().contains("slow_share"));
        let bad: SettingsPatch = serde_json::from_str(r#"{"server_error_status": 418}"#).unwrap();
        assert!(
            base.patched(bad)
                .unwrap_err()
                .contains("server_error_status")
        );
        assert!(serde_json::from_str::<SettingsPatch>(r#"{"nope": 1}"#).is_err());

        let limited: SettingsPatch = serde_json::from_str(r#"{"rate_limit": "20/1s"}"#).unwrap();
        let limited = base.patched(limited).unwrap();
        assert_eq!(limited.rate_limit.to_string(), "20/1s");
        let off: SettingsPatch = serde_json::from_str(r#"{"rate_limit": "off"}"#).unwrap();
        assert_eq!(
            limited.patched(off).unwrap().rate_limit,
            RateLimitSetting::Off
        );
        assert!(serde_json::from_str::<SettingsPatch>(r#"{"rate_limit": "0/1s"}"#).is_err());
        assert_eq!(
            serde_json::to_value(&limited).unwrap()["rate_limit"],
            "20/1s"
        );
    }
}
