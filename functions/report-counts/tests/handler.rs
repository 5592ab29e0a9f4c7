//! The function against moto: delivery reports written as status-callback writes them, the
//! table's stream read as Lambda reads it, each event handed to `handle` as Lambda hands it
//! over (JSON), twice (a retry), and the job's counts read as `GET /v1/bulk/{id}` reads them.
//!
//! Needs moto: run through `make test` or `infra/tests/with-moto.sh cargo test`.

use chrono::Utc;
use sms_core::{
    domain::ids::JobId,
    store::{BatchRef, DeliveryReport, JobStore, MessageStatus, ReportStore},
};

#[tokio::test]
async fn every_report_counts_once_even_when_lambda_retries_its_batch() {
    use MessageStatus::*;
    let store = sms_test_support::dynamo_store().await;
    let job = JobId::random();
    let batch = BatchRef {
        job_id: job.clone(),
        batch: 0,
    };
    let reports = [
        ("m1", Queued, 1),
        ("m1", Sent, 2),
        ("m2", Sent, 2),
        ("m1", Delivered, 3),
        ("m1", Delivered, 3),
        ("m2", Queued, 1),
        ("m2", Failed, 3),
    ];
    for (uuid, status, seq) in reports {
        let report = DeliveryReport {
            sequence: Some(seq),
            units: Some(1),
            total_amount: Some("0.0079".into()),
            ..DeliveryReport::new(format!("{job}-{uuid}"), status)
        };
        store
            .apply_report(&report, Some(&batch), Utc::now())
            .await
            .unwrap();
    }

    let mut stream = sms_test_support::TableStream::new(
        sms_test_support::moto_url(),
        "us-east-1",
        store.table(),
    );
    let events = stream.poll(2).await.unwrap();
    assert!(events.len() > 1);
    let mut changes = 0;
    for event in &events {
        let event = serde_json::from_value(event.clone()).unwrap();
        let counted = report_counts::handle(event, &store).await.unwrap();
        assert_eq!(counted.counted_before, 0);
        changes += counted.changes;
    }
    assert_eq!(
        changes, 5,
        "every applied report: not the duplicate, not the late queued"
    );
    for event in &events {
        let event = serde_json::from_value(event.clone()).unwrap();
        let counted = report_counts::handle(event, &store).await.unwrap();
        assert_eq!(counted.counters, 0, "{counted:?}");
        assert_eq!(counted.counted_before, counted.records, "{counted:?}");
    }

    let counts = store.status_counts(&job).await.unwrap();
    assert_eq!((counts.sent, counts.delivered, counts.failed), (0, 1, 1));
    assert_eq!(counts.seen_by_batch.get(&0), Some(&2));
    assert_eq!((counts.charged.micros, counts.charged.units), (15_800, 2));
}
