//! The table's DynamoDB stream, read from the emulator as Lambda's DynamoDB event source
//! mapping reads it: every shard from its start (`TRIM_HORIZON`), record after record, handed
//! on as the events Lambda would deliver (`{"Records": [...]}`, each record as `GetRecords`
//! answers it plus `eventSourceARN`: the shape of `aws_lambda_events::dynamodb::Event`).
//!
//! moto serves DynamoDB Streams on the same endpoint as DynamoDB; the requests are DynamoDB
//! Streams' JSON protocol, unsigned beyond the credential scope moto reads the service from.
//! For the emulator only: AWS runs the event source mapping itself.

use std::collections::BTreeMap;

use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
#[error("{operation}: {reason}")]
pub struct StreamError {
    operation: &'static str,
    reason: String,
}

/// One table's stream and how far it has been read.
pub struct TableStream {
    http: reqwest::Client,
    endpoint: String,
    region: String,
    table: String,
    arn: Option<String>,
    /// Per shard, the iterator for what comes next.
    next: BTreeMap<String, String>,
}

impl TableStream {
    pub fn new(
        endpoint: impl Into<String>,
        region: impl Into<String>,
        table: impl Into<String>,
    ) -> Self {
        Self {
            http: reqwest::Client::new(),
            endpoint: endpoint.into(),
            region: region.into(),
            table: table.into(),
            arn: None,
            next: BTreeMap::new(),
        }
    }

    async fn call(&self, target: &'static str, body: Value) -> Result<Value, StreamError> {
        let error = |reason: String| StreamError {
            operation: target,
            reason,
        };
        let answer = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", target)
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=testing/20260101/{}/dynamodb/aws4_request, \
                     SignedHeaders=host, Signature=0",
                    self.region
                ),
            )
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| error(e.to_string()))?;
        let status = answer.status();
        let text = answer.text().await.map_err(|e| error(e.to_string()))?;
        if !status.is_success() {
            return Err(error(format!("{status}: {text}")));
        }
        serde_json::from_str(&text).map_err(|e| error(e.to_string()))
    }

    async fn arn(&mut self) -> Result<String, StreamError> {
        if let Some(arn) = &self.arn {
            return Ok(arn.clone());
        }
        let table = self
            .call(
                "DynamoDB_20120810.DescribeTable",
                json!({ "TableName": self.table }),
            )
            .await?;
        let arn = table["Table"]["LatestStreamArn"]
            .as_str()
            .ok_or_else(|| StreamError {
                operation: "DescribeTable",
                reason: format!("table {} has no stream", self.table),
            })?
            .to_owned();
        self.arn = Some(arn.clone());
        Ok(arn)
    }

    /// Every record written since the last call, in events of at most `batch_size` records
    /// (records of one shard in order, never two shards in one event, as Lambda does).
    pub async fn poll(&mut self, batch_size: usize) -> Result<Vec<Value>, StreamError> {
        let arn = self.arn().await?;
        let stream = self
            .call(
                "DynamoDBStreams_20120810.DescribeStream",
                json!({ "StreamArn": arn }),
            )
            .await?;
        let shards: Vec<String> = stream["StreamDescription"]["Shards"]
            .as_array()
            .map(|shards| {
                shards
                    .iter()
                    .filter_map(|s| s["ShardId"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut events = Vec::new();
        for shard in shards {
            let mut iterator = match self.next.get(&shard) {
                Some(it) => it.clone(),
                None => self
                    .call(
                        "DynamoDBStreams_20120810.GetShardIterator",
                        json!({
                            "StreamArn": arn, "ShardId": shard,
                            "ShardIteratorType": "TRIM_HORIZON",
                        }),
                    )
                    .await?["ShardIterator"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            };
            let mut records = Vec::new();
            loop {
                let page = self
                    .call(
                        "DynamoDBStreams_20120810.GetRecords",
                        json!({ "ShardIterator": iterator, "Limit": 1000 }),
                    )
                    .await?;
                let got = page["Records"].as_array().cloned().unwrap_or_default();
                if let Some(next) = page["NextShardIterator"].as_str() {
                    iterator = next.to_owned();
                }
                if got.is_empty() {
                    break;
                }
                records.extend(got.into_iter().map(|mut r| {
                    r["eventSourceARN"] = json!(arn);
                    r
                }));
            }
            self.next.insert(shard, iterator);
            for chunk in records.chunks(batch_size.max(1)) {
                events.push(json!({ "Records": chunk }));
            }
        }
        Ok(events)
    }
}
