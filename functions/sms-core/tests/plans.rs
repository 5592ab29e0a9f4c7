//! Plans of jobs from uploads (`store::plans`): every scenario runs against the DynamoDB
//! adapter in moto and against the in-memory adapter, so both follow the same rules.
//!
//! Needs moto: run through `make test` or `infra/tests/with-moto.sh cargo test`.

use chrono::{Duration, SubsecRound, Utc};
use sms_core::{
    MessageText, PhoneNumber,
    domain::{
        estimate::{Budget, Rate, RateSource, Tally},
        ids::JobId,
        money::Money,
        plan::{FileLayout, PlanCounts},
        rows::FileFormat,
    },
    store::{
        BatchClaim, BatchLedger, CreateJob, IntakeCounts, JobRecord, JobSpec, JobStore,
        LedgerEntry, PlanCheckpoint, PlanClaim, PlanEnd, PlanRecord, PlanState, PlanStore,
    },
};

fn number(i: usize) -> PhoneNumber {
    PhoneNumber::parse(&format!("+1415{i:07}")).unwrap()
}

fn plan(job_id: &JobId) -> PlanRecord {
    let now = Utc::now().trunc_subsecs(3);
    PlanRecord {
        quiet_hours: None,
        send_at: None,
        // Set, so both adapters show they keep the job's deadline for its job item.
        expires_at: Some(now + chrono::Duration::hours(2)),
        job_id: job_id.clone(),
        state: PlanState::Planning,
        upload_id: "5b0c7d1e-1111-4000-8000-000000000001".into(),
        etag: "\"etag-1\"".into(),
        size: 2048,
        layout: FileLayout {
            format: FileFormat::Csv,
            phone_column: None,
        },
        template: "Hi {{first_name}}".into(),
        // On, so both adapters show they keep it (an item writes it only when on).
        smart_encoding: true,
        skip_landlines: false,
        from: PhoneNumber::parse("+14155550100").unwrap().into(),
        reference: None,
        callback_url: format!("https://x/cb?job_id={job_id}"),
        header: vec!["phone".into(), "first_name".into()],
        budget: Budget::default(),
        checkpoint: PlanCheckpoint::default(),
        attempts: 0,
        lease_until: None,
        error: None,
        created_at: now,
        updated_at: now,
    }
}

fn checkpoint(rows: u64) -> PlanCheckpoint {
    PlanCheckpoint {
        records: rows + 1,
        offset: rows * 20,
        batches: 2,
        rejects_segments: 1,
        counts: PlanCounts {
            rows,
            accepted: rows - 1,
            rejected: 1,
            distinct_texts: 2,
            segments: rows - 1,
            ..PlanCounts::default()
        },
        tallies: Default::default(),
    }
}

fn claimed(claim: PlanClaim) -> (u32, PlanRecord) {
    match claim {
        PlanClaim::Claimed { attempt, plan } => (attempt, *plan),
        other => panic!("expected a claim, got {other:?}"),
    }
}

pub async fn a_plan_is_created_once_and_read_back<S: PlanStore>(store: &S) {
    let job = JobId::random();
    assert_eq!(store.get_plan(&job).await.unwrap(), None);
    let p = plan(&job);
    assert_eq!(store.create_plan(&p).await.unwrap(), CreateJob::Created);
    assert_eq!(store.get_plan(&job).await.unwrap(), Some(p.clone()));
    let mut other = p.clone();
    other.template = "something else".into();
    assert_eq!(
        store.create_plan(&other).await.unwrap(),
        CreateJob::Conflict
    );
    assert_eq!(store.get_plan(&job).await.unwrap(), Some(p), "unchanged");
}

