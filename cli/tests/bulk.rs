//! `smsctl bulk` against a wiremock API: the upload (size, the presigned PUT with exactly
//! its headers and no API key), the job's request, `--watch` with plain progress lines,
//! Ctrl-C, the dry run and the exit statuses.

mod common;

use std::time::Duration;

use common::{Dir, Run, answer, api_with, count, json_response, on, problem, requests, smsctl};
use serde_json::{Value, json};
use wiremock::{
    MockServer, ResponseTemplate,
    matchers::{body_json, header},
};

const JOB: &str = "5e1d0000-aaaa-4bbb-8ccc-000000000001";
const CSV: &str = "phone,first_name\n+14155550100,Ana\n+14155550101,Bo\n";

/// The upload ticket, its link on the mock (with a query standing for the signature).
async fn uploads(api: &MockServer, size: usize, content_type: &str) {
    let ticket = json!({
        "upload_id": "up-1", "method": "PUT",
        "url": format!("{}/s3/uploads/up-1?X-Amz-Signature=not-for-logs", api.uri()),
        "headers": {"content-length": size.to_string(), "content-type": content_type,
                    "x-amz-meta-origin": "smsctl-test"},
        "expires_at": "2026-12-05T08:15:00Z", "size": size, "max_bytes": 536870912});
    on("POST", "/v1/uploads")
        .and(body_json(
            json!({"size": size, "content_type": content_type}),
        ))
        .respond_with(json_response(201, ticket))
        .expect(1)
        .mount(api)
        .await;
    on("PUT", "/s3/uploads/up-1")
        .and(header("content-type", content_type))
        .and(header("x-amz-meta-origin", "smsctl-test"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(api)
        .await;
}

async fn job_started(api: &MockServer, request: Value) {
    let started = json!({"job_id": JOB, "status": "planning", "upload_id": "up-1",
                         "bytes": CSV.len()});
    on("POST", "/v1/bulk")
        .and(body_json(request))
        .respond_with(json_response(202, started))
        .expect(1)
        .mount(api)
        .await;
}

fn job(status: &str, submitted: u64, delivered: u64, undelivered: u64) -> Value {
    json!({"job_id": JOB, "status": status, "accepted": 1000,
           "batches": {"total": 1, "sent": u64::from(status == "done"), "failed": 0, "unknown": 0,
                       "cancelled": 0, "reconciled": 0, "resent": 0},
           "messages": {"accepted_by_plivo": submitted, "accepted_in_unconfirmed_batches": 0,
                        "queued": submitted - delivered - undelivered, "sent": 0,
                        "delivered": delivered, "undelivered": undelivered, "failed": 0, "rejected": 0},
           "quiet_hours": {"hours": "21:00-08:00", "recipients_waiting": 1000 - submitted,
                           "next_window_opens_at": "2026-12-05T13:00:00Z"},
           "charged": {"amount": "0.01", "units": 2},
           "rate": {"recent_recipients_per_second": 250.0}})
}

/// GET /v1/bulk/{JOB} answers each of `answers` once, in order, then the last for good.
async fn job_answers(api: &MockServer, answers: &[Value]) {
    for (i, job) in answers.iter().enumerate() {
        let mock = answer("GET", format!("/v1/bulk/{JOB}"), 200, job.clone());
        let mock = if i + 1 < answers.len() {
            mock.up_to_n_times(1)
        } else {
            mock
        };
        mock.mount(api).await;
    }
}

/// The CSV in a directory of the test's own, its upload ticket and link on `api`.
async fn csv_uploaded(api: &MockServer, dir: &Dir) -> String {
    uploads(api, CSV.len(), "text/csv").await;
    dir.file("recipients.csv", CSV).display().to_string()
}

/// `smsctl bulk FILE --text TEXT`, then `more`.
async fn bulk(api: &MockServer, file: &str, text: &str, more: &[&str]) -> Run {
    smsctl(api, &[&["bulk", file, "--text", text], more].concat()).await
}

#[tokio::test]
async fn bulk_uploads_the_file_with_exactly_the_tickets_headers_then_starts_the_job() {
    let api = MockServer::start().await;
    let dir = Dir::new("bulk-upload");
    let lines = "+14155550100\n+14155550101\n";
    let file = dir.file("recipients.txt", lines);
    uploads(&api, lines.len(), "text/plain").await;
    job_started(
        &api,
        json!({"upload_id": "up-1", "text": "Sale today", "format": "lines",
               "from": "Acme", "quiet_hours": {"from": "21:00", "to": "08:00"},
               "max_cost": "12.50", "send_at": "2026-12-08T10:00:00-05:00"}),
    )
    .await;

    let run = bulk(
        &api,
        file.to_str().unwrap(),
        "Sale today",
        &[
            "--format",
            "lines",
            "--from",
            "Acme",
            "--quiet-hours",
            "21:00-08:00",
            "--max-cost",
            "12.50",
            "--send-at",
            "2026-12-08T10:00:00-05:00",
            "--idempotency-key",
            "sale-1",
        ],
    )
    .await;

    run.assert_code(0);
    run.assert_stdout_starts_with(&format!("job {JOB} planning"));
    run.assert_stdout_has(&format!("smsctl job {JOB} --watch"));
    let requests = requests(&api).await;
    let put = requests
        .iter()
        .find(|r| r.method.as_str() == "PUT")
        .unwrap();
    assert_eq!(put.body, lines.as_bytes(), "the file's bytes, as they are");
    assert_eq!(
        put.headers["content-length"],
        lines.len().to_string().as_str()
    );
    assert!(
        put.headers.get("authorization").is_none(),
        "the API key never goes to the upload link"
    );
    let start = requests
        .iter()
        .find(|r| r.url.path() == "/v1/bulk")
        .unwrap();
    assert_eq!(start.headers["idempotency-key"], "sale-1");
}

#[tokio::test]
async fn bulk_watch_draws_plain_progress_lines_without_a_terminal_and_ends_with_a_summary() {
    let api = MockServer::start().await;
    let dir = Dir::new("bulk-watch");
    let file = csv_uploaded(&api, &dir).await;
    job_started(
        &api,
        json!({"upload_id": "up-1", "text": "Hi {{first_name}}", "phone_column": "phone"}),
    )
    .await;
    job_answers(
        &api,
        &[
            json!({"job_id": JOB, "status": "planning",
                   "planning": {"state": "planning", "rows": {"rows": 0, "accepted": 0}}}),
            job("sending", 500, 100, 0),
            job("done", 1000, 1000, 0),
        ],
    )
    .await;

    let run = bulk(
        &api,
        &file,
        "Hi {{first_name}}",
        &["--phone-column", "phone", "--watch"],
    )
    .await;

    run.assert_code(0);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "a line a poll: {}", run.stderr);
    assert!(
        lines[0].starts_with(&format!("job {JOB} planning: submitted 0/0")),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[1],
        format!(
            "job {JOB} sending: submitted 500/1000, delivered 100, failed 0, \
             waiting for quiet hours 500, 250.0/s, ETA 0s, next window opens 2026-12-05T13:00:00Z"
        )
    );
    assert!(lines[2].starts_with(&format!(
        "job {JOB} done: submitted 1000/1000, delivered 1000"
    )));
    run.assert_stdout_has(&format!("job {JOB} done"));
    run.assert_stdout_has("1000 delivered");
    run.assert_stdout_has("charged     0.01 (2 units)");
}

#[tokio::test]
async fn a_watched_job_that_ends_with_undelivered_messages_exits_4() {
    let api = MockServer::start().await;
    job_answers(&api, &[job("done", 1000, 990, 10)]).await;

    let run = smsctl(&api, &["job", JOB, "--watch"]).await;

    run.assert_code(4);
    run.assert_stderr_has("10 messages failed or undelivered");
}

#[tokio::test]
async fn with_output_json_a_watch_prints_only_the_final_job_on_stdout() {
    let api = MockServer::start().await;
    let done = job("done", 1000, 1000, 0);
    job_answers(&api, &[job("sending", 10, 0, 0), done.clone()]).await;

    let run = smsctl(&api, &["--output", "json", "job", JOB, "--watch"]).await;

    run.assert_code(0);
    assert_eq!(run.json(), done);
    assert_eq!(
        run.stderr.lines().count(),
        2,
        "progress still goes to stderr"
    );
}

#[tokio::test]
async fn ctrl_c_stops_watching_leaves_the_job_running_and_says_how_to_follow_it() {
    let api = MockServer::start().await;
    job_answers(&api, &[job("sending", 10, 0, 0)]).await;
    let home = Dir::new("ctrl-c");
    let child = common::command_against(&home, &api.uri(), common::KEY)
        .args(["--poll-interval", "50ms", "job", JOB, "--watch"])
        .spawn()
        .unwrap();
    // Once it is watching (it has polled), interrupt it as a terminal's Ctrl-C does.
    for _ in 0..100 {
        if !requests(&api).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().await.unwrap();

    assert_eq!(out.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "the job goes on; follow it with: smsctl job {JOB} --watch"
        )),
        "{stderr}"
    );
    assert_eq!(count(&api, "POST").await, 0, "nothing but polls");
}

