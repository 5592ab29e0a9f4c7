//! Jobs, the batch ledger and delivery reports: every scenario runs against the DynamoDB
//! adapter in moto (real SDK calls, real conditional writes and transactions) and against
//! the in-memory adapter, so both follow the same rules.
//!
//! Needs moto: run through `make test` or `infra/tests/with-moto.sh cargo test`.

use chrono::{Duration, Utc};
use sms_core::domain::{ids::JobId, status::Charge};
use sms_core::{
    Encoding, PhoneNumber,
    store::{
        AcceptedByPlivo, BatchClaim, BatchLedger, BatchOutcome, BatchRef, BatchState, CreateJob,
        DeliveryReport, DynamoStore, IntakeCounts, JobSpec, JobStore, MemoryStore, MessageStatus,
        MessageStore, ReportEffect, ReportStore,
    },
};
use sms_test_support::SettleCounts;

fn number(i: usize) -> PhoneNumber {
    PhoneNumber::parse(&format!("+1415{i:07}")).unwrap()
}

fn spec(job_id: &JobId, batches: usize) -> JobSpec {
    JobSpec {
        budget: None,
        quiet_hours: None,
        send_at: None,
        expires_at: None,
        job_id: job_id.clone(),
        text: sms_core::MessageText::parse("hello").unwrap(),
        from: PhoneNumber::parse("+14155550100").unwrap().into(),
        reference: Some("campaign-1".into()),
        counts: IntakeCounts {
            accepted: (batches * 2) as u64,
            duplicates: 1,
            suppressed: 2,
            invalid: 3,
            landlines: 4,
            landlines_skipped: 1,
        },
        callback_url: format!("https://x/cb?job_id={job_id}"),
        batches: (0..batches)
            .map(|b| vec![number(b * 2), number(b * 2 + 1)])
            .collect(),
        fallback: false,
    }
}

/// The same job as `spec`, as a retry would screen it: other recipients.
fn respec(job_id: &JobId, batches: usize) -> JobSpec {
    let mut s = spec(job_id, batches);
    s.batches = (0..batches)
        .map(|b| vec![number(1000 + b * 2), number(1000 + b * 2 + 1)])
        .collect();
    s
}

