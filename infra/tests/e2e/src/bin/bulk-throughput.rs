//! End-to-end bulk throughput through the local stack: one job of N recipients, timed from
//! `POST /v1/bulk` until every batch has ended. Run by `make bench` (infra/tests/bench.sh), which
//! starts the stack with simulated Plivo latency.
//!
//! Usage: `bulk-throughput [recipients]` (default 20,000).

use std::{io::Write, time::Instant};

use e2e::Stack;
use serde_json::json;

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let stack = Stack::from_env();
    stack.sim_reset().await;
    stack.sim_config(json!({"reports": false})).await;
    // Exchanges from 200: valid by the numbering plans the intake checks.
    let recipients: Vec<String> = (0..n)
        .map(|i| format!("+1646{:07}", 2_000_000 + i))
        .collect();

    let started = Instant::now();
    let (status, body) = stack
        .post(
            "/v1/bulk",
            &json!({"recipients": recipients, "text": "Benchmark"}),
            &[],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let accepted_after = started.elapsed();
    let job_id = body["job_id"].as_str().expect("a job id").to_owned();
    let progress = stack
        .wait_for_job(&job_id, 1800, e2e::all_batches_ended)
        .await;
    let elapsed = started.elapsed();

    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "recipients={n} batches={} accepted_in_ms={} done_in_ms={} recipients_per_second={:.0} batches_sent={}",
        progress["batches"]["total"],
        accepted_after.as_millis(),
        elapsed.as_millis(),
        n as f64 / elapsed.as_secs_f64(),
        progress["batches"]["sent"],
    );
}