#[tokio::test]
async fn a_dry_run_prints_the_rows_texts_and_what_forces_ucs_2() {
    let api = MockServer::start().await;
    let dir = Dir::new("dry-run");
    let file = csv_uploaded(&api, &dir).await;
    on("POST", "/v1/bulk")
        .and(body_json(json!({"upload_id": "up-1", "text": "don’t", "dry_run": true})))
        .respond_with(json_response(200, json!({
            "job_id": null, "status": "dry_run", "upload_id": "up-1", "bytes": CSV.len(),
            "rows": {"rows": 2, "accepted": 2, "duplicates": 0, "suppressed": 0, "rejected": 0,
                     "landlines": 0, "landlines_skipped": 0, "distinct_texts": 1, "segments": 2},
            "texts": [{"text": "don’t", "encoding": "UCS-2", "segments": 1,
                       "ucs2_characters": [{"character": "’", "code_point": "U+2019", "position": 3, "replacement": "'"}],
                       "ucs2_characters_count": 1,
                       "smart_encoding": {"text": "don't", "encoding": "GSM-7", "segments": 1}}],
            "texts_count": 1, "complete": true})))
        .mount(&api)
        .await;

    let run = bulk(&api, &file, "don’t", &["--dry-run"]).await;

    run.assert_code(0);
    run.assert_stdout_has("nothing was written or sent");
    run.assert_stdout_has("2 read, 2 accepted");
    run.assert_stdout_has("’ (U+2019) at 3 forces UCS-2");
    run.assert_stdout_has("with --smart-encoding: GSM-7");
}

