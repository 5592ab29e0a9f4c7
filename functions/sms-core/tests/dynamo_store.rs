//! The DynamoDB adapter against moto (real AWS SDK calls, no mocks), and the in-memory
//! adapter against the same scenarios, so both provably follow the same rules.
//!
//! Each scenario in [`scenarios`] is written once over the store traits; `both_adapters!`
//! runs it as `dynamo::<name>` (a fresh moto table) and `memory::<name>` (a fresh
//! `MemoryStore`). Checks that need raw DynamoDB access (the item layout, TTL, items written
//! by someone else) are in [`dynamo_only`].
//!
//! Needs moto: run through `make test` or `infra/tests/with-moto.sh cargo test`.

use chrono::{DateTime, Duration, Utc};
use sms_core::domain::ids::JobId;
use sms_core::{
    Encoding, PhoneNumber,
    store::{
        AcceptedMessage, ChangeOutcome, DynamoStore, IdempotencyStore, KeyClaim, MessageStatus,
        MessageStore, SeenOnce, Sighting, StoredResponse, SuppressionChange, SuppressionList,
        SuppressionSource,
    },
};

fn number(raw: &str) -> PhoneNumber {
    PhoneNumber::parse(raw).unwrap()
}

fn unique_id(prefix: &str) -> String {
    sms_test_support::unique(prefix)
}

/// The job of [`single`]'s message.
const SINGLE_JOB: &str = "9a7d6c1e-0000-4000-8000-000000000007";

/// A single send's message: every optional field set.
fn single(uuid: &str) -> AcceptedMessage {
    AcceptedMessage {
        message_uuid: uuid.to_owned(),
        to: Some(number("+14155550123")),
        from: number("+14155550100").into(),
        job_id: Some(JobId::parse(SINGLE_JOB).unwrap()),
        reference: Some("order-42".into()),
        encoding: Encoding::Ucs2,
        segments: 3,
        provider: sms_core::domain::provider::Provider::Plivo,
    }
}

/// A bulk message as the sender records it: recipient unknown until the delivery report.
fn bulk(uuid: &str, job: &JobId) -> AcceptedMessage {
    AcceptedMessage {
        message_uuid: uuid.to_owned(),
        to: None,
        from: number("+14155550100").into(),
        job_id: Some(job.clone()),
        reference: None,
        encoding: Encoding::Gsm7,
        segments: 1,
        provider: sms_core::domain::provider::Provider::Plivo,
    }
}

/// The owner token of the request that claims a key in the scenarios.
const OWNER: &str = "owner-1";

/// The behaviour every adapter must have, written once over the store traits.
mod scenarios {
    use super::*;

    pub async fn records_an_accepted_message_as_queued_and_reads_it_back<S: MessageStore>(
        store: &S,
    ) {
        // Arrange
        let uuid = unique_id("msg");
        let now = Utc::now();

        // Act
        store.record_accepted(&[single(&uuid)], now).await.unwrap();
        let record = store
            .get_message(&uuid)
            .await
            .unwrap()
            .expect("the message was recorded");

        // Assert
        assert_eq!(record.message_uuid, uuid);
        assert_eq!(record.status, MessageStatus::Queued);
        assert_eq!(record.to.as_ref().map(|n| n.as_str()), Some("+14155550123"));
        assert_eq!(record.from, Some(number("+14155550100").into()));
        assert_eq!(record.job_id.as_ref().map(|j| j.as_str()), Some(SINGLE_JOB));
        assert_eq!(record.reference.as_deref(), Some("order-42"));
        assert_eq!(record.encoding.as_deref(), Some("UCS-2"));
        assert_eq!(record.segments, Some(3));
        assert_eq!(record.sequence, None);
        assert_eq!(record.error_code, None);
        assert_eq!(record.units, None);
        assert_eq!(record.amount, None);
        assert_eq!(record.created_at, now);
        assert_eq!(record.updated_at, now);
    }

    pub async fn an_unknown_message_is_none<S: MessageStore>(store: &S) {
        assert_eq!(store.get_message(&unique_id("nobody")).await.unwrap(), None);
    }

