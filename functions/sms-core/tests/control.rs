//! Campaign control (`store::control`): pause, resume and cancel, and the ledger writes that
//! follow them. Every scenario runs against the DynamoDB adapter in moto and against the
//! in-memory adapter, so both follow the same rules.
//!
//! Needs moto: run through `make test` or `infra/tests/with-moto.sh cargo test`.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use futures::future::join_all;
use sms_core::{
    MessageText, PhoneNumber,
    domain::ids::JobId,
    store::{
        BatchClaim, BatchLedger, BatchOutcome, BatchState, ControlAnswer, ControlChange, CreateJob,
        IntakeCounts, JobControl, JobControls, JobRecord, JobSpec, JobStore, Parking, PauseReason,
    },
};

fn number(i: usize) -> PhoneNumber {
    PhoneNumber::parse(&format!("+1415{i:07}")).unwrap()
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

const PAUSE: ControlChange = ControlChange::Pause(PauseReason::Requested);
const PAUSED: JobControl = JobControl::Paused(PauseReason::Requested);

/// A committed job of `batches` batches; batch `b` has `b + 1` recipients.
async fn job<S: JobStore>(store: &S, batches: usize) -> JobId {
    job_starting(store, batches, None).await
}

/// The same, scheduled to start at `send_at` when given.
async fn job_starting<S: JobStore>(
    store: &S,
    batches: usize,
    send_at: Option<DateTime<Utc>>,
) -> JobId {
    let job_id = JobId::random();
    let spec = JobSpec {
        budget: None,
        quiet_hours: None,
        send_at,
        expires_at: None,
        job_id: job_id.clone(),
        text: MessageText::parse("hello").unwrap(),
        from: PhoneNumber::parse("+14155550100").unwrap().into(),
        reference: None,
        counts: IntakeCounts {
            accepted: (1..=batches as u64).sum(),
            ..IntakeCounts::default()
        },
        callback_url: format!("https://x/cb?job_id={job_id}"),
        batches: (0..batches)
            .map(|b| (0..=b).map(|r| number(b * 100 + r)).collect())
            .collect(),
        fallback: false,
    };
    assert_eq!(
        store.create_job(&spec, now()).await.unwrap(),
        CreateJob::Created
    );
    job_id
}

async fn claim<S: BatchLedger>(store: &S, job_id: &JobId, batch: u32) -> BatchClaim {
    let t = now();
    store
        .claim_batch(job_id, batch, None, t + Duration::seconds(60), t)
        .await
        .unwrap()
}

async fn state<S: JobStore>(store: &S, job_id: &JobId, batch: u32) -> BatchState {
    store.ledger_range(job_id, batch..batch + 1).await.unwrap()[0].state
}

async fn job_record<S: JobStore>(store: &S, job_id: &JobId) -> JobRecord {
    store.get_job(job_id).await.unwrap().unwrap()
}

fn changed(answer: ControlAnswer) -> JobRecord {
    match answer {
        ControlAnswer::Changed(job) => job,
        other => panic!("expected a change, got {other:?}"),
    }
}

pub async fn a_paused_job_holds_its_batches_until_it_is_resumed<
    S: JobStore + BatchLedger + JobControls,
>(
    store: &S,
) {
    let job_id = job(store, 3).await;
    let in_flight = claim(store, &job_id, 0).await;
    assert!(matches!(in_flight, BatchClaim::Claimed { .. }));

    let t = now();
    let paused = changed(store.change_control(&job_id, PAUSE, t).await.unwrap());
    assert_eq!(paused.control, PAUSED);
    assert_eq!(paused.control_changed_at, Some(t));
    assert_eq!(job_record(store, &job_id).await, paused);

    // No claim goes through while it is paused; the sender parks what it is handed.
    assert_eq!(claim(store, &job_id, 1).await, BatchClaim::Held(PAUSED));
    assert_eq!(store.park_batch(&job_id, 1).await.unwrap(), Parking::Parked);
    assert_eq!(state(store, &job_id, 1).await, BatchState::Parked);
    // A second delivery of its queue message finds it parked already.
    assert_eq!(claim(store, &job_id, 1).await, BatchClaim::Held(PAUSED));
    assert_eq!(
        store.park_batch(&job_id, 1).await.unwrap(),
        Parking::NotPending
    );
    // The batch claimed before the pause finishes as it would have.
    let BatchClaim::Claimed { attempt } = in_flight else {
        unreachable!()
    };
    let sent = BatchOutcome::Sent {
        message_uuids: vec!["u0".into()],
        invalid_numbers: vec![],
        opted_out: vec![],
    };
    assert!(
        store
            .finish_batch(&job_id, 0, attempt, &sent, now())
            .await
            .unwrap()
    );

    let resumed = changed(
        store
            .change_control(&job_id, ControlChange::Resume, now())
            .await
            .unwrap(),
    );
    assert_eq!(resumed.control, JobControl::Running);
    assert_eq!(
        job_record(store, &job_id).await.control,
        JobControl::Running
    );
    // Parking is refused once it runs: the sender claims again instead.
    assert_eq!(
        store.park_batch(&job_id, 2).await.unwrap(),
        Parking::NotPaused
    );
    // A parked batch waits for the sweep to make it pending (and enqueue it again).
    assert!(matches!(
        claim(store, &job_id, 1).await,
        BatchClaim::Busy { .. }
    ));
    let before = store.ledger_range(&job_id, 1..2).await.unwrap()[0].clone();
    assert!(store.unpark_batch(&job_id, 1, None).await.unwrap());
    assert!(!store.unpark_batch(&job_id, 1, None).await.unwrap());
    let after = store.ledger_range(&job_id, 1..2).await.unwrap()[0].clone();
    assert_eq!((after.state, after.enqueued), (BatchState::Pending, false));
    assert_eq!(after.recipients, before.recipients);
    assert!(matches!(
        claim(store, &job_id, 1).await,
        BatchClaim::Claimed { attempt: 1 }
    ));
    assert!(matches!(
        claim(store, &job_id, 2).await,
        BatchClaim::Claimed { attempt: 1 }
    ));
}

pub async fn each_change_is_idempotent_and_refused_where_the_machine_says<
    S: JobStore + JobControls,
>(
    store: &S,
) {
    let job_id = job(store, 2).await;
    let job = &job_id;
    let change = |c| async move { store.change_control(job, c, now()).await.unwrap() };

    assert!(matches!(
        change(ControlChange::Resume).await,
        ControlAnswer::Unchanged(j) if j.control == JobControl::Running
    ));
    changed(change(PAUSE).await);
    // A second pause, whatever its reason, leaves the first one's.
    assert!(matches!(
        change(ControlChange::Pause(PauseReason::Budget)).await,
        ControlAnswer::Unchanged(j) if j.control == PAUSED
    ));
    changed(change(ControlChange::Resume).await);
    let budget = changed(change(ControlChange::Pause(PauseReason::Budget)).await);
    assert_eq!(budget.control, JobControl::Paused(PauseReason::Budget));
    assert_eq!(
        job_record(store, &job_id).await.control,
        JobControl::Paused(PauseReason::Budget)
    );

    let cancelled = changed(change(ControlChange::Cancel).await);
    assert_eq!(cancelled.control, JobControl::Cancelled);
    assert!(matches!(
        change(ControlChange::Cancel).await,
        ControlAnswer::Unchanged(_)
    ));
    for refused in [PAUSE, ControlChange::Resume] {
        assert!(matches!(
            change(refused).await,
            ControlAnswer::Refused(j) if j.control == JobControl::Cancelled
        ));
    }
    assert_eq!(
        store
            .change_control(&JobId::random(), PAUSE, now())
            .await
            .unwrap(),
        ControlAnswer::Missing
    );
}

pub async fn a_done_job_takes_no_change<S: JobStore + BatchLedger + JobControls>(store: &S) {
    let job_id = job(store, 1).await;
    let BatchClaim::Claimed { attempt } = claim(store, &job_id, 0).await else {
        panic!("claimable")
    };
    let failed = BatchOutcome::Failed {
        error: "refused".into(),
    };
    assert!(
        store
            .finish_batch(&job_id, 0, attempt, &failed, now())
            .await
            .unwrap()
    );
    for change in [PAUSE, ControlChange::Cancel] {
        assert!(matches!(
            store.change_control(&job_id, change, now()).await.unwrap(),
            ControlAnswer::Refused(j) if j.control == JobControl::Running && j.is_done()
        ));
    }
    assert_eq!(
        job_record(store, &job_id).await.control,
        JobControl::Running
    );
}

pub async fn cancelling_ends_every_unsent_batch_and_counts_it<
    S: JobStore + BatchLedger + JobControls,
>(
    store: &S,
) {
    let job_id = job(store, 4).await;
    let BatchClaim::Claimed { attempt } = claim(store, &job_id, 0).await else {
        panic!("claimable")
    };
    changed(store.change_control(&job_id, PAUSE, now()).await.unwrap());
    assert_eq!(store.park_batch(&job_id, 1).await.unwrap(), Parking::Parked);
    // Not before the job is cancelled.
    assert!(!store.cancel_batch(&job_id, 2, 3, now()).await.unwrap());

    changed(
        store
            .change_control(&job_id, ControlChange::Cancel, now())
            .await
            .unwrap(),
    );
    assert_eq!(
        claim(store, &job_id, 2).await,
        BatchClaim::Held(JobControl::Cancelled)
    );
    // Parked or pending, each ends `cancelled` once; the one in flight is not touched.
    assert!(store.cancel_batch(&job_id, 1, 2, now()).await.unwrap());
    assert!(store.cancel_batch(&job_id, 2, 3, now()).await.unwrap());
    assert!(!store.cancel_batch(&job_id, 2, 3, now()).await.unwrap());
    assert!(!store.cancel_batch(&job_id, 0, 1, now()).await.unwrap());
    assert_eq!(state(store, &job_id, 0).await, BatchState::Sending);
    let sent = BatchOutcome::Sent {
        message_uuids: vec!["u0".into()],
        invalid_numbers: vec![],
        opted_out: vec![],
    };
    assert!(
        store
            .finish_batch(&job_id, 0, attempt, &sent, now())
            .await
            .unwrap()
    );

    let job = job_record(store, &job_id).await;
    assert_eq!((job.batches_cancelled, job.recipients_cancelled), (2, 5));
    assert_eq!((job.batches_sent, job.batches_ended()), (1, 3));
    assert!(!job.is_done());
    assert!(store.cancel_batch(&job_id, 3, 4, now()).await.unwrap());
    let job = job_record(store, &job_id).await;
    assert!(job.is_done());
    assert_eq!(job.recipients_cancelled, 9);
    for b in 1..4 {
        assert_eq!(state(store, &job_id, b).await, BatchState::Cancelled);
        assert_eq!(
            claim(store, &job_id, b).await,
            BatchClaim::Ended(BatchState::Cancelled)
        );
    }
    // A cancelled job that is done is still cancelled: a change finds nothing to do.
    assert!(matches!(
        store
            .change_control(&job_id, ControlChange::Cancel, now())
            .await
            .unwrap(),
        ControlAnswer::Unchanged(_)
    ));
}

pub async fn concurrent_changes_have_one_winner<S: JobStore + JobControls>(store: &S) {
    let job_id = job(store, 2).await;
    let answers = join_all((0..6).map(|_| store.change_control(&job_id, PAUSE, now()))).await;
    let changes = answers
        .iter()
        .filter(|a| matches!(a, Ok(ControlAnswer::Changed(_))))
        .count();
    assert_eq!(changes, 1, "{answers:?}");
    assert!(answers.iter().all(|a| matches!(
        a,
        Ok(ControlAnswer::Changed(_) | ControlAnswer::Unchanged(_))
    )));

    // Cancels racing resumes: whichever order they land in, the job ends cancelled and no
    // resume is reported as a change after the cancel.
    let cancel = store.change_control(&job_id, ControlChange::Cancel, now());
    let resume = store.change_control(&job_id, ControlChange::Resume, now());
    let (cancel, resume) = futures::join!(cancel, resume);
    assert!(matches!(cancel.unwrap(), ControlAnswer::Changed(_)));
    assert!(matches!(
        resume.unwrap(),
        ControlAnswer::Changed(_) | ControlAnswer::Refused(_)
    ));
    assert_eq!(
        job_record(store, &job_id).await.control,
        JobControl::Cancelled
    );
}

pub async fn a_scheduled_job_holds_its_batches_until_it_starts<
    S: JobStore + BatchLedger + JobControls,
>(
    store: &S,
) {
    let send_at = now() + Duration::hours(2);
    let job_id = job_starting(store, 2, Some(send_at)).await;
    let job = job_record(store, &job_id).await;
    assert_eq!(
        (job.control, job.send_at),
        (JobControl::Scheduled, Some(send_at))
    );
    // Its batches are not enqueued before its start; one that is anyway waits parked.
    let scheduled = JobControl::Scheduled;
    assert_eq!(claim(store, &job_id, 0).await, BatchClaim::Held(scheduled));
    assert_eq!(store.park_batch(&job_id, 0).await.unwrap(), Parking::Parked);
    // Nothing has started to pause or resume.
    for change in [PAUSE, ControlChange::Resume] {
        assert!(
            matches!(
                store.change_control(&job_id, change, now()).await.unwrap(),
                ControlAnswer::Refused(job) if job.control == scheduled
            ),
            "{change:?}"
        );
    }

    let started = changed(
        store
            .change_control(&job_id, ControlChange::Start, now())
            .await
            .unwrap(),
    );
    assert_eq!(started.control, JobControl::Running);
    assert_eq!(started.send_at, Some(send_at));
    // A second start (the schedule's task delivered twice) changes nothing.
    assert!(matches!(
        store
            .change_control(&job_id, ControlChange::Start, now())
            .await
            .unwrap(),
        ControlAnswer::Unchanged(job) if job.control == JobControl::Running
    ));
    // The parked batch comes back for the start's sweep; the other is claimed as usual.
    assert_eq!(
        store.park_batch(&job_id, 1).await.unwrap(),
        Parking::NotPaused
    );
    assert!(store.unpark_batch(&job_id, 0, None).await.unwrap());
    assert!(matches!(
        claim(store, &job_id, 0).await,
        BatchClaim::Claimed { attempt: 1 }
    ));
    assert!(matches!(
        claim(store, &job_id, 1).await,
        BatchClaim::Claimed { attempt: 1 }
    ));
}

pub async fn a_scheduled_job_cancelled_before_its_start_never_starts<
    S: JobStore + BatchLedger + JobControls,
>(
    store: &S,
) {
    let job_id = job_starting(store, 2, Some(now() + Duration::hours(2))).await;
    let cancelled = changed(
        store
            .change_control(&job_id, ControlChange::Cancel, now())
            .await
            .unwrap(),
    );
    assert_eq!(cancelled.control, JobControl::Cancelled);
    for batch in 0..2 {
        assert!(
            store
                .cancel_batch(&job_id, batch, batch as u64 + 1, now())
                .await
                .unwrap()
        );
    }
    // The schedule fires anyway: the start finds a cancelled job and leaves it.
    assert!(matches!(
        store
            .change_control(&job_id, ControlChange::Start, now())
            .await
            .unwrap(),
        ControlAnswer::Unchanged(job) if job.control == JobControl::Cancelled
    ));
    let job = job_record(store, &job_id).await;
    assert_eq!(
        (
            job.batches_cancelled,
            job.recipients_cancelled,
            job.is_done()
        ),
        (2, 3, true)
    );
    assert_eq!(
        claim(store, &job_id, 0).await,
        BatchClaim::Ended(BatchState::Cancelled)
    );
}

pub async fn a_deferred_batch_counts_its_recipients_as_waiting_until_it_is_unparked<
    S: JobStore + BatchLedger + JobControls,
>(
    store: &S,
) {
    let job_id = job(store, 3).await;
    let t = now();
    let (early, late) = (t + Duration::hours(2), t + Duration::hours(9));

    // Batch 2 (3 recipients) waits for a late window, batch 1 (2) for an earlier one.
    assert!(store.defer_batch(&job_id, 2, 3, late, t).await.unwrap());
    assert!(store.defer_batch(&job_id, 1, 2, early, t).await.unwrap());
    // A second delivery of batch 1's record finds it deferred already.
    assert!(!store.defer_batch(&job_id, 1, 2, early, t).await.unwrap());

    let job = job_record(store, &job_id).await;
    assert_eq!(job.recipients_waiting, 5);
    assert_eq!(job.next_window_at, Some(early));
    assert_eq!(state(store, &job_id, 1).await, BatchState::Parked);
    let ledger = store.ledger(&job_id).await.unwrap();
    assert_eq!(
        ledger.iter().map(|e| e.deferred).collect::<Vec<_>>(),
        [false, true, true]
    );
    // A deferred batch is unparked only as deferred: its recipients are given back.
    assert!(!store.unpark_batch(&job_id, 1, None).await.unwrap());
    assert!(store.unpark_batch(&job_id, 1, Some(2)).await.unwrap());
    assert!(!store.unpark_batch(&job_id, 1, Some(2)).await.unwrap());
    let job = job_record(store, &job_id).await;
    assert_eq!(job.recipients_waiting, 3);
    assert_eq!(state(store, &job_id, 1).await, BatchState::Pending);
    assert!(!store.ledger(&job_id).await.unwrap()[1].deferred);

    // Once the recorded opening has passed, a later deferral records its own.
    assert!(matches!(
        claim(store, &job_id, 1).await,
        BatchClaim::Claimed { .. }
    ));
    assert!(
        store
            .defer_batch(&job_id, 0, 1, late, early + Duration::seconds(1))
            .await
            .unwrap()
    );
    assert_eq!(job_record(store, &job_id).await.next_window_at, Some(late));
}

sms_test_support::both_adapters!(
    crate;
    a_deferred_batch_counts_its_recipients_as_waiting_until_it_is_unparked,
    a_scheduled_job_holds_its_batches_until_it_starts,
    a_scheduled_job_cancelled_before_its_start_never_starts,
    a_paused_job_holds_its_batches_until_it_is_resumed,
    each_change_is_idempotent_and_refused_where_the_machine_says,
    a_done_job_takes_no_change,
    cancelling_ends_every_unsent_batch_and_counts_it,
    concurrent_changes_have_one_winner,
);
