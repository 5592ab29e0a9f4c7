//! smsctl, the command-line client, through the whole local stack: the real binary
//! (target/debug/smsctl, built by with-stack.sh's `cargo build --bins`) against the local API,
//! checked against the simulator's record of what it received.
//!
//! Its numbers are New York's +1 646, a range no other end-to-end test uses: bulk recipients
//! +1 646 200 xxxx, quiet-hours recipients +1 646 300 000x, single sends +1 646 210 00xx.

use std::{
    collections::{BTreeSet, HashMap},
    path::PathBuf,
    process::Command,
};

use chrono::{Duration, Timelike, Utc};
use e2e::Stack;
use serde_json::{Value, json};
use sms_core::{PhoneNumber, domain::numbering, domain::zones};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", self.stdout))
    }
}

/// target/debug/smsctl, beside this test's own directory (target/debug/deps).
fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let binary = dir.join("smsctl");
    assert!(
        binary.is_file(),
        "{} is missing: infra/tests/with-stack.sh builds it (cargo build --bins)",
        binary.display()
    );
    binary
}

/// A directory of the test's own: its files, and an empty HOME so no profile file applies.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("e2e-smsctl-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// `smsctl ARGS` against the stack, its key in SMS_API_KEY, polling every 300 ms.
async fn smsctl(stack: &Stack, args: &[&str]) -> Run {
    let mut cmd = Command::new(binary());
    let home = scratch("home");
    cmd.env("SMS_API_URL", &stack.api)
        .env("SMS_API_KEY", &stack.api_key)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", &home)
        .env_remove("SMS_PROFILE")
        .env_remove("SMSCTL_CONFIG")
        .args(["--poll-interval", "300ms"])
        .args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("the runner")
        .expect("smsctl runs");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stdout.contains(&stack.api_key) && !run.stderr.contains(&stack.api_key),
        "smsctl printed the API key"
    );
    run
}

fn valid_mobile(number: &str) {
    let parsed = PhoneNumber::parse(number).expect("E.164");
    let numbering = numbering::classify(&parsed).expect("a number someone can have");
    assert!(!numbering.is_landline(), "{number} is a landline");
}

/// The job id of `smsctl bulk`'s first line: `job <id> <status>: …`.
fn job_id_of(run: &Run) -> String {
    run.stdout
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no job in {}", run.stdout))
        .to_owned()
}

#[tokio::test]
async fn send_wait_follows_a_message_to_delivered_and_an_undeliverable_one_exits_4() {
    let stack = Stack::from_env();
    stack.sim_reset().await;
    // The simulator reports +1 646 210 0099 undelivered (error 70).
    stack
        .sim_config(json!({"undeliverable_prefixes": ["16462100099"]}))
        .await;
    valid_mobile("+16462100001");

    let delivered = smsctl(
        &stack,
        &[
            "--output",
            "json",
            "send",
            "--to",
            "+16462100001",
            "--text",
            "Hello from smsctl",
            "--wait",
            "--timeout",
            "60s",
        ],
    )
    .await;
    assert_eq!(delivered.code, 0, "{}", delivered.stderr);
    let message = delivered.json();
    assert_eq!(message["status"], "delivered", "{message}");
    assert_eq!(message["to"], "+16462100001");
    let received = stack.sim_requests().await;
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["dst"], json!(["16462100001"]));
    assert_eq!(
        received[0]["message_uuids"],
        json!([message["message_uuid"]])
    );
    assert!(delivered.stderr.contains("queued"), "{}", delivered.stderr);

    let undelivered = smsctl(
        &stack,
        &[
            "send",
            "--to",
            "+16462100099",
            "--text",
            "Nobody home",
            "--wait",
            "--timeout",
            "60s",
        ],
    )
    .await;
    assert_eq!(undelivered.code, 4, "{}", undelivered.stderr);
    assert!(
        undelivered
            .stderr
            .contains("ended undelivered (error code 70)"),
        "{}",
        undelivered.stderr
    );
}

#[tokio::test]
async fn a_bad_number_prints_the_problem_and_exits_3() {
    let stack = Stack::from_env();
    stack.sim_reset().await;

    let run = smsctl(&stack, &["send", "--to", "+1 555 0100", "--text", "Hi"]).await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("smsctl: the API refused the request: 400 Invalid request"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("\n  - to: "), "{}", run.stderr);
    assert!(
        run.stderr.contains("(/problems/invalid-request)"),
        "{}",
        run.stderr
    );

    let json = smsctl(
        &stack,
        &[
            "--output",
            "json",
            "send",
            "--to",
            "+1 555 0100",
            "--text",
            "Hi",
        ],
    )
    .await;
    assert_eq!(json.code, 3);
    let problem = json.json();
    assert_eq!(problem["status"], 400, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "to", "{problem}");

    // A file without a phone column is refused before any job exists.
    let dir = scratch("no-phone-column");
    let file = dir.join("names.csv");
    std::fs::write(&file, "name\nAna\n").unwrap();
    let run = smsctl(&stack, &["bulk", file.to_str().unwrap(), "--text", "Hi"]).await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("no phone column"), "{}", run.stderr);

    assert!(
        stack.sim_requests().await.is_empty(),
        "nothing reached Plivo"
    );
}

