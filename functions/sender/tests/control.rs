//! The sender and a job's control: a paused job's batches are parked, a cancelled job's end
//! `cancelled`, and neither reaches Plivo; a control change at each step between the claim
//! and the Plivo request is driven by a store stand-in that makes it at that step.

use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use lambda_runtime::{Context, LambdaEvent};
use sender::App;
use sms_core::{
    MessageText, PhoneNumber,
    domain::{
        bulk::BatchMessage,
        estimate::{Budget, Reservation},
        ids::JobId,
    },
    secrets::{SecretCache, StaticSecret},
    store::{
        AcceptedMessage, BatchClaim, BatchLedger, BatchOutcome, BatchState, ChangeOutcome,
        ControlAnswer, ControlChange, IntakeCounts, JobControls, JobRecord, JobSpec, JobStore,
        MemoryStore, MessageRecord, MessageStore, Parking, PauseReason, ProgressLog,
        ProgressSample, StoreError, SuppressionChange, SuppressionList,
    },
};
use sms_test_support::{PLIVO_MESSAGE_PATH, fast_plivo, plivo_accepted, service_secret};
use wiremock::{
    Mock, MockServer,
    matchers::{method, path},
};

const PAUSE: ControlChange = ControlChange::Pause(PauseReason::Requested);

fn numbers(batch: u32) -> Vec<PhoneNumber> {
    (0..3)
        .map(|i| PhoneNumber::parse(&format!("+1415{:07}", batch * 10 + i)).unwrap())
        .collect()
}

/// The in-memory store, making `on_park` just before a parking and `after_claim` just after
/// a successful claim, once each.
#[derive(Default)]
struct Interleaved {
    inner: MemoryStore,
    on_park: std::sync::Mutex<Option<ControlChange>>,
    after_claim: std::sync::Mutex<Option<ControlChange>>,
}

impl Interleaved {
    async fn make(&self, change: Option<ControlChange>, job_id: &JobId) {
        if let Some(change) = change {
            let answer = self
                .inner
                .change_control(job_id, change, Utc::now())
                .await
                .unwrap();
            assert!(matches!(answer, ControlAnswer::Changed(_)), "{answer:?}");
        }
    }
}

impl BatchLedger for Interleaved {
    async fn claim_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        reservation: Option<&Reservation>,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<BatchClaim, StoreError> {
        let claim = self
            .inner
            .claim_batch(job_id, batch, reservation, lease_until, now)
            .await?;
        if matches!(claim, BatchClaim::Claimed { .. }) {
            let change = self.after_claim.lock().unwrap().take();
            self.make(change, job_id).await;
        }
        Ok(claim)
    }

    async fn finish_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        attempt: u32,
        outcome: &BatchOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner
            .finish_batch(job_id, batch, attempt, outcome, now)
            .await
    }

    async fn release_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        attempt: u32,
    ) -> Result<(), StoreError> {
        self.inner.release_batch(job_id, batch, attempt).await
    }
}

impl SuppressionList for Interleaved {
    async fn is_suppressed(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        self.inner.is_suppressed(number).await
    }

    async fn suppressed_among(
        &self,
        numbers: &[PhoneNumber],
    ) -> Result<std::collections::HashSet<PhoneNumber>, StoreError> {
        self.inner.suppressed_among(numbers).await
    }

    async fn change(
        &self,
        change: &SuppressionChange<'_>,
        now: DateTime<Utc>,
    ) -> Result<ChangeOutcome, StoreError> {
        self.inner.change(change, now).await
    }
}

impl sms_core::store::PlivoCircuit for Interleaved {
    async fn circuit(
        &self,
        now: DateTime<Utc>,
    ) -> Result<sms_core::store::CircuitState, StoreError> {
        self.inner.circuit(now).await
    }

    async fn note_plivo_failure(
        &self,
        rule: sms_core::store::CircuitRule,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.inner.note_plivo_failure(rule, now).await
    }

    async fn note_plivo_success(&self) -> Result<(), StoreError> {
        self.inner.note_plivo_success().await
    }
}