pub async fn one_claim_holds_a_plan_until_its_lease_ends<S: PlanStore>(store: &S) {
    let job = JobId::random();
    let now = Utc::now();
    assert_eq!(
        store.claim_plan(&job, now, now).await.unwrap(),
        PlanClaim::Missing
    );
    store.create_plan(&plan(&job)).await.unwrap();

    let (first, read) = claimed(
        store
            .claim_plan(&job, now + Duration::minutes(15), now)
            .await
            .unwrap(),
    );
    assert_eq!(first, 1);
    assert_eq!(read.header, ["phone", "first_name"]);
    assert!(matches!(
        store
            .claim_plan(&job, now + Duration::minutes(15), now)
            .await
            .unwrap(),
        PlanClaim::Busy { .. }
    ));
    // The first claim saves where it got to, then dies; after its lease a second claim
    // resumes from there, and the first can no longer write.
    let lease = now + Duration::minutes(15);
    assert!(
        store
            .save_checkpoint(&job, first, &checkpoint(10), lease, now)
            .await
            .unwrap()
    );
    let later = lease + Duration::seconds(1);
    let (second, resumed) = claimed(
        store
            .claim_plan(&job, later + Duration::minutes(15), later)
            .await
            .unwrap(),
    );
    assert_eq!(second, 2);
    assert_eq!(resumed.checkpoint, checkpoint(10));
    assert!(
        !store
            .save_checkpoint(&job, first, &checkpoint(99), lease, later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .end_plan(&job, first, &PlanEnd::Committed, &checkpoint(99), later)
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_plan(&job).await.unwrap().unwrap().checkpoint,
        checkpoint(10)
    );

    assert!(
        store
            .end_plan(&job, second, &PlanEnd::Committed, &checkpoint(20), later)
            .await
            .unwrap()
    );
    let ended = store.get_plan(&job).await.unwrap().unwrap();
    assert_eq!(
        (ended.state, ended.checkpoint, ended.lease_until),
        (PlanState::Committed, checkpoint(20), None)
    );
    assert_eq!(
        store
            .claim_plan(&job, later, later + Duration::hours(1))
            .await
            .unwrap(),
        PlanClaim::Ended(PlanState::Committed)
    );
}

pub async fn a_failed_plan_keeps_its_reason<S: PlanStore>(store: &S) {
    let job = JobId::random();
    let now = Utc::now();
    store.create_plan(&plan(&job)).await.unwrap();
    let (attempt, _) = claimed(
        store
            .claim_plan(&job, now + Duration::minutes(1), now)
            .await
            .unwrap(),
    );
    let end = PlanEnd::Failed {
        reason: "no valid recipient is left".into(),
    };
    assert!(
        store
            .end_plan(&job, attempt, &end, &checkpoint(3), now)
            .await
            .unwrap()
    );
    let failed = store.get_plan(&job).await.unwrap().unwrap();
    assert_eq!(failed.state, PlanState::Failed);
    assert_eq!(failed.error.as_deref(), Some("no valid recipient is left"));
    assert!(
        !store
            .end_plan(&job, attempt, &PlanEnd::Committed, &checkpoint(3), now)
            .await
            .unwrap()
    );
}

pub async fn planned_batches_keep_their_texts_and_commit_like_any_job<
    S: PlanStore + JobStore + BatchLedger,
>(
    store: &S,
) {
    let job = JobId::random();
    let now = Utc::now();
    let text = |t: &str| MessageText::parse(t).unwrap();
    let entries = vec![
        LedgerEntry::pending_with_text(0, vec![number(0), number(1)], text("Hi Ana")),
        LedgerEntry::pending_with_text(1, vec![number(2)], text("Hi Bo")),
    ];
    assert_eq!(
        store.put_batches(&job, &entries, now).await.unwrap(),
        CreateJob::Created
    );
    // A new claim rewrites what a dead one wrote, as long as nothing moved on.
    assert_eq!(
        store.put_batches(&job, &entries, now).await.unwrap(),
        CreateJob::Created
    );
    assert!(
        store.ledger(&job).await.unwrap().is_empty(),
        "no job item, no ledger"
    );

    let spec = JobSpec {
        budget: None,
        quiet_hours: None,
        send_at: None,
        expires_at: None,
        job_id: job.clone(),
        text: text("Hi {{first_name}}"),
        from: number(9).into(),
        reference: None,
        counts: IntakeCounts {
            accepted: 3,
            ..IntakeCounts::default()
        },
        callback_url: "https://x/cb".into(),
        batches: Vec::new(),
        fallback: false,
    };
    let record = JobRecord {
        batches_total: 2,
        distinct_texts: 2,
        segments_total: 3,
        ..JobRecord::new(&spec, now.trunc_subsecs(3))
    };
    assert_eq!(store.commit_job(&record).await.unwrap(), CreateJob::Created);
    assert_eq!(store.get_job(&job).await.unwrap(), Some(record));
    let ledger = store.ledger(&job).await.unwrap();
    assert_eq!(ledger, entries);

    assert_eq!(
        store
            .claim_batch(&job, 1, None, now + Duration::minutes(1), now)
            .await
            .unwrap(),
        BatchClaim::Claimed { attempt: 1 }
    );
    assert_eq!(
        store.put_batches(&job, &entries, now).await.unwrap(),
        CreateJob::Conflict,
        "a claimed batch is never rewritten"
    );
    assert_eq!(
        store.ledger(&job).await.unwrap()[1].text,
        Some(text("Hi Bo"))
    );
}

/// A capped plan (an upload with `max_cost`, `max_segments`) keeps its caps, and its
/// checkpoint keeps the tallies and the rates its batches were priced at, through a
/// checkpoint and its end, so a plan that goes on in a new invocation estimates the whole
/// file.
pub async fn a_capped_plan_keeps_its_caps_and_tallies<S: PlanStore>(store: &S) {
    let job = JobId::random();
    let now = Utc::now();
    let mut p = plan(&job);
    p.budget = Budget {
        max_cost: Some(Money::from_micros(1_500_000)),
        max_segments: Some(300),
    };
    store.create_plan(&p).await.unwrap();
    let (attempt, read) = claimed(
        store
            .claim_plan(&job, now + Duration::minutes(5), now)
            .await
            .unwrap(),
    );
    assert_eq!(read.budget, p.budget);
    let mut saved = checkpoint(10);
    saved.tallies.countries.insert(
        "US".into(),
        Tally {
            recipients: 7,
            segments: 14,
        },
    );
    saved.tallies.countries.insert(
        "GB".into(),
        Tally {
            recipients: 2,
            segments: 2,
        },
    );
    saved.tallies.rates.insert(
        "US".into(),
        Rate::Priced {
            per_segment: Money::from_micros(5_000),
            source: RateSource::Configured,
        },
    );
    saved.tallies.rates.insert("GB".into(), Rate::NotListed);
    assert!(
        store
            .save_checkpoint(&job, attempt, &saved, now + Duration::minutes(5), now)
            .await
            .unwrap()
    );
    let resumed = store.get_plan(&job).await.unwrap().unwrap();
    assert_eq!((resumed.budget, &resumed.checkpoint), (p.budget, &saved));
    assert_eq!(resumed.checkpoint.tallies.estimate().segments, 16);

    saved.tallies.countries.insert(
        "US".into(),
        Tally {
            recipients: 9,
            segments: 18,
        },
    );
    let end = PlanEnd::Failed {
        reason: "over its max_cost".into(),
    };
    assert!(
        store
            .end_plan(&job, attempt, &end, &saved, now)
            .await
            .unwrap()
    );
    let failed = store.get_plan(&job).await.unwrap().unwrap();
    assert_eq!(
        (failed.state, failed.budget, failed.checkpoint),
        (PlanState::Failed, p.budget, saved)
    );
}

sms_test_support::both_adapters!(
    crate;
    a_capped_plan_keeps_its_caps_and_tallies,
    a_plan_is_created_once_and_read_back,
    one_claim_holds_a_plan_until_its_lease_ends,
    a_failed_plan_keeps_its_reason,
    planned_batches_keep_their_texts_and_commit_like_any_job,
);