    pub async fn records_a_bulk_batch_without_recipients<S: MessageStore>(store: &S) {
        // Arrange: more than one DynamoDB batch write (25 items) worth of messages.
        let job = JobId::random();
        let messages: Vec<_> = (0..60)
            .map(|i| bulk(&format!("{job}-m{i}"), &job))
            .collect();
        let now = Utc::now();

        // Act
        store.record_accepted(&messages, now).await.unwrap();

        // Assert
        for m in &messages {
            let record = store
                .get_message(&m.message_uuid)
                .await
                .unwrap()
                .expect("recorded");
            assert_eq!(record.status, MessageStatus::Queued);
            assert_eq!(record.to, None);
            assert_eq!(
                record.job_id.as_ref().map(|j| j.as_str()),
                Some(job.as_str())
            );
            assert_eq!(record.reference, None);
            assert_eq!(record.encoding.as_deref(), Some("GSM-7"));
            assert_eq!(record.segments, Some(1));
        }
    }

    pub async fn recording_nothing_is_fine<S: MessageStore>(store: &S) {
        store.record_accepted(&[], Utc::now()).await.unwrap();
    }

    pub async fn recording_the_same_message_again_keeps_one_queued_record<S: MessageStore>(
        store: &S,
    ) {
        let uuid = unique_id("msg");
        let now = Utc::now();
        store.record_accepted(&[single(&uuid)], now).await.unwrap();

        store
            .record_accepted(&[single(&uuid)], now + Duration::seconds(5))
            .await
            .unwrap();

        let record = store.get_message(&uuid).await.unwrap().unwrap();
        assert_eq!(record.status, MessageStatus::Queued);
        assert_eq!(record.to.as_ref().map(|n| n.as_str()), Some("+14155550123"));
        assert_eq!(record.segments, Some(3));
    }

    pub async fn idempotency_claims_a_free_key_then_reports_it_in_progress<S: IdempotencyStore>(
        store: &S,
    ) {
        // Arrange
        let key = unique_id("idem");
        let now = Utc::now();

        // Act
        let first = store.claim_key(&key, "hash-a", OWNER, now).await.unwrap();
        let again = store
            .claim_key(&key, "hash-a", OWNER, now + Duration::seconds(1))
            .await
            .unwrap();

        // Assert
        assert_eq!(first, KeyClaim::Claimed);
        assert_eq!(again, KeyClaim::InProgress { started_at: now });
    }

    pub async fn idempotency_a_different_request_under_the_same_key_is_a_mismatch<
        S: IdempotencyStore,
    >(
        store: &S,
    ) {
        let key = unique_id("idem");
        let now = Utc::now();
        assert_eq!(
            store.claim_key(&key, "hash-a", OWNER, now).await.unwrap(),
            KeyClaim::Claimed
        );

        let other = store.claim_key(&key, "hash-b", OWNER, now).await.unwrap();

        assert_eq!(other, KeyClaim::Mismatch);
    }

    pub async fn idempotency_a_completed_request_replays_its_response<S: IdempotencyStore>(
        store: &S,
    ) {
        // Arrange
        let key = unique_id("idem");
        let now = Utc::now();
        let response = StoredResponse {
            status: 202,
            body: r#"{"message_uuid":"u-1","to":"+14155550123","status":"queued","note":"é ✓"}"#
                .into(),
            // A scheduled message's answer names its job; the replay must name it too.
            location: Some("/v1/bulk/0b0c6e5a-3f1d-4a8e-9c2b-7d4e5f6a7b8c".into()),
        };
        assert_eq!(
            store.claim_key(&key, "hash-a", OWNER, now).await.unwrap(),
            KeyClaim::Claimed
        );
        store
            .finish_key(&key, "hash-a", OWNER, &response, now)
            .await
            .unwrap();

        // Act
        let replay = store
            .claim_key(&key, "hash-a", OWNER, now + Duration::hours(1))
            .await
            .unwrap();
        let mismatch = store
            .claim_key(&key, "hash-b", OWNER, now + Duration::hours(1))
            .await
            .unwrap();

        // Assert
        assert_eq!(replay, KeyClaim::Replay(response));
        assert_eq!(mismatch, KeyClaim::Mismatch);
    }

    pub async fn idempotency_release_frees_an_in_progress_key_only<S: IdempotencyStore>(store: &S) {
        // Arrange
        let now = Utc::now();
        let in_progress = unique_id("idem");
        let completed = unique_id("idem");
        let response = StoredResponse {
            status: 202,
            body: "{}".into(),
            location: None,
        };
        store
            .claim_key(&in_progress, "hash-a", OWNER, now)
            .await
            .unwrap();
        store
            .claim_key(&completed, "hash-a", OWNER, now)
            .await
            .unwrap();
        store
            .finish_key(&completed, "hash-a", OWNER, &response, now)
            .await
            .unwrap();

        // Act
        store.release_key(&in_progress, OWNER).await.unwrap();
        store.release_key(&completed, OWNER).await.unwrap();
        store
            .release_key(&unique_id("never-used"), OWNER)
            .await
            .unwrap();

        // Assert
        assert_eq!(
            store
                .claim_key(&in_progress, "hash-b", OWNER, now)
                .await
                .unwrap(),
            KeyClaim::Claimed,
            "a released key is free for any request"
        );
        assert_eq!(
            store
                .claim_key(&completed, "hash-a", OWNER, now)
                .await
                .unwrap(),
            KeyClaim::Replay(response),
            "release must not forget a completed response"
        );
    }

