//! The sample events of `events/`, made from code so that their signatures and job ids are
//! right by construction: `cargo run -p local-stack --bin sample-events` rewrites them, and a
//! test fails when a committed file differs from what this makes.
//!
//! They fit `make dev`'s defaults: API key `local-dev-key-not-secret-0123456789`, `PUBLIC_BASE_URL`
//! `http://127.0.0.1:3000`, Plivo auth token `local-simulator-token`.

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};
use sms_core::{
    MessageText, PhoneNumber, Sender,
    domain::{bulk::BatchMessage, ids::JobId},
    http::api::IdempotencyKey,
    plivo::{SignatureV3, SignedRequest},
};

pub const API_KEY: &str = "local-dev-key-not-secret-0123456789";
pub const PUBLIC_BASE_URL: &str = "http://127.0.0.1:3000";
pub const PLIVO_AUTH_TOKEN: &str = "local-simulator-token";
pub const SENDER: &str = "+14155550100";
/// The `Idempotency-Key` of the sample bulk job, which fixes its job id.
pub const BULK_KEY: &str = "sample-bulk-1";
const SAMPLE_UUID: &str = "6f1c7d1e-0000-4000-8000-000000000000";
/// A job id no sample creates.
const UNKNOWN_JOB: &str = "6f1c7d1e-0000-4000-8000-00000000b01c";

fn http_event(
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Option<(String, bool)>,
    route: &str,
) -> Value {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    // Every route of the API is an `ANY` route (template.yaml): its function answers the
    // methods it serves and 405 to the rest.
    let route = &format!("ANY {}", route.split_once(' ').map_or(route, |(_, p)| p));
    let mut h = serde_json::Map::new();
    h.insert("host".into(), json!("127.0.0.1:3000"));
    h.insert("user-agent".into(), json!("cargo-lambda-invoke"));
    for (k, v) in headers {
        h.insert((*k).to_owned(), json!(v));
    }
    let mut e = json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": query,
        "headers": h,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "domainPrefix": "127",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "cargo-lambda-invoke"},
            "requestId": "sample-request-id",
            "routeKey": route,
            "stage": "$default",
            "time": "24/Nov/2026:08:00:00 +0000",
            "timeEpoch": 1795334400000u64
        },
        "isBase64Encoded": false
    });
    if !query.is_empty() {
        let params: serde_json::Map<String, Value> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), json!(v)))
            .collect();
        e["queryStringParameters"] = Value::Object(params);
    }
    if let Some((body, base64)) = body {
        e["body"] = json!(body);
        e["isBase64Encoded"] = json!(base64);
    }
    e
}

fn api_json(
    method: &str,
    path: &str,
    body: Option<Value>,
    auth: bool,
    extra: &[(&str, &str)],
    route: &str,
) -> Value {
    let bearer = format!("Bearer {API_KEY}");
    let mut headers: Vec<(&str, &str)> = extra.to_vec();
    if auth {
        headers.push(("authorization", &bearer));
    }
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    http_event(
        method,
        path,
        &headers,
        body.map(|b| (b.to_string(), false)),
        route,
    )
}

/// A form POST to a callback route, signed as Plivo signs it (V3) with `token`.
fn signed_callback(path_and_query: &str, params: &[(&str, &str)], token: &str) -> Value {
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let url = format!("{PUBLIC_BASE_URL}{path_and_query}");
    let nonce = "05937182640519283746";
    let signature = SignatureV3::sign(
        &SignedRequest {
            method: "POST",
            url: &url,
            params: &params,
        },
        nonce,
        token,
    );
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    let path = path_and_query.split('?').next().unwrap_or(path_and_query);
    http_event(
        "POST",
        path_and_query,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-plivo-signature-v3", &signature),
            ("x-plivo-signature-ma-v3", &signature),
            ("x-plivo-signature-v3-nonce", nonce),
        ],
        // API Gateway hands form bodies to Lambda base64-encoded.
        Some((STANDARD.encode(form), true)),
        &format!("POST {path}"),
    )
}

fn bulk_body() -> Value {
    json!({
        "recipients": ["+14155550123", "+14155550124", "+14155550123", "555-0100"],
        "text": "Sample bulk message",
        "from": SENDER,
        "reference": "sample-campaign"
    })
}

/// The job id `send-bulk-post.json` creates (its key and body fix it).
pub fn sample_job_id() -> JobId {
    let body: send_bulk::BulkRequestBody =
        serde_json::from_value(bulk_body()).expect("sample body parses");
    let src = Sender::parse(SENDER).expect("sample sender");
    let request = send_bulk::BulkRequest::parse(body, &src).expect("sample request is valid");
    let key = IdempotencyKey::parse(BULK_KEY).expect("sample key is valid");
    send_bulk::job_id(Some(&key), &request)
}

