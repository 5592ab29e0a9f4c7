//! What the tests share: running the real binary against a wiremock API, in an environment
//! of the test's own (no profile file of the machine's, no SMS_* of the shell's).

#![allow(dead_code)] // each test binary uses its part

use std::{path::PathBuf, process::Stdio};

use wiremock::MockServer;

mod mock_api;
pub use mock_api::*;

pub const KEY: &str = "test-key-not-secret-0123456789abcdef";

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout as the one JSON document `--output json` promises.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", self.stdout))
    }

    /// The exit status, showing stderr when it is another.
    pub fn assert_code(&self, code: i32) {
        assert_eq!(self.code, code, "{}", self.stderr);
    }

    pub fn assert_stdout_has(&self, part: &str) {
        assert!(self.stdout.contains(part), "{}", self.stdout);
    }

    pub fn assert_stdout_starts_with(&self, start: &str) {
        assert!(self.stdout.starts_with(start), "{}", self.stdout);
    }

    pub fn assert_stderr_has(&self, part: &str) {
        assert!(self.stderr.contains(part), "{}", self.stderr);
    }

    /// Neither stream shows the API key.
    pub fn assert_key_not_shown(&self) {
        assert!(
            !self.stdout.contains(KEY) && !self.stderr.contains(KEY),
            "the key was printed"
        );
    }
}

/// A directory of the test's own, removed when dropped.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("smsctl-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        Self(dir)
    }

    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("a temporary file");
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary, with HOME and XDG_CONFIG_HOME in an empty directory and no SMS_* variables.
pub fn command(home: &Dir) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_smsctl"));
    cmd.env("HOME", &home.0)
        .env("XDG_CONFIG_HOME", home.0.join("config"))
        .env_remove("SMS_API_URL")
        .env_remove("SMS_API_KEY")
        .env_remove("SMS_PROFILE")
        .env_remove("SMSCTL_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// The binary pointed at the API at `url` with `key`, through SMS_API_URL and SMS_API_KEY.
pub fn command_against(home: &Dir, url: &str, key: &str) -> tokio::process::Command {
    let mut cmd = command(home);
    cmd.env("SMS_API_URL", url).env("SMS_API_KEY", key);
    cmd
}

pub async fn finish(cmd: &mut tokio::process::Command) -> Run {
    let out = cmd.output().await.expect("smsctl runs");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    run.assert_key_not_shown();
    run
}

/// `smsctl ARGS` against `api`, its key in SMS_API_KEY, polling every 50 ms.
pub async fn smsctl(api: &MockServer, args: &[&str]) -> Run {
    let home = Dir::new(&format!("home-{}", unique()));
    let mut cmd = command_against(&home, &api.uri(), KEY);
    cmd.args(["--poll-interval", "50ms"]).args(args);
    finish(&mut cmd).await
}

pub fn unique() -> usize {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

pub fn bearer() -> (&'static str, String) {
    ("authorization", format!("Bearer {KEY}"))
}
