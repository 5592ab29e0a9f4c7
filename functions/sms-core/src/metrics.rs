//! CloudWatch metrics through the Embedded Metric Format: one JSON line on stdout, which
//! Lambda's log pipeline turns into a metric, with no API call and no extra permission.

use std::io::Write;

use chrono::Utc;

pub const NAMESPACE: &str = "PlivoSms";

/// Emits `value` of the count metric `name` (for example `UnknownBatches`, which the template
/// alarms on).
pub fn count(name: &str, value: u64) {
    let line = serde_json::json!({
        "_aws": {
            "Timestamp": Utc::now().timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[]],
                "Metrics": [{"Name": name, "Unit": "Count"}],
            }],
        },
        name: value,
    });
    // The metric line is the product here, not a log message: it must be bare JSON on stdout.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}