    pub async fn idempotency_records_expire_after_24_hours<S: IdempotencyStore>(store: &S) {
        // Arrange
        let t0 = Utc::now();
        let in_progress = unique_id("idem");
        let completed = unique_id("idem");
        store
            .claim_key(&in_progress, "hash-a", OWNER, t0)
            .await
            .unwrap();
        store
            .claim_key(&completed, "hash-a", OWNER, t0)
            .await
            .unwrap();
        store
            .finish_key(
                &completed,
                "hash-a",
                OWNER,
                &StoredResponse {
                    status: 202,
                    body: "{}".into(),
                    location: None,
                },
                t0,
            )
            .await
            .unwrap();

        // Act: just inside, then past, the 24-hour window.
        let inside = store
            .claim_key(&completed, "hash-b", OWNER, t0 + Duration::hours(23))
            .await
            .unwrap();
        let later = t0 + Duration::hours(25);
        let expired_in_progress = store
            .claim_key(&in_progress, "hash-b", OWNER, later)
            .await
            .unwrap();
        let expired_completed = store
            .claim_key(&completed, "hash-b", OWNER, later)
            .await
            .unwrap();

        // Assert
        assert_eq!(inside, KeyClaim::Mismatch);
        assert_eq!(expired_in_progress, KeyClaim::Claimed);
        assert_eq!(expired_completed, KeyClaim::Claimed);
        assert_eq!(
            store
                .claim_key(&completed, "hash-b", OWNER, later)
                .await
                .unwrap(),
            KeyClaim::InProgress { started_at: later },
            "the new request owns the key now"
        );
    }

    pub async fn idempotency_a_stale_claim_is_taken_over_by_one_request_only<
        S: IdempotencyStore,
    >(
        store: &S,
    ) {
        // Arrange: a first attempt claimed the key and died; a minute later two retries both
        // read its stale record.
        let key = unique_id("idem");
        let t0 = Utc::now() - Duration::minutes(5);
        let t1 = t0 + Duration::seconds(61);
        let response = |body: &str| StoredResponse {
            status: 202,
            body: body.into(),
            location: None,
        };
        assert_eq!(
            store.claim_key(&key, "hash-a", "first", t0).await.unwrap(),
            KeyClaim::Claimed
        );
        for retry in ["retry-1", "retry-2"] {
            assert_eq!(
                store.claim_key(&key, "hash-a", retry, t1).await.unwrap(),
                KeyClaim::InProgress { started_at: t0 }
            );
        }

        // Act: both try to take it over.
        let first_wins = store
            .take_over_key(&key, "hash-a", t0, "retry-1", t1)
            .await
            .unwrap();
        let second_wins = store
            .take_over_key(&key, "hash-a", t0, "retry-2", t1)
            .await
            .unwrap();

        // Assert: one winner. Neither the loser nor the first attempt can free the key or
        // store an answer; the winner can.
        assert!(first_wins);
        assert!(!second_wins, "the record changed since it was read");
        store.release_key(&key, "retry-2").await.unwrap();
        store.release_key(&key, "first").await.unwrap();
        assert!(
            !store
                .finish_key(&key, "hash-a", "first", &response("late"), t1)
                .await
                .unwrap()
        );
        assert!(
            !store
                .finish_key(&key, "hash-a", "retry-2", &response("loser"), t1)
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .claim_key(&key, "hash-a", "retry-3", t1)
                .await
                .unwrap(),
            KeyClaim::InProgress { started_at: t1 },
            "still the winner's claim"
        );
        assert!(
            store
                .finish_key(&key, "hash-a", "retry-1", &response("winner"), t1)
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .claim_key(&key, "hash-a", "retry-3", t1)
                .await
                .unwrap(),
            KeyClaim::Replay(response("winner"))
        );
        assert!(
            !store
                .take_over_key(&key, "hash-a", t1, "retry-3", t1 + Duration::minutes(2))
                .await
                .unwrap(),
            "a completed record is never taken over"
        );
    }