const ROWS: usize = 10_000;
const NAMES: [&str; 4] = ["Ana", "Bo", "Cy", "Dee"];

#[tokio::test]
async fn bulk_watch_takes_a_10000_row_file_to_done_and_results_lists_each_recipient_once() {
    let stack = Stack::from_env();
    stack.sim_reset().await;
    // 30,000 reports through the local callback would take minutes; the results file's
    // uuids and statuses from reports are checked on a small job below.
    stack.sim_config(json!({"reports": false})).await;
    let dir = scratch("bulk");
    let file = dir.join("recipients.csv");
    let mut csv = String::from("phone,first_name\n");
    let numbers: Vec<String> = (0..ROWS)
        .map(|i| format!("+1646{:07}", 2_000_000 + i))
        .collect();
    valid_mobile(&numbers[0]);
    valid_mobile(&numbers[ROWS - 1]);
    for (i, n) in numbers.iter().enumerate() {
        csv.push_str(&format!("{n},{}\n", NAMES[i % NAMES.len()]));
    }
    std::fs::write(&file, &csv).unwrap();

    let run = smsctl(
        &stack,
        &[
            "bulk",
            file.to_str().unwrap(),
            "--text",
            "Hi {{first_name}}, your parcel is on its way",
            "--idempotency-key",
            "e2e-smsctl-bulk-1",
            "--watch",
            "--timeout",
            "5m",
        ],
    )
    .await;

    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let job_id = job_id_of(&run);
    // Without a terminal the progress is plain lines, one a poll, the last one done.
    let progress: Vec<&str> = run.stderr.lines().collect();
    assert!(progress.len() >= 2, "{}", run.stderr);
    assert!(
        progress
            .iter()
            .all(|l| l.starts_with(&format!("job {job_id} "))),
        "{}",
        run.stderr
    );
    assert!(
        progress
            .last()
            .unwrap()
            .starts_with(&format!("job {job_id} done: submitted {ROWS}/{ROWS}")),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains(&format!("job {job_id} done\n")),
        "{}",
        run.stdout
    );
    // A text per first name, each's 2,500 recipients in batches of up to 1,000.
    assert!(
        run.stdout.contains("12 total: 12 sent, 0 failed"),
        "{}",
        run.stdout
    );

    // The simulator got every recipient once.
    let sent = e2e::simulated_messages(&stack).await;
    assert_eq!(sent.len(), ROWS);
    assert!(
        sent.values().all(|uuids| uuids.len() == 1),
        "someone got it twice"
    );

    // The results file: every recipient once; no report has named anyone, so where a row has a
    // uuid (a batch's last unnamed one) it is the simulator's.
    let out = dir.join("results.csv");
    let results = smsctl(&stack, &["results", &job_id, "-o", out.to_str().unwrap()]).await;
    assert_eq!(results.code, 0, "{}", results.stderr);
    assert!(
        results.stdout.contains(&format!("{ROWS} rows written to")),
        "{}",
        results.stdout
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("number,message_uuid,status,error_code,units,amount,updated_at")
    );
    let mut listed = BTreeSet::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let [number, uuid, "no_report", "", "", "", ""] = fields[..] else {
            panic!("unexpected row {line}");
        };
        if !uuid.is_empty() {
            assert_eq!(sent[number], [uuid], "{line}");
        }
        assert!(listed.insert(number.to_owned()), "{number} twice");
    }
    assert_eq!(listed, numbers.iter().cloned().collect::<BTreeSet<_>>());
}

