//! plivo-sim: a local Plivo Message API (send, list, get) that posts signed delivery reports.
//!
//! Settings come from the environment; an invalid value stops startup with a message that
//! names the variable. Blank means "default", except for the three prefix variables, where
//! blank (or `none`) turns the range off.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `PLIVO_SIM_ADDR` | `127.0.0.1:8089` | listen address |
//! | `PLIVO_AUTH_ID` | `MASIMULATOR000000001` | the auth id Basic auth and the URL path must carry |
//! | `PLIVO_AUTH_TOKEN` | `local-simulator-token` | the auth token Basic auth must carry; signs the reports |
//! | `PLIVO_SIM_REPORTS` | `on` | send delivery reports (`on`/`off`, `true`/`false`, `1`/`0`, `yes`/`no`) |
//! | `PLIVO_SIM_REPORT_DELAY_MS` | `50` | wait before each report of a message |
//! | `PLIVO_SIM_REPORT_MODE` | `normal` | `normal`, `duplicate` (each report twice) or `shuffle` (a message's reports out of order) |
//! | `PLIVO_SIM_REPORT_CONCURRENCY` | `16` | callbacks in flight at once |
//! | `PLIVO_SIM_REPORT_TIMEOUT_MS` | `8000` | how long a callback may take to answer (Plivo: 8 s) |
//! | `PLIVO_SIM_REPORT_RETRY_MS` | `250` | first retry backoff of a failed callback; doubles, 3 retries |
//! | `PLIVO_SIM_LATENCY_MS` | `0` | added to every send request |
//! | `PLIVO_SIM_RATE_LIMIT` | `off` | enforced limit `N/Ts` or `N/Tms` (`300/5s` is Plivo's): at most N sends admitted in any T (a sliding window), 429 beyond |
//! | `PLIVO_SIM_RATE_LIMIT_SHARE` | `0` | probability (0..1) that a send gets 429 |
//! | `PLIVO_SIM_RATE_LIMIT_EVERY` | `0` | every Nth send gets 429 (0: off) |
//! | `PLIVO_SIM_SERVER_ERROR_SHARE` | `0` | probability that a send gets a 5xx |
//! | `PLIVO_SIM_SERVER_ERROR_EVERY` | `0` | every Nth send gets a 5xx (0: off) |
//! | `PLIVO_SIM_SERVER_ERROR_STATUS` | `500` | the 5xx status to answer (500..=599, e.g. 503) |
//! | `PLIVO_SIM_LOST_SHARE` | `0` | probability that a send is held `PLIVO_SIM_SLOW_MS` and dropped, never taken |
//! | `PLIVO_SIM_LOST_EVERY` | `0` | every Nth send is held and dropped, never taken (0: off) |
//! | `PLIVO_SIM_SLOW_SHARE` | `0` | probability that a send is accepted but answered late |
//! | `PLIVO_SIM_SLOW_EVERY` | `0` | every Nth send is accepted but answered late (0: off) |
//! | `PLIVO_SIM_SLOW_MS` | `12000` | how late a slow answer is |
//! | `PLIVO_SIM_INVALID_PREFIX` | `1312555010` | destinations whose digits start so are returned in `invalid_number` |
//! | `PLIVO_SIM_UNDELIVERABLE_PREFIX` | `1312555011` | accepted, then reported `undelivered` (ErrorCode 70) |
//! | `PLIVO_SIM_OPTED_OUT_PREFIX` | `1312555012` | accepted, then reported `failed` (ErrorCode 200, opted out) |
//! | `PLIVO_SIM_LISTING_DELAY_MS` | `0` | how long after acceptance a message first appears in the Message list and get APIs |
//! | `PLIVO_SIM_LIST_RATE_LIMIT` | `off` | the List Message API's own enforced limit (`20/60s` is Plivo's) |
//! | `PLIVO_SIM_LIST_ERROR_SHARE` | `0` | probability that a Message list or get request gets a 5xx |
//! | `PLIVO_SIM_LIST_ERROR_EVERY` | `0` | every Nth Message list or get request gets a 5xx (0: off) |
//! | `RUST_LOG`, `LOG_FORMAT` | `info`, JSON | logging, as for the functions |
//!
//! "Every Nth" counts authenticated send requests the enforced limit let through, since
//! startup, the last reset or the last config change. The prefix variables take
//! comma-separated lists.

use std::process::ExitCode;

use plivo_sim::SimConfig;

#[tokio::main]
async fn main() -> ExitCode {
    sms_core::telemetry::init();
    let config = match SimConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "invalid configuration");
            return ExitCode::FAILURE;
        }
    };
    match plivo_sim::serve(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the simulator stopped");
            ExitCode::FAILURE
        }
    }
}