    pub async fn idempotency_a_stale_claim_of_another_request_is_not_taken_over<
        S: IdempotencyStore,
    >(
        store: &S,
    ) {
        let key = unique_id("idem");
        let t0 = Utc::now() - Duration::minutes(5);
        store.claim_key(&key, "hash-a", "first", t0).await.unwrap();

        let other_body = store
            .take_over_key(&key, "hash-b", t0, "retry", t0 + Duration::seconds(61))
            .await
            .unwrap();
        let nothing_there = store
            .take_over_key(&unique_id("idem"), "hash-a", t0, "retry", t0)
            .await
            .unwrap();

        assert!(!other_body);
        assert!(!nothing_there);
        assert_eq!(
            store.claim_key(&key, "hash-a", "again", t0).await.unwrap(),
            KeyClaim::InProgress { started_at: t0 }
        );
    }

    fn keyword<'a>(
        number: &'a PhoneNumber,
        suppressed: bool,
        at: DateTime<Utc>,
        message_uuid: Option<&'a str>,
    ) -> SuppressionChange<'a> {
        SuppressionChange {
            number,
            suppressed,
            source: SuppressionSource::Keyword,
            at,
            message_uuid,
        }
    }

    pub async fn suppression_adds_checks_and_lifts_numbers<S: SuppressionList>(store: &S) {
        // Arrange
        let now = Utc::now();
        let opted_out = number("+14155550111");
        let other = number("+447700900111");
        assert!(!store.is_suppressed(&opted_out).await.unwrap());

        // Act + Assert
        store
            .suppress(&opted_out, SuppressionSource::Keyword, now)
            .await
            .unwrap();
        assert!(store.is_suppressed(&opted_out).await.unwrap());
        assert!(!store.is_suppressed(&other).await.unwrap());

        // Suppressing again (another source, later) is fine and keeps it suppressed.
        store
            .suppress(
                &opted_out,
                SuppressionSource::PlivoError200,
                now + Duration::seconds(1),
            )
            .await
            .unwrap();
        assert!(store.is_suppressed(&opted_out).await.unwrap());

        // An opt-in is a record too: the number reads as not suppressed, everywhere.
        let start = keyword(&opted_out, false, now + Duration::seconds(2), None);
        assert_eq!(
            store.change(&start, now).await.unwrap(),
            ChangeOutcome::Applied
        );
        assert!(!store.is_suppressed(&opted_out).await.unwrap());
        assert!(
            store
                .suppressed_among(&[opted_out.clone(), other.clone()])
                .await
                .unwrap()
                .is_empty()
        );

        // Lifting a number that is not listed is fine.
        let start_other = keyword(&other, false, now, None);
        assert_eq!(
            store.change(&start_other, now).await.unwrap(),
            ChangeOutcome::Applied
        );
        assert!(!store.is_suppressed(&other).await.unwrap());
    }

    pub async fn an_older_opt_change_never_undoes_a_newer_one<S: SuppressionList>(store: &S) {
        // Arrange: START at t1, STOP at t2, arriving in the order STOP, START.
        let now = Utc::now();
        let n = number("+14155550121");
        let t1 = now - Duration::minutes(10);
        let t2 = now - Duration::minutes(5);
        let stop = keyword(&n, true, t2, Some("stop-uuid"));
        let late_start = keyword(&n, false, t1, Some("start-uuid"));

        // Act
        let stop_outcome = store.change(&stop, now).await.unwrap();
        let start_outcome = store.change(&late_start, now).await.unwrap();
        // Same time as the STOP: not newer, so not applied either.
        let same_time = keyword(&n, false, t2, Some("same-time-uuid"));
        let same_outcome = store.change(&same_time, now).await.unwrap();

        // Assert
        assert_eq!(stop_outcome, ChangeOutcome::Applied);
        assert_eq!(start_outcome, ChangeOutcome::Stale);
        assert_eq!(same_outcome, ChangeOutcome::Stale);
        assert!(store.is_suppressed(&n).await.unwrap());
        assert_eq!(
            store
                .suppressed_among(std::slice::from_ref(&n))
                .await
                .unwrap(),
            [n.clone()].into_iter().collect()
        );
        // A later START still lifts it, and an older STOP then cannot restore it.
        let start = keyword(&n, false, now, Some("new-start-uuid"));
        assert_eq!(
            store.change(&start, now).await.unwrap(),
            ChangeOutcome::Applied
        );
        assert!(!store.is_suppressed(&n).await.unwrap());
        let old_stop = keyword(&n, true, t2 + Duration::seconds(1), Some("old-stop-uuid"));
        assert_eq!(
            store.change(&old_stop, now).await.unwrap(),
            ChangeOutcome::Stale
        );
        assert!(!store.is_suppressed(&n).await.unwrap());
        // An error 200 as of an earlier time is ordered the same way.
        store
            .suppress(&n, SuppressionSource::PlivoError200, t2)
            .await
            .unwrap();
        assert!(!store.is_suppressed(&n).await.unwrap());
    }

    pub async fn an_inbound_message_is_applied_once<S: SuppressionList + SeenOnce>(store: &S) {
        // Arrange
        let now = Utc::now();
        let n = number("+14155550122");
        let uuid = unique_id("inbound");
        let stop = keyword(&n, true, now - Duration::minutes(2), Some(&uuid));
        let unrelated_start = keyword(&n, false, now - Duration::minutes(1), Some("start-1"));

        // Act: the STOP, a START after it, then the STOP again dated later (a message
        // without a time-based uuid is dated by its arrival, so a replay looks newer).
        let first = store.change(&stop, now).await.unwrap();
        store.change(&unrelated_start, now).await.unwrap();
        let replay = keyword(&n, true, now, Some(&uuid));
        let again = store.change(&replay, now).await.unwrap();

        // Assert: the replay changed nothing; the START stands.
        assert_eq!(first, ChangeOutcome::Applied);
        assert_eq!(again, ChangeOutcome::Duplicate);
        assert!(!store.is_suppressed(&n).await.unwrap());
        assert!(
            !store
                .first_sighting(Sighting::InboundMessage(&uuid), now)
                .await
                .unwrap(),
            "the applied message has its once-record"
        );
        // After the once-record's week it is free again; ordering still refuses the old STOP.
        let later = now + Duration::days(8);
        assert_eq!(
            store.change(&stop, later).await.unwrap(),
            ChangeOutcome::Stale
        );
        assert!(!store.is_suppressed(&n).await.unwrap());
    }

    pub async fn a_stale_inbound_message_leaves_no_once_record<S: SuppressionList + SeenOnce>(
        store: &S,
    ) {
        // Arrange: a STOP on record, then an older START.
        let now = Utc::now();
        let n = number("+14155550123");
        let start_uuid = unique_id("start");
        store
            .change(&keyword(&n, true, now, Some("stop")), now)
            .await
            .unwrap();

        // Act
        let outcome = store
            .change(
                &keyword(&n, false, now - Duration::minutes(1), Some(&start_uuid)),
                now,
            )
            .await
            .unwrap();

        // Assert: both writes or neither.
        assert_eq!(outcome, ChangeOutcome::Stale);
        assert!(
            store
                .first_sighting(Sighting::InboundMessage(&start_uuid), now)
                .await
                .unwrap()
        );
    }

    pub async fn a_sighting_is_first_once_until_it_expires<S: SeenOnce>(store: &S) {
        // Arrange
        let now = Utc::now();
        let nonce = unique_id("nonce");

        // Act
        let first = store
            .first_sighting(Sighting::SignatureNonce(&nonce), now)
            .await
            .unwrap();
        let second = store
            .first_sighting(Sighting::SignatureNonce(&nonce), now + Duration::hours(23))
            .await
            .unwrap();
        // The same text as another kind of record is a different record.
        let other_kind = store
            .first_sighting(Sighting::InboundMessage(&nonce), now)
            .await
            .unwrap();
        let after_a_day = store
            .first_sighting(
                Sighting::SignatureNonce(&nonce),
                now + Duration::days(1) + Duration::seconds(2),
            )
            .await
            .unwrap();

        // Assert
        assert!(first);
        assert!(!second);
        assert!(other_kind);
        assert!(after_a_day, "an expired record counts as free");
    }

    pub async fn concurrent_sightings_have_exactly_one_first<S: SeenOnce>(store: &S) {
        let now = Utc::now();
        let nonce = unique_id("race");
        let results = futures::future::join_all(
            (0..8).map(|_| store.first_sighting(Sighting::SignatureNonce(&nonce), now)),
        )
        .await;
        let firsts = results.into_iter().filter(|r| *r.as_ref().unwrap()).count();
        assert_eq!(firsts, 1);
    }

    pub async fn suppression_finds_the_suppressed_among_many<S: SuppressionList>(store: &S) {
        // Arrange: more numbers than one DynamoDB BatchGetItem (100 keys) reads.
        let now = Utc::now();
        let numbers: Vec<PhoneNumber> = (0..250)
            .map(|i| number(&format!("+1415555{i:04}")))
            .collect();
        let suppressed = [&numbers[3], &numbers[120], &numbers[249]];
        for n in suppressed {
            store
                .suppress(n, SuppressionSource::Api, now)
                .await
                .unwrap();
        }

        // Act
        let found = store.suppressed_among(&numbers).await.unwrap();
        let none = store.suppressed_among(&[]).await.unwrap();

        // Assert
        assert_eq!(found, suppressed.into_iter().cloned().collect());
        assert!(none.is_empty());
    }

    pub async fn suppression_among_a_list_with_repeats_is_fine<S: SuppressionList>(store: &S) {
        // Arrange: the same number twice (DynamoDB's BatchGetItem refuses repeated keys).
        let opted_out = number("+14155550111");
        let other = number("+14155550112");
        store
            .suppress(&opted_out, SuppressionSource::Keyword, Utc::now())
            .await
            .unwrap();

        // Act
        let found = store
            .suppressed_among(&[opted_out.clone(), other.clone(), opted_out.clone(), other])
            .await
            .unwrap();

        // Assert
        assert_eq!(found, [opted_out].into_iter().collect());
    }
}

