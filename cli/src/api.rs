//! The service's public HTTP API (docs/api.md), and the presigned S3 links it hands out.
//! Nothing else: no AWS SDK, no sms-core.

use std::time::Duration;

use reqwest::{Method, RequestBuilder};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::{config::Settings, failure::Failure, problem::Problem};

/// How long one API request may take. `POST /v1/bulk` of a long list is the slowest.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Attempts of a request that is safe to repeat (a GET, a control change, a POST with an
/// `Idempotency-Key`), and the first pause between them, doubled each time.
const ATTEMPTS: u32 = 3;
const FIRST_PAUSE: Duration = Duration::from_millis(500);

pub struct Api {
    base: String,
    key: SecretString,
    http: reqwest::Client,
}

/// Whether a request may be sent again after a failure of the service or the network.
/// Only where the API promises a repeat does no harm: GETs, pause/resume/cancel and a
/// results request (each idempotent, docs/api.md), and POSTs with an `Idempotency-Key`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    Never,
    Safe,
}

/// A successful answer: its status and body (`Null` when empty).
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Api {
    pub fn new(settings: Settings) -> Result<Self, Failure> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("smsctl/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Failure::Usage(format!("cannot set up HTTP: {e}")))?;
        Ok(Self {
            base: settings.api_url,
            key: settings.api_key,
            http,
        })
    }

    pub async fn get(&self, path: &str) -> Result<Value, Failure> {
        Ok(self
            .call(Method::GET, path, None, None, Repeat::Safe)
            .await?
            .body)
    }

    pub async fn post(
        &self,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
        repeat: Repeat,
    ) -> Result<Answer, Failure> {
        let repeat = if idempotency_key.is_some() {
            Repeat::Safe
        } else {
            repeat
        };
        self.call(Method::POST, path, body, idempotency_key, repeat)
            .await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
        repeat: Repeat,
    ) -> Result<Answer, Failure> {
        let url = format!("{}{path}", self.base);
        let mut pause = FIRST_PAUSE;
        let mut attempt = 1;
        loop {
            let mut req = self
                .http
                .request(method.clone(), &url)
                .timeout(REQUEST_TIMEOUT)
                .bearer_auth(self.key.expose_secret());
            if let Some(body) = body {
                req = req.json(body);
            }
            if let Some(key) = idempotency_key {
                req = req.header("Idempotency-Key", key);
            }
            let outcome = answer(req, &url).await;
            let worth_repeating = match &outcome {
                Err(Failure::Network { .. }) => true,
                // 500 (the service could not read its store, or a proxy's own failure) and
                // 503 (unavailable, nothing done or what was done is kept) are answers the
                // API says to retry; 502 (Plivo refused) and 504 (outcome unknown) are not.
                Err(Failure::Service(p)) => matches!(p.status, 500 | 503),
                _ => false,
            };
            if repeat == Repeat::Safe && worth_repeating && attempt < ATTEMPTS {
                attempt += 1;
                tokio::time::sleep(pause).await;
                pause *= 2;
                continue;
            }
            return outcome;
        }
    }

    /// `PUT`s `bytes` to a presigned upload link with exactly the headers the API returned
    /// (they are part of its signature) and no API key: the link is S3's, not the API's.
    pub async fn put_presigned(
        &self,
        url: &str,
        headers: &serde_json::Map<String, Value>,
        bytes: Vec<u8>,
    ) -> Result<(), Failure> {
        let mut req = self.http.put(url).body(bytes);
        for (name, value) in headers {
            let value = value.as_str().ok_or_else(|| {
                Failure::Unexpected(format!("the upload's header {name} is not a string"))
            })?;
            req = req.header(name, value);
        }
        answer(req, url).await.map(|_| ())
    }

    /// Fetches a file the API links to (`{"method", "url", "headers"}`), without the API key.
    pub async fn download(&self, link: &Value) -> Result<Vec<u8>, Failure> {
        let url = link
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| Failure::Unexpected(format!("a file link without a url: {link}")))?;
        let mut req = self.http.get(url);
        for (name, value) in link
            .get("headers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if let Some(value) = value.as_str() {
                req = req.header(name, value);
            }
        }
        let resp = req.send().await.map_err(|e| network(url, e))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| network(url, e))?;
        if (200..300).contains(&status) {
            Ok(bytes.to_vec())
        } else {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            Err(failure_of(status, Value::String(text)))
        }
    }
}

async fn answer(req: RequestBuilder, url: &str) -> Result<Answer, Failure> {
    let resp = req.send().await.map_err(|e| network(url, e))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| network(url, e))?;
    let body = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    if (200..300).contains(&status) {
        Ok(Answer { status, body })
    } else {
        Err(failure_of(status, body))
    }
}

fn failure_of(status: u16, body: Value) -> Failure {
    let problem = Box::new(Problem::from_answer(status, body));
    if (400..500).contains(&status) {
        Failure::Refused(problem)
    } else {
        Failure::Service(problem)
    }
}

/// A request that got no answer. The URL is shown without its query: a presigned link's
/// query is its signature, a credential for a quarter of an hour.
fn network(url: &str, e: reqwest::Error) -> Failure {
    let url = url.split('?').next().unwrap_or(url).to_owned();
    let mut causes = String::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        causes.push_str(": ");
        causes.push_str(&s.to_string());
        source = s.source();
    }
    let reason = format!("{}{causes}", e.without_url());
    Failure::Network { url, reason }
}
