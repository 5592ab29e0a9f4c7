//! Results files (`store::results`) and the ledger pages they are built from
//! (`JobStore::ledger_range`): every scenario runs against the DynamoDB adapter in moto and
//! against the in-memory adapter, so both follow the same rules.
//!
//! Times are whole milliseconds: DynamoDB keeps a lease as epoch millis.
//!
//! Needs moto: run through `make test` or `infra/tests/with-moto.sh cargo test`.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use futures::{StreamExt, TryStreamExt, future::join_all, stream};
use sms_core::{
    MessageText, PhoneNumber,
    domain::{ids::JobId, text::Encoding},
    store::{
        AcceptedMessage, BatchClaim, BatchLedger, BatchRef, BatchState, CreateJob, DeliveryReport,
        IntakeCounts, JobSpec, JobStore, LedgerEntry, MessageStatus, MessageStore, ReportEffect,
        ReportStore, ReportedStatus, ResultsCheckpoint, ResultsClaim, ResultsEnd, ResultsRecord,
        ResultsRequest, ResultsState, ResultsStore,
    },
};

fn number(i: usize) -> PhoneNumber {
    PhoneNumber::parse(&format!("+1415{i:07}")).unwrap()
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

fn message_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A generation as a request at `at` starts it: building, unclaimed, from the first batch.
fn fresh(job_id: &JobId, generation: u32, at: DateTime<Utc>) -> ResultsRecord {
    ResultsRecord {
        job_id: job_id.clone(),
        generation,
        state: ResultsState::Building,
        checkpoint: ResultsCheckpoint::default(),
        attempts: 0,
        lease_until: None,
        error: None,
        requested_at: at,
        updated_at: at,
    }
}

fn checkpoint(next_batch: u32, upload: Option<&str>) -> ResultsCheckpoint {
    ResultsCheckpoint {
        next_batch,
        // Beyond u32: a count of rows is a u64 in both adapters.
        rows: 5_000_000_000 + u64::from(next_batch) * 500,
        parts: next_batch / 2 + 1,
        upload: upload.map(str::to_owned),
    }
}

fn claimed(claim: ResultsClaim) -> (u32, ResultsRecord) {
    match claim {
        ResultsClaim::Claimed { attempt, record } => (attempt, *record),
        other => panic!("expected a claim, got {other:?}"),
    }
}

pub async fn a_request_starts_a_generation_unless_one_is_building<S: ResultsStore>(store: &S) {
    let job = JobId::random();
    let t0 = now();
    assert_eq!(store.get_results(&job).await.unwrap(), None);

    let first = fresh(&job, 1, t0);
    assert_eq!(
        store.request_results(&job, t0).await.unwrap(),
        ResultsRequest::Started(first.clone())
    );
    assert_eq!(store.get_results(&job).await.unwrap(), Some(first.clone()));

    // A second request while it builds is answered with the build, and changes nothing.
    let t1 = t0 + Duration::seconds(5);
    assert_eq!(
        store.request_results(&job, t1).await.unwrap(),
        ResultsRequest::Building(first.clone())
    );
    assert_eq!(store.get_results(&job).await.unwrap(), Some(first.clone()));

    // Claimed, it is still the same build: the answer shows the claim.
    let lease = t1 + Duration::minutes(5);
    let (attempt, record) = claimed(store.claim_results(&job, 1, lease, t1).await.unwrap());
    assert_eq!(attempt, 1);
    let held = ResultsRecord {
        attempts: 1,
        lease_until: Some(lease),
        updated_at: t1,
        ..first.clone()
    };
    assert_eq!(record, held);
    let t2 = t1 + Duration::seconds(5);
    assert_eq!(
        store.request_results(&job, t2).await.unwrap(),
        ResultsRequest::Building(held.clone())
    );
    assert_eq!(store.get_results(&job).await.unwrap(), Some(held));

    // Another job's request starts its own first generation.
    let other = JobId::random();
    assert_eq!(
        store.request_results(&other, t2).await.unwrap(),
        ResultsRequest::Started(fresh(&other, 1, t2))
    );
}

pub async fn one_claim_holds_a_build_until_its_lease_ends<S: ResultsStore>(store: &S) {
    let job = JobId::random();
    let t0 = now();
    assert_eq!(
        store
            .claim_results(&job, 1, t0 + Duration::minutes(5), t0)
            .await
            .unwrap(),
        ResultsClaim::Missing
    );
    store.request_results(&job, t0).await.unwrap();

    let lease = t0 + Duration::minutes(5);
    let (first, record) = claimed(store.claim_results(&job, 1, lease, t0).await.unwrap());
    assert_eq!(first, 1);
    let held = ResultsRecord {
        attempts: 1,
        lease_until: Some(lease),
        ..fresh(&job, 1, t0)
    };
    assert_eq!(record, held);
    assert_eq!(store.get_results(&job).await.unwrap(), Some(held.clone()));

    // While the lease is live, no other claim gets it.
    let t1 = t0 + Duration::minutes(1);
    assert_eq!(
        store
            .claim_results(&job, 1, t1 + Duration::minutes(5), t1)
            .await
            .unwrap(),
        ResultsClaim::Busy { lease_until: lease }
    );
    assert_eq!(store.get_results(&job).await.unwrap(), Some(held.clone()));
    // A generation that is not the one building has nothing to claim.
    assert_eq!(
        store
            .claim_results(&job, 2, t1 + Duration::minutes(5), t1)
            .await
            .unwrap(),
        ResultsClaim::Ended
    );
    assert_eq!(store.get_results(&job).await.unwrap(), Some(held));

    // The first claim saves where it got to, then dies; after its lease a second claim
    // resumes from there, and the first can no longer write.
    assert!(
        store
            .save_results_checkpoint(&job, 1, first, &checkpoint(4, Some("up-1")), lease, t1)
            .await
            .unwrap()
    );
    let later = lease + Duration::seconds(1);
    let second_lease = later + Duration::minutes(5);
    let (second, resumed) = claimed(
        store
            .claim_results(&job, 1, second_lease, later)
            .await
            .unwrap(),
    );
    assert_eq!(second, 2);
    let resumed_expected = ResultsRecord {
        checkpoint: checkpoint(4, Some("up-1")),
        attempts: 2,
        lease_until: Some(second_lease),
        updated_at: later,
        ..fresh(&job, 1, t0)
    };
    assert_eq!(resumed, resumed_expected);

    let t2 = later + Duration::seconds(10);
    assert!(
        !store
            .save_results_checkpoint(
                &job,
                1,
                first,
                &checkpoint(9, Some("up-stale")),
                t2 + Duration::minutes(5),
                t2,
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .end_results(&job, 1, first, &ResultsEnd::Ready, &checkpoint(9, None), t2)
            .await
            .unwrap()
    );
    assert!(
        !store
            .end_results(
                &job,
                1,
                first,
                &ResultsEnd::Failed {
                    reason: "stale".into()
                },
                &checkpoint(9, None),
                t2
            )
            .await
            .unwrap()
    );
    // A claim number never given is not the holder either, nor is the right one of
    // another generation.
    assert!(
        !store
            .save_results_checkpoint(&job, 1, 3, &checkpoint(9, None), t2, t2)
            .await
            .unwrap()
    );
    assert!(
        !store
            .save_results_checkpoint(&job, 2, second, &checkpoint(9, None), t2, t2)
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_results(&job).await.unwrap(),
        Some(resumed_expected.clone()),
        "the stale claim changed nothing"
    );

    // The second claim still holds it.
    assert!(
        store
            .save_results_checkpoint(
                &job,
                1,
                second,
                &checkpoint(6, Some("up-1")),
                t2 + Duration::minutes(5),
                t2,
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_results(&job).await.unwrap(),
        Some(ResultsRecord {
            checkpoint: checkpoint(6, Some("up-1")),
            lease_until: Some(t2 + Duration::minutes(5)),
            updated_at: t2,
            ..resumed_expected
        })
    );
}

pub async fn a_checkpoint_reads_back_as_saved<S: ResultsStore>(store: &S) {
    let job = JobId::random();
    let t0 = now();
    store.request_results(&job, t0).await.unwrap();
    let (attempt, _) = claimed(
        store
            .claim_results(&job, 1, t0 + Duration::minutes(5), t0)
            .await
            .unwrap(),
    );

    let with_upload = ResultsCheckpoint {
        next_batch: 7,
        rows: 5_000_000_123,
        parts: 3,
        upload: Some("2~upload-id.with/odd+chars=".into()),
    };
    let t1 = t0 + Duration::milliseconds(30_123);
    let lease = t1 + Duration::milliseconds(300_007);
    assert!(
        store
            .save_results_checkpoint(&job, 1, attempt, &with_upload, lease, t1)
            .await
            .unwrap()
    );
    let saved = ResultsRecord {
        checkpoint: with_upload,
        attempts: 1,
        lease_until: Some(lease),
        updated_at: t1,
        ..fresh(&job, 1, t0)
    };
    assert_eq!(store.get_results(&job).await.unwrap(), Some(saved.clone()));

    // A checkpoint without an upload removes the one saved before.
    let without_upload = ResultsCheckpoint {
        next_batch: 9,
        rows: 5_000_001_000,
        parts: 4,
        upload: None,
    };
    let t2 = t1 + Duration::seconds(20);
    let lease2 = t2 + Duration::minutes(5);
    assert!(
        store
            .save_results_checkpoint(&job, 1, attempt, &without_upload, lease2, t2)
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_results(&job).await.unwrap(),
        Some(ResultsRecord {
            checkpoint: without_upload,
            lease_until: Some(lease2),
            updated_at: t2,
            ..saved
        })
    );
}

pub async fn an_ended_build_is_replaced_by_the_next_request<S: ResultsStore>(store: &S) {
    let job = JobId::random();
    let t0 = now();
    store.request_results(&job, t0).await.unwrap();
    let (attempt, _) = claimed(
        store
            .claim_results(&job, 1, t0 + Duration::minutes(5), t0)
            .await
            .unwrap(),
    );
    let done = checkpoint(12, Some("up-ready"));
    let t1 = t0 + Duration::seconds(40);
    assert!(
        store
            .end_results(&job, 1, attempt, &ResultsEnd::Ready, &done, t1)
            .await
            .unwrap()
    );
    let ready = ResultsRecord {
        state: ResultsState::Ready,
        checkpoint: done.clone(),
        attempts: 1,
        lease_until: None,
        updated_at: t1,
        ..fresh(&job, 1, t0)
    };
    assert_eq!(store.get_results(&job).await.unwrap(), Some(ready.clone()));

    // An ended build takes no more writes and no claim.
    let t2 = t1 + Duration::seconds(1);
    assert!(
        !store
            .save_results_checkpoint(&job, 1, attempt, &checkpoint(13, None), t2, t2)
            .await
            .unwrap()
    );
    assert!(
        !store
            .end_results(
                &job,
                1,
                attempt,
                &ResultsEnd::Failed {
                    reason: "late".into()
                },
                &checkpoint(13, None),
                t2,
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .claim_results(&job, 1, t2 + Duration::minutes(5), t2)
            .await
            .unwrap(),
        ResultsClaim::Ended
    );
    assert_eq!(store.get_results(&job).await.unwrap(), Some(ready));

    // The next request starts generation 2 from nothing: no checkpoint, no upload, no claim.
    let t3 = t2 + Duration::minutes(1);
    let second = fresh(&job, 2, t3);
    assert_eq!(
        store.request_results(&job, t3).await.unwrap(),
        ResultsRequest::Started(second.clone())
    );
    assert_eq!(store.get_results(&job).await.unwrap(), Some(second.clone()));
    assert_eq!(
        store
            .claim_results(&job, 1, t3 + Duration::minutes(5), t3)
            .await
            .unwrap(),
        ResultsClaim::Ended,
        "the old generation is gone"
    );

    let (attempt, record) = claimed(
        store
            .claim_results(&job, 2, t3 + Duration::minutes(5), t3)
            .await
            .unwrap(),
    );
    assert_eq!(attempt, 1, "claims count again from one");
    assert_eq!(record.generation, 2);
    let reason = "the bucket refused part 3";
    let t4 = t3 + Duration::seconds(30);
    assert!(
        store
            .end_results(
                &job,
                2,
                attempt,
                &ResultsEnd::Failed {
                    reason: reason.into()
                },
                &checkpoint(5, Some("up-failed")),
                t4,
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_results(&job).await.unwrap(),
        Some(ResultsRecord {
            state: ResultsState::Failed,
            checkpoint: checkpoint(5, Some("up-failed")),
            attempts: 1,
            lease_until: None,
            error: Some(reason.into()),
            updated_at: t4,
            ..second
        })
    );
    assert_eq!(
        store
            .claim_results(&job, 2, t4 + Duration::minutes(5), t4)
            .await
            .unwrap(),
        ResultsClaim::Ended
    );

    // The next generation forgets the failure.
    let t5 = t4 + Duration::minutes(1);
    assert_eq!(
        store.request_results(&job, t5).await.unwrap(),
        ResultsRequest::Started(fresh(&job, 3, t5))
    );
    assert_eq!(
        store.get_results(&job).await.unwrap(),
        Some(fresh(&job, 3, t5))
    );
}

/// Counts the answers of concurrent requests: (started, building), each checked against the
/// generation they must all name.
fn tally(answers: Vec<ResultsRequest>, expected: &ResultsRecord) -> (usize, usize) {
    let (mut started, mut building) = (0, 0);
    for answer in answers {
        match answer {
            ResultsRequest::Started(r) => {
                started += 1;
                assert_eq!(&r, expected);
            }
            ResultsRequest::Building(r) => {
                building += 1;
                assert_eq!(&r, expected);
            }
        }
    }
    (started, building)
}

pub async fn concurrent_requests_start_one_generation<S: ResultsStore>(store: &S) {
    let job = JobId::random();
    let t0 = now();
    let answers: Vec<_> = join_all((0..8).map(|_| store.request_results(&job, t0)))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(tally(answers, &fresh(&job, 1, t0)), (1, 7));
    assert_eq!(
        store.get_results(&job).await.unwrap(),
        Some(fresh(&job, 1, t0))
    );

    // Once it ended, concurrent requests again start exactly one generation, the next.
    let (attempt, _) = claimed(
        store
            .claim_results(&job, 1, t0 + Duration::minutes(5), t0)
            .await
            .unwrap(),
    );
    assert!(
        store
            .end_results(
                &job,
                1,
                attempt,
                &ResultsEnd::Ready,
                &checkpoint(2, Some("up")),
                t0
            )
            .await
            .unwrap()
    );
    let t1 = t0 + Duration::seconds(10);
    let answers: Vec<_> = join_all((0..8).map(|_| store.request_results(&job, t1)))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(tally(answers, &fresh(&job, 2, t1)), (1, 7));
    assert_eq!(
        store.get_results(&job).await.unwrap(),
        Some(fresh(&job, 2, t1))
    );
}

/// A report of `status` for `uuid` with the facts the results file shows.
fn report(
    uuid: &str,
    status: MessageStatus,
    sequence: u64,
    to: Option<PhoneNumber>,
    error_code: Option<&str>,
    units: Option<u32>,
    amount: Option<&str>,
) -> DeliveryReport {
    DeliveryReport {
        to,
        sequence: Some(sequence),
        error_code: error_code.map(str::to_owned),
        units,
        total_amount: amount.map(str::to_owned),
        ..DeliveryReport::new(uuid.to_owned(), status)
    }
}

/// `got`, sorted by uuid, with each `updated_at` checked against `want`'s to within a
/// millisecond and then set to it, so the rest compares exactly.
fn normalised(mut got: Vec<ReportedStatus>, want: &[ReportedStatus]) -> Vec<ReportedStatus> {
    got.sort_by(|a, b| a.message_uuid.cmp(&b.message_uuid));
    assert_eq!(
        got.iter().map(|r| &r.message_uuid).collect::<Vec<_>>(),
        want.iter().map(|r| &r.message_uuid).collect::<Vec<_>>(),
        "one status per reported message"
    );
    for (g, w) in got.iter_mut().zip(want) {
        let off = (g.updated_at - w.updated_at).num_milliseconds().abs();
        assert!(
            off <= 1,
            "{}: updated_at {} where {} was expected",
            g.message_uuid,
            g.updated_at,
            w.updated_at
        );
        g.updated_at = w.updated_at;
    }
    got
}

pub async fn reports_are_read_back_for_the_results_file<S: ReportStore + ResultsStore>(store: &S) {
    let job = JobId::random();
    let batch = BatchRef {
        job_id: job.clone(),
        batch: 0,
    };
    let t0 = now();
    let at = |s: i64| t0 + Duration::seconds(s);
    let [delivered, undelivered, moved_on, failed, unreported] =
        std::array::from_fn(|_| message_uuid());

    let reports = [
        // Delivered, in two segments.
        (
            report(
                &delivered,
                MessageStatus::Delivered,
                1,
                Some(number(1)),
                None,
                Some(2),
                Some("0.01580"),
            ),
            at(1),
        ),
        // Undelivered, with the carrier's error.
        (
            report(
                &undelivered,
                MessageStatus::Undelivered,
                1,
                Some(number(2)),
                Some("30008"),
                Some(1),
                Some("0.00790"),
            ),
            at(2),
        ),
        // Sent, then delivered by a report that says nothing of units or amount: they stay.
        (
            report(
                &moved_on,
                MessageStatus::Sent,
                1,
                Some(number(3)),
                None,
                Some(3),
                Some("0.02370"),
            ),
            at(3),
        ),
        (
            report(
                &moved_on,
                MessageStatus::Delivered,
                2,
                Some(number(3)),
                None,
                None,
                None,
            ),
            at(60),
        ),
        // Failed, with nothing but an error code.
        (
            report(
                &failed,
                MessageStatus::Failed,
                1,
                None,
                Some("420"),
                None,
                None,
            ),
            at(4),
        ),
    ];
    for (r, t) in &reports {
        assert!(
            matches!(
                store.apply_report(r, Some(&batch), *t).await.unwrap(),
                ReportEffect::Applied { .. }
            ),
            "the report of {} applies",
            r.message_uuid
        );
    }

    let mut want = vec![
        ReportedStatus {
            message_uuid: delivered.clone(),
            to: Some(number(1)),
            status: MessageStatus::Delivered,
            error_code: None,
            units: Some(2),
            amount: Some("0.01580".into()),
            updated_at: at(1),
        },
        ReportedStatus {
            message_uuid: undelivered.clone(),
            to: Some(number(2)),
            status: MessageStatus::Undelivered,
            error_code: Some("30008".into()),
            units: Some(1),
            amount: Some("0.00790".into()),
            updated_at: at(2),
        },
        ReportedStatus {
            message_uuid: moved_on.clone(),
            to: Some(number(3)),
            status: MessageStatus::Delivered,
            error_code: None,
            units: Some(3),
            amount: Some("0.02370".into()),
            updated_at: at(60),
        },
        ReportedStatus {
            message_uuid: failed.clone(),
            to: None,
            status: MessageStatus::Failed,
            error_code: Some("420".into()),
            units: None,
            amount: None,
            updated_at: at(4),
        },
    ];
    want.sort_by(|a, b| a.message_uuid.cmp(&b.message_uuid));

    let asked = [
        delivered.clone(),
        unreported.clone(),
        undelivered.clone(),
        delivered.clone(),
        moved_on.clone(),
        failed.clone(),
        undelivered.clone(),
    ];
    let got = store.reported(&asked).await.unwrap();
    assert_eq!(normalised(got, &want), want);

    // Only what was asked for, and nothing for nothing.
    let got = store
        .reported(&[failed.clone(), unreported.clone()])
        .await
        .unwrap();
    let only_failed: Vec<_> = want
        .iter()
        .filter(|r| r.message_uuid == failed)
        .cloned()
        .collect();
    assert_eq!(normalised(got, &only_failed), only_failed);
    assert_eq!(store.reported(&[unreported]).await.unwrap(), Vec::new());
    assert_eq!(store.reported(&[]).await.unwrap(), Vec::new());
}

pub async fn reports_of_many_messages_are_read_in_chunks<S: ReportStore + ResultsStore>(store: &S) {
    let t0 = now();
    let statuses = [
        MessageStatus::Delivered,
        MessageStatus::Undelivered,
        MessageStatus::Sent,
        MessageStatus::Failed,
    ];
    let mut want: Vec<ReportedStatus> = (0..250)
        .map(|i| {
            let status = statuses[i % statuses.len()];
            ReportedStatus {
                message_uuid: message_uuid(),
                to: Some(number(i)),
                status,
                error_code: matches!(status, MessageStatus::Undelivered | MessageStatus::Failed)
                    .then(|| format!("{}", 30_000 + i)),
                units: Some((i % 4) as u32 + 1),
                amount: Some(format!("0.{i:05}")),
                updated_at: t0 + Duration::milliseconds(i as i64),
            }
        })
        .collect();
    stream::iter(want.iter().map(|w| async move {
        let r = report(
            &w.message_uuid,
            w.status,
            1,
            w.to.clone(),
            w.error_code.as_deref(),
            w.units,
            w.amount.as_deref(),
        );
        store.apply_report(&r, None, w.updated_at).await
    }))
    .buffer_unordered(8)
    .try_collect::<Vec<_>>()
    .await
    .unwrap();
    want.sort_by(|a, b| a.message_uuid.cmp(&b.message_uuid));

    // 250 reported, 60 without a report, and every tenth asked for twice: 310 distinct keys,
    // more than one BatchGetItem takes.
    let unreported: Vec<String> = (0..60).map(|_| message_uuid()).collect();
    let mut asked: Vec<String> = Vec::new();
    for (i, w) in want.iter().enumerate().rev() {
        asked.push(w.message_uuid.clone());
        if i % 10 == 0 {
            asked.push(w.message_uuid.clone());
        }
        if let Some(u) = unreported.get(i) {
            asked.push(u.clone());
        }
    }
    let got = store.reported(&asked).await.unwrap();
    assert_eq!(got.len(), 250);
    assert_eq!(normalised(got, &want), want);
}

fn job_spec(job_id: &JobId, batches: usize) -> JobSpec {
    JobSpec {
        budget: None,
        quiet_hours: None,
        send_at: None,
        expires_at: None,
        job_id: job_id.clone(),
        text: MessageText::parse("hello").unwrap(),
        from: PhoneNumber::parse("+14155550100").unwrap().into(),
        reference: None,
        counts: IntakeCounts {
            accepted: (batches * 2) as u64,
            ..IntakeCounts::default()
        },
        callback_url: format!("https://x/cb?job_id={job_id}"),
        batches: (0..batches)
            .map(|b| vec![number(b * 2), number(b * 2 + 1)])
            .collect(),
        fallback: false,
    }
}

fn pending(job: usize, batch: u32) -> LedgerEntry {
    let first = job * 1000 + batch as usize * 2;
    LedgerEntry::pending(batch, vec![number(first), number(first + 1)])
}

pub async fn a_ledger_is_read_a_range_at_a_time<S: JobStore + BatchLedger>(store: &S) {
    let t0 = now();
    let job = JobId::random();
    // Batches 10 and 11 sort after 9 only if their keys are padded.
    let spec = job_spec(&job, 12);
    assert_eq!(
        store.create_job(&spec, t0).await.unwrap(),
        CreateJob::Created
    );
    // Another job's ledger, with other recipients, in the same store.
    let other = JobId::random();
    let mut other_spec = job_spec(&other, 5);
    other_spec.batches = (0..5)
        .map(|b| vec![number(1000 + b * 2), number(1000 + b * 2 + 1)])
        .collect();
    assert_eq!(
        store.create_job(&other_spec, t0).await.unwrap(),
        CreateJob::Created
    );

    assert_eq!(
        store.ledger_range(&job, 1..4).await.unwrap(),
        (1..4).map(|b| pending(0, b)).collect::<Vec<_>>()
    );
    assert_eq!(
        store.ledger_range(&job, 8..12).await.unwrap(),
        (8..12).map(|b| pending(0, b)).collect::<Vec<_>>()
    );
    assert_eq!(
        store.ledger_range(&job, 0..12).await.unwrap(),
        store.ledger(&job).await.unwrap()
    );
    assert_eq!(
        store.ledger_range(&other, 1..4).await.unwrap(),
        (1..4).map(|b| pending(1, b)).collect::<Vec<_>>()
    );
    assert_eq!(store.ledger_range(&job, 3..3).await.unwrap(), Vec::new());
    assert_eq!(store.ledger_range(&job, 0..0).await.unwrap(), Vec::new());
    assert_eq!(
        store.ledger_range(&JobId::random(), 0..4).await.unwrap(),
        Vec::new()
    );

    // A page shows each batch as it is now.
    let lease = t0 + Duration::minutes(5);
    assert_eq!(
        store.claim_batch(&job, 2, None, lease, t0).await.unwrap(),
        BatchClaim::Claimed { attempt: 1 }
    );
    assert_eq!(
        store.ledger_range(&job, 2..3).await.unwrap(),
        vec![LedgerEntry {
            state: BatchState::Sending,
            attempts: 1,
            lease_until: Some(lease),
            claimed_at: Some(t0),
            ..pending(0, 2)
        }]
    );
}

/// The file's `to` is what reports said (the message's `STATUS` item), never the facts the
/// sender recorded: the latest report that named a `To` wins.
pub async fn the_reported_number_is_the_latest_reports<
    S: MessageStore + ReportStore + ResultsStore,
>(
    store: &S,
) {
    let t0 = now();
    let recorded = message_uuid();
    store
        .record_accepted(
            &[AcceptedMessage {
                message_uuid: recorded.clone(),
                to: Some(number(7)),
                from: number(1).into(),
                job_id: None,
                reference: None,
                encoding: Encoding::Gsm7,
                segments: 1,
                provider: sms_core::domain::provider::Provider::Plivo,
            }],
            t0,
        )
        .await
        .unwrap();
    let without_to = report(&recorded, MessageStatus::Sent, 1, None, None, None, None);
    store.apply_report(&without_to, None, t0).await.unwrap();

    let moved = message_uuid();
    for (sequence, to) in [(1, 1), (2, 2)] {
        let r = report(
            &moved,
            MessageStatus::Sent,
            sequence,
            Some(number(to)),
            None,
            None,
            None,
        );
        store.apply_report(&r, None, t0).await.unwrap();
    }

    let mut got = store
        .reported(&[recorded.clone(), moved.clone()])
        .await
        .unwrap();
    got.sort_by_key(|r| r.message_uuid != recorded);
    assert_eq!(
        got.iter().map(|r| r.to.clone()).collect::<Vec<_>>(),
        [None, Some(number(2))]
    );
}

sms_test_support::both_adapters!(
    crate;
    a_request_starts_a_generation_unless_one_is_building,
    one_claim_holds_a_build_until_its_lease_ends,
    a_checkpoint_reads_back_as_saved,
    an_ended_build_is_replaced_by_the_next_request,
    concurrent_requests_start_one_generation,
    reports_are_read_back_for_the_results_file,
    reports_of_many_messages_are_read_in_chunks,
    a_ledger_is_read_a_range_at_a_time,
    the_reported_number_is_the_latest_reports,
);