fn report(uuid: &str, status: MessageStatus, sequence: u64) -> DeliveryReport {
    DeliveryReport {
        to: Some(PhoneNumber::parse("+14155550123").unwrap()),
        sequence: Some(sequence),
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

/// Removes a job item and keeps its ledger: the state `finish` must refuse to change.
trait DropJobItem {
    async fn drop_job_item(&self, job_id: &JobId);
}

impl DropJobItem for DynamoStore {
    async fn drop_job_item(&self, job_id: &JobId) {
        use aws_sdk_dynamodb::types::AttributeValue;
        self.client()
            .delete_item()
            .table_name(self.table())
            .key("pk", AttributeValue::S(format!("JOB#{job_id}")))
            .key("sk", AttributeValue::S("JOB".into()))
            .send()
            .await
            .expect("raw DeleteItem");
    }
}

impl DropJobItem for MemoryStore {
    async fn drop_job_item(&self, job_id: &JobId) {
        self.forget_job(job_id);
    }
}

trait Store: JobStore + BatchLedger + ReportStore + MessageStore + DropJobItem + SettleCounts {}
impl<T: JobStore + BatchLedger + ReportStore + MessageStore + DropJobItem + SettleCounts> Store
    for T
{
}

/// The job's counts once every applied report is counted (in DynamoDB, once the table's
/// stream has been read and applied, as function report-counts does).
async fn settled_counts(store: &impl Store, job: &JobId) -> sms_core::store::StatusCounts {
    store.settle_counts().await;
    store.status_counts(job).await.unwrap()
}

async fn a_job_keeps_its_ledger_and_counts(store: &impl Store) {
    let job = JobId::random();
    assert!(store.get_job(&job).await.unwrap().is_none());
    assert_eq!(
        store.create_job(&spec(&job, 3), Utc::now()).await.unwrap(),
        CreateJob::Created
    );

    let record = store.get_job(&job).await.unwrap().unwrap();
    assert_eq!(
        (
            record.batches_total,
            record.counts.invalid,
            record.reference.as_deref()
        ),
        (3, 3, Some("campaign-1"))
    );
    assert_eq!(
        record.counts,
        spec(&job, 3).counts,
        "every count reads back"
    );
    let ledger = store.ledger(&job).await.unwrap();
    assert_eq!(
        ledger.iter().map(|e| e.batch).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(ledger[1].recipients, [number(2), number(3)]);
    assert!(
        ledger
            .iter()
            .all(|e| e.state == BatchState::Pending && !e.enqueued)
    );

    store.mark_enqueued(&job, 1).await.unwrap();
    assert!(store.ledger(&job).await.unwrap()[1].enqueued);
}

async fn a_batch_is_claimed_once_and_ends_once(store: &impl Store) {
    let job = JobId::random();
    store.create_job(&spec(&job, 1), Utc::now()).await.unwrap();
    let now = Utc::now();
    let lease = now + Duration::seconds(60);

    let BatchClaim::Claimed { attempt } =
        store.claim_batch(&job, 0, None, lease, now).await.unwrap()
    else {
        panic!("claim")
    };
    assert!(matches!(
        store.claim_batch(&job, 0, None, lease, now).await.unwrap(),
        BatchClaim::Busy { .. }
    ));

    // One recipient opted out after the intake: the sender left them out.
    let sent = BatchOutcome::Sent {
        message_uuids: vec!["m1".into()],
        invalid_numbers: vec!["14150000009".into()],
        opted_out: vec![number(1)],
    };
    assert!(
        store
            .finish_batch(&job, 0, attempt, &sent, now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish_batch(&job, 0, attempt, &sent, now)
            .await
            .unwrap(),
        "a second finish changes nothing"
    );
    assert_eq!(
        store.claim_batch(&job, 0, None, lease, now).await.unwrap(),
        BatchClaim::Ended(BatchState::Sent)
    );

    let record = store.get_job(&job).await.unwrap().unwrap();
    assert_eq!(
        (
            record.batches_sent,
            record.messages_accepted,
            record.plivo_invalid,
            record.recipients_opted_out
        ),
        (1, 1, 1, 1)
    );
    let entry = &store.ledger(&job).await.unwrap()[0];
    assert_eq!(entry.message_uuids, ["m1"]);
    assert_eq!(entry.opted_out, [number(1)]);
    assert_eq!(
        store.claim_batch(&job, 7, None, lease, now).await.unwrap(),
        BatchClaim::Missing
    );
}

async fn an_expired_claim_is_reported_and_a_released_one_can_be_claimed_again(store: &impl Store) {
    let job = JobId::random();
    store.create_job(&spec(&job, 2), Utc::now()).await.unwrap();
    let now = Utc::now();

    let BatchClaim::Claimed { attempt } = store
        .claim_batch(&job, 0, None, now - Duration::seconds(1), now)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        store.claim_batch(&job, 0, None, now, now).await.unwrap(),
        BatchClaim::LeaseExpired { attempt }
    );
    let unknown = BatchOutcome::Unknown {
        reason: "lease expired".into(),
    };
    assert!(
        store
            .finish_batch(&job, 0, attempt, &unknown, now)
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_job(&job).await.unwrap().unwrap().batches_unknown,
        1
    );

    let BatchClaim::Claimed { attempt } = store
        .claim_batch(&job, 1, None, now + Duration::seconds(60), now)
        .await
        .unwrap()
    else {
        panic!()
    };
    store.release_batch(&job, 1, attempt).await.unwrap();
    assert_eq!(
        store.ledger(&job).await.unwrap()[1].state,
        BatchState::Pending
    );
    assert_eq!(
        store
            .claim_batch(&job, 1, None, now + Duration::seconds(60), now)
            .await
            .unwrap(),
        BatchClaim::Claimed {
            attempt: attempt + 1
        }
    );
    let failed = BatchOutcome::Failed {
        error: "refused".into(),
    };
    assert!(
        !store
            .finish_batch(&job, 1, attempt, &failed, now)
            .await
            .unwrap(),
        "a stale claim cannot finish"
    );
}

async fn reports_move_forward_and_count_each_message_once(store: &impl Store) {
    use MessageStatus::*;
    let job = JobId::random();
    store.create_job(&spec(&job, 1), Utc::now()).await.unwrap();
    let (a, b) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let now = Utc::now();

    let batch = in_batch(&job, 0);
    let batch = &batch;
    let apply = |uuid: String, status, seq| async move {
        store
            .apply_report(&report(&uuid, status, seq), Some(batch), now)
            .await
            .unwrap()
    };
    assert_eq!(
        apply(a.clone(), Delivered, 3).await,
        ReportEffect::Applied { from: None }
    );
    assert_eq!(apply(a.clone(), Sent, 2).await, ReportEffect::Ignored);
    assert_eq!(apply(a.clone(), Delivered, 3).await, ReportEffect::Ignored);
    assert_eq!(
        apply(b.clone(), Queued, 1).await,
        ReportEffect::Applied { from: None }
    );
    assert_eq!(
        apply(b.clone(), Sent, 2).await,
        ReportEffect::Applied { from: Some(Queued) }
    );
    assert_eq!(apply(b.clone(), Sent, 2).await, ReportEffect::Ignored);
    assert_eq!(
        apply(b.clone(), Undelivered, 3).await,
        ReportEffect::Applied { from: Some(Sent) }
    );

    let counts = settled_counts(store, &job).await;
    assert_eq!(
        (counts.delivered, counts.undelivered, counts.sent),
        (1, 1, 0)
    );
    let msg = store
        .get_message(&a)
        .await
        .unwrap()
        .expect("a report for an unknown uuid is kept");
    assert_eq!(
        (
            msg.status,
            msg.to.as_ref().map(|n| n.as_str()),
            msg.job_id.as_ref().map(|j| j.as_str())
        ),
        (Delivered, Some("+14155550123"), Some(job.as_str()))
    );
}

async fn the_charges_of_a_jobs_messages_are_summed_once_per_message(store: &impl Store) {
    use MessageStatus::*;
    let job = JobId::random();
    store.create_job(&spec(&job, 1), Utc::now()).await.unwrap();
    let (a, b, c) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let batch = in_batch(&job, 0);
    let charged =
        |amount: Option<&str>, units: Option<u32>, uuid: &str, status, seq| DeliveryReport {
            units,
            total_amount: amount.map(str::to_owned),
            ..report(uuid, status, seq)
        };
    let reports = [
        // a: every report carries the message's amount; each again, duplicated.
        charged(Some("0.0079"), Some(1), &a, Queued, 1),
        charged(Some("0.0079"), Some(1), &a, Queued, 1),
        charged(Some("0.0079"), Some(1), &a, Sent, 2),
        charged(Some("0.0079"), Some(1), &a, Delivered, 3),
        charged(Some("0.0079"), Some(1), &a, Delivered, 3),
        // b: two segments; its amount comes only with the last report.
        charged(None, None, &b, Queued, 1),
        charged(Some("0.01580"), Some(2), &b, Delivered, 3),
        // c: charged at queued, then corrected to nothing (an opted-out number).
        charged(Some("0.0079"), Some(1), &c, Queued, 1),
        charged(Some("0.00000"), Some(1), &c, Failed, 2),
        // An older report arriving late changes nothing.
        charged(Some("9.99"), Some(9), &c, Sent, 1),
    ];
    for r in &reports {
        store
            .apply_report(r, Some(&batch), Utc::now())
            .await
            .unwrap();
    }

    let counts = settled_counts(store, &job).await;
    assert_eq!(
        counts.charged,
        Charge {
            micros: 7_900 + 15_800,
            units: 1 + 2 + 1
        }
    );
    // Reports without a job (a single send) charge no job.
    store
        .apply_report(
            &charged(Some("1.00"), Some(1), "lone", Sent, 1),
            None,
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(settled_counts(store, &job).await.charged, counts.charged);
}

async fn a_report_keeps_the_facts_the_sender_wrote(store: &impl Store) {
    let uuid = uuid::Uuid::new_v4().to_string();
    let now = Utc::now();
    store
        .apply_report(&report(&uuid, MessageStatus::Sent, 2), None, now)
        .await
        .unwrap();
    let accepted = sms_core::store::AcceptedMessage {
        message_uuid: uuid.clone(),
        to: None,
        from: PhoneNumber::parse("+14155550100").unwrap().into(),
        job_id: Some(JobId::random()),
        reference: None,
        encoding: Encoding::Ucs2,
        segments: 2,
        provider: sms_core::domain::provider::Provider::Plivo,
    };
    store.record_accepted(&[accepted], now).await.unwrap();
    let msg = store.get_message(&uuid).await.unwrap().unwrap();
    assert_eq!(
        msg.status,
        MessageStatus::Sent,
        "recording after a report does not move it back"
    );
    assert_eq!(
        (msg.encoding.as_deref(), msg.segments),
        (Some("UCS-2"), Some(2))
    );
}

async fn a_powerpack_message_shows_the_number_its_report_names(store: &impl Store) {
    let now = Utc::now();
    let pack = sms_core::Sender::parse("d35f2e82-d387-427f-8594-6fa07613c43a").unwrap();
    let accepted = |uuid: &str, from: &sms_core::Sender| sms_core::store::AcceptedMessage {
        message_uuid: uuid.to_owned(),
        to: None,
        from: from.clone(),
        job_id: None,
        reference: None,
        encoding: Encoding::Gsm7,
        segments: 1,
        provider: sms_core::domain::provider::Provider::Plivo,
    };
    let from_report = |uuid: &str, from: &str| DeliveryReport {
        from: Some(PhoneNumber::parse(from).unwrap()),
        ..report(uuid, MessageStatus::Delivered, 3)
    };
    // Recorded, then reported; and reported first, then recorded: the same view.
    let (first, second) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    store
        .record_accepted(&[accepted(&first, &pack)], now)
        .await
        .unwrap();
    let before = store.get_message(&first).await.unwrap().unwrap();
    assert_eq!(
        before.from,
        Some(pack.clone()),
        "no report yet: the Powerpack"
    );
    store
        .apply_report(&from_report(&first, "+14155550177"), None, now)
        .await
        .unwrap();
    store
        .apply_report(&from_report(&second, "+14155550177"), None, now)
        .await
        .unwrap();
    store
        .record_accepted(&[accepted(&second, &pack)], now)
        .await
        .unwrap();
    for uuid in [&first, &second] {
        let msg = store.get_message(uuid).await.unwrap().unwrap();
        assert_eq!(msg.from.unwrap().as_str(), "+14155550177");
    }
    // A sender ID stays what it was asked to be.
    let third = uuid::Uuid::new_v4().to_string();
    let acme = sms_core::Sender::parse("Acme").unwrap();
    store
        .record_accepted(&[accepted(&third, &acme)], now)
        .await
        .unwrap();
    store
        .apply_report(&from_report(&third, "+14155550177"), None, now)
        .await
        .unwrap();
    let msg = store.get_message(&third).await.unwrap().unwrap();
    assert_eq!(msg.from, Some(acme));
}

/// What `GET /v1/bulk/{id}` is built from: the messages Plivo is known to have accepted, and
/// how many of them have a status beyond `queued`.
async fn figures(store: &impl Store, job: &JobId) -> (AcceptedByPlivo, i64) {
    let record = store.get_job(job).await.unwrap().unwrap();
    let counts = settled_counts(store, job).await;
    (record.accepted_by_plivo(&counts), counts.beyond_queued())
}

async fn reports_of_an_unknown_batch_count_as_accepted_and_never_exceed_it(store: &impl Store) {
    use MessageStatus::*;
    let job = JobId::random();
    store.create_job(&spec(&job, 2), Utc::now()).await.unwrap();
    let now = Utc::now();
    let (b0, b1) = (in_batch(&job, 0), in_batch(&job, 1));
    let uuid = |name: &str| format!("{job}-{name}");
    let apply = |name: &'static str, batch: &BatchRef, status, seq| {
        let r = report(&uuid(name), status, seq);
        let batch = batch.clone();
        async move { store.apply_report(&r, Some(&batch), now).await.unwrap() }
    };
    let accepted = |total, unconfirmed| AcceptedByPlivo { total, unconfirmed };
    let BatchClaim::Claimed { attempt: a0 } = store
        .claim_batch(&job, 0, None, now + Duration::seconds(60), now)
        .await
        .unwrap()
    else {
        panic!("claim 0")
    };
    let BatchClaim::Claimed { attempt: a1 } = store
        .claim_batch(&job, 1, None, now - Duration::seconds(1), now)
        .await
        .unwrap()
    else {
        panic!("claim 1")
    };

    // A report of batch 0 before the sender recorded Plivo's answer: known from the report.
    apply("m1", &b0, Sent, 2).await;
    assert_eq!(figures(store, &job).await, (accepted(1, 1), 1));

    // Plivo's answer recorded: batch 0's messages come from it, the report is not added twice.
    let sent = BatchOutcome::Sent {
        message_uuids: vec![uuid("m1"), uuid("m2")],
        invalid_numbers: vec![],
        opted_out: vec![],
    };
    assert!(store.finish_batch(&job, 0, a0, &sent, now).await.unwrap());
    assert_eq!(figures(store, &job).await, (accepted(2, 0), 1));

    // Batch 1's answer never came, but Plivo had it: its reports are the evidence.
    let unknown = BatchOutcome::Unknown {
        reason: "lease expired".into(),
    };
    assert!(
        store
            .finish_batch(&job, 1, a1, &unknown, now)
            .await
            .unwrap()
    );
    apply("x1", &b1, Queued, 1).await;
    assert_eq!(figures(store, &job).await, (accepted(3, 1), 1));
    apply("x1", &b1, Delivered, 3).await;
    apply("x2", &b1, Undelivered, 3).await;
    apply("x2", &b1, Undelivered, 3).await;
    apply("m1", &b0, Delivered, 3).await;
    let (known, beyond_queued) = figures(store, &job).await;
    assert_eq!((known, beyond_queued), (accepted(4, 2), 3));

    // The per-status counts and what is left queued (m2) sum to the known accepted.
    let counts = settled_counts(store, &job).await;
    let queued = known.total as i64 - counts.beyond_queued();
    assert_eq!(
        (
            queued,
            counts.sent,
            counts.delivered,
            counts.undelivered,
            counts.failed,
            counts.rejected
        ),
        (1, 0, 2, 1, 0, 0)
    );
}

async fn a_report_without_a_sequence_keeps_the_stored_one(store: &impl Store) {
    use MessageStatus::*;
    let uuid = uuid::Uuid::new_v4().to_string();
    let now = Utc::now();
    store
        .apply_report(&report(&uuid, Sent, 5), None, now)
        .await
        .unwrap();
    let mut unsequenced = report(&uuid, Delivered, 0);
    unsequenced.sequence = None;
    assert_eq!(
        store.apply_report(&unsequenced, None, now).await.unwrap(),
        ReportEffect::Applied { from: Some(Sent) }
    );
    assert_eq!(
        store.get_message(&uuid).await.unwrap().unwrap().sequence,
        Some(5)
    );

    // Compared against the kept sequence: an older final is stale, a newer one wins.
    assert_eq!(
        store
            .apply_report(&report(&uuid, Undelivered, 4), None, now)
            .await
            .unwrap(),
        ReportEffect::Ignored
    );
    assert_eq!(
        store
            .apply_report(&report(&uuid, Undelivered, 6), None, now)
            .await
            .unwrap(),
        ReportEffect::Applied {
            from: Some(Delivered)
        }
    );
    let msg = store.get_message(&uuid).await.unwrap().unwrap();
    assert_eq!((msg.status, msg.sequence), (Undelivered, Some(6)));
}

async fn an_error_code_belongs_to_the_status_it_came_with(store: &impl Store) {
    use MessageStatus::*;
    let uuid = uuid::Uuid::new_v4().to_string();
    let now = Utc::now();
    let mut failed = report(&uuid, Undelivered, 3);
    failed.error_code = Some("300".into());
    store.apply_report(&failed, None, now).await.unwrap();
    assert_eq!(
        store.get_message(&uuid).await.unwrap().unwrap().error_code,
        Some("300".into())
    );

    // A stale report changes nothing, its missing error code included.
    store
        .apply_report(&report(&uuid, Sent, 2), None, now)
        .await
        .unwrap();
    assert_eq!(
        store.get_message(&uuid).await.unwrap().unwrap().error_code,
        Some("300".into())
    );

    // A newer status without an error code clears it.
    store
        .apply_report(&report(&uuid, Delivered, 4), None, now)
        .await
        .unwrap();
    let msg = store.get_message(&uuid).await.unwrap().unwrap();
    assert_eq!((msg.status, msg.error_code), (Delivered, None));
}

async fn finishing_a_batch_of_a_missing_job_changes_nothing(store: &impl Store) {
    let job = JobId::random();
    store.create_job(&spec(&job, 1), Utc::now()).await.unwrap();
    let now = Utc::now();
    let BatchClaim::Claimed { attempt } = store
        .claim_batch(&job, 0, None, now + Duration::seconds(60), now)
        .await
        .unwrap()
    else {
        panic!("claim")
    };
    store.drop_job_item(&job).await;

    let sent = BatchOutcome::Sent {
        message_uuids: vec!["m1".into()],
        invalid_numbers: vec![],
        opted_out: vec![],
    };
    assert!(
        !store
            .finish_batch(&job, 0, attempt, &sent, now)
            .await
            .unwrap()
    );

    // Without its job item the ledger is not listed; a claim shows the batch still `sending`
    // under the live lease: the ledger item did not end.
    let claim = store
        .claim_batch(&job, 0, None, now + Duration::seconds(120), now)
        .await;
    assert!(matches!(claim, Ok(BatchClaim::Busy { .. })), "{claim:?}");
}

async fn marking_a_batch_without_a_ledger_item_enqueued_is_an_error(store: &impl Store) {
    let job = JobId::random();
    store.create_job(&spec(&job, 1), Utc::now()).await.unwrap();

    let err = store.mark_enqueued(&job, 1).await.unwrap_err();
    assert!(err.to_string().contains("no ledger item"), "{err}");
    let other = JobId::random();
    assert!(store.mark_enqueued(&other, 0).await.is_err());
    assert!(!store.ledger(&job).await.unwrap()[0].enqueued);
}

async fn creating_an_existing_job_is_refused_and_changes_nothing(store: &impl Store) {
    // Arrange: a committed job, nothing claimed or enqueued yet.
    let job = JobId::random();
    let now = Utc::now();
    store.create_job(&spec(&job, 2), now).await.unwrap();
    let before = (
        store.get_job(&job).await.unwrap(),
        store.ledger(&job).await.unwrap(),
    );

    // Act: another attempt with another screening of the list.
    let again = store
        .create_job(&respec(&job, 3), now + Duration::seconds(5))
        .await
        .unwrap();

    // Assert
    assert_eq!(again, CreateJob::Conflict);
    assert_eq!(
        (
            store.get_job(&job).await.unwrap(),
            store.ledger(&job).await.unwrap()
        ),
        before
    );
    assert_eq!(
        store.claim_batch(&job, 2, None, now, now).await.unwrap(),
        BatchClaim::Missing
    );
}

async fn a_ledger_that_moved_on_is_never_rewritten(store: &impl Store) {
    // Arrange: an attempt committed its job; batch 0 is claimed, batch 1 enqueued.
    let job = JobId::random();
    let now = Utc::now();
    let lease = now + Duration::seconds(60);
    store.create_job(&spec(&job, 3), now).await.unwrap();
    let BatchClaim::Claimed { attempt } =
        store.claim_batch(&job, 0, None, lease, now).await.unwrap()
    else {
        panic!("claim")
    };
    store.mark_enqueued(&job, 1).await.unwrap();

    // Act: a concurrent attempt that missed the job item writes its ledger.
    let written = store.write_ledger(&respec(&job, 3), now).await.unwrap();

    // Assert: refused; the claimed and the enqueued batch are as they were, so the sender's
    // claim still finishes and nothing is enqueued twice.
    assert_eq!(written, CreateJob::Conflict);
    let ledger = store.ledger(&job).await.unwrap();
    assert_eq!(
        (ledger[0].state, ledger[0].attempts, &ledger[0].recipients),
        (BatchState::Sending, 1, &vec![number(0), number(1)])
    );
    assert!(ledger[1].enqueued);
    assert_eq!(ledger[1].recipients, [number(2), number(3)]);
    let sent = BatchOutcome::Sent {
        message_uuids: vec!["m1".into()],
        invalid_numbers: vec![],
        opted_out: vec![],
    };
    assert!(
        store
            .finish_batch(&job, 0, attempt, &sent, now)
            .await
            .unwrap()
    );
}

async fn an_earlier_attempts_extra_batches_are_removed(store: &impl Store) {
    // Arrange: a first attempt wrote a 5-batch ledger and died before its job item.
    let job = JobId::random();
    let now = Utc::now();
    assert_eq!(
        store.write_ledger(&spec(&job, 5), now).await.unwrap(),
        CreateJob::Created
    );
    assert!(
        store.ledger(&job).await.unwrap().is_empty(),
        "no job item, no ledger"
    );

    // Act: the retry's list now makes 3 batches (someone opted out in between).
    let created = store.create_job(&respec(&job, 3), now).await.unwrap();

    // Assert: only the retry's 3 batches are there, with its recipients.
    assert_eq!(created, CreateJob::Created);
    let ledger = store.ledger(&job).await.unwrap();
    assert_eq!(
        ledger.iter().map(|e| e.batch).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(ledger[2].recipients, [number(1004), number(1005)]);
    assert_eq!(store.get_job(&job).await.unwrap().unwrap().batches_total, 3);
    for extra in [3, 4] {
        assert_eq!(
            store
                .claim_batch(&job, extra, None, now + Duration::seconds(60), now)
                .await
                .unwrap(),
            BatchClaim::Missing,
            "batch {extra} of the dead attempt is gone"
        );
    }
}

sms_test_support::both_adapters!(
    crate;
    a_job_keeps_its_ledger_and_counts,
    a_batch_is_claimed_once_and_ends_once,
    an_expired_claim_is_reported_and_a_released_one_can_be_claimed_again,
    reports_move_forward_and_count_each_message_once,
    the_charges_of_a_jobs_messages_are_summed_once_per_message,
    a_report_keeps_the_facts_the_sender_wrote,
    a_powerpack_message_shows_the_number_its_report_names,
    reports_of_an_unknown_batch_count_as_accepted_and_never_exceed_it,
    a_report_without_a_sequence_keeps_the_stored_one,
    an_error_code_belongs_to_the_status_it_came_with,
    finishing_a_batch_of_a_missing_job_changes_nothing,
    marking_a_batch_without_a_ledger_item_enqueued_is_an_error,
    creating_an_existing_job_is_refused_and_changes_nothing,
    a_ledger_that_moved_on_is_never_rewritten,
    an_earlier_attempts_extra_batches_are_removed,
);