fn sqs_record(id: &str, body: &str) -> Value {
    sqs_record_of("sms-batches", id, body)
}

fn sqs_record_of(queue: &str, id: &str, body: &str) -> Value {
    json!({
        "messageId": id,
        "receiptHandle": format!("sample-receipt-{id}"),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795334400000", "SenderId": "123456789012", "ApproximateFirstReceiveTimestamp": "1795334400001"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{queue}"),
        "awsRegion": "us-east-1"
    })
}

/// Every sample event: (file name, event).
/// The table's stream as Lambda hands it to report-counts: one delivery report of the sample
/// job's batch 0 moving its message from `sent` to `delivered` (one status change counted).
fn stream_event(job_id: &JobId) -> Value {
    let image = |status: &str| {
        json!({
            "pk": {"S": "MSG#3d1f5e8a-0000-4000-8000-00000000e0e0"}, "sk": {"S": "STATUS"},
            "status": {"S": status}, "job_id": {"S": job_id.as_str()}, "batch": {"N": "0"},
            "units": {"N": "1"}, "amount": {"S": "0.00790"}
        })
    };
    json!({"Records": [{
        "eventID": "sample-status-change-1",
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_796_000_000,
            "Keys": {"pk": {"S": "MSG#3d1f5e8a-0000-4000-8000-00000000e0e0"}, "sk": {"S": "STATUS"}},
            "OldImage": image("sent"),
            "NewImage": image("delivered"),
            "SequenceNumber": "100000000000000000001",
            "SizeBytes": 300,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/sms-local/stream/2026-01-01T00:00:00.000"
    }]})
}

