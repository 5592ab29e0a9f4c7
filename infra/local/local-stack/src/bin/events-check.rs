//! `make events` (infra/tests/events.sh): invokes the function of every sample event in
//! `events/`, in the order of `events/expected.tsv`, and checks each answer against the table
//! (the rules: `local_stack::events_check`). Before an SQS sample it waits until the local
//! batch queue is empty, so that the stack's poller has handled whatever earlier samples
//! enqueued. Prints `ok` or `FAIL` per sample and a summary; exits non-zero on any failure.
//!
//! First the table is checked against the files; with `--table-only` that is all it does
//! (events.sh runs that before starting the stack). Otherwise it runs inside
//! infra/tests/with-stack.sh, and reads the stack's `LOCAL_PORT` (cargo lambda watch, whose
//! invoke API it calls) and `MOTO_PORT` (the emulator holding the batch queue).

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant},
};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_sqs::{config::Credentials, types::QueueAttributeName};
use local_stack::{
    events_check::{self, EventKind, Expectation, FUNCTIONS, TABLE, Verdict, excerpt},
    invoke::Invoker,
};
use serde_json::Value;
use sms_core::config;

/// The batch queue of the local stack (infra/local/dev.sh's `SMS_QUEUE_NAME`, which
/// with-stack.sh leaves at its default).
const BATCH_QUEUE: &str = "sms-batches";
/// How long an SQS sample waits for the poller to empty the batch queue.
const DRAIN_DEADLINE: Duration = Duration::from_secs(120);

fn say(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

fn complain(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The repository's `events/`.
fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../events")
}

/// The table, once it agrees with the sample files; every problem is printed otherwise.
fn checked_table(dir: &Path) -> Option<Vec<Expectation>> {
    let text = match std::fs::read_to_string(dir.join("expected.tsv")) {
        Ok(text) => text,
        Err(e) => {
            complain(&format!("events: reading {TABLE}: {e}"));
            return None;
        }
    };
    let table = match events_check::parse_table(&text) {
        Ok(table) => table,
        Err(e) => {
            complain(&format!("events: {e}"));
            return None;
        }
    };
    let samples: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".json"))
            .collect(),
        Err(e) => {
            complain(&format!("events: reading events/: {e}"));
            return None;
        }
    };
    let problems = events_check::check_samples(&table, &samples, &FUNCTIONS);
    for p in &problems {
        complain(&format!("events: {p}"));
    }
    problems.is_empty().then_some(table)
}

/// The local stack, as with-stack.sh describes it.
struct Stack {
    local_port: String,
    sqs: aws_sdk_sqs::Client,
}

impl Stack {
    async fn from_env() -> Result<Self, config::ConfigError> {
        let local_port = config::required("LOCAL_PORT")?;
        let moto_port = config::required("MOTO_PORT")?;
        // The emulator's endpoint and the credentials infra/local/dev.sh gives the functions;
        // nothing from the developer's own AWS settings.
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(format!("http://127.0.0.1:{moto_port}"))
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "local",
                "local",
                None,
                None,
                "events-check",
            ))
            .load()
            .await;
        Ok(Self {
            local_port,
            sqs: aws_sdk_sqs::Client::new(&sdk),
        })
    }

    fn invoker(&self, function: &str) -> Result<Invoker, reqwest::Error> {
        Invoker::new(format!(
            "http://127.0.0.1:{}/2015-03-31/functions/{function}/invocations",
            self.local_port
        ))
    }

    /// Waits until the batch queue holds nothing, visible or in flight.
    async fn queue_drained(&self) -> Result<(), String> {
        let url = self
            .sqs
            .get_queue_url()
            .queue_name(BATCH_QUEUE)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?
            .queue_url
            .unwrap_or_default();
        let deadline = Instant::now() + DRAIN_DEADLINE;
        while Instant::now() < deadline {
            let attributes = self
                .sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                .send()
                .await
                .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?
                .attributes
                .unwrap_or_default();
            let count = |name| {
                attributes
                    .get(&name)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            if count(QueueAttributeName::ApproximateNumberOfMessages)
                + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                == 0
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(format!(
            "the batch queue did not drain in {} s",
            DRAIN_DEADLINE.as_secs()
        ))
    }

    /// Runs one sample; `Err` holds the reason it failed, worded for the output.
    async fn run(&self, dir: &Path, sample: &Expectation) -> Result<Verdict, String> {
        let path = dir.join(&sample.file);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("reading it: {e}"))?;
        let event: Value =
            serde_json::from_str(&text).map_err(|e| format!("the sample is not JSON: {e}"))?;
        let kind = EventKind::of(&event);
        if kind == EventKind::Sqs {
            self.queue_drained()
                .await
                .map_err(|e| format!("the local queue never drained: {e}"))?;
        }
        let invoker = self
            .invoker(&sample.function)
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        let answer = invoker
            .call(&event)
            .await
            .map_err(|e| format!("the invocation failed: {}", excerpt(&e.to_string(), 300)))?;
        let verdict = Verdict::of(kind, sample.expected, &answer);
        if verdict.passed() {
            Ok(verdict)
        } else {
            Err(format!("{verdict} — answer: {}", excerpt(&answer, 300)))
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let table_only = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => false,
        [flag] if flag == "--table-only" => true,
        _ => {
            complain("usage: events-check [--table-only]");
            return ExitCode::from(2);
        }
    };
    let dir = events_dir();
    let Some(table) = checked_table(&dir) else {
        return ExitCode::FAILURE;
    };
    if table_only {
        return ExitCode::SUCCESS;
    }
    let stack = match Stack::from_env().await {
        Ok(stack) => stack,
        Err(e) => {
            complain(&format!(
                "events: {e}; run it through `make events` (infra/tests/events.sh)"
            ));
            return ExitCode::FAILURE;
        }
    };

    let mut failed = 0;
    for sample in &table {
        let (file, function) = (&sample.file, &sample.function);
        match stack.run(&dir, sample).await {
            Ok(verdict) => say(&format!("ok    {file} → {function}: {verdict}")),
            Err(why) => {
                complain(&format!("FAIL  {file} → {function}: {why}"));
                failed += 1;
            }
        }
    }
    if failed > 0 {
        complain(&format!(
            "events: {failed} of {} sample events did not answer as expected; the stack's logs are in .local/logs/",
            table.len()
        ));
        return ExitCode::FAILURE;
    }
    say(&format!(
        "events: all {} sample events answered as expected",
        table.len()
    ));
    ExitCode::SUCCESS
}
