//! `POST /v1/messages` with `send_at` (docs/api.md, "Scheduled messages"): the message becomes
//! a scheduled job of one recipient, written now, with only its start arranged; Plivo hears
//! nothing until then. The real handler with the in-memory store and queue and a wiremock
//! Plivo that must not be called.

use std::time::Duration;

use chrono::{DateTime, Utc};
use send_sms::App;
use serde_json::{Value, json};
use sms_core::{
    PhoneNumber,
    config::PublicBaseUrl,
    domain::{bulk::FileTask, ids::JobId},
    queue::MemoryQueue,
    secrets::{SecretCache, StaticSecret},
    store::{JobControl, JobStore, MemoryStore, SuppressionList, SuppressionSource},
};
use sms_test_support::{PLIVO_MESSAGE_PATH, fast_plivo, json_of, post_json, service_secret};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

type TestApp =
    App<MemoryStore, SecretCache<StaticSecret>, sms_core::pace::Pacer<MemoryStore>, MemoryQueue>;

/// The app, over a Plivo that fails the test if it is called.
async fn app() -> (TestApp, MockServer) {
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PLIVO_MESSAGE_PATH))
        .respond_with(ResponseTemplate::new(202))
        .expect(0)
        .mount(&plivo)
        .await;
    let app = App {
        store: MemoryStore::new(),
        secrets: SecretCache::new(StaticSecret(service_secret("t")), Duration::from_secs(60)),
        plivo: fast_plivo(&plivo.uri()),
        pace: sms_test_support::test_pace(),
        public_base_url: PublicBaseUrl::parse("https://sms.example.com").unwrap(),
        tasks: MemoryQueue::default(),
    };
    (app, plivo)
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn post(app: &TestApp, body: &Value, key: Option<&str>) -> (u16, Value, Option<String>) {
    let response = send_sms::handle(
        post_json("https://sms.example.com/v1/messages", body, key),
        app,
    )
    .await;
    let location = response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_owned);
    (response.status().as_u16(), json_of(&response), location)
}

fn tasks(app: &TestApp) -> Vec<FileTask> {
    app.tasks
        .bodies()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect()
}

#[tokio::test]
async fn a_message_for_later_is_a_scheduled_job_of_one_and_plivo_hears_nothing_yet() {
    let (app, _plivo) = app().await;
    let send_at = Utc::now() + chrono::Duration::hours(20);

    let (code, body, location) = post(
        &app,
        &json!({"to": "+14155550123", "text": "Your table is ready at 8", "send_at": stamp(send_at)}),
        Some("dinner-1"),
    )
    .await;

    assert_eq!(code, 202, "{body}");
    assert_eq!(body["status"], "scheduled");
    assert_eq!(body["to"], "+14155550123");
    assert_eq!(body["send_at"], stamp(send_at));
    let job_id = JobId::parse(body["job_id"].as_str().unwrap()).unwrap();
    assert_eq!(location, Some(format!("/v1/bulk/{job_id}")));
    let job = app.store.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!(job.control, JobControl::Scheduled);
    assert_eq!(job.counts.accepted, 1);
    let ledger = app.store.ledger(&job_id).await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].recipients[0].as_str(), "+14155550123");
    assert!(
        matches!(tasks(&app).as_slice(), [FileTask::Schedule { job_id: j, .. }] if *j == job_id)
    );

    // The same request again replays the answer; nothing more is written.
    let (code, again, again_location) = post(
        &app,
        &json!({"to": "+14155550123", "text": "Your table is ready at 8", "send_at": stamp(send_at)}),
        Some("dinner-1"),
    )
    .await;
    assert_eq!((code, &again), (202, &body));
    assert_eq!(
        again_location, location,
        "a replay names the job as the first answer did"
    );
    assert_eq!(tasks(&app).len(), 1);
}

#[tokio::test]
async fn a_lost_schedule_task_is_a_503_and_the_retry_finishes_the_same_job() {
    let (app, _plivo) = app().await;
    let body = json!({"to": "+14155550123", "text": "Doors open", "send_at": stamp(Utc::now() + chrono::Duration::hours(2))});
    app.tasks.refuse_ids.lock().unwrap().insert("0".into());

    let (code, problem, _) = post(&app, &body, Some("k-9")).await;
    assert_eq!(code, 503, "{problem}");
    app.tasks.refuse_ids.lock().unwrap().clear();
    let (code, answer, _) = post(&app, &body, Some("k-9")).await;

    assert_eq!(code, 202, "{answer}");
    let job_id = JobId::parse(answer["job_id"].as_str().unwrap()).unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(job_id.as_str())
    );
    assert_eq!(tasks(&app).len(), 1);
}

#[tokio::test]
async fn an_opted_out_recipient_or_a_bad_send_at_schedules_nothing() {
    let (app, _plivo) = app().await;
    app.store
        .suppress(
            &PhoneNumber::parse("+14155550199").unwrap(),
            SuppressionSource::Api,
            Utc::now(),
        )
        .await
        .unwrap();
    let later = stamp(Utc::now() + chrono::Duration::hours(1));

    let (code, problem, _) = post(
        &app,
        &json!({"to": "+14155550199", "text": "Hi", "send_at": later}),
        None,
    )
    .await;
    assert_eq!(code, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("nothing was scheduled")
    );

    for (send_at, says) in [
        (json!("2020-01-01T00:00:00Z"), "past"),
        (json!("soon"), "RFC 3339"),
        (
            json!(stamp(Utc::now() + chrono::Duration::days(40))),
            "35 days",
        ),
    ] {
        let (code, problem, _) = post(
            &app,
            &json!({"to": "+14155550123", "text": "Hi", "send_at": send_at}),
            None,
        )
        .await;
        assert_eq!(code, 400, "{problem}");
        assert_eq!(problem["errors"][0]["field"], "send_at");
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(says),
            "{problem}"
        );
    }
    assert!(app.tasks.bodies().is_empty());
}
