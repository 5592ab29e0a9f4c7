//! What a person wants to know of a job (`GET /v1/bulk/{job_id}`, docs/api.md), read from
//! its JSON: how far it got, and whether it ended well.

use std::time::Duration;

use serde_json::Value;

use crate::duration;

/// The statuses after which a job changes no more (delivery reports aside).
pub const FINAL_STATUSES: [&str; 3] = ["done", "cancelled", "failed"];

/// A job's progress at one poll.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub job_id: String,
    pub status: String,
    /// Recipients the job will send to (`accepted`; while a file is planning, its rows
    /// accepted so far).
    pub recipients: u64,
    /// Messages Plivo has taken (`messages.accepted_by_plivo`).
    pub submitted: u64,
    pub delivered: u64,
    /// Messages that ended `failed`, `undelivered` or `rejected`.
    pub failed: u64,
    /// Recipients whose batches wait for their quiet hours to end.
    pub waiting: u64,
    pub next_window_opens_at: Option<String>,
    pub batches_total: u64,
    pub batches_failed: u64,
    pub batches_unknown: u64,
    pub batches_cancelled: u64,
    /// Recipients a second, over the last minute (`rate.recent_recipients_per_second`).
    pub rate: Option<f64>,
    pub planning_error: Option<String>,
}