pub fn all() -> Vec<(&'static str, Value)> {
    let job_id = sample_job_id();
    let batch = BatchMessage {
        reservation: None,
        quiet_hours: None,
        expires_at: None,
        job_id: job_id.clone(),
        batch: 0,
        from: Sender::parse(SENDER).expect("sample sender"),
        text: MessageText::parse("Sample bulk message").expect("sample text"),
        recipients: ["+14155550123", "+14155550124"]
            .iter()
            .map(|n| PhoneNumber::parse(n).expect("sample number"))
            .collect(),
        callback_url: format!("{PUBLIC_BASE_URL}/v1/callbacks/plivo/status?job_id={job_id}"),
        fallback: false,
    };
    let batch = serde_json::to_string(&batch).expect("batch encodes");
    // The sample job came from a list, so it has no plan: the task is one job-files sends to
    // the dead-letter queue (an upload's job has a plan, made by POST /v1/bulk with upload_id).
    let plan_task = serde_json::to_string(&sms_core::domain::bulk::FileTask::Plan {
        job_id: job_id.clone(),
    })
    .expect("task encodes");
    // send-bulk-results.json asked for the sample job's first results file: this builds it.
    let results_task = serde_json::to_string(&sms_core::domain::bulk::FileTask::Results {
        job_id: job_id.clone(),
        generation: 1,
    })
    .expect("task encodes");
    let report = [
        ("MessageUUID", SAMPLE_UUID),
        ("Status", "delivered"),
        ("To", "14155550123"),
        ("From", "14155550100"),
        ("ErrorCode", ""),
        ("Units", "1"),
        ("TotalRate", "0.00500"),
        ("TotalAmount", "0.00500"),
        ("MCC", "310"),
        ("MNC", "004"),
        ("ParentMessageUUID", SAMPLE_UUID),
        ("PartInfo", "1 of 1"),
        ("Sequence", "3"),
        ("MessageTime", "2026-11-24 08:00:00.000000"),
        ("QueuedTime", "2026-11-24 08:00:00.000000"),
        ("SentTime", "2026-11-24 08:00:01.000000"),
        ("DeliveryReportTime", "2026-11-24 08:00:03.000000"),
        ("PowerpackUUID", ""),
        ("Type", "sms"),
    ];
    let stop = [
        ("From", "14155550199"),
        ("To", "14155550100"),
        ("Text", "STOP"),
        ("Type", "sms"),
        ("MessageUUID", "7a2b3c4d-0000-4000-8000-000000000001"),
        ("MessageIntent", "optout"),
    ];
    vec![
        (
            "send-sms-post.json",
            api_json(
                "POST",
                "/v1/messages",
                Some(
                    json!({"to": "+14155550123", "text": "Hello from cargo lambda invoke", "reference": "sample-1"}),
                ),
                true,
                &[],
                "POST /v1/messages",
            ),
        ),
        (
            "send-sms-invalid-number.json",
            api_json(
                "POST",
                "/v1/messages",
                Some(json!({"to": "4155550123", "text": "Hello"})),
                true,
                &[],
                "POST /v1/messages",
            ),
        ),
        (
            "send-sms-missing-key.json",
            api_json(
                "POST",
                "/v1/messages",
                Some(json!({"to": "+14155550123", "text": "Hello"})),
                false,
                &[],
                "POST /v1/messages",
            ),
        ),
        (
            "send-sms-get-status.json",
            api_json(
                "GET",
                &format!("/v1/messages/{SAMPLE_UUID}"),
                None,
                true,
                &[],
                "GET /v1/messages/{message_uuid}",
            ),
        ),
        (
            "send-bulk-post.json",
            api_json(
                "POST",
                "/v1/bulk",
                Some(bulk_body()),
                true,
                &[("idempotency-key", BULK_KEY)],
                "POST /v1/bulk",
            ),
        ),
        (
            "send-bulk-dry-run.json",
            api_json(
                "POST",
                "/v1/bulk",
                Some(
                    json!({"recipients": ["+14155550123", "bogus"], "text": "Just checking", "dry_run": true}),
                ),
                true,
                &[],
                "POST /v1/bulk",
            ),
        ),
        (
            // Two US numbers at the simulator's 0.005 a segment, over a cap of 0.005; the
            // London landline is skipped, so it is neither priced nor sent.
            "send-bulk-over-budget.json",
            api_json(
                "POST",
                "/v1/bulk",
                Some(json!({
                    "recipients": ["+14155550123", "+14155550124", "+442071234567"],
                    "text": "Weekend sale: 20% off",
                    "skip_landlines": true,
                    "max_cost": "0.005"
                })),
                true,
                &[],
                "POST /v1/bulk",
            ),
        ),
        (
            "send-bulk-no-recipients.json",
            api_json(
                "POST",
                "/v1/bulk",
                Some(json!({"recipients": [], "text": "Nobody"})),
                true,
                &[],
                "POST /v1/bulk",
            ),
        ),
        (
            "send-bulk-get-progress.json",
            api_json(
                "GET",
                &format!("/v1/bulk/{job_id}"),
                None,
                true,
                &[],
                "GET /v1/bulk/{job_id}",
            ),
        ),
        (
            "send-bulk-upload.json",
            api_json(
                "POST",
                "/v1/uploads",
                Some(json!({"size": 2048, "content_type": "text/csv"})),
                true,
                &[],
                "POST /v1/uploads",
            ),
        ),
        (
            "send-bulk-results.json",
            api_json(
                "POST",
                &format!("/v1/bulk/{job_id}/results"),
                None,
                true,
                &[],
                "POST /v1/bulk/{job_id}/results",
            ),
        ),
        (
            // A job no request made: the sample job's one batch may be sent before this
            // runs, and a done job cannot be paused, so only an unknown job answers the same
            // every time (404). With a job id from POST /v1/bulk it answers 200.
            "send-bulk-pause.json",
            api_json(
                "POST",
                &format!("/v1/bulk/{UNKNOWN_JOB}/pause"),
                None,
                true,
                &[],
                "POST /v1/bulk/{job_id}/pause",
            ),
        ),
        (
            "sender-batch.json",
            json!({"Records": [sqs_record("sample-good-batch", &batch), sqs_record("sample-malformed", "{\"job_id\": 42")]}),
        ),
        (
            "job-files-plan.json",
            json!({"Records": [sqs_record_of("sms-files", "sample-plan-task", &plan_task)]}),
        ),
        (
            "job-files-results.json",
            json!({"Records": [sqs_record_of("sms-files", "sample-results-task", &results_task)]}),
        ),
        ("report-counts-status-change.json", stream_event(&job_id)),
        (
            "status-callback-report.json",
            signed_callback(
                &format!("/v1/callbacks/plivo/status?job_id={job_id}&batch=0"),
                &report,
                PLIVO_AUTH_TOKEN,
            ),
        ),
        (
            "status-callback-forged.json",
            signed_callback("/v1/callbacks/plivo/status", &report, "not-the-plivo-token"),
        ),
        (
            "status-callback-inbound-stop.json",
            signed_callback("/v1/callbacks/plivo/inbound", &stop, PLIVO_AUTH_TOKEN),
        ),
    ]
}