sms_test_support::both_adapters!(
    crate::scenarios;
    records_an_accepted_message_as_queued_and_reads_it_back,
    an_unknown_message_is_none,
    records_a_bulk_batch_without_recipients,
    recording_nothing_is_fine,
    recording_the_same_message_again_keeps_one_queued_record,
    idempotency_claims_a_free_key_then_reports_it_in_progress,
    idempotency_a_different_request_under_the_same_key_is_a_mismatch,
    idempotency_a_completed_request_replays_its_response,
    idempotency_release_frees_an_in_progress_key_only,
    idempotency_records_expire_after_24_hours,
    idempotency_a_stale_claim_is_taken_over_by_one_request_only,
    idempotency_a_stale_claim_of_another_request_is_not_taken_over,
    suppression_adds_checks_and_lifts_numbers,
    suppression_finds_the_suppressed_among_many,
    suppression_among_a_list_with_repeats_is_fine,
    an_older_opt_change_never_undoes_a_newer_one,
    an_inbound_message_is_applied_once,
    a_stale_inbound_message_leaves_no_once_record,
    a_sighting_is_first_once_until_it_expires,
    concurrent_sightings_have_exactly_one_first,
);

/// Checks that need raw DynamoDB access: the table, the item layout (docs/architecture.md,
/// "The table"), and items written by someone else (a delivery report, an expired record).
mod dynamo_only {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::{
        AttributeValue, BillingMode, KeyType, ScalarAttributeType, TimeToLiveStatus,
    };