impl JobControls for Interleaved {
    async fn raise_budget(
        &self,
        job_id: &JobId,
        caps: Budget,
    ) -> Result<Option<JobRecord>, StoreError> {
        self.inner.raise_budget(job_id, caps).await
    }

    async fn change_control(
        &self,
        job_id: &JobId,
        change: ControlChange,
        now: DateTime<Utc>,
    ) -> Result<ControlAnswer, StoreError> {
        self.inner.change_control(job_id, change, now).await
    }

    async fn park_batch(&self, job_id: &JobId, batch: u32) -> Result<Parking, StoreError> {
        let change = self.on_park.lock().unwrap().take();
        self.make(change, job_id).await;
        self.inner.park_batch(job_id, batch).await
    }

    async fn unpark_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        deferred: Option<u64>,
    ) -> Result<bool, StoreError> {
        self.inner.unpark_batch(job_id, batch, deferred).await
    }

    async fn defer_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        recipients: u64,
        opens: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner
            .defer_batch(job_id, batch, recipients, opens, now)
            .await
    }

    async fn cancel_batch(
        &self,
        job_id: &JobId,
        batch: u32,
        recipients: u64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner
            .cancel_batch(job_id, batch, recipients, now)
            .await
    }
}

impl MessageStore for Interleaved {
    async fn record_accepted(
        &self,
        messages: &[AcceptedMessage],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.record_accepted(messages, now).await
    }

    async fn get_message(&self, message_uuid: &str) -> Result<Option<MessageRecord>, StoreError> {
        self.inner.get_message(message_uuid).await
    }
}

impl ProgressLog for Interleaved {
    async fn note_progress(
        &self,
        job_id: &JobId,
        recipients: u64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.note_progress(job_id, recipients, now).await
    }

    async fn recent_progress(
        &self,
        job_id: &JobId,
        since: DateTime<Utc>,
    ) -> Result<Vec<ProgressSample>, StoreError> {
        self.inner.recent_progress(job_id, since).await
    }
}

type TestApp = App<
    Interleaved,
    SecretCache<StaticSecret>,
    sms_core::pace::Pacer<MemoryStore>,
    sms_core::queue::MemoryQueue,
>;

/// A job of `batches` batches of 3, and a Plivo that expects exactly `requests` requests.
async fn arrange(batches: u32, requests: u64) -> (TestApp, JobId, MockServer) {
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PLIVO_MESSAGE_PATH))
        .respond_with(plivo_accepted(&["u-0", "u-1", "u-2"]))
        .expect(requests)
        .mount(&plivo)
        .await;
    let job_id = JobId::random();
    let store = Interleaved::default();
    let spec = JobSpec {
        budget: None,
        quiet_hours: None,
        send_at: None,
        expires_at: None,
        job_id: job_id.clone(),
        text: MessageText::parse("hi").unwrap(),
        from: PhoneNumber::parse("+14155550100").unwrap().into(),
        reference: None,
        counts: IntakeCounts::default(),
        callback_url: "https://sms.example.com/cb".into(),
        batches: (0..batches).map(numbers).collect(),
        fallback: false,
    };
    store.inner.create_job(&spec, Utc::now()).await.unwrap();
    let app = App {
        tasks: sms_core::queue::MemoryQueue::default(),
        unknown: sms_core::config::UnknownOutcome::Reconcile { delay_seconds: 120 },
        store,
        secrets: SecretCache::new(StaticSecret(service_secret("t")), Duration::from_secs(60)),
        plivo: fast_plivo(&plivo.uri()),
        pace: sms_test_support::test_pace(),
        fallback: None,
    };
    (app, job_id, plivo)
}

