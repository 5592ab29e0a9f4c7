//! Transaction conflicts and failed writes, which moto never produces: the real `DynamoStore`
//! and AWS SDK against a wiremock server standing in for DynamoDB. It cancels
//! `TransactWriteItems` the way DynamoDB does when another transaction holds one of the
//! items, so these tests prove that the adapter reads the SDK's error as a conflict, tries
//! again with backoff, and gives up with an error (never a silent success) when the
//! conflicts do not stop; and it fails a write at a named step, so they prove what is left
//! written when a step of a multi-write operation fails.

use sms_core::domain::ids::JobId;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;
use chrono::Utc;
use serde_json::json;
use sms_core::{
    domain::status::Charge,
    retry::RetryPolicy,
    store::{
        BatchLedger, BatchOutcome, BatchRef, CountStore, CountedState, CountsApplied, DynamoStore,
        JobControls, MessageStatus, StatusChange, StreamedChange,
    },
};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method},
};

const FAST: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    base_delay: Duration::from_millis(1),
    max_delay: Duration::from_millis(4),
};

const TARGET: &str = "x-amz-target";

async fn store(server: &MockServer) -> DynamoStore {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(server.uri())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), "sms").with_conflict_retry(FAST)
}

fn dynamo_json(status: u16, body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("content-type", "application/x-amz-json-1.0")
        .set_body_string(body.to_string())
}

/// DynamoDB's answer when one item of the transaction is held by another one in flight.
fn cancelled(reasons: &[&str]) -> ResponseTemplate {
    let reasons: Vec<_> = reasons.iter().map(|c| json!({"Code": c})).collect();
    dynamo_json(
        400,
        json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
            "CancellationReasons": reasons,
        }),
    )
}

/// `TransactWriteItems` answers `conflicts` cancellations, then succeeds.
async fn transactions_conflicting(server: &MockServer, conflicts: u64, reasons: &[&str]) {
    Mock::given(method("POST"))
        .and(header(TARGET, "DynamoDB_20120810.TransactWriteItems"))
        .respond_with(cancelled(reasons))
        .up_to_n_times(conflicts)
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(header(TARGET, "DynamoDB_20120810.TransactWriteItems"))
        .respond_with(dynamo_json(200, json!({})))
        .with_priority(2)
        .mount(server)
        .await;
}

async fn transactions_sent(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| {
            r.headers.get(TARGET).and_then(|v| v.to_str().ok())
                == Some("DynamoDB_20120810.TransactWriteItems")
        })
        .count()
}

/// One bulk message's first report, as the table's stream hands it to the counts.
fn changes() -> Vec<StreamedChange> {
    vec![StreamedChange {
        record_id: "r1".into(),
        change: Some(StatusChange {
            batch: batch(),
            old: None,
            new: CountedState {
                status: MessageStatus::Delivered,
                charge: Charge {
                    micros: 7_900,
                    units: 1,
                },
            },
        }),
    }]
}

fn batch() -> BatchRef {
    BatchRef {
        job_id: JobId::parse("9a7d6c1e-0000-4000-8000-000000000002").unwrap(),
        batch: 0,
    }
}

fn sent() -> BatchOutcome {
    BatchOutcome::Sent {
        message_uuids: vec!["m1".into()],
        invalid_numbers: vec![],
        opted_out: vec![],
    }
}

#[tokio::test]
async fn stream_counts_are_applied_after_conflicts_on_their_counter_item() {
    let server = MockServer::start().await;
    transactions_conflicting(&server, 2, &["None", "TransactionConflict"]).await;
    let store = store(&server).await;

    let applied = store
        .apply_counts(&changes(), Utc::now())
        .await
        .expect("applied once the conflicts passed");

    assert_eq!(
        applied,
        CountsApplied {
            counters: 1,
            counted_before: 0
        }
    );
    assert_eq!(transactions_sent(&server).await, 3);
}

#[tokio::test]
async fn stream_counts_that_keep_conflicting_are_an_error_not_a_silent_success() {
    let server = MockServer::start().await;
    transactions_conflicting(&server, 100, &["None", "TransactionConflict"]).await;
    let store = store(&server).await;

    let err = store
        .apply_counts(&changes(), Utc::now())
        .await
        .unwrap_err();

    assert!(err.to_string().contains("conflicted"), "{err}");
    assert_eq!(transactions_sent(&server).await, FAST.max_attempts as usize);
}

