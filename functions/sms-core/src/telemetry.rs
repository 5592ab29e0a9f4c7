//! Logging: structured JSON lines (what CloudWatch Logs Insights queries), filtered by
//! `RUST_LOG`. `LOG_FORMAT=text` gives readable lines for a terminal.

use tracing_subscriber::{EnvFilter, fmt};

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let text = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("text"));
    let builder = fmt().with_env_filter(filter).with_target(false);
    // try_init: a second call (tests, tools) keeps the first subscriber instead of panicking.
    let _ = if text {
        builder.without_time().try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    };
}