/// Hands batch `batch` to the handler as one SQS record; the records it wants back.
async fn deliver(app: &TestApp, job_id: &JobId, batch: u32) -> usize {
    let body = serde_json::to_string(&BatchMessage {
        reservation: None,
        quiet_hours: None,
        expires_at: None,
        job_id: job_id.clone(),
        batch,
        from: PhoneNumber::parse("+14155550100").unwrap().into(),
        text: MessageText::parse("hi").unwrap(),
        recipients: numbers(batch),
        callback_url: "https://sms.example.com/cb".into(),
        fallback: false,
    })
    .unwrap();
    let mut record = SqsMessage::default();
    record.message_id = Some(format!("m-{batch}"));
    record.body = Some(body);
    let mut event = SqsEvent::default();
    event.records = vec![record];
    let mut context = Context::default();
    context.deadline = (Utc::now() + chrono::Duration::seconds(60)).timestamp_millis() as u64;
    sender::handle(LambdaEvent::new(event, context), app)
        .await
        .batch_item_failures
        .len()
}

async fn state(app: &TestApp, job_id: &JobId, batch: u32) -> BatchState {
    app.store.inner.ledger(job_id).await.unwrap()[batch as usize].state
}

#[tokio::test]
async fn a_paused_jobs_batch_is_parked_and_sent_once_after_the_resume() {
    let (app, job_id, plivo) = arrange(1, 1).await;
    app.store
        .change_control(&job_id, PAUSE, Utc::now())
        .await
        .unwrap();

    // Let go (not returned to the queue, so a long pause never reaches the dead-letter
    // queue), parked, and not sent.
    assert_eq!(deliver(&app, &job_id, 0).await, 0);
    assert_eq!(state(&app, &job_id, 0).await, BatchState::Parked);
    assert_eq!(deliver(&app, &job_id, 0).await, 0, "a second delivery");
    assert!(plivo.received_requests().await.unwrap().is_empty());

    // What a resume's sweep does: running, unparked, enqueued again.
    app.store
        .change_control(&job_id, ControlChange::Resume, Utc::now())
        .await
        .unwrap();
    assert!(app.store.unpark_batch(&job_id, 0, None).await.unwrap());
    assert_eq!(deliver(&app, &job_id, 0).await, 0);
    assert_eq!(state(&app, &job_id, 0).await, BatchState::Sent);
}

#[tokio::test]
async fn a_cancelled_jobs_batch_ends_cancelled_and_is_counted() {
    let (app, job_id, plivo) = arrange(2, 0).await;
    app.store
        .change_control(&job_id, ControlChange::Cancel, Utc::now())
        .await
        .unwrap();

    assert_eq!(deliver(&app, &job_id, 1).await, 0);
    assert_eq!(deliver(&app, &job_id, 1).await, 0, "a second delivery");

    assert_eq!(state(&app, &job_id, 1).await, BatchState::Cancelled);
    assert_eq!(state(&app, &job_id, 0).await, BatchState::Pending);
    let job = app.store.inner.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!((job.batches_cancelled, job.recipients_cancelled), (1, 3));
    assert!(plivo.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_resume_between_the_held_claim_and_the_parking_sends_the_batch() {
    let (app, job_id, _plivo) = arrange(1, 1).await;
    app.store
        .change_control(&job_id, PAUSE, Utc::now())
        .await
        .unwrap();
    *app.store.on_park.lock().unwrap() = Some(ControlChange::Resume);

    assert_eq!(deliver(&app, &job_id, 0).await, 0);

    assert_eq!(state(&app, &job_id, 0).await, BatchState::Sent);
}

#[tokio::test]
async fn a_batch_claimed_before_a_pause_or_a_cancel_finishes() {
    for change in [PAUSE, ControlChange::Cancel] {
        let (app, job_id, _plivo) = arrange(2, 1).await;
        *app.store.after_claim.lock().unwrap() = Some(change);

        assert_eq!(deliver(&app, &job_id, 0).await, 0);
        assert_eq!(deliver(&app, &job_id, 1).await, 0);

        assert_eq!(
            state(&app, &job_id, 0).await,
            BatchState::Sent,
            "{change:?}"
        );
        let held = if change == PAUSE {
            BatchState::Parked
        } else {
            BatchState::Cancelled
        };
        assert_eq!(state(&app, &job_id, 1).await, held, "{change:?}");
    }
}