    use super::*;

    type Item = HashMap<String, AttributeValue>;

    fn s(v: impl Into<String>) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    fn n(v: i64) -> AttributeValue {
        AttributeValue::N(v.to_string())
    }

    async fn put(store: &DynamoStore, item: Item) {
        store
            .client()
            .put_item()
            .table_name(store.table())
            .set_item(Some(item))
            .send()
            .await
            .expect("raw PutItem");
    }

    async fn get(store: &DynamoStore, pk: &str, sk: &str) -> Option<Item> {
        store
            .client()
            .get_item()
            .table_name(store.table())
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .expect("raw GetItem")
            .item
    }

    #[tokio::test]
    async fn create_table_makes_the_design_table_with_ttl_and_is_idempotent() {
        // Arrange: the fixture created the table once already.
        let (client, table) = sms_test_support::table().await;

        // Act
        sms_core::store::schema::create_table(&client, &table)
            .await
            .expect("creating an existing table again is fine");

        // Assert
        let described = client
            .describe_table()
            .table_name(&table)
            .send()
            .await
            .unwrap();
        let t = described.table().unwrap();
        let keys: Vec<_> = t
            .key_schema()
            .iter()
            .map(|k| (k.attribute_name().to_owned(), k.key_type().clone()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("pk".to_owned(), KeyType::Hash),
                ("sk".to_owned(), KeyType::Range)
            ]
        );
        for a in t.attribute_definitions() {
            assert_eq!(
                a.attribute_type(),
                &ScalarAttributeType::S,
                "{}",
                a.attribute_name()
            );
        }
        assert_eq!(
            t.billing_mode_summary().and_then(|b| b.billing_mode()),
            Some(&BillingMode::PayPerRequest)
        );
        let ttl = client
            .describe_time_to_live()
            .table_name(&table)
            .send()
            .await
            .unwrap();
        let ttl = ttl.time_to_live_description().unwrap();
        assert_eq!(ttl.attribute_name(), Some("expires_at"));
        assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    }