#[tokio::test]
async fn a_missing_file_or_malformed_quiet_hours_is_a_usage_error_before_any_request() {
    let api = MockServer::start().await;

    let missing = bulk(&api, "/nonexistent/recipients.csv", "Hi", &[]).await;
    missing.assert_code(2);
    missing.assert_stderr_has("cannot read the recipient file");

    let dir = Dir::new("bad-hours");
    let file = dir.file("r.csv", CSV);
    let bad = bulk(
        &api,
        file.to_str().unwrap(),
        "Hi",
        &["--quiet-hours", "9pm"],
    )
    .await;
    bad.assert_code(2);
    bad.assert_stderr_has("21:00-08:00");

    assert!(requests(&api).await.is_empty());
}

#[tokio::test]
async fn a_job_refused_by_its_budget_prints_the_problem_and_exits_3() {
    let mut over = problem(
        422,
        "over-budget",
        "The job's estimate is over its cap",
        "the job's estimated cost is 2.80, over its max_cost of 2.50; nothing was sent",
    );
    over["budget"] = json!({"max_cost": "2.50"});
    let api = api_with([answer("POST", "/v1/bulk", 422, over)]).await;
    let dir = Dir::new("over-budget");
    let file = csv_uploaded(&api, &dir).await;

    let run = bulk(&api, &file, "Hi", &["--max-cost", "2.50"]).await;

    run.assert_code(3);
    run.assert_stderr_has("422 The job's estimate is over its cap");
    run.assert_stderr_has("over its max_cost of 2.50");
}
