//! What status-callback logs per report, in a test binary of its own: a subscriber set for
//! one test is not reliably seen by events while other tests run in the same process
//! (tracing's per-callsite interest is shared), so the one test that captures logs runs alone.

mod common;
use common::*;

/// What the handler logs, in the functions' JSON format, while `f` runs.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Self;
    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

#[tokio::test]
async fn each_report_is_one_short_json_line_without_the_number() {
    use tracing_subscriber::layer::SubscriberExt;
    let out = Captured::default();
    let subscriber =
        tracing_subscriber::registry().with(sms_core::telemetry::json_layer(out.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = app();
    job_with(&app, &["u-log"]).await;

    assert_eq!(send_report(&app, "u-log", "sent", "2", true).await, 200);
    assert_eq!(send_report(&app, "u-log", "sent", "2", true).await, 200);

    let logged = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = logged
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "one line per report: {logged}");
    for line in logged.lines() {
        assert!(line.len() <= 400, "{} bytes: {line}", line.len());
        assert!(!line.contains("5550123"), "a phone number: {line}");
        assert!(!line.contains(TOKEN), "the token: {line}");
    }
    let span = |i: usize, field: &str| lines[i]["span"][field].clone();
    assert_eq!(span(0, "message_uuid"), "u-log");
    assert_eq!(span(0, "job_id"), JOB);
    assert_eq!(span(0, "outcome"), "none>sent");
    assert_eq!(span(1, "outcome"), "sent ignored");
    assert_eq!(lines[1]["status"], 200);
}
