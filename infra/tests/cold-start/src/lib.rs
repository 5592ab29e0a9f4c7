//! Cold start of a Lambda binary, measured locally: the time from exec to the binary's first
//! `GET /2018-06-01/runtime/invocation/next` on a stub of the Lambda Runtime API, which is the
//! moment Lambda considers the function initialised. Run by `make bench`
//! (infra/tests/bench.sh) against each function's release binary and the `hello` bin.
//!
//! The binary gets only the environment Lambda gives a function plus what ours require at
//! start ([`function_env`]), with every AWS and Plivo endpoint pointing at a local "tripwire"
//! listener: nothing should need the network before the first `/next`, and a binary that
//! connects there is reported as such rather than timed.

use std::{
    fs::{self, OpenOptions},
    io::{BufRead, BufReader},
    net::{SocketAddr, TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

/// The request line of the runtime's first poll for an event.
pub const NEXT: &str = "GET /2018-06-01/runtime/invocation/next";

/// How long a binary may take to reach its first `/next`.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// What a function is given: Lambda's own variables, dummy credentials (the SDK reads them
/// lazily, but they spare it IMDS), and the settings our four functions require at start.
/// The AWS and Plivo endpoints are `tripwire`, a listener that must see no connection.
pub fn function_env(runtime_api: SocketAddr, tripwire: SocketAddr) -> Vec<(&'static str, String)> {
    let dummy = format!("http://{tripwire}");
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", "cold-start-bench".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "/aws/lambda/cold-start-bench".into(),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]0".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "AKIDCOLDSTARTBENCH".into()),
        ("AWS_SECRET_ACCESS_KEY", "cold-start-bench-secret".into()),
        ("AWS_SESSION_TOKEN", "cold-start-bench-token".into()),
        ("AWS_ENDPOINT_URL", dummy.clone()),
        ("PLIVO_BASE_URL", dummy),
        ("SMS_TABLE", "sms".into()),
        (
            "SMS_QUEUE_URL",
            format!("http://{tripwire}/000000000000/sms-batches"),
        ),
        ("SMS_SECRET_ID", "sms/plivo".into()),
        ("SMS_BUCKET", "sms-files".into()),
        (
            "SMS_FILES_QUEUE_URL",
            format!("http://{tripwire}/000000000000/sms-files"),
        ),
        (
            "SMS_FILES_QUEUE_ARN",
            "arn:aws:sqs:us-east-1:000000000000:sms-files".into(),
        ),
        ("SCHEDULE_GROUP", "sms".into()),
        (
            "SCHEDULER_ROLE_ARN",
            "arn:aws:iam::000000000000:role/sms-scheduler".into(),
        ),
        ("PUBLIC_BASE_URL", "https://sms.example.com".into()),
        ("LANG", "C.UTF-8".into()),
        ("TZ", ":UTC".into()),
    ]
    .into()
}

