//! send-bulk against DynamoDB in moto (real conditional writes and item limits): retries of
//! one `Idempotency-Key` racing each other, a retry after an attempt that died half-way,
//! and the largest answer's idempotent replay.
//!
//! A [`Paused`] store stands between the handler and DynamoDB: it stops one request right
//! after a named step, or fails one step once, so each test drives an exact interleaving.
//!
//! Needs moto: run through `make test` or `infra/tests/with-moto.sh cargo test`.

use sms_core::domain::ids::JobId;
use std::{
    collections::HashSet,
    pin::pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use lambda_http::{Body, Request, Response, http};
use send_bulk::{App, BulkRequest, BulkRequestBody};
use serde_json::{Value, json};
use sms_core::{
    PhoneNumber,
    config::PublicBaseUrl,
    domain::bulk::BatchMessage,
    files::MemoryFiles,
    http::api::IdempotencyKey,
    http::idempotency,
    queue::{BatchQueue, MemoryQueue, QueueEntry, QueueError},
    secrets::{SecretCache, StaticSecret},
    store::{
        BatchState, ChangeOutcome, ControlAnswer, ControlChange, CreateJob, DynamoStore,
        IdempotencyStore, JobControls, JobRecord, JobSpec, JobStore, KeyClaim, LedgerEntry,
        Parking, PlanCheckpoint, PlanClaim, PlanEnd, PlanRecord, PlanStore, ReportedStatus,
        ResultsCheckpoint, ResultsClaim, ResultsEnd, ResultsRecord, ResultsRequest, ResultsStore,
        StatusCounts, StoreError, StoredResponse, SuppressionChange, SuppressionList,
        SuppressionSource,
    },
};
use tokio::sync::Notify;

/// The sender of the test secret.
const DEFAULT_SRC: &str = sms_test_support::PLIVO_SRC;
use sms_test_support::{json_of, post_json, service_secret, text_of};

/// Where a [`Paused`] store stops its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// `IdempotencyStore::begin` has read the key's record.
    AfterBegin,
    /// `JobStore::get_job` has answered.
    AfterGetJob,
}

/// One request's pause: where, and the two signals (reached, go on).
#[derive(Default)]
struct Gate {
    at: Mutex<Option<Step>>,
    reached: Notify,
    resume: Notify,
}

impl Gate {
    fn pause_at(&self, step: Option<Step>) {
        *self.at.lock().unwrap() = step;
    }

    async fn pass(&self, step: Step) {
        let stop = {
            let mut at = self.at.lock().unwrap();
            let stop = *at == Some(step);
            if stop {
                *at = None;
            }
            stop
        };
        if stop {
            self.reached.notify_one();
            self.resume.notified().await;
        }
    }
}

/// The DynamoDB store, with one request's pause and an optional failing job commit.
struct Paused {
    inner: DynamoStore,
    gate: Arc<Gate>,
    fail_commit_once: AtomicBool,
}

impl Paused {
    fn new(inner: &DynamoStore) -> Self {
        Self {
            inner: inner.clone(),
            gate: Arc::default(),
            fail_commit_once: AtomicBool::new(false),
        }
    }
}

impl IdempotencyStore for Paused {
    async fn claim_key(
        &self,
        key: &str,
        request_hash: &str,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<KeyClaim, StoreError> {
        let found = self.inner.claim_key(key, request_hash, owner, now).await;
        self.gate.pass(Step::AfterBegin).await;
        found
    }

    async fn take_over_key(
        &self,
        key: &str,
        request_hash: &str,
        stale_started_at: DateTime<Utc>,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner
            .take_over_key(key, request_hash, stale_started_at, owner, now)
            .await
    }

    async fn finish_key(
        &self,
        key: &str,
        request_hash: &str,
        owner: &str,
        response: &StoredResponse,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner
            .finish_key(key, request_hash, owner, response, now)
            .await
    }

    async fn release_key(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        self.inner.release_key(key, owner).await
    }
}

impl PlanStore for Paused {
    async fn create_plan(&self, plan: &PlanRecord) -> Result<CreateJob, StoreError> {
        self.inner.create_plan(plan).await
    }

    async fn get_plan(&self, job_id: &JobId) -> Result<Option<PlanRecord>, StoreError> {
        self.inner.get_plan(job_id).await
    }