#[tokio::test]
async fn results_names_each_recipients_message_as_the_simulator_issued_it() {
    let stack = Stack::from_env();
    stack.sim_reset().await;
    let dir = scratch("small-bulk");
    let file = dir.join("recipients.txt");
    let numbers: Vec<String> = (0..20)
        .map(|i| format!("+1646{:07}", 2_100_000 + i))
        .collect();
    std::fs::write(&file, numbers.join("\n")).unwrap();

    let run = smsctl(
        &stack,
        &[
            "--output",
            "json",
            "bulk",
            file.to_str().unwrap(),
            "--format",
            "lines",
            "--text",
            "Your code is ready",
            "--watch",
            "--timeout",
            "2m",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let job = run.json();
    assert_eq!(job["status"], "done", "{job}");
    let job_id = job["job_id"].as_str().unwrap().to_owned();
    // Reports go on after the job is done: the file is asked for once all are in.
    stack
        .wait_for_job(&job_id, 120, |p| p["messages"]["delivered"] == 20)
        .await;

    let out = dir.join("results.csv");
    let results = smsctl(
        &stack,
        &[
            "--output",
            "json",
            "results",
            &job_id,
            "-o",
            out.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(results.code, 0, "{}", results.stderr);
    assert_eq!(results.json()["results"]["state"], "ready");
    let sent = e2e::simulated_messages(&stack).await;
    let rows: HashMap<String, (String, String)> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (
                fields[0].to_owned(),
                (fields[1].to_owned(), fields[2].to_owned()),
            )
        })
        .collect();
    assert_eq!(rows.len(), numbers.len());
    for n in &numbers {
        let [uuid] = &sent[n][..] else {
            panic!("{n} was sent {} times", sent[n].len())
        };
        assert_eq!(rows[n], (uuid.clone(), "delivered".to_owned()), "{n}");
    }
}

#[tokio::test]
async fn job_pause_resume_and_cancel_control_a_job_waiting_for_quiet_hours() {
    let stack = Stack::from_env();
    stack.sim_reset().await;
    let numbers: Vec<String> = (0..3).map(|i| format!("+1646300000{i}")).collect();
    valid_mobile(&numbers[0]);
    // Quiet from an hour ago until two hours ahead, by New York's clock: the job's one
    // batch waits all through the test.
    let zone = zones::zones_of(&PhoneNumber::parse(&numbers[0]).unwrap())[0];
    let local = Utc::now().with_timezone(&zone);
    let from = local - Duration::hours(1);
    let to = local + Duration::hours(2);
    let hours = format!(
        "{:02}:{:02}-{:02}:{:02}",
        from.hour(),
        from.minute(),
        to.hour(),
        to.minute()
    );
    let dir = scratch("quiet");
    let file = dir.join("recipients.txt");
    std::fs::write(&file, numbers.join("\n")).unwrap();

    let started = smsctl(
        &stack,
        &[
            "bulk",
            file.to_str().unwrap(),
            "--format",
            "lines",
            "--text",
            "Held back",
            "--quiet-hours",
            &hours,
        ],
    )
    .await;
    assert_eq!(started.code, 0, "{}", started.stderr);
    let job_id = job_id_of(&started);
    stack
        .wait_for_job(&job_id, 120, |p| {
            p["quiet_hours"]["recipients_waiting"] == 3
        })
        .await;

    // job: the counts, the quiet hours and who waits.
    let shown = smsctl(&stack, &["job", &job_id]).await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(
        shown.stdout.contains("3 recipients waiting"),
        "{}",
        shown.stdout
    );
    // job --watch: plain lines that show the wait, until its timeout (exit 5).
    let watched = smsctl(&stack, &["job", &job_id, "--watch", "--timeout", "1s"]).await;
    assert_eq!(watched.code, 5, "{}", watched.stderr);
    assert!(
        watched.stderr.contains("waiting for quiet hours 3"),
        "{}",
        watched.stderr
    );
    assert!(
        watched
            .stderr
            .contains(&format!("smsctl job {job_id} --watch")),
        "{}",
        watched.stderr
    );

    let paused = smsctl(&stack, &["pause", &job_id]).await;
    assert_eq!(
        (paused.code, paused.stdout.trim()),
        (0, format!("job {job_id} paused (requested)").as_str()),
        "{}",
        paused.stderr
    );
    let again = smsctl(&stack, &["pause", &job_id]).await;
    assert!(
        again.stdout.contains("was already paused"),
        "{}",
        again.stdout
    );
    let resumed = smsctl(&stack, &["resume", &job_id]).await;
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!(!resumed.stdout.contains("already"), "{}", resumed.stdout);

    let cancelled = smsctl(&stack, &["--output", "json", "cancel", &job_id]).await;
    assert_eq!(cancelled.code, 0, "{}", cancelled.stderr);
    assert_eq!(cancelled.json()["status"], "cancelled");
    // A cancelled job cannot be paused: the 409 and its problem, exit 3.
    let refused = smsctl(&stack, &["pause", &job_id]).await;
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(refused.stderr.contains("409"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("(/problems/job-state)"),
        "{}",
        refused.stderr
    );
    // Watching a cancelled job ends at once, exit 4.
    let ended = smsctl(&stack, &["job", &job_id, "--watch"]).await;
    assert_eq!(ended.code, 4, "{}", ended.stderr);
    assert!(ended.stderr.contains("was cancelled"), "{}", ended.stderr);

    assert!(
        stack.sim_requests().await.is_empty(),
        "nothing reached Plivo"
    );
}
