//! status-callback's CPU per delivery report: one signed (V3) Plivo report for a bulk job,
//! as Plivo posts it, through the real handler (`status_callback::handle`: size and header
//! checks, form parse, signature check against the cached token, `parse_report`, the
//! forward-only status decision and the job's counts) with the in-memory store in place of
//! DynamoDB. Every iteration is a new message's first report, so each one is applied (the
//! full path), not dropped as a duplicate. Run with `make bench`; target ≤ 50 µs.
//!
//! "with JSON logs" installs the function's log format (telemetry.rs: JSON lines, the
//! current span) writing to a sink, so formatting its two log lines is counted too; "no
//! subscriber" leaves logging out.

use std::{hint::black_box, time::Duration};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use lambda_http::{Body, Request, http};
use sms_core::{
    config::{CallbackSettings, PublicBaseUrl},
    plivo::{SignatureV3, SignedRequest},
    secrets::{SecretCache, StaticSecret},
    store::MemoryStore,
};
use status_callback::App;
use tracing_subscriber::{Layer, fmt, layer::SubscriberExt};

const TOKEN: &str = "bench-auth-token-0123456789abcdef";
const BASE: &str = "https://abc123.execute-api.us-east-1.amazonaws.com";
const PATH: &str = "/v1/callbacks/plivo/status?job_id=922ebffe-55bc-52b9-be79-eca25d194400&batch=7";

/// Plivo's delivery report for message `n`, with every field Plivo sends (as in
/// events/status-callback-report.json), signed with V3 over the public URL.
fn signed_report(n: u64) -> Request {
    let uuid = format!("6f1c7d1e-0000-4000-8000-{n:012}");
    let params: Vec<(String, String)> = [
        ("MessageUUID", uuid.as_str()),
        ("Status", "delivered"),
        ("To", "14155550123"),
        ("From", "14155550100"),
        ("ErrorCode", ""),
        ("Units", "1"),
        ("TotalRate", "0.00500"),
        ("TotalAmount", "0.00500"),
        ("MCC", "310"),
        ("MNC", "004"),
        ("ParentMessageUUID", uuid.as_str()),
        ("PartInfo", "1 of 1"),
        ("Sequence", "3"),
        ("MessageTime", "2026-11-24 08:00:00.000000"),
        ("QueuedTime", "2026-11-24 08:00:00.000000"),
        ("SentTime", "2026-11-24 08:00:01.000000"),
        ("DeliveryReportTime", "2026-11-24 08:00:03.000000"),
        ("PowerpackUUID", ""),
        ("Type", "sms"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let url = format!("{BASE}{PATH}");
    let nonce = format!("{:020}", 5_937_182_640_519_283_746u64.wrapping_add(n));
    let signature = SignatureV3::sign(
        &SignedRequest {
            method: "POST",
            url: &url,
            params: &params,
        },
        &nonce,
        TOKEN,
    );
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    http::Request::builder()
        .method("POST")
        .uri(PATH)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("user-agent", "PlivoHttpClient/1.0")
        .header(SignatureV3::HEADER, &signature)
        .header("x-plivo-signature-ma-v3", &signature)
        .header(SignatureV3::NONCE_HEADER, nonce)
        .body(Body::Text(body))
        .expect("a valid request")
}

fn report(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let app = App {
        store: MemoryStore::new(),
        secrets: SecretCache::new(
            StaticSecret(sms_test_support::service_secret(TOKEN)),
            Duration::from_secs(300),
        ),
        public_base_url: PublicBaseUrl::parse(BASE).expect("a valid base URL"),
        settings: CallbackSettings::default(),
    };
    // The first report reads the secret into the cache, as a cold start's first would.
    let first = rt.block_on(status_callback::handle(signed_report(0), &app));
    assert_eq!(first.status(), 200, "the signed report is accepted");

    let json_logs = tracing_subscriber::registry().with(
        fmt::layer()
            .with_writer(std::io::sink)
            .with_target(false)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(sms_core::telemetry::filter(None)),
    );

    let mut group = c.benchmark_group("status-callback report");
    let mut n = 0u64;
    let mut next = || {
        n += 1;
        signed_report(n)
    };
    tracing::subscriber::with_default(json_logs, || {
        group.bench_function("with JSON logs", |b| {
            b.iter_batched(
                &mut next,
                |req| black_box(rt.block_on(status_callback::handle(req, &app)).status()),
                BatchSize::SmallInput,
            )
        });
    });
    group.bench_function("no subscriber", |b| {
        b.iter_batched(
            &mut next,
            |req| black_box(rt.block_on(status_callback::handle(req, &app)).status()),
            BatchSize::SmallInput,
        )
    });
    group.finish();
    let last = rt.block_on(status_callback::handle(next(), &app));
    assert_eq!(last.status(), 200, "still accepted after the runs");
}

criterion_group!(benches, report);
criterion_main!(benches);