/// One cold start of `binary`: exec → the first `/next` request line on a fresh runtime-API
/// stub, with [`function_env`] and then `extra_env` (which may override it). The binary is
/// killed afterwards; an exit, a timeout, a first request other than `/next` or a connection
/// to the tripwire is an error, with the tail of its stderr.
pub fn measure_once(binary: &Path, extra_env: &[(String, String)]) -> Result<Duration, String> {
    let api = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let tripwire = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    tripwire
        .set_nonblocking(true)
        .map_err(|e| format!("tripwire: {e}"))?;
    let api_addr = api.local_addr().map_err(|e| e.to_string())?;
    let env = function_env(api_addr, tripwire.local_addr().map_err(|e| e.to_string())?);

    // The stub: the first connection's request line, timestamped as soon as it is in. It
    // blocks (no polling to blur the figure) and hands the connection back, held open.
    let (tx, rx) = mpsc::channel();
    let stub = thread::spawn(move || {
        let answer = api
            .accept()
            .map_err(|e| format!("accept: {e}"))
            .and_then(|(stream, _)| {
                let mut line = String::new();
                let mut reader = BufReader::new(stream);
                reader
                    .read_line(&mut line)
                    .map_err(|e| format!("read: {e}"))?;
                Ok((Instant::now(), line, reader.into_inner()))
            });
        let _ = tx.send(answer);
    });

    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .envs(env)
        .envs(extra_env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let outcome = wait_for_next(&rx, &tripwire, &mut child, started);
    let _ = child.kill();
    let stderr = child
        .wait_with_output()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default();
    if outcome.is_err() {
        // Unblocks the stub if nothing connected to it.
        let _ = TcpStream::connect(api_addr);
    }
    let _ = stub.join();
    outcome.map_err(|e| {
        let tail: String = stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        if tail.is_empty() {
            e
        } else {
            format!("{e}; stderr: {tail}")
        }
    })
}

/// Whether `binary` reads the system's CA store before its first `/next`. It runs as in
/// [`measure_once`], with `SSL_CERT_FILE`, which rustls-native-certs reads first (behind both
/// the AWS SDK's and reqwest's default roots), naming a FIFO that reports being opened, and
/// `SSL_CERT_DIR` an empty directory. A reader of the FIFO stays blocked until the reporting
/// thread has taken note and closed its end, so no read goes unreported.
pub fn reads_system_ca_store(binary: &Path) -> Result<bool, String> {
    static RUN: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "cold-start-ca-{}-{}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    let (fifo, empty) = (dir.join("ca.pem"), dir.join("certs"));
    fs::create_dir_all(&empty).map_err(|e| format!("{}: {e}", empty.display()))?;
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .map_err(|e| format!("mkfifo: {e}"))?;
    if !made.success() {
        return Err(format!("mkfifo {}: {made}", fifo.display()));
    }
    let opened = Arc::new(AtomicBool::new(false));
    let reporter = {
        let (fifo, opened) = (fifo.clone(), Arc::clone(&opened));
        // Opening a FIFO to write blocks until something opens it to read.
        thread::spawn(move || {
            if let Ok(end) = OpenOptions::new().write(true).open(&fifo) {
                opened.store(true, Ordering::SeqCst);
                drop(end);
            }
        })
    };
    let env = [
        ("SSL_CERT_FILE".to_owned(), fifo.display().to_string()),
        ("SSL_CERT_DIR".to_owned(), empty.display().to_string()),
    ];
    // A binary that read the (empty) FIFO may then fail for want of roots: it read the store.
    let outcome = match measure_once(binary, &env) {
        _ if opened.load(Ordering::SeqCst) => Ok(true),
        Ok(_) => Ok(false),
        Err(e) => Err(e),
    };
    // Releases the reporter if nothing read the FIFO: opened for reading and writing, a FIFO
    // does not block, and it counts as a reader.
    let _ = OpenOptions::new().read(true).write(true).open(&fifo);
    let _ = reporter.join();
    let _ = fs::remove_dir_all(&dir);
    outcome
}

type StubAnswer = Result<(Instant, String, TcpStream), String>;

fn wait_for_next(
    rx: &mpsc::Receiver<StubAnswer>,
    tripwire: &TcpListener,
    child: &mut Child,
    started: Instant,
) -> Result<Duration, String> {
    loop {
        match rx.recv_timeout(Duration::from_millis(5)) {
            Ok(answer) => {
                let (at, line, _held) = answer?;
                if tripwire.accept().is_ok() {
                    return Err(tripwire_error());
                }
                if !line.starts_with(NEXT) {
                    return Err(format!(
                        "the first request was {:?}, not {NEXT}",
                        line.trim_end()
                    ));
                }
                return Ok(at - started);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err("the stub stopped".into()),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if tripwire.accept().is_ok() {
            return Err(tripwire_error());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited ({status}) before its first /next"));
        }
        if started.elapsed() > TIMEOUT {
            return Err(format!("no /next within {} s", TIMEOUT.as_secs()));
        }
    }
}

fn tripwire_error() -> String {
    "connected to its AWS or Plivo endpoint before its first /next: its cold start needs the network".into()
}

/// The median and the 90th percentile (nearest rank) of some durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub median: Duration,
    pub p90: Duration,
}

pub fn summarize(samples: &[Duration]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    };
    let p90 = sorted[(n * 9).div_ceil(10) - 1];
    Some(Summary { median, p90 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn median_and_nearest_rank_p90() {
        let s = summarize(&ms(&[5, 1, 4, 2, 3])).unwrap();
        assert_eq!(s.median, Duration::from_millis(3));
        assert_eq!(s.p90, Duration::from_millis(5));
        let s = summarize(&ms(&[10, 1, 2, 3, 4, 5, 6, 7, 8, 9])).unwrap();
        assert_eq!(s.median, Duration::from_micros(5500));
        assert_eq!(s.p90, Duration::from_millis(9));
        assert_eq!(summarize(&[]), None);
    }
}
