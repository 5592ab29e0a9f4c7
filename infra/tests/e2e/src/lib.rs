//! What the end-to-end tests share: where the local stack is, and HTTP helpers.
//! infra/tests/e2e.sh starts the stack and sets the `SMS_E2E_*` variables.

use serde_json::{Value, json};

fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the end-to-end tests through `make test` or infra/tests/e2e.sh"
        )
    })
}

pub struct Stack {
    pub api: String,
    pub sim: String,
    pub api_key: String,
    pub plivo_auth_id: String,
    pub plivo_auth_token: String,
    pub public_base_url: String,
    pub http: reqwest::Client,
}

impl Stack {
    pub fn from_env() -> Self {
        Self {
            api: setting("SMS_E2E_API_URL"),
            sim: setting("SMS_E2E_SIM_URL"),
            api_key: setting("SMS_E2E_API_KEY"),
            plivo_auth_id: setting("SMS_E2E_PLIVO_AUTH_ID"),
            plivo_auth_token: setting("SMS_E2E_PLIVO_AUTH_TOKEN"),
            public_base_url: setting("SMS_E2E_PUBLIC_BASE_URL"),
            http: reqwest::Client::new(),
        }
    }

    /// POSTs `body`. A request with an `Idempotency-Key` is sent again, as a client would,
    /// when the local emulator itself fails it (see [`emulator_failed`]); one without is
    /// never repeated.
    pub async fn post(&self, path: &str, body: &Value, extra: &[(&str, &str)]) -> (u16, Value) {
        let retryable = extra
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("idempotency-key"));
        let mut attempt = 1;
        loop {
            let mut req = self
                .http
                .post(format!("{}{path}", self.api))
                .bearer_auth(&self.api_key)
                .json(body);
            for (k, v) in extra {
                req = req.header(*k, *v);
            }
            let (status, answer) = read(req.send().await.expect("the local API answers")).await;
            if retryable && attempt < 3 && emulator_failed(status, &answer) {
                eprintln!("POST {path}: the emulator answered {answer}; sending it again");
                attempt += 1;
                continue;
            }
            return (status, answer);
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let req = self
            .http
            .get(format!("{}{path}", self.api))
            .bearer_auth(&self.api_key);
        read(req.send().await.expect("the local API answers")).await
    }

    /// Everything the Plivo simulator received since its last reset.
    pub async fn sim_requests(&self) -> Vec<Value> {
        let resp = self
            .http
            .get(format!("{}/__sim/requests", self.sim))
            .send()
            .await
            .expect("the simulator answers");
        let v: Value = resp.json().await.expect("the simulator answers JSON");
        v.as_array().cloned().unwrap_or_default()
    }

    pub async fn sim_stats(&self) -> Value {
        let resp = self
            .http
            .get(format!("{}/__sim/stats", self.sim))
            .send()
            .await
            .expect("the simulator answers");
        resp.json().await.expect("the simulator answers JSON")
    }

    /// Changes the simulator's settings (faults, reports) until the next reset.
    pub async fn sim_config(&self, settings: Value) {
        let resp = self
            .http
            .post(format!("{}/__sim/config", self.sim))
            .json(&settings)
            .send()
            .await
            .expect("the simulator answers");
        assert!(
            resp.status().is_success(),
            "simulator config refused: {}",
            resp.text().await.unwrap_or_default()
        );
    }

