//! The fallback provider in the sender: the real handler with the in-memory store, a
//! wiremock Plivo and a stand-in for SNS that can refuse, fail or go silent at a chosen
//! recipient. A batch goes through one provider or the other, never both; Plivo's sustained
//! failures open the circuit that sends a willing job's batches to the fallback.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use futures::future::BoxFuture;
use lambda_runtime::{Context, LambdaEvent};
use sender::App;
use sms_core::{
    PhoneNumber,
    config::UnknownOutcome,
    domain::{bulk::BatchMessage, ids::JobId, provider::Provider},
    fallback::{Fallback, FallbackError, FallbackPolicy, FallbackSms},
    queue::MemoryQueue,
    secrets::{SecretCache, StaticSecret},
    store::{
        BatchState, CircuitRule, IntakeCounts, JobSpec, JobStore, MemoryStore, MessageStatus,
        MessageStore, PlivoCircuit,
    },
};
use sms_test_support::{PLIVO_MESSAGE_PATH, fast_plivo, plivo_accepted, service_secret};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

type TestApp =
    App<MemoryStore, SecretCache<StaticSecret>, sms_core::pace::Pacer<MemoryStore>, MemoryQueue>;

const ORIGINATION: &str = "+14155550188";

/// What the stand-in does with the recipient at each position of its calls.
#[derive(Debug, Clone)]
enum Fault {
    Refuse,
    Unavailable,
    Silent,
}

/// SNS as the sender sees it: takes every text unless told otherwise for a call number.
#[derive(Default)]
struct StandIn {
    published: Mutex<Vec<(PhoneNumber, String)>>,
    calls: Mutex<u32>,
    faults: HashMap<u32, Fault>,
}

/// The sender's handle on the stand-in, which the test keeps too.
struct Shared(Arc<StandIn>);

impl FallbackSms for Shared {
    fn publish<'a>(
        &'a self,
        to: &'a PhoneNumber,
        text: &'a str,
    ) -> BoxFuture<'a, Result<String, FallbackError>> {
        Box::pin(async move {
            let call = {
                let mut calls = self.0.calls.lock().unwrap();
                *calls += 1;
                *calls
            };
            match self.0.faults.get(&call) {
                Some(Fault::Refuse) => Err(FallbackError::Refused("InvalidParameter".into())),
                Some(Fault::Unavailable) => Err(FallbackError::Unavailable("Throttled".into())),
                Some(Fault::Silent) => Err(FallbackError::Unknown("timed out".into())),
                None => {
                    self.0
                        .published
                        .lock()
                        .unwrap()
                        .push((to.clone(), text.to_owned()));
                    Ok(format!("sns-{call}"))
                }
            }
        })
    }
}

fn number(i: usize) -> PhoneNumber {
    PhoneNumber::parse(&format!("+1415{i:07}")).unwrap()
}

/// A job of `batches` batches of three, asking for the fallback or not, under `policy`.
async fn app(
    plivo: &MockServer,
    sns: &Arc<StandIn>,
    policy: &str,
    job_asks: bool,
    batches: usize,
) -> (TestApp, JobId) {
    let store = MemoryStore::new();
    let job_id = JobId::random();
    let spec = JobSpec {
        budget: None,
        quiet_hours: None,
        send_at: None,
        expires_at: None,
        job_id: job_id.clone(),
        text: sms_core::MessageText::parse("Storm warning: stay indoors").unwrap(),
        from: PhoneNumber::parse("+14155550100").unwrap().into(),
        reference: None,
        counts: IntakeCounts::default(),
        callback_url: format!("https://sms.example.com/cb?job_id={job_id}"),
        batches: (0..batches)
            .map(|b| (b * 3..b * 3 + 3).map(number).collect())
            .collect(),
        fallback: job_asks,
    };
    store.create_job(&spec, Utc::now()).await.unwrap();
    let app = App {
        tasks: MemoryQueue::default(),
        unknown: UnknownOutcome::Report,
        fallback: Some(Fallback {
            sms: Box::new(Shared(sns.clone())),
            policy: FallbackPolicy::parse(Some(policy), Some(ORIGINATION)).unwrap(),
            rule: CircuitRule::default(),
            messages_per_second: 1_000,
        }),
        store,
        secrets: SecretCache::new(StaticSecret(service_secret("t")), Duration::from_secs(60)),
        plivo: fast_plivo(&plivo.uri()),
        pace: sms_test_support::test_pace(),
    };
    (app, job_id)
}

