//! What the simulator's tests share: a running simulator, a client, and a report receiver.
#![allow(dead_code)] // each test binary uses its own part of this

use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Form, Router,
    extract::{State, rejection::FormRejection},
    http::{HeaderMap, Method, StatusCode, Uri},
    routing::any,
};
use plivo_sim::{RunningSim, Settings, SimConfig};
use serde_json::Value;
use tokio::net::TcpListener;

pub const AUTH_ID: &str = plivo_sim::config::DEFAULT_AUTH_ID;
pub const TOKEN: &str = plivo_sim::config::DEFAULT_AUTH_TOKEN;

/// Settings that keep tests fast: short report delay and retry backoff.
pub fn quick() -> Settings {
    Settings {
        report_delay_ms: 5,
        report_retry_ms: 10,
        ..Settings::default()
    }
}

pub async fn sim_with(settings: Settings) -> RunningSim {
    plivo_sim::start(SimConfig {
        settings,
        ..SimConfig::ephemeral()
    })
    .await
    .expect("the simulator starts")
}

pub async fn sim() -> RunningSim {
    sim_with(quick()).await
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

pub async fn read(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    (status, body)
}

/// Sends `body` with the right credentials.
pub async fn send(sim: &RunningSim, body: &Value) -> (u16, Value) {
    let resp = http()
        .post(sim.message_url())
        .basic_auth(AUTH_ID, Some(TOKEN))
        .json(body)
        .send()
        .await
        .expect("the simulator answers");
    read(resp).await
}

pub async fn get_json(sim: &RunningSim, path: &str) -> Value {
    let resp = http()
        .get(format!("{}{path}", sim.url()))
        .send()
        .await
        .expect("answers");
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.expect("JSON")
}

pub async fn post_json(sim: &RunningSim, path: &str, body: &Value) -> (u16, Value) {
    read(
        http()
            .post(format!("{}{path}", sim.url()))
            .json(body)
            .send()
            .await
            .expect("answers"),
    )
    .await
}

pub fn uuids(body: &Value) -> Vec<String> {
    body["message_uuid"]
        .as_array()
        .expect("message_uuid is an array")
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

/// Waits (up to 10 s) until `check` returns `Some`.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    /// Decoded form fields (POST) or query fields (GET); `None` if they were not a form.
    pub params: Option<Vec<(String, String)>>,
    /// What the receiver answered.
    pub answered: StatusCode,
}

impl Captured {
    pub fn field(&self, name: &str) -> &str {
        self.params
            .as_ref()
            .and_then(|p| p.iter().find(|(k, _)| k == name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no field {name} in {self:?}"))
    }
}

#[derive(Clone, Default)]
struct ReceiverState {
    captured: Arc<Mutex<Vec<Captured>>>,
    /// Requests still to be refused with a 500 before answering 200.
    failures_left: Arc<AtomicUsize>,
}

/// A tiny callback endpoint on an ephemeral port, standing in for status-callback.
pub struct Receiver {
    pub addr: SocketAddr,
    state: ReceiverState,
}

async fn capture(
    State(state): State<ReceiverState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> StatusCode {
    let fail = state
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let answered = if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    state.captured.lock().unwrap().push(Captured {
        method,
        uri,
        headers,
        params: form.ok().map(|Form(p)| p),
        answered,
    });
    answered
}

impl Receiver {
    /// Refuses the first `failures` requests with a 500.
    pub async fn start(failures: usize) -> Self {
        let state = ReceiverState::default();
        state.failures_left.store(failures, Ordering::SeqCst);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .fallback(any(capture))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn captured(&self) -> Vec<Captured> {
        self.state.captured.lock().unwrap().clone()
    }

    /// The successfully answered reports, once there are at least `n` of them.
    pub async fn wait_for(&self, n: usize) -> Vec<Captured> {
        eventually(&format!("{n} reports"), || async {
            let ok: Vec<Captured> = self
                .captured()
                .into_iter()
                .filter(|c| c.answered == StatusCode::OK)
                .collect();
            (ok.len() >= n).then_some(ok)
        })
        .await
    }
}
