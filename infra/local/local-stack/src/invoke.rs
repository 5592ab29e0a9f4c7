//! The local tools' side of `cargo lambda watch`'s invoke API: one synchronous invocation of
//! a function with an event. The poller invokes the sender with an SQS event and gets the ids
//! of the records to return to the queue; `make events` gets each sample's whole answer.

use std::{collections::HashSet, time::Duration};

use serde_json::Value;
use sms_core::telemetry::error_chain;
use tracing::warn;

/// Invokes one function over HTTP, as Lambda's event source mapping invokes the sender.
pub struct Invoker {
    http: reqwest::Client,
    url: String,
}

impl Invoker {
    /// `url` is the function's invoke endpoint
    /// (`…/2015-03-31/functions/<name>/invocations`).
    pub fn new(url: impl Into<String>) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            // cargo lambda watch runs one instance per function and queues the other
            // invocations with their bodies unread, so a request may wait a whole invocation
            // before the function reads it. reqwest's default TCP_USER_TIMEOUT (30 s) would cut
            // such a connection mid-body; the function then reads a truncated event, its runtime
            // exits, and nothing restarts it. Lambda queues a synchronous invoke the same way,
            // without a limit.
            .tcp_user_timeout(None)
            // Lambda's longest timeout: only a function that hangs for good reaches it.
            .timeout(Duration::from_secs(900))
            .build()?;
        Ok(Self {
            http,
            url: url.into(),
        })
    }

    /// The function's answer (the body of a successful invocation), or why there is none.
    pub async fn call(&self, event: &Value) -> Result<String, InvokeError> {
        let resp = self
            .http
            .post(&self.url)
            .json(event)
            .send()
            .await
            .map_err(|e| InvokeError::NotReached(error_chain(&e)))?;
        let failed = !resp.status().is_success() || resp.headers().contains_key(FUNCTION_ERROR);
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        if failed {
            return Err(InvokeError::Failed { status, body });
        }
        Ok(body)
    }

    /// The ids the function wants back: those of its `batchItemFailures`, or every id of `all`
    /// when the invocation itself failed (not reached, an error status, a function error).
    pub async fn invoke(&self, event: &Value, all: &[String]) -> HashSet<String> {
        let everything = || all.iter().cloned().collect();
        let body: Value = match self.call(event).await {
            Ok(body) => serde_json::from_str(&body).unwrap_or(Value::Null),
            Err(InvokeError::NotReached(e)) => {
                warn!(error = %e, "the function could not be invoked; the records return after the visibility timeout");
                return everything();
            }
            Err(InvokeError::Failed { body, .. }) => {
                let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                warn!(%body, "the function failed; the records return after the visibility timeout");
                return everything();
            }
        };
        body["batchItemFailures"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|x| x["itemIdentifier"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The header with which the invoke API reports that the function itself failed (it returned
/// an error or panicked), whatever the status.
const FUNCTION_ERROR: &str = "x-amz-function-error";

/// Why an invocation has no answer.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The invoke endpoint was not reached (the error's chain of causes).
    #[error("the function could not be invoked: {0}")]
    NotReached(String),
    /// The endpoint answered with an error status, or the function reported an error; the
    /// body says which.
    #[error("the function failed (HTTP {status}): {body}")]
    Failed { status: u16, body: String },
}
