//! Plivo's circuit (`PlivoCircuit`): every scenario runs against the DynamoDB adapter in moto
//! (its conditional updates) and against the in-memory adapter, so both follow the same rules.
//!
//! Needs moto: run through `make test` or `infra/tests/with-moto.sh cargo test`.

use chrono::{Duration, Utc};
use futures::future::join_all;
use sms_core::store::{CircuitRule, PlivoCircuit};

const RULE: CircuitRule = CircuitRule {
    failures: 3,
    window: Duration::minutes(2),
    open_for: Duration::minutes(5),
};

// Each adapter's circuit is one record for the whole table: each scenario gets a fresh table
// (moto) or store (memory) from the harness.

async fn sustained_failures_open_it_and_it_closes_on_its_own(store: &impl PlivoCircuit) {
    let t0 = Utc::now();
    assert!(!store.circuit(t0).await.unwrap().is_open());

    assert_eq!(store.note_plivo_failure(RULE, t0).await.unwrap(), None);
    let at = t0 + Duration::seconds(30);
    assert_eq!(store.note_plivo_failure(RULE, at).await.unwrap(), None);
    assert_eq!(store.circuit(at).await.unwrap().failures, 2);
    let third = t0 + Duration::seconds(60);
    let until = third + RULE.open_for;

    assert_eq!(
        store
            .note_plivo_failure(RULE, third)
            .await
            .unwrap()
            .map(|t| t.timestamp_millis()),
        Some(until.timestamp_millis())
    );
    let open = store.circuit(third).await.unwrap();
    assert!(open.is_open(), "{open:?}");
    assert!(
        store
            .circuit(until - Duration::seconds(1))
            .await
            .unwrap()
            .is_open()
    );
    assert!(
        !store
            .circuit(until + Duration::seconds(1))
            .await
            .unwrap()
            .is_open()
    );
}

async fn failures_further_apart_than_the_window_never_open_it(store: &impl PlivoCircuit) {
    let t0 = Utc::now();
    for minutes in [0, 1, 3, 4, 6, 7] {
        let at = t0 + Duration::minutes(minutes);
        assert_eq!(
            store.note_plivo_failure(RULE, at).await.unwrap(),
            None,
            "{minutes}"
        );
    }
    assert!(
        !store
            .circuit(t0 + Duration::minutes(7))
            .await
            .unwrap()
            .is_open()
    );
}

async fn a_batch_plivo_took_starts_the_count_again(store: &impl PlivoCircuit) {
    let t0 = Utc::now();
    store.note_plivo_failure(RULE, t0).await.unwrap();
    store.note_plivo_failure(RULE, t0).await.unwrap();
    store.note_plivo_success().await.unwrap();
    assert_eq!(store.circuit(t0).await.unwrap().failures, 0);

    assert_eq!(store.note_plivo_failure(RULE, t0).await.unwrap(), None);
    assert_eq!(store.note_plivo_failure(RULE, t0).await.unwrap(), None);
    assert!(!store.circuit(t0).await.unwrap().is_open());
}

async fn concurrent_failures_each_count_and_open_it_once(store: &impl PlivoCircuit) {
    let now = Utc::now();
    let opened = join_all((0..8).map(|_| store.note_plivo_failure(RULE, now))).await;

    let opened: Vec<_> = opened.into_iter().filter_map(Result::unwrap).collect();
    assert_eq!(opened.len(), 1, "opened by exactly one of the failures");
    assert!(store.circuit(now).await.unwrap().is_open());
}

sms_test_support::both_adapters!(
    crate;
    sustained_failures_open_it_and_it_closes_on_its_own,
    failures_further_apart_than_the_window_never_open_it,
    a_batch_plivo_took_starts_the_count_again,
    concurrent_failures_each_count_and_open_it_once,
);
