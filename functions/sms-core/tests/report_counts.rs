//! Job counts from the table's stream (`CountStore`, `table_stream`), against moto: the
//! reports' conditional writes, the stream moto keeps of them, and the counters' transactions.
//! A batch of stream records is counted once however often it is handed over, a batch of
//! many jobs is split into transactions each counted once, and concurrent, duplicated and
//! reversed reports end in exact counts.
//!
//! Needs moto: run through `make test` or `infra/tests/with-moto.sh cargo test`.

use chrono::Utc;
use futures::future::join_all;
use sms_core::{
    domain::{ids::JobId, status::Charge},
    store::{
        BatchRef, CountsApplied, DeliveryReport, DynamoStore, JobStore, MemoryStore, MessageStatus,
        ReportEffect, ReportStore, StatusCounts,
        table_stream::{StreamEvent, apply_stream_event},
    },
};
use sms_test_support::SettleCounts;

fn report(uuid: &str, status: MessageStatus, sequence: Option<u64>) -> DeliveryReport {
    DeliveryReport {
        sequence,
        units: Some(1),
        total_amount: Some("0.0079".into()),
        ..DeliveryReport::new(uuid.to_owned(), status)
    }
}

fn in_batch(job: &JobId, batch: u32) -> BatchRef {
    BatchRef {
        job_id: job.clone(),
        batch,
    }
}

/// Every record the table's stream holds, read once, in events of `size` records.
async fn stream_events(store: &DynamoStore, size: usize) -> Vec<StreamEvent> {
    let mut stream = sms_test_support::TableStream::new(
        sms_test_support::moto_url(),
        sms_test_support::REGION,
        store.table(),
    );
    stream
        .poll(size)
        .await
        .unwrap()
        .into_iter()
        .map(|e| serde_json::from_value(e).unwrap())
        .collect()
}

#[tokio::test]
async fn a_stream_batch_handed_over_again_is_counted_once() {
    use MessageStatus::*;
    let store = sms_test_support::dynamo_store().await;
    let job = JobId::random();
    let batch = in_batch(&job, 2);
    for (uuid, status, seq) in [
        ("a", Queued, 1),
        ("a", Sent, 2),
        ("b", Delivered, 3),
        ("a", Delivered, 3),
    ] {
        store
            .apply_report(&report(uuid, status, Some(seq)), Some(&batch), Utc::now())
            .await
            .unwrap();
    }

    let events = stream_events(&store, 3).await;
    assert!(events.len() >= 2, "{} events", events.len());
    for event in &events {
        let first = apply_stream_event(&store, event, Utc::now()).await.unwrap();
        assert_eq!(first.applied.counted_before, 0);
    }
    // Lambda retries a batch whose invocation failed (say, timed out after its write).
    for event in &events {
        let again = apply_stream_event(&store, event, Utc::now()).await.unwrap();
        assert_eq!(again.applied.counters, 0, "{again:?}");
    }

    let counts = store.status_counts(&job).await.unwrap();
    assert_eq!((counts.delivered, counts.sent), (2, 0));
    assert_eq!(counts.seen_by_batch.get(&2), Some(&2));
    assert_eq!(
        counts.charged,
        Charge {
            micros: 2 * 7_900,
            units: 2
        }
    );
}

#[tokio::test]
async fn a_stream_batch_of_more_jobs_than_a_transaction_holds_is_counted_once() {
    let store = sms_test_support::dynamo_store().await;
    let jobs: Vec<JobId> = (0..150).map(|_| JobId::random()).collect();
    for (i, job) in jobs.iter().enumerate() {
        store
            .apply_report(
                &report(&format!("m{i}"), MessageStatus::Sent, Some(2)),
                Some(&in_batch(job, 0)),
                Utc::now(),
            )
            .await
            .unwrap();
    }

    let events = stream_events(&store, 1000).await;
    assert_eq!(events.len(), 1);
    let first = apply_stream_event(&store, &events[0], Utc::now())
        .await
        .unwrap();
    assert_eq!(
        first.applied,
        CountsApplied {
            counters: 150,
            counted_before: 0
        },
        "two runs: 99 counter items, then 51"
    );
    let again = apply_stream_event(&store, &events[0], Utc::now())
        .await
        .unwrap();
    assert_eq!(
        again.applied,
        CountsApplied {
            counters: 0,
            counted_before: events[0].records.len()
        }
    );

    for job in [&jobs[0], &jobs[98], &jobs[99], &jobs[149]] {
        let counts = store.status_counts(job).await.unwrap();
        assert_eq!((counts.sent, counts.seen_by_batch.get(&0)), (1, Some(&1)));
    }
}

