//! What the end-to-end tests share: where the local stack is, and HTTP helpers.
//! infra/e2e.sh starts the stack and sets the `SMS_E2E_*` variables.

use serde_json::Value;

fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the end-to-end tests through `make test` or infra/e2e.sh")
    })
}

pub struct Stack {
    pub api: String,
    pub sim: String,
    pub api_key: String,
    pub plivo_auth_id: String,
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
            public_base_url: setting("SMS_E2E_PUBLIC_BASE_URL"),
            http: reqwest::Client::new(),
        }
    }

    pub async fn post(&self, path: &str, body: &Value, extra: &[(&str, &str)]) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.api))
            .bearer_auth(&self.api_key)
            .json(body);
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        read(req.send().await.expect("the local API answers")).await
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

    pub async fn sim_reset(&self) {
        self.http
            .post(format!("{}/__sim/reset", self.sim))
            .send()
            .await
            .expect("the simulator answers");
    }
}

async fn read(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}
