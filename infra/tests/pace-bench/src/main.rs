//! pace-bench (`make bench`): how close the service comes to Plivo's request limit without
//! crossing it. Several sender instances, each its own process with its own clients, share
//! nothing but the table (moto) and the Plivo simulator, which enforces a request limit the
//! way Plivo does (429 beyond it). They send one job through the real sender handler, each
//! request booking its turn in the shared budget (`sms_core::pace`). Printed: the achieved
//! request rate ÷ the enforced limit (target ≥ 0.9) and the 429s (target 0).
//!
//! Run under `infra/tests/with-moto.sh`. Settings (environment, defaults in brackets):
//! `PACE_SENDERS` [4] instances; `PACE_LIMIT` [`50/5s`] the simulator's limit; `PACE_BUDGET`
//! [9.5] the budget in requests per second (`PLIVO_REQUESTS_PER_SECOND`, 95 % of the limit);
//! `PACE_BATCHES` [300] Plivo requests; `PACE_BATCH_SIZE` [1] recipients per request;
//! `PACE_LATENCY_MS` [300] Plivo's answer time.
//!
//! Plivo's 300/5s is scaled down, and the batches are small, so that the limit binds and not
//! moto: moto copies its tables for every TransactWriteItems (each batch's outcome is one),
//! so it slows as the table grows, and it answers some concurrent transactions with a 500
//! (the sender's retries absorb those; on DynamoDB they are conflicts, retried the same way).

use std::{process::ExitCode, time::Duration};

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use lambda_runtime::{Context, LambdaEvent};
use plivo_sim::{RateLimit, RateLimitStats};
use serde_json::{Value, json};
use sms_core::{
    MessageText, PhoneNumber,
    domain::{bulk::BatchMessage, ids::JobId},
    pace::{Pacer, RequestRate},
    plivo::{PlivoClient, PlivoConfig},
    retry::RetryPolicy,
    secrets::{PlivoCredentials, SecretCache, StaticSecret},
    store::{DynamoStore, IntakeCounts, JobSpec, JobStore},
};
use sms_test_support::{PLIVO_AUTH_ID, PLIVO_SRC, service_secret};

const TOKEN: &str = "pace-bench-token";
/// SQS's largest batch: the records one sender invocation works on at once.
const RECORDS_PER_INVOCATION: usize = 10;

fn setting<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|_| format!("{name}: cannot read {v:?}")),
        _ => Ok(default),
    }
}