/// The record of batch `batch` as the job's fan-out writes it (with the job's `fallback`).
async fn queued(app: &TestApp, job_id: &JobId, batch: u32) -> SqsMessage {
    let job = app.store.get_job(job_id).await.unwrap().unwrap();
    let entry = app.store.ledger(job_id).await.unwrap()[batch as usize].clone();
    let message: BatchMessage = sms_core::fanout::batch_message(&job, entry);
    let mut m = SqsMessage::default();
    m.message_id = Some(format!("m{batch}"));
    m.body = Some(serde_json::to_string(&message).unwrap());
    m
}

async fn deliver(app: &TestApp, records: Vec<SqsMessage>) -> Vec<String> {
    let mut event = SqsEvent::default();
    event.records = records;
    let mut context = Context::default();
    context.deadline = (Utc::now() + chrono::Duration::seconds(60)).timestamp_millis() as u64;
    sender::handle(LambdaEvent::new(event, context), app)
        .await
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect()
}

async fn open_circuit(app: &TestApp) {
    let rule = CircuitRule::default();
    for _ in 0..rule.failures {
        app.store
            .note_plivo_failure(rule, Utc::now())
            .await
            .unwrap();
    }
    assert!(app.store.circuit(Utc::now()).await.unwrap().is_open());
}

async fn plivo_takes_nothing() -> MockServer {
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(plivo_accepted(&["never"]))
        .expect(0)
        .mount(&plivo)
        .await;
    plivo
}

#[tokio::test]
async fn while_the_circuit_is_open_a_willing_jobs_batch_goes_to_the_fallback_only() {
    let plivo = plivo_takes_nothing().await;
    let sns = Arc::new(StandIn::default());
    let (app, job_id) = app(&plivo, &sns, "jobs", true, 1).await;
    open_circuit(&app).await;

    let failed = deliver(&app, vec![queued(&app, &job_id, 0).await]).await;

    assert!(failed.is_empty());
    let published = sns.published.lock().unwrap().clone();
    assert_eq!(
        published
            .iter()
            .map(|(to, _)| to.clone())
            .collect::<Vec<_>>(),
        [number(0), number(1), number(2)]
    );
    assert!(
        published
            .iter()
            .all(|(_, text)| text == "Storm warning: stay indoors")
    );
    let entry = &app.store.ledger(&job_id).await.unwrap()[0];
    assert_eq!(entry.state, BatchState::Sent);
    assert_eq!(
        entry.fallback.as_ref().unwrap().to,
        [number(0), number(1), number(2)]
    );
    let job = app.store.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!((job.batches_sent, job.messages_by_fallback), (1, 3));
    let message = app.store.get_message("sns-2").await.unwrap().unwrap();
    assert_eq!(message.provider, Provider::Sns);
    assert_eq!(message.to, Some(number(1)));
    assert_eq!(message.status, MessageStatus::Sent);
    assert_eq!(message.from.unwrap().as_str(), ORIGINATION);

    // Delivered again, the batch has ended: neither provider gets it twice.
    assert!(
        deliver(&app, vec![queued(&app, &job_id, 0).await])
            .await
            .is_empty()
    );
    assert_eq!(sns.published.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_job_that_did_not_ask_waits_for_plivo_even_while_the_circuit_is_open() {
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PLIVO_MESSAGE_PATH))
        .respond_with(plivo_accepted(&["u0", "u1", "u2"]))
        .expect(1)
        .mount(&plivo)
        .await;
    let sns = Arc::new(StandIn::default());
    let (app, job_id) = app(&plivo, &sns, "jobs", false, 1).await;
    open_circuit(&app).await;

    assert!(
        deliver(&app, vec![queued(&app, &job_id, 0).await])
            .await
            .is_empty()
    );

    assert!(sns.published.lock().unwrap().is_empty());
    assert_eq!(app.store.ledger(&job_id).await.unwrap()[0].fallback, None);
}