    #[tokio::test]
    async fn a_message_item_has_the_design_key_and_a_numeric_ttl() {
        // Arrange
        let store = sms_test_support::dynamo_store().await;
        let uuid = unique_id("msg");
        let now = Utc::now();

        // Act
        store.record_accepted(&[single(&uuid)], now).await.unwrap();

        // Assert
        let item = get(&store, &format!("MSG#{uuid}"), "MSG")
            .await
            .expect("the MSG item");
        let expires_at: i64 = item["expires_at"]
            .as_n()
            .expect("expires_at must be a Number for DynamoDB's TTL")
            .parse()
            .unwrap();
        let days = (DateTime::from_timestamp(expires_at, 0).unwrap() - now).num_days();
        assert!((89..=90).contains(&days), "message kept for {days} days");
    }

    #[tokio::test]
    async fn a_delivery_report_that_arrived_first_is_not_moved_back_to_queued() {
        // Arrange: the report's write, as the status callback makes it, before the sender's.
        let store = sms_test_support::dynamo_store().await;
        let uuid = unique_id("msg");
        let now = Utc::now();
        put(
            &store,
            HashMap::from([
                ("pk".to_owned(), s(format!("MSG#{uuid}"))),
                ("sk".to_owned(), s("STATUS")),
                ("status".to_owned(), s("delivered")),
                ("sequence".to_owned(), n(2)),
                ("updated_at".to_owned(), s(now.to_rfc3339())),
            ]),
        )
        .await;

        // Act
        store
            .record_accepted(&[single(&uuid)], now + Duration::seconds(1))
            .await
            .unwrap();

        // Assert
        let record = store.get_message(&uuid).await.unwrap().unwrap();
        assert_eq!(record.status, MessageStatus::Delivered);
        assert_eq!(record.sequence, Some(2));
        // The sender's facts are there too.
        assert_eq!(record.to.as_ref().map(|n| n.as_str()), Some("+14155550123"));
        assert_eq!(record.reference.as_deref(), Some("order-42"));
        assert_eq!(record.segments, Some(3));
    }

    #[tokio::test]
    async fn a_counter_shard_expires_with_the_job_and_counts_what_its_batch_saw() {
        use sms_core::store::{BatchRef, DeliveryReport, ReportStore};
        use sms_test_support::SettleCounts;
        // Arrange
        let store = sms_test_support::dynamo_store().await;
        let job = JobId::random();
        let uuid = unique_id("msg");
        let now = Utc::now();
        let report = DeliveryReport {
            sequence: Some(3),
            ..DeliveryReport::new(uuid.clone(), MessageStatus::Delivered)
        };
        let batch = BatchRef {
            job_id: job.clone(),
            batch: 4,
        };

        // Act: the report, then its change counted from the table's stream.
        store
            .apply_report(&report, Some(&batch), now)
            .await
            .unwrap();
        store.settle_counts().await;

        // Assert
        let shards = store
            .client()
            .query()
            .table_name(store.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :count)")
            .expression_attribute_values(":pk", s(format!("JOB#{job}")))
            .expression_attribute_values(":count", s("COUNT#"))
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default();
        let [item] = shards.as_slice() else {
            panic!("one counter shard, not {shards:?}");
        };
        let expires_at: i64 = item["expires_at"]
            .as_n()
            .expect("expires_at must be a Number for DynamoDB's TTL")
            .parse()
            .unwrap();
        let days = (DateTime::from_timestamp(expires_at, 0).unwrap() - now).num_days();
        assert!((89..=90).contains(&days), "counter kept for {days} days");
        assert_eq!(item["delivered"].as_n().unwrap(), "1");
        assert_eq!(item["seen_4"].as_n().unwrap(), "1");
    }