fn count(v: &Value, path: &[&str]) -> u64 {
    path.iter()
        .try_fold(v, |v, key| v.get(key))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    path.iter()
        .try_fold(v, |v, key| v.get(key))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

impl Progress {
    pub fn of(job: &Value) -> Self {
        let recipients = match job.get("accepted").and_then(Value::as_u64) {
            Some(n) => n,
            None => count(job, &["planning", "rows", "accepted"]),
        };
        Self {
            job_id: text(job, &["job_id"]).unwrap_or_default(),
            status: text(job, &["status"]).unwrap_or_default(),
            recipients,
            submitted: count(job, &["messages", "accepted_by_plivo"]),
            delivered: count(job, &["messages", "delivered"]),
            failed: count(job, &["messages", "failed"])
                + count(job, &["messages", "undelivered"])
                + count(job, &["messages", "rejected"]),
            waiting: count(job, &["quiet_hours", "recipients_waiting"]),
            next_window_opens_at: text(job, &["quiet_hours", "next_window_opens_at"]),
            batches_total: count(job, &["batches", "total"]),
            batches_failed: count(job, &["batches", "failed"]),
            batches_unknown: count(job, &["batches", "unknown"]),
            batches_cancelled: count(job, &["batches", "cancelled"]),
            rate: job
                .get("rate")
                .and_then(|r| r.get("recent_recipients_per_second"))
                .and_then(Value::as_f64),
            planning_error: text(job, &["planning", "error"]),
        }
    }

    pub fn is_final(&self) -> bool {
        FINAL_STATUSES.contains(&self.status.as_str())
    }

    /// How long the rest takes to reach Plivo at the recent rate (none without a rate).
    pub fn eta(&self) -> Option<Duration> {
        let rate = self.rate.filter(|r| *r > 0.0)?;
        let left = self
            .recipients
            .saturating_sub(self.submitted + self.waiting);
        Duration::try_from_secs_f64(left as f64 / rate).ok()
    }

    pub fn rate_and_eta(&self) -> String {
        match (self.rate, self.eta()) {
            (Some(rate), Some(eta)) if !self.is_final() => {
                format!("{rate:.1}/s, ETA {}", duration::show(eta))
            }
            (Some(rate), _) => format!("{rate:.1}/s"),
            _ => "rate -".to_owned(),
        }
    }

    /// One line of progress, as plain-line watching prints it.
    pub fn line(&self) -> String {
        let mut line = format!(
            "job {} {}: submitted {}/{}, delivered {}, failed {}, waiting for quiet hours {}, {}",
            self.job_id,
            self.status,
            self.submitted,
            self.recipients,
            self.delivered,
            self.failed,
            self.waiting,
            self.rate_and_eta()
        );
        if let Some(at) = &self.next_window_opens_at {
            line.push_str(&format!(", next window opens {at}"));
        }
        line
    }

    /// Why the job did not end well, if it did not: cancelled, planning failed, batches that
    /// failed or whose outcome is unknown, messages that failed.
    pub fn shortfall(&self) -> Option<String> {
        match self.status.as_str() {
            "cancelled" => {
                return Some(format!(
                    "job {} was cancelled ({} batches cancelled)",
                    self.job_id, self.batches_cancelled
                ));
            }
            "failed" => {
                return Some(format!(
                    "job {} failed: {}",
                    self.job_id,
                    self.planning_error
                        .as_deref()
                        .unwrap_or("its planning failed")
                ));
            }
            _ => {}
        }
        let mut wrong = Vec::new();
        if self.batches_failed > 0 {
            wrong.push(format!("{} batches failed", self.batches_failed));
        }
        if self.batches_unknown > 0 {
            wrong.push(format!("{} batches' outcome unknown", self.batches_unknown));
        }
        if self.failed > 0 {
            wrong.push(format!("{} messages failed or undelivered", self.failed));
        }
        (!wrong.is_empty()).then(|| {
            format!(
                "job {} ended {}: {}",
                self.job_id,
                self.status,
                wrong.join(", ")
            )
        })
    }
}

/// A job's summary for a person: what `smsctl job ID` prints, and `--watch` at its end.
pub fn summary(job: &Value) -> String {
    let p = Progress::of(job);
    let mut out = format!("job {} {}", p.job_id, p.status);
    let mut row = |name: &str, value: String| out.push_str(&format!("\n  {name:<12}{value}"));
    if let Some(at) = text(job, &["send_at"]) {
        row("starts", at);
    }
    if let Some(reason) = text(job, &["paused_reason"]) {
        row("paused", reason);
    }
    if let Some(planning) = job.get("planning") {
        let rows = &planning["rows"];
        row(
            "planning",
            format!(
                "{}: {} rows read, {} accepted, {} duplicates, {} rejected",
                text(planning, &["state"]).unwrap_or_default(),
                count(rows, &["rows"]),
                count(rows, &["accepted"]),
                count(rows, &["duplicates"]),
                count(rows, &["rejected"]),
            ),
        );
        if let Some(error) = &p.planning_error {
            row("error", error.clone());
        }
    }
    if job.get("batches").is_some() {
        row("recipients", format!("{} accepted", p.recipients));
        row(
            "batches",
            format!(
                "{} total: {} sent, {} failed, {} unknown, {} cancelled",
                p.batches_total,
                count(job, &["batches", "sent"]),
                p.batches_failed,
                p.batches_unknown,
                p.batches_cancelled
            ),
        );
        let m = |k: &str| count(job, &["messages", k]);
        row(
            "messages",
            format!(
                "{} taken by Plivo: {} queued, {} sent, {} delivered, {} undelivered, {} failed, {} rejected",
                p.submitted,
                m("queued"),
                m("sent"),
                m("delivered"),
                m("undelivered"),
                m("failed"),
                m("rejected")
            ),
        );
    }
    if let Some(amount) = text(job, &["charged", "amount"]) {
        row(
            "charged",
            format!("{amount} ({} units)", count(job, &["charged", "units"])),
        );
    }
    if let Some(hours) = text(job, &["quiet_hours", "hours"]) {
        let mut value = format!("{hours}: {} recipients waiting", p.waiting);
        if let Some(at) = &p.next_window_opens_at {
            value.push_str(&format!(", next window opens {at}"));
        }
        row("quiet hours", value);
    }
    if p.rate.is_some() && !p.is_final() {
        row("rate", p.rate_and_eta());
    }
    if let Some(state) = text(job, &["results", "state"]) {
        row(
            "results",
            format!("{state}, {} rows", count(job, &["results", "rows"])),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_done_job_without_failures_has_no_shortfall() {
        let job = json!({"job_id": "j", "status": "done", "accepted": 2,
            "batches": {"total": 1, "sent": 1, "failed": 0, "unknown": 0, "cancelled": 0},
            "messages": {"accepted_by_plivo": 2, "delivered": 2, "failed": 0, "undelivered": 0, "rejected": 0}});
        assert_eq!(Progress::of(&job).shortfall(), None);
    }

    #[test]
    fn undelivered_messages_failed_batches_and_a_cancel_are_shortfalls() {
        let job = json!({"job_id": "j", "status": "done", "accepted": 2,
            "batches": {"total": 2, "failed": 1}, "messages": {"undelivered": 1}});
        assert_eq!(
            Progress::of(&job).shortfall().as_deref(),
            Some("job j ended done: 1 batches failed, 1 messages failed or undelivered")
        );
        let job = json!({"job_id": "j", "status": "cancelled", "batches": {"cancelled": 3}});
        assert!(
            Progress::of(&job)
                .shortfall()
                .unwrap()
                .contains("cancelled")
        );
    }

    #[test]
    fn the_eta_counts_what_is_left_at_the_recent_rate() {
        let job = json!({"job_id": "j", "status": "sending", "accepted": 1000,
            "messages": {"accepted_by_plivo": 400}, "rate": {"recent_recipients_per_second": 100.0}});
        let p = Progress::of(&job);
        assert_eq!(p.eta(), Some(Duration::from_secs(6)));
        assert!(p.line().contains("submitted 400/1000"), "{}", p.line());
        assert!(p.line().contains("100.0/s, ETA 6s"), "{}", p.line());
    }
}