    async fn claim_plan(
        &self,
        job_id: &JobId,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<PlanClaim, StoreError> {
        self.inner.claim_plan(job_id, lease_until, now).await
    }

    async fn save_checkpoint(
        &self,
        job_id: &JobId,
        attempt: u32,
        checkpoint: &PlanCheckpoint,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner
            .save_checkpoint(job_id, attempt, checkpoint, lease_until, now)
            .await
    }

    async fn end_plan(
        &self,
        job_id: &JobId,
        attempt: u32,
        end: &PlanEnd,
        checkpoint: &PlanCheckpoint,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner
            .end_plan(job_id, attempt, end, checkpoint, now)
            .await
    }

    async fn put_batches(
        &self,
        job_id: &JobId,
        entries: &[LedgerEntry],
        now: DateTime<Utc>,
    ) -> Result<CreateJob, StoreError> {
        self.inner.put_batches(job_id, entries, now).await
    }
}

impl JobControls for Paused {
    async fn raise_budget(
        &self,
        job_id: &JobId,
        caps: sms_core::domain::estimate::Budget,
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

impl ResultsStore for Paused {
    async fn request_results(
        &self,
        job_id: &JobId,
        now: DateTime<Utc>,
    ) -> Result<ResultsRequest, StoreError> {
        self.inner.request_results(job_id, now).await
    }

    async fn get_results(&self, job_id: &JobId) -> Result<Option<ResultsRecord>, StoreError> {
        self.inner.get_results(job_id).await
    }

    async fn claim_results(
        &self,
        job_id: &JobId,
        generation: u32,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<ResultsClaim, StoreError> {
        self.inner
            .claim_results(job_id, generation, lease_until, now)
            .await
    }

    async fn save_results_checkpoint(
        &self,
        job_id: &JobId,
        generation: u32,
        attempt: u32,
        checkpoint: &ResultsCheckpoint,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner
            .save_results_checkpoint(job_id, generation, attempt, checkpoint, lease_until, now)
            .await
    }

    async fn end_results(
        &self,
        job_id: &JobId,
        generation: u32,
        attempt: u32,
        end: &ResultsEnd,
        checkpoint: &ResultsCheckpoint,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner
            .end_results(job_id, generation, attempt, end, checkpoint, now)
            .await
    }

    async fn reported(&self, message_uuids: &[String]) -> Result<Vec<ReportedStatus>, StoreError> {
        self.inner.reported(message_uuids).await
    }
}

impl JobStore for Paused {
    async fn get_job(&self, job_id: &JobId) -> Result<Option<JobRecord>, StoreError> {
        let job = self.inner.get_job(job_id).await;
        self.gate.pass(Step::AfterGetJob).await;
        job
    }

    async fn write_ledger(
        &self,
        spec: &JobSpec,
        now: DateTime<Utc>,
    ) -> Result<CreateJob, StoreError> {
        self.inner.write_ledger(spec, now).await
    }

    async fn commit_job(&self, job: &JobRecord) -> Result<CreateJob, StoreError> {
        if self.fail_commit_once.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Backend {
                operation: "PutItem",
                reason: "the invocation died before its job item".into(),
            });
        }
        self.inner.commit_job(job).await
    }

    async fn ledger(&self, job_id: &JobId) -> Result<Vec<LedgerEntry>, StoreError> {
        self.inner.ledger(job_id).await
    }

    async fn ledger_range(
        &self,
        job_id: &JobId,
        batches: std::ops::Range<u32>,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        self.inner.ledger_range(job_id, batches).await
    }

    async fn mark_enqueued(&self, job_id: &JobId, batch: u32) -> Result<(), StoreError> {
        self.inner.mark_enqueued(job_id, batch).await
    }

    async fn status_counts(&self, job_id: &JobId) -> Result<StatusCounts, StoreError> {
        self.inner.status_counts(job_id).await
    }
}

impl SuppressionList for Paused {
    async fn is_suppressed(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        self.inner.is_suppressed(number).await
    }