    #[tokio::test]
    async fn an_idempotency_record_past_its_expiry_counts_as_free() {
        // Arrange: DynamoDB deletes expired items lazily (up to days later), so the item may
        // still be there: one in progress, one completed, both expired a minute ago.
        let store = sms_test_support::dynamo_store().await;
        let now = Utc::now();
        let expired = (now - Duration::minutes(1)).timestamp();
        let in_progress = unique_id("idem");
        let completed = unique_id("idem");
        put(
            &store,
            HashMap::from([
                ("pk".to_owned(), s(format!("IDEM#{in_progress}"))),
                ("sk".to_owned(), s("IDEM")),
                ("request_hash".to_owned(), s("old-hash")),
                ("state".to_owned(), s("in_progress")),
                (
                    "started_at".to_owned(),
                    s((now - Duration::hours(25)).to_rfc3339()),
                ),
                ("expires_at".to_owned(), n(expired)),
            ]),
        )
        .await;
        put(
            &store,
            HashMap::from([
                ("pk".to_owned(), s(format!("IDEM#{completed}"))),
                ("sk".to_owned(), s("IDEM")),
                ("request_hash".to_owned(), s("new-hash")),
                ("state".to_owned(), s("complete")),
                ("response_status".to_owned(), n(202)),
                ("response_body".to_owned(), s("{}")),
                ("expires_at".to_owned(), n(expired)),
            ]),
        )
        .await;

        // Act
        let a = store
            .claim_key(&in_progress, "new-hash", OWNER, now)
            .await
            .unwrap();
        let b = store
            .claim_key(&completed, "new-hash", OWNER, now)
            .await
            .unwrap();

        // Assert
        assert_eq!(a, KeyClaim::Claimed);
        assert_eq!(b, KeyClaim::Claimed, "an expired response is not replayed");
        let item = get(&store, &format!("IDEM#{in_progress}"), "IDEM")
            .await
            .unwrap();
        assert_eq!(item["request_hash"].as_s().unwrap(), "new-hash");
        let ttl: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
        assert_eq!(ttl, (now + Duration::hours(24)).timestamp());
    }

    #[tokio::test]
    async fn a_suppression_item_records_its_source() {
        let store = sms_test_support::dynamo_store().await;
        let opted_out = number("+14155550111");

        store
            .suppress(&opted_out, SuppressionSource::PlivoError200, Utc::now())
            .await
            .unwrap();

        let item = get(&store, "OPTOUT#+14155550111", "OPTOUT")
            .await
            .expect("the OPTOUT item");
        assert_eq!(item["source"].as_s().unwrap(), "plivo_error_200");
    }

    #[tokio::test]
    async fn an_opt_change_item_keeps_its_state_time_and_message() {
        let store = sms_test_support::dynamo_store().await;
        let n = number("+14155550131");
        let now = Utc::now();
        let at = now - Duration::seconds(30);
        let start = SuppressionChange {
            number: &n,
            suppressed: false,
            source: SuppressionSource::Keyword,
            at,
            message_uuid: Some("u-start"),
        };

        store.change(&start, now).await.unwrap();

        let item = get(&store, "OPTOUT#+14155550131", "OPTOUT")
            .await
            .expect("an opt-in is kept as a record");
        assert_eq!(item["suppressed"].as_bool().unwrap(), &false);
        assert_eq!(item["changed_by"].as_s().unwrap(), "u-start");
        let changed_at: i64 = item["changed_at"].as_n().unwrap().parse().unwrap();
        assert_eq!(changed_at, at.timestamp_micros());
        let seen = get(&store, "INBOUND#u-start", "SEEN")
            .await
            .expect("once-record");
        let ttl: i64 = seen["expires_at"].as_n().unwrap().parse().unwrap();
        assert_eq!(ttl, (now + Duration::days(7)).timestamp());
    }

    #[tokio::test]
    async fn a_suppression_item_from_before_ordering_still_suppresses_until_a_change() {
        // Arrange: an item as the adapter wrote it before opt-ins became records.
        let store = sms_test_support::dynamo_store().await;
        let n = number("+14155550132");
        put(
            &store,
            HashMap::from([
                ("pk".to_owned(), s("OPTOUT#+14155550132")),
                ("sk".to_owned(), s("OPTOUT")),
                ("number".to_owned(), s("+14155550132")),
                ("source".to_owned(), s("keyword")),
                ("suppressed_at".to_owned(), s("2026-01-01T00:00:00+00:00")),
            ]),
        )
        .await;
        assert!(store.is_suppressed(&n).await.unwrap());
        assert_eq!(
            store
                .suppressed_among(std::slice::from_ref(&n))
                .await
                .unwrap()
                .len(),
            1
        );

        // Act: any dated change is newer than an undated item.
        let start = SuppressionChange {
            number: &n,
            suppressed: false,
            source: SuppressionSource::Keyword,
            at: Utc::now(),
            message_uuid: None,
        };
        let outcome = store.change(&start, Utc::now()).await.unwrap();

        // Assert
        assert_eq!(outcome, ChangeOutcome::Applied);
        assert!(!store.is_suppressed(&n).await.unwrap());
    }

    #[tokio::test]
    async fn a_missing_table_is_a_backend_error_naming_the_operation() {
        let (client, _) = sms_test_support::table().await;
        let store = DynamoStore::new(client, unique_id("no-such-table"));

        let err = store.get_message("u-1").await.unwrap_err();

        assert!(
            matches!(err, sms_core::store::StoreError::Backend { .. }),
            "{err:?}"
        );
    }
}