fn text_setting(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match std::env::args().nth(1).as_deref() {
        Some("worker") => worker().await,
        _ => drive().await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pace-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn job_id() -> Result<JobId, String> {
    JobId::parse(&text_setting("PACE_JOB_ID", "")).map_err(|e| format!("PACE_JOB_ID: {e}"))
}

fn recipients(batch: usize, size: usize) -> Vec<PhoneNumber> {
    (batch * size..(batch + 1) * size)
        .filter_map(|i| PhoneNumber::parse(&format!("+1415{i:07}")).ok())
        .collect()
}

async fn drive() -> Result<(), String> {
    let senders: usize = setting("PACE_SENDERS", 4)?;
    let limit = text_setting("PACE_LIMIT", "50/5s");
    // Refused here rather than by the simulator, with the setting named.
    limit
        .parse::<RateLimit>()
        .map_err(|e| format!("PACE_LIMIT: {limit:?}: {e}"))?;
    let budget: f64 = setting("PACE_BUDGET", 9.5)?;
    let batches: usize = setting("PACE_BATCHES", 300)?;
    let batch_size: usize = setting("PACE_BATCH_SIZE", 1)?;
    let latency_ms: u64 = setting("PACE_LATENCY_MS", 300)?;

    let sim = plivo_sim::start(plivo_sim::SimConfig {
        credentials: PlivoCredentials::new(PLIVO_AUTH_ID, TOKEN),
        settings: plivo_sim::Settings {
            latency_ms,
            reports: false,
            ..plivo_sim::Settings::default()
        },
        ..plivo_sim::SimConfig::ephemeral()
    })
    .await
    .map_err(|e| format!("starting the simulator: {e}"))?;
    let http = reqwest::Client::new();
    let configured = http
        .post(format!("{}/__sim/config", sim.url()))
        .json(&json!({"rate_limit": limit}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !configured.status().is_success() {
        return Err(format!(
            "the simulator refused rate_limit {limit:?}: {}",
            configured.text().await.unwrap_or_default()
        ));
    }

    let (_, table) = sms_test_support::table().await;
    let sdk = sms_test_support::aws_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table);
    let job = JobId::random();
    let spec = JobSpec {
        budget: None,
        quiet_hours: None,
        send_at: None,
        expires_at: None,
        job_id: job.clone(),
        text: MessageText::parse("pace-bench").map_err(|e| e.to_string())?,
        from: sms_core::Sender::parse(PLIVO_SRC).map_err(|e| e.to_string())?,
        reference: None,
        counts: IntakeCounts::default(),
        callback_url: "http://127.0.0.1:9/cb".into(),
        batches: (0..batches).map(|b| recipients(b, batch_size)).collect(),
        fallback: false,
    };
    store
        .create_job(&spec, Utc::now())
        .await
        .map_err(|e| format!("creating the job: {e}"))?;

    println!(
        "== Plivo request rate: {senders} sender instances (processes) sharing a budget of {budget}/s, \
         against a simulator enforcing {limit} ({latency_ms} ms answers, {batches} requests of {batch_size} recipients)"
    );
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut children = Vec::new();
    for i in 0..senders {
        let child = tokio::process::Command::new(&exe)
            .arg("worker")
            .env("PACE_WORKER", i.to_string())
            .env("PACE_SENDERS", senders.to_string())
            .env("PACE_TABLE", &table)
            .env("PACE_JOB_ID", job.as_str())
            .env("PACE_SIM_URL", sim.url())
            .env("PACE_BUDGET", budget.to_string())
            .env("PACE_BATCHES", batches.to_string())
            .env("PACE_BATCH_SIZE", batch_size.to_string())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting sender {i}: {e}"))?;
        children.push(child);
    }
    for (i, mut child) in children.into_iter().enumerate() {
        let status = child.wait().await.map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("sender {i} failed: {status}"));
        }
    }

    let stats: Value = http
        .get(format!("{}/__sim/stats", sim.url()))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    // Read from the ledger, not the job's counters: moto can lose an update of an item two
    // transactions write at once (DynamoDB would cancel one of them as a conflict).
    let sent = store
        .ledger(&job)
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .filter(|e| e.state == sms_core::store::BatchState::Sent)
        .count();
    report(&stats, &limit, sent, batches)
}

fn report(stats: &Value, limit: &str, batches_sent: usize, batches: usize) -> Result<(), String> {
    let rate: RateLimitStats = serde_json::from_value(stats["rate_limit"].clone())
        .map_err(|e| format!("the simulator's rate_limit stats: {e}"))?;
    let Some(achieved) = rate.achieved() else {
        return Err(format!("the simulator admitted too few requests: {stats}"));
    };
    let ratio = achieved.ratio();
    let met = ratio >= 0.9 && rate.refused == 0 && batches_sent == batches;
    println!(
        "  requests admitted {} over {:.1} s, refused with 429: {}, most in any window of \
         {limit}: {}; batches sent {batches_sent} of {batches}",
        rate.admitted, achieved.span_seconds, rate.refused, rate.peak_in_window
    );
    println!(
        "  achieved {:.2} requests/s ÷ enforced {:.2}/s = {ratio:.3}    \
         target ≥ 0.90 with zero 429s, every batch sent: {}",
        achieved.per_second,
        achieved.limit_per_second,
        if met { "met" } else { "NOT met" }
    );
    Ok(())
}

/// One sender instance: the real handler, fed the records of its share of the batches ten
/// at a time, as SQS would; what it returns in `batchItemFailures` comes back later.
async fn worker() -> Result<(), String> {
    // RUST_LOG (default: warnings only) shows what the handler does.
    if std::env::var_os("RUST_LOG").is_none() {
        // SAFETY: set before any other thread of this process reads the environment.
        unsafe { std::env::set_var("RUST_LOG", "warn") };
    }
    sms_core::telemetry::init();
    let index: usize = setting("PACE_WORKER", 0)?;
    let senders: usize = setting("PACE_SENDERS", 1)?;
    let budget = RequestRate::new(setting("PACE_BUDGET", 19.0)?)?;
    let batches: usize = setting("PACE_BATCHES", 0)?;
    let batch_size: usize = setting("PACE_BATCH_SIZE", 1)?;
    let job = job_id()?;
    let sdk = sms_test_support::aws_config().await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        text_setting("PACE_TABLE", ""),
    );
    let plivo = PlivoClient::new(
        PlivoConfig::new(text_setting("PACE_SIM_URL", "")).with_retry(RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }),
    )
    .map_err(|e| e.to_string())?;
    let app = sender::App {
        tasks: sms_core::queue::MemoryQueue::default(),
        // A timeout here is a finding, not something to settle.
        unknown: sms_core::config::UnknownOutcome::Report,
        pace: Pacer::new(store.clone(), budget),
        store,
        secrets: SecretCache::new(
            StaticSecret(service_secret(TOKEN)),
            Duration::from_secs(300),
        ),
        plivo,
        fallback: None,
    };

    let mut pending: Vec<SqsMessage> = (index..batches)
        .step_by(senders.max(1))
        .map(|b| {
            let body = BatchMessage {
                reservation: None,
                quiet_hours: None,
                expires_at: None,
                job_id: job.clone(),
                batch: b as u32,
                from: sms_core::Sender::parse(PLIVO_SRC).map_err(|e| e.to_string())?,
                text: MessageText::parse("pace-bench").map_err(|e| e.to_string())?,
                recipients: recipients(b, batch_size),
                callback_url: "http://127.0.0.1:9/cb".into(),
                fallback: false,
            };
            let mut record = SqsMessage::default();
            record.message_id = Some(format!("batch-{b}"));
            record.body = Some(serde_json::to_string(&body).map_err(|e| e.to_string())?);
            Ok(record)
        })
        .collect::<Result<_, String>>()?;
    let mut deliveries = 0;
    while !pending.is_empty() {
        deliveries += 1;
        if deliveries > 20 * batches.max(1) {
            return Err(format!("sender {index}: records keep coming back"));
        }
        let take = pending.len().min(RECORDS_PER_INVOCATION);
        let records: Vec<SqsMessage> = pending.drain(..take).collect();
        let mut event = SqsEvent::default();
        event.records = records.clone();
        let mut context = Context::default();
        context.deadline = (Utc::now() + chrono::Duration::seconds(120)).timestamp_millis() as u64;
        let response = sender::handle(LambdaEvent::new(event, context), &app).await;
        for failure in response.batch_item_failures {
            if let Some(r) = records
                .iter()
                .find(|r| r.message_id.as_deref() == Some(failure.item_identifier.as_str()))
            {
                pending.push(r.clone());
            }
        }
    }
    Ok(())
}
