//! Settling unknown batches (`UnknownBatches`): every scenario runs against the DynamoDB
//! adapter in moto and against the in-memory adapter, so both follow the same rules.
//!
//! Needs moto: run through `make test` or `infra/tests/with-moto.sh cargo test`.

use chrono::{Duration, Utc};
use sms_core::{
    PhoneNumber,
    domain::ids::JobId,
    store::{
        BatchClaim, BatchLedger, BatchOutcome, BatchState, IntakeCounts, JobSpec, JobStore,
        LedgerEntry, Settled, Settlement, UnknownBatches,
    },
};

trait Store: JobStore + BatchLedger + UnknownBatches {}
impl<T: JobStore + BatchLedger + UnknownBatches> Store for T {}

fn number(i: usize) -> PhoneNumber {
    PhoneNumber::parse(&format!("+1415{i:07}")).unwrap()
}

/// A job of two batches whose batch 0 ended `unknown` and batch 1 `sent`.
async fn job_with_an_unknown_batch(store: &impl Store) -> JobId {
    let job = JobId::random();
    let spec = JobSpec {
        budget: None,
        quiet_hours: None,
        send_at: None,
        expires_at: None,
        job_id: job.clone(),
        text: sms_core::MessageText::parse("hello").unwrap(),
        from: number(9_999_999).into(),
        reference: None,
        counts: IntakeCounts {
            accepted: 4,
            ..IntakeCounts::default()
        },
        callback_url: format!("https://x/cb?job_id={job}"),
        batches: vec![vec![number(0), number(1)], vec![number(2), number(3)]],
        fallback: false,
    };
    store.create_job(&spec, Utc::now()).await.unwrap();
    let outcomes = [
        BatchOutcome::Unknown {
            reason: "timed out".into(),
        },
        BatchOutcome::Sent {
            message_uuids: vec!["u2".into(), "u3".into()],
            invalid_numbers: vec![],
            opted_out: vec![],
        },
    ];
    for (batch, outcome) in outcomes.iter().enumerate() {
        let now = Utc::now();
        let BatchClaim::Claimed { attempt } = store
            .claim_batch(&job, batch as u32, None, now + Duration::seconds(60), now)
            .await
            .unwrap()
        else {
            panic!("batch {batch} not claimed")
        };
        assert!(
            store
                .finish_batch(&job, batch as u32, attempt, outcome, Utc::now())
                .await
                .unwrap()
        );
    }
    job
}

async fn entry(store: &impl Store, job: &JobId, batch: u32) -> LedgerEntry {
    store.ledger_range(job, batch..batch + 1).await.unwrap()[0].clone()
}

async fn an_unknown_batch_keeps_the_window_of_its_claim(store: &impl Store) {
    let before = Utc::now();
    let job = job_with_an_unknown_batch(store).await;
    let e = entry(store, &job, 0).await;
    let (claimed, ended) = (e.claimed_at.unwrap(), e.ended_at.unwrap());
    assert!(
        before <= claimed && claimed <= ended && ended <= Utc::now(),
        "{e:?}"
    );
    assert!(!e.resent);
}

async fn found_at_plivo_an_unknown_batch_becomes_sent_once(store: &impl Store) {
    let job = job_with_an_unknown_batch(store).await;
    let sent = Settlement::Sent {
        message_uuids: vec!["u0".into()],
    };

    assert_eq!(
        store
            .settle_unknown(&job, 0, &sent, Utc::now())
            .await
            .unwrap(),
        Settled::Done
    );

    let e = entry(store, &job, 0).await;
    assert_eq!(e.state, BatchState::Sent);
    assert_eq!(e.message_uuids, ["u0"]);
    let j = store.get_job(&job).await.unwrap().unwrap();
    assert_eq!(
        (j.batches_unknown, j.batches_sent, j.batches_reconciled),
        (0, 2, 1)
    );
    assert!(j.is_done());
    // Its messages are known by their reports, as before: not in `messages_accepted`.
    assert_eq!(j.messages_accepted, 2);
    assert!(!j.sent_batches.contains(&0));
    // Settled once: again, or the other way, changes nothing.
    for again in [sent, Settlement::Resend] {
        assert_eq!(
            store
                .settle_unknown(&job, 0, &again, Utc::now())
                .await
                .unwrap(),
            Settled::NotUnknown
        );
    }
    assert_eq!(store.get_job(&job).await.unwrap().unwrap(), j);
}

async fn proved_absent_an_unknown_batch_is_pending_again_once(store: &impl Store) {
    let job = job_with_an_unknown_batch(store).await;

    assert_eq!(
        store
            .settle_unknown(&job, 0, &Settlement::Resend, Utc::now())
            .await
            .unwrap(),
        Settled::Done
    );

    let e = entry(store, &job, 0).await;
    assert_eq!(
        (e.state, e.enqueued, e.resent),
        (BatchState::Pending, false, true)
    );
    let j = store.get_job(&job).await.unwrap().unwrap();
    assert_eq!(
        (j.batches_unknown, j.batches_resent, j.batches_reconciled),
        (0, 1, 0)
    );
    assert!(!j.is_done(), "a batch that goes again is not ended");

    // Claimed and unknown again, it can be found sent, but never resent a second time.
    let now = Utc::now();
    let BatchClaim::Claimed { attempt } = store
        .claim_batch(&job, 0, None, now + Duration::seconds(60), now)
        .await
        .unwrap()
    else {
        panic!("the resent batch is claimable")
    };
    let unknown = BatchOutcome::Unknown {
        reason: "timed out again".into(),
    };
    assert!(
        store
            .finish_batch(&job, 0, attempt, &unknown, Utc::now())
            .await
            .unwrap()
    );
    assert!(entry(store, &job, 0).await.resent);
    assert_eq!(
        store
            .settle_unknown(&job, 0, &Settlement::Resend, Utc::now())
            .await
            .unwrap(),
        Settled::NotUnknown
    );
    let sent = Settlement::Sent {
        message_uuids: vec![],
    };
    assert_eq!(
        store
            .settle_unknown(&job, 0, &sent, Utc::now())
            .await
            .unwrap(),
        Settled::Done
    );
    let j = store.get_job(&job).await.unwrap().unwrap();
    assert_eq!(
        (
            j.batches_unknown,
            j.batches_sent,
            j.batches_resent,
            j.batches_reconciled
        ),
        (0, 2, 1, 1)
    );
    assert!(j.is_done());
}

async fn only_an_unknown_batch_is_settled(store: &impl Store) {
    let job = job_with_an_unknown_batch(store).await;
    let before = store.get_job(&job).await.unwrap().unwrap();
    for settlement in [
        Settlement::Resend,
        Settlement::Sent {
            message_uuids: vec![],
        },
    ] {
        // Batch 1 is sent; batch 7 does not exist; nor does the job of the last.
        for (job, batch) in [(&job, 1), (&job, 7), (&JobId::random(), 0)] {
            assert_eq!(
                store
                    .settle_unknown(job, batch, &settlement, Utc::now())
                    .await
                    .unwrap(),
                Settled::NotUnknown
            );
        }
    }
    assert_eq!(store.get_job(&job).await.unwrap().unwrap(), before);
    assert_eq!(entry(store, &job, 1).await.state, BatchState::Sent);
}

sms_test_support::both_adapters!(
    crate;
    an_unknown_batch_keeps_the_window_of_its_claim,
    found_at_plivo_an_unknown_batch_becomes_sent_once,
    proved_absent_an_unknown_batch_is_pending_again_once,
    only_an_unknown_batch_is_settled,
);