/// The event of `records` from `from`, as Lambda would hand them over.
fn event_of(records: &[sms_core::store::table_stream::StreamRecord]) -> StreamEvent {
    StreamEvent {
        records: records.to_vec(),
    }
}

#[tokio::test]
async fn a_batch_delivered_again_longer_or_shorter_counts_each_record_once() {
    use MessageStatus::*;
    let store = sms_test_support::dynamo_store().await;
    let job = JobId::random();
    let batch = in_batch(&job, 1);
    for (uuid, status, seq) in [
        ("a", Queued, 1),
        ("b", Queued, 1),
        ("a", Sent, 2),
        ("c", Delivered, 3),
        ("b", Failed, 3),
        ("a", Delivered, 3),
    ] {
        store
            .apply_report(
                &report(&format!("{job}-{uuid}"), status, Some(seq)),
                Some(&batch),
                Utc::now(),
            )
            .await
            .unwrap();
    }
    let all: Vec<_> = stream_events(&store, 1000)
        .await
        .into_iter()
        .flat_map(|e| e.records)
        .collect();
    assert!(all.len() >= 6, "{} records", all.len());

    // The first delivery counted the first three records, then its invocation failed.
    apply_stream_event(&store, &event_of(&all[..3]), Utc::now())
        .await
        .unwrap();
    // Lambda delivers again from the same first record, more records this time.
    let longer = apply_stream_event(&store, &event_of(&all), Utc::now())
        .await
        .unwrap();
    assert_eq!(longer.applied.counted_before, 3);
    // And once more, shorter (a smaller batch): nothing is counted again.
    let shorter = apply_stream_event(&store, &event_of(&all[..2]), Utc::now())
        .await
        .unwrap();
    assert_eq!(shorter.applied.counters, 0);

    let counts = store.status_counts(&job).await.unwrap();
    assert_eq!((counts.sent, counts.delivered, counts.failed), (0, 2, 1));
    assert_eq!(counts.seen_by_batch.get(&1), Some(&3));
    assert_eq!(
        counts.charged,
        Charge {
            micros: 3 * 7_900,
            units: 3
        }
    );
}

/// Ten messages, each reported queued, sent and delivered, every report twice, all at once
/// and in reverse order too: each message ends delivered and counts once.
async fn concurrent_duplicated_and_reversed_reports_count_exactly<
    S: ReportStore + JobStore + SettleCounts,
>(
    store: &S,
) {
    use MessageStatus::*;
    let job = JobId::random();
    let batch = in_batch(&job, 0);
    let uuids: Vec<String> = (0..10).map(|i| format!("{job}-{i}")).collect();
    let mut reports = Vec::new();
    for uuid in &uuids {
        for (status, seq) in [(Queued, 1), (Sent, 2), (Delivered, 3)] {
            reports.push(report(uuid, status, Some(seq)));
            reports.push(report(uuid, status, Some(seq)));
        }
    }
    reports.extend(reports.clone().into_iter().rev());
    let effects = join_all(
        reports
            .iter()
            .map(|r| store.apply_report(r, Some(&batch), Utc::now())),
    )
    .await;
    let applied = effects
        .iter()
        .filter(|e| matches!(e, Ok(ReportEffect::Applied { .. })))
        .count();
    assert!(effects.iter().all(Result::is_ok));
    assert!((10..=30).contains(&applied), "{applied} applied");

    store.settle_counts().await;
    let counts: StatusCounts = store.status_counts(&job).await.unwrap();
    assert_eq!(
        (counts.sent, counts.delivered, counts.beyond_queued()),
        (0, 10, 10)
    );
    assert_eq!(counts.seen_by_batch.get(&0), Some(&10));
    assert_eq!(
        counts.charged,
        Charge {
            micros: 10 * 7_900,
            units: 10
        }
    );
}

#[tokio::test]
async fn concurrent_duplicated_and_reversed_reports_count_exactly_in_dynamodb() {
    concurrent_duplicated_and_reversed_reports_count_exactly(
        &sms_test_support::dynamo_store().await,
    )
    .await;
}

#[tokio::test]
async fn concurrent_duplicated_and_reversed_reports_count_exactly_in_memory() {
    concurrent_duplicated_and_reversed_reports_count_exactly(&MemoryStore::new()).await;
}
