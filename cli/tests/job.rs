//! `smsctl job`, `pause`, `resume`, `cancel` and `results` against a wiremock API.

mod common;

use common::{Dir, smsctl};
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_json, method, path},
};

const JOB: &str = "0b0c0000-aaaa-4bbb-8ccc-000000000002";

#[tokio::test]
async fn job_prints_the_jobs_counts() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/bulk/{JOB}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "job_id": JOB, "status": "paused", "paused_reason": "budget", "accepted": 2,
            "batches": {"total": 1, "sent": 0, "failed": 0, "unknown": 0, "cancelled": 0},
            "messages": {"accepted_by_plivo": 0, "queued": 0, "sent": 0, "delivered": 0,
                         "undelivered": 0, "failed": 0, "rejected": 0},
            "budget": {"max_cost": "5.00", "reserved_cost": "0.50"}})))
        .mount(&api)
        .await;

    let run = smsctl(&api, &["job", JOB]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with(&format!("job {JOB} paused\n")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("paused      budget"), "{}", run.stdout);
    assert!(run.stdout.contains("1 total: 0 sent"), "{}", run.stdout);
}

#[tokio::test]
async fn an_unknown_job_is_a_404_problem_and_exits_3() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/bulk/{JOB}")))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "type": "/problems/not-found", "title": "Not found", "status": 404,
            "detail": "no such job"})))
        .mount(&api)
        .await;

    let run = smsctl(&api, &["job", JOB]).await;

    assert_eq!(run.code, 3);
    assert!(
        run.stderr.contains("404 Not found\n  no such job"),
        "{}",
        run.stderr
    );
}

fn control_answer(action: &str, status: &str, changed: bool) -> Value {
    let mut answer = json!({"job_id": JOB, "action": action, "changed": changed, "status": status,
                            "control_changed_at": "2026-12-05T12:00:00.118Z"});
    if status == "paused" {
        answer["paused_reason"] = json!("requested");
    }
    answer
}

#[tokio::test]
async fn pause_resume_and_cancel_post_their_change_and_print_the_new_status() {
    let api = MockServer::start().await;
    for (action, status) in [
        ("pause", "paused"),
        ("resume", "sending"),
        ("cancel", "cancelled"),
    ] {
        Mock::given(method("POST"))
            .and(path(format!("/v1/bulk/{JOB}/{action}")))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(control_answer(action, status, true)),
            )
            .expect(1)
            .mount(&api)
            .await;
    }

    let paused = smsctl(&api, &["pause", JOB]).await;
    assert_eq!(
        (paused.code, paused.stdout.trim()),
        (0, format!("job {JOB} paused (requested)").as_str())
    );
    let resumed = smsctl(&api, &["resume", JOB]).await;
    assert_eq!(
        (resumed.code, resumed.stdout.trim()),
        (0, format!("job {JOB} sending").as_str())
    );
    let cancelled = smsctl(&api, &["--output", "json", "cancel", JOB]).await;
    assert_eq!(cancelled.code, 0);
    assert_eq!(
        cancelled.json(),
        control_answer("cancel", "cancelled", true)
    );

    let requests = api.received_requests().await.unwrap();
    assert!(
        requests.iter().all(|r| r.body.is_empty()),
        "a change without caps has no body"
    );
}