    async fn suppressed_among(
        &self,
        numbers: &[PhoneNumber],
    ) -> Result<HashSet<PhoneNumber>, StoreError> {
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

impl sms_core::store::ProgressLog for Paused {
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
    ) -> Result<Vec<sms_core::store::ProgressSample>, StoreError> {
        self.inner.recent_progress(job_id, since).await
    }
}

/// One queue shared by the apps of concurrent requests.
#[derive(Clone, Default)]
struct SharedQueue(Arc<MemoryQueue>);

impl BatchQueue for SharedQueue {
    async fn send_batch(&self, entries: &[QueueEntry]) -> Result<Vec<String>, QueueError> {
        self.0.send_batch(entries).await
    }
}

impl SharedQueue {
    fn batches(&self) -> Vec<BatchMessage> {
        self.0
            .bodies()
            .iter()
            .map(|b| serde_json::from_str(b).unwrap())
            .collect()
    }
}

type TestApp = App<Paused, SharedQueue, SecretCache<StaticSecret>, MemoryFiles, MemoryQueue>;

fn app(store: &DynamoStore, queue: &SharedQueue, batch_size: usize) -> TestApp {
    let secret = service_secret("t");
    App {
        store: Paused::new(store),
        queue: queue.clone(),
        secrets: SecretCache::new(StaticSecret(secret), Duration::from_secs(60)),
        files: MemoryFiles::new(),
        tasks: MemoryQueue::default(),
        public_base_url: PublicBaseUrl::parse("https://sms.example.com").unwrap(),
        batch_size,
        rates: send_bulk::forecast::Rates::default(),
        max_upload_bytes: send_bulk::uploads::DEFAULT_MAX_UPLOAD_BYTES,
        prices: Default::default(),
        fallback: false,
    }
}

fn post(body: &Value, key: &str) -> Request {
    post_json("/v1/bulk", body, Some(key))
}

fn numbers(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("+1415{:07}", 2_000_000 + i))
        .collect()
}

fn parsed(body: &Value) -> BulkRequest {
    let body: BulkRequestBody = serde_json::from_value(body.clone()).unwrap();
    BulkRequest::parse(body, &sms_core::Sender::parse(DEFAULT_SRC).unwrap()).unwrap()
}

/// What a request did by the time the test looked: stopped at its gate, or answered.
enum Progress {
    Paused,
    Answered(Response<Body>),
}

/// Runs `request` until it stops at its gate or answers.
async fn run_until_paused(
    request: &mut std::pin::Pin<&mut impl Future<Output = Response<Body>>>,
    gate: &Gate,
) -> Progress {
    tokio::select! {
        _ = gate.reached.notified() => Progress::Paused,
        resp = request.as_mut() => Progress::Answered(resp),
    }
}

#[tokio::test]
async fn two_retries_of_a_stale_key_create_one_job_and_enqueue_each_batch_once() {
    // Arrange: a first attempt claimed the key and died (its claim is stale now). Two retries
    // of it arrive together.
    let (client, table) = sms_test_support::table().await;
    let store = DynamoStore::new(client, table);
    let queue = SharedQueue::default();
    let body = json!({"recipients": numbers(6), "text": "hi"});
    let key = sms_test_support::unique("stale");
    let key_header = IdempotencyKey::parse(&key).unwrap();
    let stale = Utc::now() - chrono::Duration::seconds(idempotency::STALE_AFTER_SECONDS + 1);
    store
        .claim_key(
            &idempotency::record_key("bulk", &key_header),
            &idempotency::fingerprint(&parsed(&body)),
            "first-attempt",
            stale,
        )
        .await
        .unwrap();
    let (app1, app2) = (app(&store, &queue, 2), app(&store, &queue, 2));
    app1.store.gate.pause_at(Some(Step::AfterBegin));
    app2.store.gate.pause_at(Some(Step::AfterBegin));
    let mut r1 = pin!(send_bulk::handle(post(&body, &key), &app1));
    let mut r2 = pin!(send_bulk::handle(post(&body, &key), &app2));

    // Act: both read the stale record; the second goes on first, as far as it gets before
    // creating the job; then the first runs to its answer; then the second.
    assert!(matches!(
        run_until_paused(&mut r1, &app1.store.gate).await,
        Progress::Paused
    ));
    assert!(matches!(
        run_until_paused(&mut r2, &app2.store.gate).await,
        Progress::Paused
    ));
    app2.store.gate.pause_at(Some(Step::AfterGetJob));
    app2.store.gate.resume.notify_one();
    let early = run_until_paused(&mut r2, &app2.store.gate).await;
    app1.store.gate.resume.notify_one();
    let first = r1.await;
    let second = match early {
        Progress::Answered(resp) => resp,
        Progress::Paused => {
            app2.store.gate.resume.notify_one();
            r2.await
        }
    };

    // Assert: the retry that took the key over created the job; the other was told it is
    // in progress, and changed nothing.
    assert_eq!(
        (first.status(), second.status()),
        (http::StatusCode::CONFLICT, http::StatusCode::ACCEPTED),
        "{} / {}",
        text_of(&first),
        text_of(&second)
    );
    assert!(
        json_of(&first)["detail"]
            .as_str()
            .unwrap()
            .contains("still in progress")
    );
    let job_id = JobId::parse(json_of(&second)["job_id"].as_str().unwrap()).unwrap();
    let mut sent: Vec<u32> = queue.batches().iter().map(|b| b.batch).collect();
    sent.sort();
    assert_eq!(sent, [0, 1, 2], "each batch enqueued once");
    let ledger = store.ledger(&job_id).await.unwrap();
    assert!(
        ledger
            .iter()
            .all(|e| e.state == BatchState::Pending && e.enqueued && e.attempts == 0)
    );
    let replay = send_bulk::handle(post(&body, &key), &app(&store, &queue, 2)).await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(text_of(&replay), text_of(&second));
}

#[tokio::test]
async fn a_retry_after_an_opt_out_enqueues_only_the_batches_of_the_job_it_committed() {
    // Arrange: 10 numbers in batches of 2. The first attempt writes its 5-batch ledger and
    // dies before its job item.
    let (client, table) = sms_test_support::table().await;
    let store = DynamoStore::new(client, table);
    let queue = SharedQueue::default();
    let body = json!({"recipients": numbers(10), "text": "hi"});
    let key = sms_test_support::unique("shrunk");
    let first_app = app(&store, &queue, 2);
    first_app
        .store
        .fail_commit_once
        .store(true, Ordering::SeqCst);
    let first = send_bulk::handle(post(&body, &key), &first_app).await;
    assert_eq!(first.status(), 500, "{}", text_of(&first));
    assert!(queue.batches().is_empty());

    // Two recipients opt out; the retry's list makes 4 batches, and SQS refuses batch 1.
    let opted_out: Vec<PhoneNumber> = ["+14152000008", "+14152000009"]
        .iter()
        .map(|n| PhoneNumber::parse(n).unwrap())
        .collect();
    for n in &opted_out {
        store
            .suppress(n, SuppressionSource::Keyword, Utc::now())
            .await
            .unwrap();
    }
    *queue.0.refuse_ids.lock().unwrap() = ["1".to_owned()].into();
    let second = send_bulk::handle(post(&body, &key), &app(&store, &queue, 2)).await;
    assert_eq!(second.status(), 503, "{}", text_of(&second));
    queue.0.refuse_ids.lock().unwrap().clear();

    // Act: the client retries again; this one resumes the committed 4-batch job.
    let third = send_bulk::handle(post(&body, &key), &app(&store, &queue, 2)).await;

    // Assert: batches 0 to 3, once each; never the dead attempt's batch 4, never an
    // opted-out number.
    assert_eq!(third.status(), 202, "{}", text_of(&third));
    let batches = queue.batches();
    let mut sent: Vec<u32> = batches.iter().map(|b| b.batch).collect();
    sent.sort();
    assert_eq!(sent, [0, 1, 2, 3]);
    assert!(
        batches
            .iter()
            .flat_map(|b| &b.recipients)
            .all(|r| !opted_out.contains(r))
    );
    let answer = json_of(&third);
    assert_eq!(
        (
            answer["accepted"].clone(),
            answer["suppressed"].clone(),
            answer["batches"].clone()
        ),
        (json!(8), json!(2), json!(4))
    );
    let job_id = &JobId::parse(answer["job_id"].as_str().unwrap()).unwrap();
    assert_eq!(store.ledger(job_id).await.unwrap().len(), 4);
    assert_eq!(
        store.get_job(job_id).await.unwrap().unwrap().batches_total,
        4
    );
}

#[tokio::test]
async fn the_largest_answer_fits_its_stored_replay() {
    // Arrange: as many invalid entries as a body holds, each as long as its echo can get
    // (control characters, six bytes each in JSON), and a few good numbers.
    let (client, table) = sms_test_support::table().await;
    let store = DynamoStore::new(client, table);
    let queue = SharedQueue::default();
    let bogus = "\u{1}".repeat(500);
    let mut recipients: Vec<String> = vec![bogus; 1500];
    recipients.extend(numbers(10));
    let body = json!({"recipients": recipients, "text": "hi"});
    assert!(body.to_string().len() < send_bulk::BODY_LIMIT);
    let key = sms_test_support::unique("largest");

    // Act
    let first = send_bulk::handle(post(&body, &key), &app(&store, &queue, 1000)).await;
    let again = send_bulk::handle(post(&body, &key), &app(&store, &queue, 1000)).await;

    // Assert: bounded, and stored (DynamoDB refuses items over 400 KB), so the retry replays
    // it instead of a 409 "in progress".
    assert_eq!(first.status(), 202, "{}", text_of(&first));
    assert!(
        text_of(&first).len() < 256 * 1024,
        "{} bytes",
        text_of(&first).len()
    );
    let answer = json_of(&first);
    assert_eq!(answer["invalid_count"], 1500);
    assert_eq!(answer["invalid"].as_array().unwrap().len(), 1000);
    assert_eq!(again.status(), 202, "{}", text_of(&again));
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(text_of(&again), text_of(&first));
    assert_eq!(queue.batches().len(), 1);
}
