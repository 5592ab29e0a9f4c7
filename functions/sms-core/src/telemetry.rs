//! Logging: structured JSON lines (what CloudWatch Logs Insights queries), filtered by
//! `RUST_LOG`. `LOG_FORMAT=text` gives readable lines for a terminal.

use tracing::Subscriber;
use tracing_subscriber::{
    EnvFilter, Layer,
    filter::{FilterExt, LevelFilter, Targets},
    fmt,
    layer::{Filter, SubscriberExt},
    registry::LookupSpan,
    util::SubscriberInitExt,
};

/// Crates whose logs never go below `info`, whatever `RUST_LOG` asks: below that,
/// `lambda_runtime` logs every raw event (bearer keys, Plivo signatures, message text
/// included), and the HTTP and AWS SDK stacks log request and response bodies (the secret's
/// value among them). Matched as target prefixes.
pub const CAPPED_AT_INFO: &[&str] = &[
    "lambda_runtime",
    "lambda_http",
    "aws_smithy",
    "aws_sdk",
    "aws_config",
    "hyper",
    "h2",
    "reqwest",
    "rustls",
];

/// `RUST_LOG`'s filter (`info` when unset or invalid), with [`CAPPED_AT_INFO`] capped: a
/// cap, not a level of its own, so `RUST_LOG=warn` still quiets them.
pub fn filter<S>(rust_log: Option<&str>) -> impl Filter<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let requested = rust_log
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let cap = CAPPED_AT_INFO.iter().fold(
        Targets::new().with_default(LevelFilter::TRACE),
        |t, target| t.with_target(*target, LevelFilter::INFO),
    );
    requested.and(cap)
}

/// The JSON lines the functions write on AWS: one object per event, its fields flattened, with
/// the current span's fields (an HTTP request's function, id, path, job and outcome).
pub fn json_layer<S, W>(writer: W) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    fmt::layer()
        .with_target(false)
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(writer)
}

pub fn init() {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    let text = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("text"));
    let layer = if text {
        fmt::layer().with_target(false).without_time().boxed()
    } else {
        json_layer(std::io::stdout).boxed()
    };
    // try_init: a second call (tests, tools) keeps the first subscriber instead of panicking.
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
}

/// An error and its sources in one line, so a transport failure says what broke (reset,
/// closed, timed out) rather than only "error sending request".
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::{
        io::Write,
        sync::{Arc, Mutex},
    };

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    /// What a subscriber with `filter(rust_log)` writes for one event of each kind.
    fn logged_with(rust_log: &str) -> String {
        let out = Captured::default();
        let subscriber = tracing_subscriber::registry().with(
            fmt::layer()
                .with_writer(out.clone())
                .with_filter(filter(Some(rust_log))),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "lambda_runtime::layers::api_client", "raw event: Bearer sekrit");
            tracing::debug!(target: "lambda_runtime_api_client", "raw response");
            tracing::debug!(target: "aws_smithy_runtime::client", "response body");
            tracing::info!(target: "lambda_runtime", "runtime info");
            tracing::debug!(target: "sms_core::store", "own debug");
        });
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn the_runtime_and_sdk_stay_at_info_whatever_rust_log_says() {
        for rust_log in [
            "trace",
            "debug",
            "trace,lambda_runtime=trace",
            "lambda_runtime=trace,aws_smithy_runtime=trace,sms_core=trace",
            "lambda_runtime::layers=trace,trace",
        ] {
            let logged = logged_with(rust_log);
            assert!(!logged.contains("raw event"), "{rust_log}: {logged}");
            assert!(!logged.contains("raw response"), "{rust_log}: {logged}");
            assert!(!logged.contains("response body"), "{rust_log}: {logged}");
            assert!(logged.contains("runtime info"), "{rust_log}: {logged}");
            assert!(logged.contains("own debug"), "{rust_log}: {logged}");
        }
    }

    #[test]
    fn rust_log_still_lowers_the_level() {
        let logged = logged_with("warn");
        assert!(!logged.contains("runtime info"), "{logged}");
        assert!(!logged.contains("own debug"), "{logged}");
    }
}
