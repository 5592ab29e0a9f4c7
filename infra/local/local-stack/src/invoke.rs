//! The poller's side of `cargo lambda watch`'s invoke API: one synchronous invocation of the
//! sender with an SQS event, answered with the ids of the records to return to the queue.

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

    /// The ids the function wants back: those of its `batchItemFailures`, or every id of `all`
    /// when the invocation itself failed (not reached, an error status, a function error).
    pub async fn invoke(&self, event: &Value, all: &[String]) -> HashSet<String> {
        let everything = || all.iter().cloned().collect();
        let resp = match self.http.post(&self.url).json(event).send().await {
            Ok(r) => r,
            Err(e) => {
                let e = error_chain(&e);
                warn!(error = %e, "the function could not be invoked; the records return after the visibility timeout");
                return everything();
            }
        };
        let failed_invocation =
            !resp.status().is_success() || resp.headers().contains_key("x-amz-function-error");
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if failed_invocation {
            warn!(%body, "the function failed; the records return after the visibility timeout");
            return everything();
        }
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
