//! One bulk job through the local stack with moto's request meter on, for the cost benchmark
//! (infra/tests/cost/bench.sh, which prices what this prints with infra/tests/cost/price.py).
//!
//! It zeroes the meter and the simulator, sends one job of N recipients with delivery reports
//! on (queued, sent, delivered, as the simulator sends them), waits until every report has been
//! answered and the job counts all N delivered, waits for the stack to fall quiet, and prints
//! one JSON document: the meter's tallies, the simulator's counts, the API requests this client
//! made, and where the functions' log lines of the job begin and end in the stack's api.log.
//!
//! Progress is watched through the simulator (free) rather than the API, so that the job's
//! figures hold the client's own requests only: the `POST /v1/bulk` and the `GET`s that see it
//! done (usually one).
//!
//! Usage: `cost-job [recipients] [log copy]` (default 2,000 recipients; with a path, the job's
//! part of api.log is copied there and the output points at the copy, which outlives the
//! stack's log, rewritten by the next stack), under infra/tests/with-stack.sh with
//! `MOTO_METER=1`; it also needs `SMS_E2E_MOTO_URL` and `SMS_E2E_LOGS`, which with-stack.sh sets.

use std::time::{Duration, Instant};

use e2e::Stack;
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(3600);

fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run under with-stack.sh"))
}

async fn meter(stack: &Stack, moto: &str) -> Value {
    let resp = stack
        .http
        .get(format!("{moto}/__meter"))
        .send()
        .await
        .expect("moto answers");
    assert!(
        resp.status().is_success(),
        "moto has no meter: start the stack with MOTO_METER=1"
    );
    resp.json().await.expect("the meter answers JSON")
}

/// The meter's rows that the job's work moves: every row but the pollers' empty receives and
/// the schedule poller's once-a-second look at its group.
fn settled_part(meter: &Value) -> Vec<Value> {
    meter["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["caller"] != "local-schedule-poller")
        .map(|r| {
            let mut r = r.clone();
            if r["operation"] == "ReceiveMessage" {
                let empty = r["empty"].as_f64().unwrap_or(0.0);
                r["count"] = json!(r["count"].as_f64().unwrap_or(0.0) - empty);
                r["billed"] = json!(r["billed"].as_f64().unwrap_or(0.0) - empty);
                r["empty"] = json!(0);
            }
            r
        })
        .collect()
}

fn log_size(logs: &str) -> u64 {
    std::fs::metadata(format!("{logs}/api.log"))
        .map(|m| m.len())
        .unwrap_or(0)
}

/// Where the job's log lines are: bytes `from..to` of the stack's api.log, or all of `copy`
/// once they have been copied there.
fn api_log(logs: &str, from: u64, copy: Option<String>) -> Value {
    let path = format!("{logs}/api.log");
    let to = log_size(logs);
    let Some(copy) = copy else {
        return json!({"path": path, "from": from, "to": to});
    };
    let all = std::fs::read(&path).expect("the stack's api.log");
    let part = &all[from as usize..(to as usize).min(all.len())];
    std::fs::write(&copy, part).expect("the log copy is written");
    json!({"path": copy, "from": 0, "to": part.len()})
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000);
    let stack = Stack::from_env();
    let moto = setting("SMS_E2E_MOTO_URL");
    let logs = setting("SMS_E2E_LOGS");
    stack.sim_reset().await;
    stack.sim_config(json!({"reports": true})).await;
    // Exchanges from 200: valid by the numbering plans the intake checks; none in the
    // simulator's undeliverable or opted-out ranges, so every report chain is
    // queued → sent → delivered.
    let recipients: Vec<String> = (0..n)
        .map(|i| format!("+1646{:07}", 2_000_000 + i))
        .collect();

    stack
        .http
        .post(format!("{moto}/__meter/reset"))
        .send()
        .await
        .expect("moto answers");
    let log_from = log_size(&logs);
    let started = Instant::now();
    let request = json!({"recipients": recipients, "text": "Cost benchmark"});
    let request_bytes = request.to_string().len();
    let (status, body) = stack.post("/v1/bulk", &request, &[]).await;
    assert_eq!(status, 202, "{body}");
    let accepted = body["accepted"].as_u64().expect("an accepted count");
    let job_id = body["job_id"].as_str().expect("a job id").to_owned();

    // Every message handed to Plivo and every report answered.
    loop {
        let s = stack.sim_stats().await;
        if s["recipients_accepted"].as_u64() == Some(accepted) && s["reports_pending"] == 0 {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "the job did not finish: {s}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // And the job says so (its last counts may land a moment after the last report). Every GET
    // is priced with the job, so they back off (1, 2, 4, ... up to 30 s apart): a job that
    // learns its outcomes some other way than reports (by listing Plivo's records, say) is
    // charged a few polls, as a patient client would make, not one a second.
    let mut gets = 0;
    let mut pause = Duration::from_secs(1);
    let progress = loop {
        let (status, progress) = stack.get(&format!("/v1/bulk/{job_id}")).await;
        gets += 1;
        if status == 200
            && e2e::all_batches_ended(&progress)
            && progress["messages"]["delivered"].as_u64() == Some(accepted)
        {
            break progress;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the job never counted {accepted} delivered: {status} {progress}"
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(30));
    };
    let done_in = started.elapsed();

    // The sqs-poller deletes a batch's records after the sender has answered; wait until the
    // job's rows have stopped moving for two seconds.
    let mut last = settled_part(&meter(&stack, &moto).await);
    let mut still = 0;
    while still < 2 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = settled_part(&meter(&stack, &moto).await);
        still = if now == last { still + 1 } else { 0 };
        last = now;
    }
    let meter = meter(&stack, &moto).await;
    let sim_after = stack.sim_stats().await;

    let out = json!({
        "recipients": n,
        "accepted": accepted,
        "job_id": job_id,
        "done_in_ms": done_in.as_millis() as u64,
        "api_requests": {"POST /v1/bulk": 1, "GET /v1/bulk/{job_id}": gets},
        "post_body_bytes": request_bytes,
        "job": progress,
        "simulator": sim_after,
        "meter": meter,
        "api_log": api_log(&logs, log_from, std::env::args().nth(2)),
    });
    println!("{out}");
}
