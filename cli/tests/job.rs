//! `smsctl job`, `pause`, `resume`, `cancel` and `results` against a wiremock API.

mod common;

use std::path::Path;

use common::{Dir, Run, answer, api_with, json_response, on, problem, requests, smsctl};
use serde_json::{Value, json};
use wiremock::{MockServer, ResponseTemplate, matchers::body_json};

const JOB: &str = "0b0c0000-aaaa-4bbb-8ccc-000000000002";

#[tokio::test]
async fn job_prints_the_jobs_counts() {
    let paused = json!({
        "job_id": JOB, "status": "paused", "paused_reason": "budget", "accepted": 2,
        "batches": {"total": 1, "sent": 0, "failed": 0, "unknown": 0, "cancelled": 0},
        "messages": {"accepted_by_plivo": 0, "queued": 0, "sent": 0, "delivered": 0,
                     "undelivered": 0, "failed": 0, "rejected": 0},
        "budget": {"max_cost": "5.00", "reserved_cost": "0.50"}});
    let api = api_with([answer("GET", format!("/v1/bulk/{JOB}"), 200, paused)]).await;

    let run = smsctl(&api, &["job", JOB]).await;

    run.assert_code(0);
    run.assert_stdout_starts_with(&format!("job {JOB} paused\n"));
    run.assert_stdout_has("paused      budget");
    run.assert_stdout_has("1 total: 0 sent");
}

#[tokio::test]
async fn an_unknown_job_is_a_404_problem_and_exits_3() {
    let not_found = problem(404, "not-found", "Not found", "no such job");
    let api = api_with([answer("GET", format!("/v1/bulk/{JOB}"), 404, not_found)]).await;

    let run = smsctl(&api, &["job", JOB]).await;

    run.assert_code(3);
    run.assert_stderr_has("404 Not found\n  no such job");
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
        let changed = control_answer(action, status, true);
        answer("POST", format!("/v1/bulk/{JOB}/{action}"), 200, changed)
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
    cancelled.assert_code(0);
    assert_eq!(
        cancelled.json(),
        control_answer("cancel", "cancelled", true)
    );

    assert!(
        requests(&api).await.iter().all(|r| r.body.is_empty()),
        "a change without caps has no body"
    );
}

#[tokio::test]
async fn resume_with_max_cost_raises_the_cap_in_its_body() {
    let api = MockServer::start().await;
    on("POST", format!("/v1/bulk/{JOB}/resume"))
        .and(body_json(json!({"max_cost": "10.00"})))
        .respond_with(json_response(200, control_answer("resume", "queued", true)))
        .expect(1)
        .mount(&api)
        .await;

    let run = smsctl(&api, &["resume", JOB, "--max-cost", "10.00"]).await;

    run.assert_code(0);
}

#[tokio::test]
async fn a_change_the_jobs_state_does_not_allow_prints_the_409_and_exits_3() {
    let not_allowed = problem(
        409,
        "job-state",
        "The job's state does not allow this",
        "job is cancelled: it cannot be paused",
    );
    let api = api_with([answer(
        "POST",
        format!("/v1/bulk/{JOB}/pause"),
        409,
        not_allowed,
    )])
    .await;

    let run = smsctl(&api, &["pause", JOB]).await;

    run.assert_code(3);
    run.assert_stderr_has("409 The job's state does not allow this");
    run.assert_stderr_has("(/problems/job-state)");
}

#[tokio::test]
async fn a_repeated_change_says_nothing_changed() {
    let unchanged = control_answer("cancel", "cancelled", false);
    let api = api_with([answer(
        "POST",
        format!("/v1/bulk/{JOB}/cancel"),
        200,
        unchanged,
    )])
    .await;

    let run = smsctl(&api, &["cancel", JOB]).await;

    run.assert_code(0);
    run.assert_stdout_has("was already cancelled: nothing changed");
}

const RESULTS: &str = "number,message_uuid,status,error_code,units,amount,updated_at\n\
                       +14155550100,5c1d,delivered,,1,0.00500,2026-12-04T06:00:01.120Z\n";

/// POST …/results answers generation 2 building; the job shows it building twice (after a
/// stale generation 1 that is ready), then `last`.
async fn results_api(last: Value) -> MockServer {
    let building = json!({"state": "building", "generation": 2, "rows": 0});
    let asked = json!({"job_id": JOB, "results": building});
    let api =
        api_with([answer("POST", format!("/v1/bulk/{JOB}/results"), 202, asked).expect(1)]).await;
    let link = json!({"method": "GET", "url": format!("{}/s3/results.csv?X-Amz-Signature=s", api.uri()),
                      "headers": {}, "expires_at": "…"});
    let answers = [
        json!({"state": "ready", "generation": 1, "rows": 1, "file": link}),
        building.clone(),
        building,
    ];
    let job = |results: Value| {
        let done = json!({"job_id": JOB, "status": "done", "results": results});
        answer("GET", format!("/v1/bulk/{JOB}"), 200, done)
    };
    for results in answers {
        job(results).up_to_n_times(1).mount(&api).await;
    }
    let mut last = last;
    if last.get("state") == Some(&json!("ready")) {
        last["file"] = link;
    }
    job(last).mount(&api).await;
    on("GET", "/s3/results.csv")
        .respond_with(ResponseTemplate::new(200).set_body_string(RESULTS))
        .mount(&api)
        .await;
    api
}

/// `smsctl results JOB -o OUT`, then `more`.
async fn results(api: &MockServer, out: &Path, more: &[&str]) -> Run {
    let out = out.to_str().expect("a UTF-8 temporary path");
    smsctl(api, &[&["results", JOB, "-o", out], more].concat()).await
}

#[tokio::test]
async fn results_waits_for_its_own_generation_to_be_built_then_downloads_the_file() {
    let api = results_api(json!({"state": "ready", "generation": 2, "rows": 1})).await;
    let dir = Dir::new("results");
    let out = dir.0.join("results.csv");

    let run = results(&api, &out, &[]).await;

    run.assert_code(0);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), RESULTS);
    run.assert_stdout_has("1 rows written to");
    let download = requests(&api)
        .await
        .into_iter()
        .find(|r| r.url.path() == "/s3/results.csv")
        .expect("the file was fetched");
    assert!(
        download.headers.get("authorization").is_none(),
        "no API key to S3"
    );
    let polls = requests(&api)
        .await
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

    let run = results(&api, &out, &[]).await;

    run.assert_code(1);
    run.assert_stderr_has("S3 refused the part");
    assert!(!out.exists());
}

#[tokio::test]
async fn a_results_file_still_building_at_the_timeout_exits_5() {
    let api = results_api(json!({"state": "building", "generation": 2, "rows": 0})).await;
    let dir = Dir::new("results-timeout");
    let out = dir.0.join("results.csv");

    let run = results(&api, &out, &["--timeout", "300ms"]).await;

    run.assert_code(5);
    run.assert_stderr_has(&format!("smsctl results {JOB}"));
}

#[tokio::test]
async fn results_of_a_job_still_planning_is_409_not_ready_and_exits_3() {
    let not_ready = problem(409, "not-ready", "Not ready", "the job is still planning");
    let api = api_with([answer(
        "POST",
        format!("/v1/bulk/{JOB}/results"),
        409,
        not_ready,
    )])
    .await;
    let dir = Dir::new("results-not-ready");

    let run = results(&api, &dir.0.join("r.csv"), &[]).await;

    run.assert_code(3);
    run.assert_stderr_has("the job is still planning");
}
