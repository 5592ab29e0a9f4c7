//! What status-callback's tests share: a signed report, the app over the in-memory store
//! with a secret that counts its reads, and a job whose batch was sent.
#![allow(dead_code)] // each test binary uses some of it

use sms_core::domain::ids::JobId;
use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use lambda_http::{Body, Request, http};
use sms_core::{
    PhoneNumber,
    config::{CallbackSettings, PublicBaseUrl},
    plivo::{SignatureV3, SignedRequest},
    secrets::{SecretCache, SecretError, SecretSource, ServiceSecret},
    store::{IntakeCounts, JobSpec, JobStore, MemoryStore},
};
use status_callback::App;

pub const TOKEN: &str = "callback-test-token";
pub const ROTATED_TOKEN: &str = "callback-rotated-token";
pub const BASE: &str = "https://sms.example.com";
pub const JOB: &str = "9a7d6c1e-0000-4000-8000-000000000002";

pub fn job() -> JobId {
    JobId::parse(JOB).unwrap()
}

pub fn secret_with(token: &str) -> ServiceSecret {
    sms_test_support::service_secret(token)
}

/// The secret source, counting its reads. From read `rotate_after` on it holds
/// ROTATED_TOKEN (never, by default).
pub struct CountingSecret {
    pub reads: AtomicUsize,
    pub rotate_after: usize,
}

impl SecretSource for CountingSecret {
    async fn fetch(&self) -> Result<ServiceSecret, SecretError> {
        let before = self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(secret_with(if before >= self.rotate_after {
            ROTATED_TOKEN
        } else {
            TOKEN
        }))
    }
}

pub type TestApp = App<MemoryStore, SecretCache<CountingSecret>>;

pub fn app_with(settings: CallbackSettings, rotate_after: usize) -> TestApp {
    App {
        store: MemoryStore::new(),
        secrets: SecretCache::new(
            CountingSecret {
                reads: AtomicUsize::new(0),
                rotate_after,
            },
            Duration::from_secs(300),
        ),
        public_base_url: PublicBaseUrl::parse(BASE).unwrap(),
        settings,
    }
}

pub fn app() -> TestApp {
    app_with(CallbackSettings::default(), usize::MAX)
}

pub fn v2_app() -> TestApp {
    app_with(
        CallbackSettings {
            accept_v2_signatures: true,
            ..CallbackSettings::default()
        },
        usize::MAX,
    )
}

pub fn secret_reads(app: &TestApp) -> usize {
    app.secrets.source().reads.load(Ordering::SeqCst)
}

pub fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A POST as Plivo sends it, signed (V3) with `token` over `path_and_query` under BASE.
pub fn signed_post(path_and_query: &str, params: &[(&str, &str)], token: &str) -> Request {
    let params = pairs(params);
    let url = format!("{BASE}{path_and_query}");
    let sig = SignatureV3::sign(
        &SignedRequest {
            method: "POST",
            url: &url,
            params: &params,
        },
        "1234567",
        token,
    );
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    http::Request::builder()
        .method("POST")
        .uri(path_and_query)
        .header("content-type", "application/x-www-form-urlencoded")
        .header(SignatureV3::HEADER, sig)
        .header(SignatureV3::NONCE_HEADER, "1234567")
        .body(Body::Text(body))
        .unwrap()
}

pub fn report(uuid: &str, status: &str, seq: &str) -> Vec<(&'static str, String)> {
    vec![
        ("MessageUUID", uuid.to_owned()),
        ("Status", status.to_owned()),
        ("To", "14155550123".to_owned()),
        ("From", "14155550100".to_owned()),
        ("Sequence", seq.to_owned()),
        ("ErrorCode", String::new()),
        ("Units", "1".to_owned()),
    ]
}

pub async fn send_report(app: &TestApp, uuid: &str, status: &str, seq: &str, job: bool) -> u16 {
    let path = if job {
        format!("/v1/callbacks/plivo/status?job_id={JOB}&batch=0")
    } else {
        "/v1/callbacks/plivo/status".into()
    };
    send_report_to(app, &path, uuid, status, seq).await
}

pub async fn send_report_to(app: &TestApp, path: &str, uuid: &str, status: &str, seq: &str) -> u16 {
    let r = report(uuid, status, seq);
    let params: Vec<(&str, &str)> = r.iter().map(|(k, v)| (*k, v.as_str())).collect();
    status_callback::handle(signed_post(path, &params, TOKEN), app)
        .await
        .status()
        .as_u16()
}

/// The test job: one batch of one recipient, +14155550123.
pub fn one_batch_job() -> JobSpec {
    JobSpec {
        budget: None,
        quiet_hours: None,
        send_at: None,
        expires_at: None,
        job_id: job(),
        text: sms_core::MessageText::parse("hi").unwrap(),
        from: PhoneNumber::parse("+14155550100").unwrap().into(),
        reference: None,
        counts: IntakeCounts::default(),
        callback_url: String::new(),
        batches: vec![vec![PhoneNumber::parse("+14155550123").unwrap()]],
        fallback: false,
    }
}

/// The test job, its batch `sent` with `uuids`.
pub async fn job_with(app: &TestApp, uuids: &[&str]) {
    use sms_core::store::{BatchLedger, BatchOutcome};
    let spec = one_batch_job();
    let now = chrono::Utc::now();
    app.store.create_job(&spec, now).await.unwrap();
    app.store
        .claim_batch(&job(), 0, None, now + chrono::Duration::seconds(60), now)
        .await
        .unwrap();
    let sent = BatchOutcome::Sent {
        message_uuids: uuids.iter().map(|u| (*u).to_owned()).collect(),
        invalid_numbers: vec![],
        opted_out: vec![],
    };
    assert!(
        app.store
            .finish_batch(&job(), 0, 1, &sent, now)
            .await
            .unwrap()
    );
}
