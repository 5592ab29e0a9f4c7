//! A capped job's guard (`BatchLedger::claim_batch` with a reservation,
//! `JobControls::raise_budget`): each batch's first claim takes its estimate from what is left
//! of the job's caps, only while it fits, and also only while what the reports already
//! charged leaves room for it. Every scenario runs against the DynamoDB adapter in moto (the
//! conditional `ADD` in the claim's transaction) and against the in-memory adapter.
//!
//! Needs moto: run through `make test` or `infra/tests/with-moto.sh cargo test`.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use futures::future::join_all;
use sms_core::{
    MessageText, PhoneNumber,
    domain::{
        estimate::{Budget, Reservation},
        ids::JobId,
        money::Money,
    },
    store::{
        BatchClaim, BatchLedger, BatchRef, CreateJob, DeliveryReport, IntakeCounts, JobBudget,
        JobControls, JobSpec, JobStore, MessageStatus, ReportStore,
    },
};

fn money(s: &str) -> Money {
    Money::parse(s).unwrap()
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// Each batch's estimate in this file: 0.40 (its job caps only the cost).
fn forty() -> Reservation {
    Reservation {
        cost: Some(money("0.40")),
        segments: None,
    }
}

/// A committed job of `batches` two-recipient batches capped at `caps`, each reserving
/// [`forty`].
async fn capped_job<S: JobStore>(store: &S, batches: usize, caps: Budget) -> JobId {
    let budget = JobBudget {
        caps,
        reservations: vec![forty(); batches],
    };
    job(store, batches, Some(budget)).await
}

/// A committed job of `batches` two-recipient batches, with `budget` if given.
async fn job<S: JobStore>(store: &S, batches: usize, budget: Option<JobBudget>) -> JobId {
    let job_id = JobId::random();
    let spec = JobSpec {
        budget,
        quiet_hours: None,
        send_at: None,
        expires_at: None,
        job_id: job_id.clone(),
        text: MessageText::parse("hello").unwrap(),
        from: PhoneNumber::parse("+14155550100").unwrap().into(),
        reference: None,
        counts: IntakeCounts {
            accepted: 2 * batches as u64,
            ..IntakeCounts::default()
        },
        callback_url: format!("https://x/cb?job_id={job_id}"),
        batches: (0..batches)
            .map(|b| {
                (0..2)
                    .map(|r| PhoneNumber::parse(&format!("+1415{:07}", b * 10 + r)).unwrap())
                    .collect()
            })
            .collect(),
        fallback: false,
    };
    assert_eq!(
        store.create_job(&spec, now()).await.unwrap(),
        CreateJob::Created
    );
    job_id
}

fn cost_cap(cap: &str) -> Budget {
    Budget {
        max_cost: Some(money(cap)),
        max_segments: None,
    }
}

async fn claim<S: BatchLedger>(store: &S, job_id: &JobId, batch: u32) -> BatchClaim {
    let t = now();
    store
        .claim_batch(job_id, batch, Some(&forty()), t + Duration::seconds(60), t)
        .await
        .unwrap()
}

pub async fn claims_reserve_until_the_next_batch_would_cross_the_cap<
    S: JobStore + BatchLedger + JobControls,
>(
    store: &S,
) {
    // 1.00 holds two batches of 0.40, not three.
    let job_id = capped_job(store, 3, cost_cap("1.00")).await;

    assert_eq!(
        claim(store, &job_id, 0).await,
        BatchClaim::Claimed { attempt: 1 }
    );
    assert_eq!(
        claim(store, &job_id, 1).await,
        BatchClaim::Claimed { attempt: 1 }
    );
    let BatchClaim::OverBudget(left) = claim(store, &job_id, 2).await else {
        panic!("batch 2 would cross the cap");
    };
    assert_eq!(left.cost, Some(money("0.20")));
    let job = store.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!(
        job.budget.unwrap().cost,
        Some(money("0.20")),
        "nothing taken"
    );

    // A released batch keeps its reservation: claimed again, it takes nothing more.
    store.release_batch(&job_id, 1, 1).await.unwrap();
    assert_eq!(
        claim(store, &job_id, 1).await,
        BatchClaim::Claimed { attempt: 2 }
    );
    let job = store.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!(job.budget.unwrap().cost, Some(money("0.20")));

    // Raised to 1.50, the cap has room for it. A lower cap, or one the job does not have,
    // changes nothing.
    let raised = store
        .raise_budget(
            &job_id,
            Budget {
                max_cost: Some(money("1.50")),
                max_segments: Some(1),
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(raised.budget.unwrap().caps, cost_cap("1.50"));
    assert_eq!(raised.budget.unwrap().cost, Some(money("0.70")));
    let lowered = store
        .raise_budget(&job_id, cost_cap("0.10"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lowered.budget, raised.budget);
    assert_eq!(
        claim(store, &job_id, 2).await,
        BatchClaim::Claimed { attempt: 1 }
    );
    assert_eq!(
        store
            .get_job(&job_id)
            .await
            .unwrap()
            .unwrap()
            .budget
            .unwrap()
            .cost,
        Some(money("0.30"))
    );
}

pub async fn concurrent_claims_never_reserve_past_the_cap<
    S: JobStore + BatchLedger + JobControls,
>(
    store: &S,
) {
    // Ten batches of 0.40 claimed at once under a cap of 2.00: exactly five go.
    let job_id = capped_job(store, 10, cost_cap("2.00")).await;

    let claims = join_all((0..10).map(|b| {
        let job_id = job_id.clone();
        async move {
            // A claim that lost a race on the job item is retried, as the sender's next
            // delivery would.
            for _ in 0..50 {
                match claim(store, &job_id, b).await {
                    BatchClaim::Busy { .. } => continue,
                    other => return other,
                }
            }
            panic!("batch {b} stayed busy");
        }
    }))
    .await;

    let claimed = claims
        .iter()
        .filter(|c| matches!(c, BatchClaim::Claimed { .. }))
        .count();
    let over = claims
        .iter()
        .filter(|c| matches!(c, BatchClaim::OverBudget(_)))
        .count();
    assert_eq!((claimed, over), (5, 5), "{claims:?}");
    let job = store.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!(job.budget.unwrap().cost, Some(Money::ZERO));
}

pub async fn charges_beyond_the_estimates_stop_the_next_batch<
    S: JobStore + BatchLedger + JobControls + ReportStore + sms_test_support::SettleCounts,
>(
    store: &S,
) {
    // Reserved 0.40 of 1.00, but batch 0's reports charged 0.70 (a surcharge the prices did
    // not list): 0.70 + 0.40 would cross 1.00.
    let job_id = capped_job(store, 2, cost_cap("1.00")).await;
    assert!(matches!(
        claim(store, &job_id, 0).await,
        BatchClaim::Claimed { .. }
    ));
    for (i, amount) in ["0.35", "0.35"].into_iter().enumerate() {
        let report = DeliveryReport {
            units: Some(2),
            total_amount: Some(amount.into()),
            sequence: Some(1),
            ..DeliveryReport::new(format!("m-{i}-{job_id}"), MessageStatus::Delivered)
        };
        let batch = BatchRef {
            job_id: job_id.clone(),
            batch: 0,
        };
        store
            .apply_report(&report, Some(&batch), Utc::now())
            .await
            .unwrap();
    }
    // The charges are read from the counters, which the table's stream keeps in DynamoDB.
    store.settle_counts().await;

    let BatchClaim::OverBudget(left) = claim(store, &job_id, 1).await else {
        panic!("the charges leave no room for batch 1");
    };
    assert_eq!(
        left.cost,
        Some(money("0.60")),
        "reservations alone had room"
    );

    // Raised to 1.20, the charges leave room: 0.70 + 0.40 = 1.10.
    store.raise_budget(&job_id, cost_cap("1.20")).await.unwrap();
    assert!(matches!(
        claim(store, &job_id, 1).await,
        BatchClaim::Claimed { .. }
    ));
}

pub async fn a_reservation_of_a_cap_the_job_does_not_have_never_fits<
    S: JobStore + BatchLedger + JobControls,
>(
    store: &S,
) {
    let job_id = capped_job(store, 1, cost_cap("1.00")).await;
    let t = now();
    let with_segments = Reservation {
        segments: Some(2),
        ..forty()
    };
    assert!(matches!(
        store
            .claim_batch(
                &job_id,
                0,
                Some(&with_segments),
                t + Duration::seconds(60),
                t
            )
            .await
            .unwrap(),
        BatchClaim::OverBudget(_)
    ));
}

pub async fn a_reservation_for_a_job_without_caps_never_fits<
    S: JobStore + BatchLedger + JobControls,
>(
    store: &S,
) {
    // A batch message that carries a reservation its job item has no caps for (data that
    // disagrees with itself): refused alike by both stores, never claimed unguarded.
    let job_id = job(store, 1, None).await;

    let claimed = claim(store, &job_id, 0).await;

    assert!(matches!(claimed, BatchClaim::OverBudget(_)), "{claimed:?}");
}

pub async fn segments_are_capped_without_prices<S: JobStore + BatchLedger + JobControls>(
    store: &S,
) {
    // 2 segments per batch under max_segments 3: one batch, not two.
    let caps = Budget {
        max_cost: None,
        max_segments: Some(3),
    };
    let job_id = capped_job(store, 2, caps).await;
    let segments_only = Reservation {
        cost: None,
        segments: Some(2),
    };
    let t = now();
    let lease = t + Duration::seconds(60);
    assert!(matches!(
        store
            .claim_batch(&job_id, 0, Some(&segments_only), lease, t)
            .await
            .unwrap(),
        BatchClaim::Claimed { .. }
    ));
    let BatchClaim::OverBudget(left) = store
        .claim_batch(&job_id, 1, Some(&segments_only), lease, t)
        .await
        .unwrap()
    else {
        panic!("3 segments hold one batch of 2");
    };
    assert_eq!((left.segments, left.cost), (Some(1), None));
}

sms_test_support::both_adapters!(
    crate;
    claims_reserve_until_the_next_batch_would_cross_the_cap,
    concurrent_claims_never_reserve_past_the_cap,
    charges_beyond_the_estimates_stop_the_next_batch,
    a_reservation_of_a_cap_the_job_does_not_have_never_fits,
    a_reservation_for_a_job_without_caps_never_fits,
    segments_are_capped_without_prices,
);
