//! Following a message or a job until it ends: polls the API, shows progress (bars on a
//! terminal, plain lines otherwise), and stops at `--timeout` or Ctrl-C, leaving what it
//! watched running.

use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use crate::{api::Api, failure::Failure, job_view::Progress};

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Display {
    /// Live bars on stderr (a terminal).
    Bars,
    /// A plain line on stderr at every poll: for logs, pipes, CI and tests.
    Lines,
}

#[derive(Clone, Copy, Debug)]
pub struct Pace {
    pub every: Duration,
    pub timeout: Option<Duration>,
}

/// The four bars of a job: submitted, delivered, failed, waiting for quiet hours, under a
/// header line with the status, rate and ETA.
struct Bars {
    _multi: MultiProgress,
    header: ProgressBar,
    submitted: ProgressBar,
    delivered: ProgressBar,
    failed: ProgressBar,
    waiting: ProgressBar,
}

impl Bars {
    fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let header = multi.add(ProgressBar::new_spinner());
        header.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        // The spinner turns between polls, so a slow poll does not look like a hang.
        header.enable_steady_tick(Duration::from_millis(120));
        let bar = |name: &str| {
            let bar = multi.add(ProgressBar::new(0));
            let style = ProgressStyle::with_template(&format!(
                "{name:>10} [{{bar:40}}] {{pos:>8}}/{{len:<8}} {{percent:>3}}%"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar
        };
        Self {
            submitted: bar("submitted"),
            delivered: bar("delivered"),
            failed: bar("failed"),
            waiting: bar("waiting"),
            header,
            _multi: multi,
        }
    }

    fn show(&self, p: &Progress) {
        let mut msg = format!("job {} {} · {}", p.job_id, p.status, p.rate_and_eta());
        if let Some(at) = &p.next_window_opens_at {
            msg.push_str(&format!(" · next quiet-hours window opens {at}"));
        }
        self.header.set_message(msg);
        self.header.tick();
        for (bar, n) in [
            (&self.submitted, p.submitted),
            (&self.delivered, p.delivered),
            (&self.failed, p.failed),
            (&self.waiting, p.waiting),
        ] {
            bar.set_length(p.recipients.max(n));
            bar.set_position(n);
        }
    }

    fn finish(&self) {
        for bar in [
            &self.header,
            &self.submitted,
            &self.delivered,
            &self.failed,
            &self.waiting,
        ] {
            bar.abandon();
        }
    }
}

enum View {
    Bars(Bars),
    Lines,
}

impl View {
    fn new(display: Display) -> Self {
        match display {
            Display::Bars => Self::Bars(Bars::new()),
            Display::Lines => Self::Lines,
        }
    }

    fn show(&self, p: &Progress) {
        match self {
            Self::Bars(bars) => bars.show(p),
            Self::Lines => eprintln!("{}", p.line()),
        }
    }

    fn finish(&self) {
        if let Self::Bars(bars) = self {
            bars.finish();
        }
    }
}

/// Polls `GET /v1/bulk/{job_id}` until the job is done, cancelled or failed, and answers
/// it as it then is. Ctrl-C and `--timeout` stop the watching, never the job.
pub async fn job(api: &Api, job_id: &str, display: Display, pace: Pace) -> Result<Value, Failure> {
    let view = View::new(display);
    let follow = format!("the job goes on; follow it with: smsctl job {job_id} --watch");
    let outcome = poll(pace, &follow, || async {
        let job = api.get(&format!("/v1/bulk/{job_id}")).await?;
        let progress = Progress::of(&job);
        view.show(&progress);
        Ok(progress.is_final().then_some(job))
    })
    .await;
    view.finish();
    outcome
}

/// The statuses after which a message changes no more (docs/api.md).
pub const FINAL_MESSAGE_STATUSES: [&str; 4] = ["delivered", "undelivered", "failed", "rejected"];

/// Polls `GET /v1/messages/{uuid}` until its status is final, printing each new status
/// as a line on stderr.
pub async fn message(api: &Api, uuid: &str, pace: Pace) -> Result<Value, Failure> {
    let follow = format!("the message goes on; look it up with: smsctl message {uuid}");
    let last = std::cell::RefCell::new(String::new());
    poll(pace, &follow, || async {
        let message = api.get(&format!("/v1/messages/{uuid}")).await?;
        let status = message
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if *last.borrow() != status {
            eprintln!("message {uuid} {status}");
            *last.borrow_mut() = status.clone();
        }
        Ok(FINAL_MESSAGE_STATUSES
            .contains(&status.as_str())
            .then_some(message))
    })
    .await
}

/// Runs `check` every `pace.every` until it answers something, `pace.timeout` passes or
/// Ctrl-C. The first check is at once.
async fn poll<F, Fut>(pace: Pace, follow: &str, mut check: F) -> Result<Value, Failure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<Value>, Failure>>,
{
    let started = Instant::now();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => {
                return Err(Failure::Interrupted(format!("interrupted: {follow}")));
            }
            checked = check() => {
                if let Some(done) = checked? {
                    return Ok(done);
                }
            }
        }
        if let Some(timeout) = pace.timeout
            && started.elapsed() >= timeout
        {
            return Err(Failure::TimedOut(format!(
                "still not ended after {}: {follow}",
                crate::duration::show(timeout)
            )));
        }
        tokio::select! {
            _ = &mut ctrl_c => {
                return Err(Failure::Interrupted(format!("interrupted: {follow}")));
            }
            _ = tokio::time::sleep(pace.every) => {}
        }
    }
}