#[tokio::test]
async fn resume_with_max_cost_raises_the_cap_in_its_body() {
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/bulk/{JOB}/resume")))
        .and(body_json(json!({"max_cost": "10.00"})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(control_answer("resume", "queued", true)),
        )
        .expect(1)
        .mount(&api)
        .await;

    let run = smsctl(&api, &["resume", JOB, "--max-cost", "10.00"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[tokio::test]
async fn a_change_the_jobs_state_does_not_allow_prints_the_409_and_exits_3() {
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/bulk/{JOB}/pause")))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({
            "type": "/problems/job-state", "title": "The job's state does not allow this",
            "status": 409, "detail": "job is cancelled: it cannot be paused"})))
        .mount(&api)
        .await;

    let run = smsctl(&api, &["pause", JOB]).await;

    assert_eq!(run.code, 3);
    assert!(
        run.stderr
            .contains("409 The job's state does not allow this"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("(/problems/job-state)"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_repeated_change_says_nothing_changed() {
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/bulk/{JOB}/cancel")))
        .respond_with(ResponseTemplate::new(200).set_body_json(control_answer(
            "cancel",
            "cancelled",
            false,
        )))
        .mount(&api)
        .await;

    let run = smsctl(&api, &["cancel", JOB]).await;

    assert_eq!(run.code, 0);
    assert!(
        run.stdout
            .contains("was already cancelled: nothing changed"),
        "{}",
        run.stdout
    );
}

const RESULTS: &str = "number,message_uuid,status,error_code,units,amount,updated_at\n\
                       +14155550100,5c1d,delivered,,1,0.00500,2026-12-04T06:00:01.120Z\n";

/// POST …/results answers generation 2 building; the job shows it building twice (after a
/// stale generation 1 that is ready), then `last`.
async fn results_api(last: Value) -> MockServer {
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/bulk/{JOB}/results")))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "job_id": JOB, "results": {"state": "building", "generation": 2, "rows": 0}})))
        .expect(1)
        .mount(&api)
        .await;
    let link = json!({"method": "GET", "url": format!("{}/s3/results.csv?X-Amz-Signature=s", api.uri()),
                      "headers": {}, "expires_at": "…"});
    let answers = [
        json!({"state": "ready", "generation": 1, "rows": 1, "file": link}),
        json!({"state": "building", "generation": 2, "rows": 0}),
        json!({"state": "building", "generation": 2, "rows": 0}),
    ];
    for results in answers {
        Mock::given(method("GET"))
            .and(path(format!("/v1/bulk/{JOB}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"job_id": JOB, "status": "done", "results": results})),
            )
            .up_to_n_times(1)
            .mount(&api)
            .await;
    }
    let mut last = last;
    if last.get("state") == Some(&json!("ready")) {
        last["file"] = link;
    }
    Mock::given(method("GET"))
        .and(path(format!("/v1/bulk/{JOB}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"job_id": JOB, "status": "done", "results": last})),
        )
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path("/s3/results.csv"))
        .respond_with(ResponseTemplate::new(200).set_body_string(RESULTS))
        .mount(&api)
        .await;
    api
}

#[tokio::test]
async fn results_waits_for_its_own_generation_to_be_built_then_downloads_the_file() {
    let api = results_api(json!({"state": "ready", "generation": 2, "rows": 1})).await;
    let dir = Dir::new("results");
    let out = dir.0.join("results.csv");

    let run = smsctl(&api, &["results", JOB, "-o", out.to_str().unwrap()]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), RESULTS);
    assert!(run.stdout.contains("1 rows written to"), "{}", run.stdout);
    let download = api
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path() == "/s3/results.csv")
        .expect("the file was fetched");
    assert!(
        download.headers.get("authorization").is_none(),
        "no API key to S3"
    );
    let polls = api
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == format!("/v1/bulk/{JOB}"))
        .count();
    assert_eq!(polls, 4, "generation 1 ready is not this build's file");
}

#[tokio::test]
async fn a_results_file_that_failed_to_build_exits_1_with_its_error() {
    let api =
        results_api(json!({"state": "failed", "generation": 2, "error": "S3 refused the part"}))
            .await;
    let dir = Dir::new("results-failed");
    let out = dir.0.join("results.csv");

    let run = smsctl(&api, &["results", JOB, "-o", out.to_str().unwrap()]).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("S3 refused the part"), "{}", run.stderr);
    assert!(!out.exists());
}

#[tokio::test]
async fn a_results_file_still_building_at_the_timeout_exits_5() {
    let api = results_api(json!({"state": "building", "generation": 2, "rows": 0})).await;
    let dir = Dir::new("results-timeout");
    let out = dir.0.join("results.csv");

    let run = smsctl(
        &api,
        &[
            "results",
            JOB,
            "-o",
            out.to_str().unwrap(),
            "--timeout",
            "300ms",
        ],
    )
    .await;

    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("smsctl results {JOB}")),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn results_of_a_job_still_planning_is_409_not_ready_and_exits_3() {
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/bulk/{JOB}/results")))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({
            "type": "/problems/not-ready", "title": "Not ready", "status": 409,
            "detail": "the job is still planning"})))
        .mount(&api)
        .await;
    let dir = Dir::new("results-not-ready");

    let run = smsctl(
        &api,
        &["results", JOB, "-o", dir.0.join("r.csv").to_str().unwrap()],
    )
    .await;

    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("the job is still planning"),
        "{}",
        run.stderr
    );
}
