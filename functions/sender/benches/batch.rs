//! The sender's CPU per 1,000-recipient batch: one SQS record through the real handler
//! (`sender::handle`: parse, ledger claim, a turn in the budget, the Plivo request body with
//! 1,000 destinations, Plivo's answer with 1,000 uuids, the ledger's outcome, 1,000 message
//! items, the progress sample), with I/O stubbed: the in-memory store, and in place of
//! Plivo a local server that answers every request with one canned 202, so its own work is
//! next to nothing. The loopback HTTP exchange is counted. Run with `make bench`; target
//! ≤ 5 ms.

use std::{hint::black_box, time::Duration};

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use lambda_runtime::{Context, LambdaEvent};
use sender::App;
use sms_core::{
    MessageText, PhoneNumber,
    domain::{bulk::BatchMessage, ids::JobId},
    pace::Pacer,
    plivo::{PlivoClient, PlivoConfig},
    retry::RetryPolicy,
    secrets::{SecretCache, StaticSecret},
    store::{IntakeCounts, JobSpec, JobStore, MemoryStore},
};
use sms_test_support::{PLIVO_SRC, service_secret, test_pace};

const RECIPIENTS: usize = 1_000;

fn numbers() -> Vec<PhoneNumber> {
    (0..RECIPIENTS)
        .map(|i| PhoneNumber::parse(&format!("+1415{i:07}")).unwrap())
        .collect()
}

/// Plivo's 202 for a 1,000-recipient request, serialized once.
fn canned_answer() -> String {
    let uuids: Vec<String> = (0..RECIPIENTS)
        .map(|i| format!("6f1c7d1e-0000-4000-8000-{i:012}"))
        .collect();
    serde_json::json!({"api_id": "a", "message": "message(s) queued", "message_uuid": uuids})
        .to_string()
}

async fn canned_plivo() -> String {
    use axum::{Router, http::StatusCode, routing::post};
    let answer = canned_answer();
    let app = Router::new().route(
        "/v1/Account/{auth_id}/Message/",
        post(move || {
            let answer = answer.clone();
            async move {
                (
                    StatusCode::ACCEPTED,
                    [("content-type", "application/json")],
                    answer,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

type BenchApp =
    App<MemoryStore, SecretCache<StaticSecret>, Pacer<MemoryStore>, sms_core::queue::MemoryQueue>;

/// A fresh store holding a one-batch job, and that batch's SQS record. Nothing here waits
/// on I/O, so criterion's (synchronous) setup can run it to completion.
async fn job(app_plivo: &str) -> (BenchApp, LambdaEvent<SqsEvent>) {
    let store = MemoryStore::new();
    let job_id = JobId::random();
    let recipients = numbers();
    let spec = JobSpec {
        budget: None,
        quiet_hours: None,
        send_at: None,
        expires_at: None,
        job_id: job_id.clone(),
        text: MessageText::parse("Flash sale: 20% off today only").unwrap(),
        from: PhoneNumber::parse(PLIVO_SRC).unwrap().into(),
        reference: None,
        counts: IntakeCounts::default(),
        callback_url: "https://sms.example.com/cb".into(),
        batches: vec![recipients.clone()],
        fallback: false,
    };
    store.create_job(&spec, Utc::now()).await.unwrap();
    let body = BatchMessage {
        reservation: None,
        quiet_hours: None,
        expires_at: None,
        job_id,
        batch: 0,
        from: spec.from.clone(),
        text: spec.text.clone(),
        recipients,
        callback_url: spec.callback_url.clone(),
        fallback: false,
    };
    let mut record = SqsMessage::default();
    record.message_id = Some("m0".into());
    record.body = Some(serde_json::to_string(&body).unwrap());
    let mut event = SqsEvent::default();
    event.records = vec![record];
    let mut context = Context::default();
    context.deadline = (Utc::now() + chrono::Duration::seconds(60)).timestamp_millis() as u64;
    let app = App {
        tasks: sms_core::queue::MemoryQueue::default(),
        unknown: sms_core::config::UnknownOutcome::Reconcile { delay_seconds: 120 },
        store,
        secrets: SecretCache::new(StaticSecret(service_secret("t")), Duration::from_secs(600)),
        plivo: PlivoClient::new(PlivoConfig::new(app_plivo).with_retry(RetryPolicy::NONE)).unwrap(),
        pace: test_pace(),
        fallback: None,
    };
    (app, LambdaEvent::new(event, context))
}

fn batch(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let plivo = runtime.block_on(canned_plivo());
    let mut group = c.benchmark_group("sender batch");
    group.sample_size(30);
    group.bench_function("1000 recipients", |b| {
        b.to_async(&runtime).iter_batched(
            || futures::executor::block_on(job(&plivo)),
            |(app, event)| async move {
                let response = sender::handle(event, &app).await;
                assert!(response.batch_item_failures.is_empty());
                black_box(app)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, batch);
criterion_main!(benches);