#[tokio::test]
async fn plivos_sustained_failures_open_the_circuit_and_the_next_batch_takes_the_fallback() {
    // Plivo answers 503 to everything: each batch spends its retries and is released.
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&plivo)
        .await;
    let sns = Arc::new(StandIn::default());
    let (app, job_id) = app(&plivo, &sns, "all", false, 4).await;
    let rule = CircuitRule::default();

    for batch in 0..rule.failures {
        let failed = deliver(&app, vec![queued(&app, &job_id, batch).await]).await;
        assert_eq!(failed, [format!("m{batch}")], "released for a later try");
        assert_eq!(
            app.store.ledger(&job_id).await.unwrap()[batch as usize].state,
            BatchState::Pending
        );
    }
    assert!(sns.published.lock().unwrap().is_empty());
    assert!(app.store.circuit(Utc::now()).await.unwrap().is_open());

    // The next delivery of any batch goes to the fallback, and only there.
    let plivo_requests = plivo.received_requests().await.unwrap().len();
    assert!(
        deliver(&app, vec![queued(&app, &job_id, 3).await])
            .await
            .is_empty()
    );
    assert_eq!(
        plivo.received_requests().await.unwrap().len(),
        plivo_requests
    );
    assert_eq!(sns.published.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_fallback_that_is_unavailable_from_the_start_sends_nothing_and_releases_the_batch() {
    let plivo = plivo_takes_nothing().await;
    let sns = Arc::new(StandIn {
        faults: [(1, Fault::Unavailable)].into(),
        ..StandIn::default()
    });
    let (app, job_id) = app(&plivo, &sns, "all", false, 1).await;
    open_circuit(&app).await;

    let failed = deliver(&app, vec![queued(&app, &job_id, 0).await]).await;

    assert_eq!(failed, ["m0"]);
    assert_eq!(
        app.store.ledger(&job_id).await.unwrap()[0].state,
        BatchState::Pending
    );
    assert!(sns.published.lock().unwrap().is_empty());
}

#[tokio::test]
async fn once_the_fallback_has_taken_some_a_refusal_an_outage_or_silence_never_sends_twice() {
    // The 2nd recipient is refused, then the provider goes silent on the 3rd of batch 0; in
    // batch 1 it stops taking messages at the 5th call.
    let plivo = plivo_takes_nothing().await;
    let sns = Arc::new(StandIn {
        faults: [
            (2, Fault::Refuse),
            (3, Fault::Silent),
            (5, Fault::Unavailable),
        ]
        .into(),
        ..StandIn::default()
    });
    let (app, job_id) = app(&plivo, &sns, "all", false, 2).await;
    open_circuit(&app).await;

    assert!(
        deliver(&app, vec![queued(&app, &job_id, 0).await])
            .await
            .is_empty()
    );
    assert!(
        deliver(&app, vec![queued(&app, &job_id, 1).await])
            .await
            .is_empty()
    );

    let ledger = app.store.ledger(&job_id).await.unwrap();
    let first = ledger[0].fallback.clone().unwrap();
    assert_eq!(
        (first.to, first.unknown),
        (vec![number(0)], vec![number(2)])
    );
    let second = ledger[1].fallback.clone().unwrap();
    assert_eq!((second.to, second.unknown), (vec![number(3)], vec![]));
    assert!(ledger.iter().all(|e| e.state == BatchState::Sent));
    // Redelivered, nothing goes again.
    for batch in 0..2 {
        assert!(
            deliver(&app, vec![queued(&app, &job_id, batch).await])
                .await
                .is_empty()
        );
    }
    assert_eq!(sns.published.lock().unwrap().len(), 2);
}