#[tokio::test]
async fn a_batch_outcome_is_recorded_after_conflicts_on_the_job_item() {
    let server = MockServer::start().await;
    transactions_conflicting(&server, 3, &["None", "TransactionConflict"]).await;
    let store = store(&server).await;

    let finished = store
        .finish_batch(&batch().job_id, 0, 1, &sent(), Utc::now())
        .await
        .expect("recorded once the conflicts passed");

    assert!(finished);
    assert_eq!(transactions_sent(&server).await, 4);
}

#[tokio::test]
async fn a_batch_outcome_that_keeps_conflicting_is_an_error() {
    let server = MockServer::start().await;
    transactions_conflicting(&server, 100, &["None", "TransactionConflict"]).await;
    let store = store(&server).await;

    let err = store
        .finish_batch(&batch().job_id, 0, 1, &sent(), Utc::now())
        .await
        .unwrap_err();

    assert!(err.to_string().contains("conflicted"), "{err}");
    assert_eq!(transactions_sent(&server).await, FAST.max_attempts as usize);
}

#[tokio::test]
async fn a_failed_condition_is_not_retried_even_beside_a_conflict() {
    let server = MockServer::start().await;
    transactions_conflicting(
        &server,
        100,
        &["ConditionalCheckFailed", "TransactionConflict"],
    )
    .await;
    let store = store(&server).await;

    let finished = store
        .finish_batch(&batch().job_id, 0, 1, &sent(), Utc::now())
        .await
        .unwrap();

    assert!(!finished, "the claim is no longer this attempt's");
    assert_eq!(transactions_sent(&server).await, 1);
}

#[tokio::test]
async fn another_cancellation_is_an_error_at_once() {
    let server = MockServer::start().await;
    transactions_conflicting(&server, 100, &["ValidationError", "None"]).await;
    let store = store(&server).await;

    assert!(store.apply_counts(&changes(), Utc::now()).await.is_err());
    assert_eq!(transactions_sent(&server).await, 1);
}

#[tokio::test]
async fn a_stream_batch_whose_mark_is_there_was_counted_before() {
    let server = MockServer::start().await;
    transactions_conflicting(&server, 100, &["ConditionalCheckFailed", "None"]).await;
    // The mark an earlier delivery wrote: one record counted from r1.
    Mock::given(method("POST"))
        .and(header(TARGET, "DynamoDB_20120810.GetItem"))
        .respond_with(dynamo_json(
            200,
            json!({"Item": {"pk": {"S": "COUNTED#r1"}, "sk": {"S": "SEEN"}, "records": {"N": "1"}}}),
        ))
        .mount(&server)
        .await;
    let store = store(&server).await;

    let applied = store.apply_counts(&changes(), Utc::now()).await.unwrap();

    assert_eq!(
        applied,
        CountsApplied {
            counters: 0,
            counted_before: 1
        }
    );
    assert_eq!(transactions_sent(&server).await, 1, "not retried");
}

#[tokio::test]
async fn a_deferral_whose_opening_cannot_be_written_counts_nobody_as_waiting() {
    // The status shows waiting recipients beside their window's opening: the count must
    // never be written without the opening, even when the opening's write fails.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header(TARGET, "DynamoDB_20120810.UpdateItem"))
        .respond_with(dynamo_json(
            400,
            json!({
                "__type": "com.amazon.coral.validate#ValidationException",
                "message": "failed at this step",
            }),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(header(TARGET, "DynamoDB_20120810.TransactWriteItems"))
        .respond_with(dynamo_json(200, json!({})))
        .mount(&server)
        .await;
    let store = store(&server).await;
    let now = Utc::now();

    let deferred = store
        .defer_batch(
            &batch().job_id,
            0,
            1_000,
            now + chrono::Duration::hours(1),
            now,
        )
        .await;

    assert!(deferred.is_err(), "{deferred:?}");
    assert_eq!(
        transactions_sent(&server).await,
        0,
        "the waiting count was written without its opening"
    );
}