    /// Polls `GET /v1/bulk/{job_id}` until `done(progress)` or the time runs out.
    pub async fn wait_for_job(
        &self,
        job_id: &str,
        seconds: u64,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        loop {
            let (status, progress) = self.get(&format!("/v1/bulk/{job_id}")).await;
            // A 500 that says "retry" is the API's answer when its read failed: moto's server
            // now and then answers a Query under concurrent writes with its own HTML 500.
            // The client is told to retry, so the poll does; anything else fails the test.
            let retryable = status == 500 && progress["type"] == "/problems/internal";
            assert!(status == 200 || retryable, "{status}: {progress}");
            if status == 200 && done(&progress) {
                return progress;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "job did not finish in {seconds} s: {progress}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }

    /// Posts a form to a callback route, signed as Plivo signs (V3) with the stack's token.
    pub async fn post_signed(&self, path: &str, params: &[(&str, &str)], token: &str) -> u16 {
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let url = format!("{}{path}", self.public_base_url);
        let nonce = "73519204853";
        let req = sms_core::plivo::SignedRequest {
            method: "POST",
            url: &url,
            params: &params,
        };
        let signature = sms_core::plivo::SignatureV3::sign(&req, nonce, token);
        self.http
            .post(format!("{}{path}", self.api))
            .header(sms_core::plivo::SignatureV3::HEADER, signature)
            .header(sms_core::plivo::SignatureV3::NONCE_HEADER, nonce)
            .form(&params)
            .send()
            .await
            .expect("the local API answers")
            .status()
            .as_u16()
    }

    pub async fn sim_reset(&self) {
        self.http
            .post(format!("{}/__sim/reset", self.sim))
            .send()
            .await
            .expect("the simulator answers");
    }
}

/// True for a failed invocation, which the local API Gateway (local-stack's api_gateway.rs)
/// answers as API Gateway does: `500 {"message": "Internal Server Error"}`, never one of our
/// problem documents (`/problems/...`). `cargo lambda watch` answers a function's runtime
/// before it has read the whole response, so an answer larger than a socket read (tens of KB:
/// a list of 1,000 landlines) is now and then cut short on a busy machine, and the invocation
/// fails though the function answered.
fn emulator_failed(status: u16, answer: &Value) -> bool {
    status == 500 && answer["message"] == "Internal Server Error"
}

async fn read(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// True when every batch of a job's progress has ended (sent, failed or unknown).
pub fn all_batches_ended(progress: &Value) -> bool {
    let b = &progress["batches"];
    let ended = ["sent", "failed", "unknown"]
        .iter()
        .map(|k| b[k].as_u64().unwrap_or(0))
        .sum::<u64>();
    Some(ended) == b["total"].as_u64()
}

/// `n` distinct numbers starting at `first` (below 8,000,000): New York's +1 212, exchanges
/// 200 and up, so valid by the numbering plans the intake checks; outside the simulator's
/// ranges.
pub fn numbers(first: usize, n: usize) -> Vec<String> {
    assert!(
        first + n <= 8_000_000,
        "numbers({first}, {n}) would run past +1 212 999 9999"
    );
    (first..first + n)
        .map(|i| format!("+1212{:07}", 2_000_000 + i))
        .collect()
}

/// Every send request the simulator accepted: (destinations, accepted uuids).
pub async fn accepted_destinations(stack: &Stack) -> Vec<Vec<String>> {
    stack
        .sim_requests()
        .await
        .iter()
        .filter(|r| r["outcome"] == "accepted")
        .map(|r| {
            r["dst"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

/// Each number the simulator accepted a message for (`+` and digits), with that message's
/// uuid and how many times it was sent.
pub async fn simulated_messages(stack: &Stack) -> std::collections::HashMap<String, Vec<String>> {
    let mut messages: std::collections::HashMap<String, Vec<String>> = Default::default();
    for request in stack.sim_requests().await {
        for r in request["recipients"].as_array().into_iter().flatten() {
            let to = format!("+{}", r["to"].as_str().unwrap().trim_start_matches('+'));
            let uuid = r["message_uuid"].as_str().unwrap().to_owned();
            messages.entry(to).or_default().push(uuid);
        }
    }
    messages
}

/// What the functions have emitted of metric `name` so far: the sum of its Embedded Metric
/// Format lines (`{"<name>":<n>,"_aws":…}`) in the local stack's logs, which is what
/// CloudWatch would sum and alarm on.
pub fn metric_total(name: &str) -> u64 {
    let dir = setting("SMS_E2E_LOGS");
    let key = format!("\"{name}\":");
    let mut total = 0;
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        for line in text.lines().filter(|l| l.contains("\"_aws\"")) {
            if let Some(at) = line.find(&key) {
                let digits: String = line[at + key.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                total += digits.parse::<u64>().unwrap_or(0);
            }
        }
    }
    total
}

impl Stack {
    /// Waits up to a minute for `GET /v1/messages/{uuid}` to show status `want`, and
    /// returns the message as it then is.
    pub async fn message_becomes(&self, uuid: &str, want: &str) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let (status, message) = self.get(&format!("/v1/messages/{uuid}")).await;
            if status == 200 && message["status"] == want {
                return message;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "message never became {want}: {message}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    }

    /// Uploads `bytes` as a client does: `POST /v1/uploads`, then its presigned `PUT`.
    /// Answers the upload id.
    pub async fn upload(&self, bytes: &[u8]) -> String {
        let (status, ticket) = self
            .post("/v1/uploads", &json!({"size": bytes.len()}), &[])
            .await;
        assert_eq!(status, 201, "{ticket}");
        let mut put = self.http.put(ticket["url"].as_str().unwrap());
        for (name, value) in ticket["headers"].as_object().unwrap() {
            put = put.header(name, value.as_str().unwrap());
        }
        let answer = put.body(bytes.to_vec()).send().await.expect("S3 answers");
        assert!(
            answer.status().is_success(),
            "the presigned PUT failed: {}",
            answer.status()
        );
        ticket["upload_id"].as_str().unwrap().to_owned()
    }

    /// The body of a job file, fetched with the presigned request the API gave (`link`:
    /// method, url, headers).
    pub async fn download(&self, link: &Value) -> String {
        let mut get = self
            .http
            .get(link["url"].as_str().expect("a link with a url"));
        for (name, value) in link["headers"].as_object().into_iter().flatten() {
            get = get.header(name, value.as_str().unwrap());
        }
        let answer = get.send().await.expect("S3 answers");
        assert!(answer.status().is_success(), "GET {}", answer.status());
        answer.text().await.unwrap()
    }

    /// Asks for a job's results file, waits until it is ready and downloads it.
    pub async fn results_file(&self, job_id: &str) -> String {
        let (status, asked) = self
            .post(&format!("/v1/bulk/{job_id}/results"), &Value::Null, &[])
            .await;
        assert_eq!(status, 202, "{asked}");
        let generation = asked["results"]["generation"].clone();
        let progress = self
            .wait_for_job(job_id, 300, |p| {
                p["results"]["generation"] == generation && p["results"]["state"] != "building"
            })
            .await;
        assert_eq!(progress["results"]["state"], "ready", "{progress}");
        self.download(&progress["results"]["file"]).await
    }
}
