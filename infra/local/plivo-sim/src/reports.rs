//! Delivery reports: what Plivo posts to a message's `url` as its status changes (docs/plivo.md),
//! signed with V3 and V2 exactly as Plivo signs them, so a receiver's real check is exercised.
//!
//! Reports go out in the background, never delaying the 202, through one semaphore so a
//! bulk job cannot open thousands of connections at once.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use rand::RngExt;
use sms_core::{
    PhoneNumber,
    plivo::{SignatureV2, SignatureV3, SignedRequest},
};
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use crate::{
    config::{ReportMode, Settings},
    order::out_of_order,
    request::{Callback, CallbackMethod, in_ranges},
    state::SimState,
};

/// Plivo retries a failed callback 3 times.
const RETRIES: u32 = 3;
/// A US carrier, whatever the number: the field exists, its value is not checked.
pub(crate) const MCC: &str = "310";
pub(crate) const MNC: &str = "004";
/// Plivo's "Destination Permanently Unavailable".
pub const UNDELIVERED_ERROR_CODE: &str = "70";
/// Plivo's "destination has opted out" (docs/plivo.md, "Delivery reports").
pub const OPTED_OUT_ERROR_CODE: &str = "200";

/// The HTTP client and the concurrency bound shared by every report.
pub(crate) struct Reporter {
    http: reqwest::Client,
    permits: Arc<Semaphore>,
}

impl Reporter {
    pub(crate) fn new(concurrency: usize) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("plivo-sim/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        })
    }
}

/// How a message ends, chosen by the recipient's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Delivered,
    Undelivered,
    OptedOut,
}

impl Fate {
    pub fn of(to: &PhoneNumber, settings: &Settings) -> Self {
        if in_ranges(to, &settings.opted_out_prefixes) {
            Self::OptedOut
        } else if in_ranges(to, &settings.undeliverable_prefixes) {
            Self::Undelivered
        } else {
            Self::Delivered
        }
    }

    /// The statuses reported, in order. An opted-out number never reaches a carrier, so it
    /// goes from queued straight to failed.
    pub fn statuses(self) -> &'static [&'static str] {
        match self {
            Self::Delivered => &["queued", "sent", "delivered"],
            Self::Undelivered => &["queued", "sent", "undelivered"],
            Self::OptedOut => &["queued", "failed"],
        }
    }

    /// The status a message has `elapsed` after it was accepted, on the schedule its reports
    /// follow (`Batch::spawn`: report `i` waits `step` after the one before, so goes out at
    /// `(i + 1) * step`). It is `queued` until the second report's time and its final status
    /// from the last report's time on, whether reports are sent or not; a zero step is final
    /// at once.
    pub fn status_after(self, elapsed: Duration, step: Duration) -> &'static str {
        let statuses = self.statuses();
        let last = statuses.len() - 1;
        let reached = if step.is_zero() {
            last
        } else {
            // Report i (0-based) is out at (i + 1) * step.
            let steps = elapsed.as_nanos() / step.as_nanos();
            usize::try_from(steps)
                .unwrap_or(usize::MAX)
                .saturating_sub(1)
        };
        statuses[reached.min(last)]
    }

    /// Whether Plivo charges the message: an opted-out one never left it.
    pub fn charged(self) -> bool {
        self != Self::OptedOut
    }
}

/// The `ErrorCode` a report of `status` carries (empty when there is none).
pub fn error_code(status: &str) -> &'static str {
    match status {
        "undelivered" => UNDELIVERED_ERROR_CODE,
        "failed" => OPTED_OUT_ERROR_CODE,
        _ => "",
    }
}

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message_uuid: String,
    pub to: PhoneNumber,
    /// As Plivo writes it: digits without `+`, or the sender ID.
    pub from: String,
    /// The Powerpack it was sent through, if it was.
    pub powerpack_uuid: Option<String>,
    pub units: usize,
    /// Per unit, as Plivo prints it (`0.00500`): the destination country's price.
    pub rate: String,
    pub fate: Fate,
}

/// One report: its status (for logs) and its form fields.
#[derive(Debug, Clone)]
pub struct Report {
    pub status: &'static str,
    pub params: Vec<(String, String)>,
}

fn timestamp(t: DateTime<Utc>) -> String {
    // Plivo's documented form: `YYYY-mm-dd HH:MM:SS.SSSSSS`, UTC.
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

/// The reports of one message. Times are laid out `step` apart from `queued_at`, so they
/// stay consistent whatever order the reports are sent in.
pub fn plan(d: &Delivery, queued_at: DateTime<Utc>, step: Duration) -> Vec<Report> {
    let step = chrono::Duration::from_std(step).unwrap_or_default();
    let queued = timestamp(queued_at);
    let sent = timestamp(queued_at + step);
    let done = |i: usize| timestamp(queued_at + step * i as i32);
    let charged = d.fate.charged();
    let rate: f64 = d.rate.parse().unwrap_or(0.0);
    let amount = if charged { rate * d.units as f64 } else { 0.0 };
    let statuses = d.fate.statuses();
    statuses
        .iter()
        .enumerate()
        .map(|(i, &status)| {
            let error_code = error_code(status);
            let sent_time = if i >= 1 && status != "failed" {
                sent.as_str()
            } else {
                ""
            };
            let report_time = if i + 1 == statuses.len() && i > 0 {
                done(i)
            } else {
                String::new()
            };
            let fields = [
                ("MessageUUID", d.message_uuid.clone()),
                ("To", d.to.digits().to_owned()),
                ("From", d.from.clone()),
                ("Status", status.to_owned()),
                ("ErrorCode", error_code.to_owned()),
                ("Units", d.units.to_string()),
                ("TotalRate", format!("{rate:.5}")),
                ("TotalAmount", format!("{amount:.5}")),
                ("MCC", MCC.to_owned()),
                ("MNC", MNC.to_owned()),
                ("ParentMessageUUID", d.message_uuid.clone()),
                ("PartInfo", "1 of 1".to_owned()),
                ("Sequence", (i + 1).to_string()),
                ("MessageTime", queued.clone()),
                ("QueuedTime", queued.clone()),
                ("SentTime", sent_time.to_owned()),
                ("DeliveryReportTime", report_time),
                (
                    "PowerpackUUID",
                    d.powerpack_uuid.clone().unwrap_or_default(),
                ),
                ("Type", "sms".to_owned()),
            ];
            Report {
                status,
                params: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            }
        })
        .collect()
}

/// The messages of one accepted request and the settings they were accepted under.
pub(crate) struct Batch {
    pub callback: Callback,
    pub deliveries: Vec<Delivery>,
    pub settings: Settings,
}

impl Batch {
    fn copies(&self) -> u64 {
        if self.settings.report_mode == ReportMode::Duplicate {
            2
        } else {
            1
        }
    }

    /// Reports this batch will send, counting copies: the pending count shown in stats.
    pub(crate) fn report_count(&self) -> u64 {
        let per_copy: u64 = self
            .deliveries
            .iter()
            .map(|d| d.fate.statuses().len() as u64)
            .sum();
        per_copy * self.copies()
    }

    /// Starts one task per message; each sends its reports one after the other.
    pub(crate) fn spawn(self, state: &SimState, epoch: u64) {
        let copies = self.copies();
        let delay = Duration::from_millis(self.settings.report_delay_ms);
        let timeout = Duration::from_millis(self.settings.report_timeout_ms);
        let retry = Duration::from_millis(self.settings.report_retry_ms);
        let mode = self.settings.report_mode;
        let queued_at = Utc::now();
        let callback = Arc::new(self.callback);
        for d in self.deliveries {
            let mut reports = plan(&d, queued_at, delay);
            if mode == ReportMode::Shuffle {
                reports = out_of_order(reports);
            }
            let state = state.clone();
            let callback = callback.clone();
            let uuid = d.message_uuid;
            tokio::spawn(async move {
                let job = Job {
                    state: &state,
                    epoch,
                    callback: &callback,
                    message_uuid: &uuid,
                    timeout,
                    retry,
                };
                for report in &reports {
                    tokio::time::sleep(delay).await;
                    for _ in 0..copies {
                        if state.epoch() != epoch {
                            return;
                        }
                        let sent = job.send_with_retries(report).await;
                        state.report_done(epoch, sent);
                    }
                }
            });
        }
    }
}

struct Job<'a> {
    state: &'a SimState,
    epoch: u64,
    callback: &'a Callback,
    message_uuid: &'a str,
    timeout: Duration,
    retry: Duration,
}

impl Job<'_> {
    async fn send_with_retries(&self, report: &Report) -> bool {
        let mut last_error = String::new();
        for attempt in 0..=RETRIES {
            if attempt > 0 {
                tokio::time::sleep(self.retry.saturating_mul(1 << (attempt - 1))).await;
                if self.state.epoch() != self.epoch {
                    return false;
                }
            }
            let result = {
                let reporter = self.state.reporter();
                // The semaphore is never closed; if it were, there is nothing left to send.
                let Ok(_permit) = reporter.permits.acquire().await else {
                    return false;
                };
                self.state.report_attempted(self.epoch);
                send_once(
                    &reporter.http,
                    self.state.credentials().token(),
                    self.callback,
                    report,
                    self.timeout,
                )
                .await
            };
            match result {
                Ok(()) => {
                    debug!(
                        message_uuid = self.message_uuid,
                        status = report.status,
                        attempt,
                        "report sent"
                    );
                    return true;
                }
                Err(e) => last_error = e,
            }
        }
        warn!(
            message_uuid = self.message_uuid,
            status = report.status,
            url = %self.callback.url,
            error = %last_error,
            "report dropped after {RETRIES} retries"
        );
        false
    }
}

/// A random numeric nonce of 20 digits, the form Plivo uses.
fn nonce() -> String {
    rand::rng()
        .random_range(10u128.pow(19)..10u128.pow(20))
        .to_string()
}

/// Every signature header Plivo sends for `report` to `callback`, signed with `token`.
pub fn signature_headers(
    callback: &Callback,
    report: &Report,
    token: &str,
) -> Vec<(&'static str, String)> {
    let signed = SignedRequest {
        method: callback.method.as_str(),
        url: &callback.url,
        params: &report.params,
    };
    let (n3, n2) = (nonce(), nonce());
    let v3 = SignatureV3::sign(&signed, &n3, token);
    let v2 = SignatureV2::sign(&callback.url, &n2, token);
    vec![
        (SignatureV3::HEADER, v3.clone()),
        // No subaccounts here: the main account's token is the same token.
        (SignatureV3::MA_HEADER, v3),
        (SignatureV3::NONCE_HEADER, n3),
        (SignatureV2::HEADER, v2.clone()),
        (SignatureV2::MA_HEADER, v2),
        (SignatureV2::NONCE_HEADER, n2),
    ]
}

async fn send_once(
    http: &reqwest::Client,
    token: &str,
    callback: &Callback,
    report: &Report,
    timeout: Duration,
) -> Result<(), String> {
    let mut request = match callback.method {
        CallbackMethod::Post => http.post(&callback.url).form(&report.params),
        CallbackMethod::Get => {
            // Plivo puts a GET report's fields after the URL's own query.
            let mut url = reqwest::Url::parse(&callback.url).map_err(|e| e.to_string())?;
            url.query_pairs_mut().extend_pairs(&report.params);
            http.get(url)
        }
    };
    for (name, value) in signature_headers(callback, report, token) {
        request = request.header(name, value);
    }
    let response = request
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the callback answered {}", response.status()))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;
    use sms_core::plivo::{SignatureCheck, SignatureFamily, verify_request};

    use super::*;

    fn delivery(fate: Fate) -> Delivery {
        Delivery {
            message_uuid: "b1a7c3e2-0000-4000-8000-000000000001".into(),
            to: PhoneNumber::parse("+14155550123").unwrap(),
            from: "14155550100".into(),
            powerpack_uuid: None,
            units: 2,
            rate: "0.00500".into(),
            fate,
        }
    }

    fn field<'a>(r: &'a Report, name: &str) -> &'a str {
        r.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap()
    }

    #[test]
    fn a_delivered_message_reports_queued_sent_delivered_with_every_field() {
        let reports = plan(
            &delivery(Fate::Delivered),
            Utc::now(),
            Duration::from_millis(10),
        );
        let statuses: Vec<&str> = reports.iter().map(|r| field(r, "Status")).collect();
        assert_eq!(statuses, ["queued", "sent", "delivered"]);
        let sequences: Vec<&str> = reports.iter().map(|r| field(r, "Sequence")).collect();
        assert_eq!(sequences, ["1", "2", "3"]);
        for r in &reports {
            assert_eq!(r.params.len(), 19);
            assert_eq!(field(r, "To"), "14155550123");
            assert_eq!(field(r, "ErrorCode"), "");
            assert_eq!(field(r, "ParentMessageUUID"), field(r, "MessageUUID"));
            assert_eq!(field(r, "Units"), "2");
            assert_eq!(field(r, "TotalAmount"), "0.01000");
            assert_eq!(field(r, "Type"), "sms");
        }
        assert_eq!(field(&reports[0], "SentTime"), "");
        assert_ne!(field(&reports[1], "SentTime"), "");
        assert_ne!(field(&reports[2], "DeliveryReportTime"), "");
    }

    #[test]
    fn failures_end_with_their_status_and_error_code() {
        let undelivered = plan(&delivery(Fate::Undelivered), Utc::now(), Duration::ZERO);
        let last = undelivered.last().unwrap();
        assert_eq!(
            (field(last, "Status"), field(last, "ErrorCode")),
            ("undelivered", "70")
        );
        let opted_out = plan(&delivery(Fate::OptedOut), Utc::now(), Duration::ZERO);
        assert_eq!(opted_out.len(), 2);
        let last = opted_out.last().unwrap();
        assert_eq!(
            (field(last, "Status"), field(last, "ErrorCode")),
            ("failed", "200")
        );
        assert_eq!(field(last, "TotalAmount"), "0.00000");
    }

    #[test]
    fn the_status_follows_the_report_schedule() {
        let ms = Duration::from_millis;
        let step = ms(10);
        let at = |fate: Fate, t| fate.status_after(ms(t), step);
        assert_eq!(at(Fate::Delivered, 0), "queued");
        assert_eq!(at(Fate::Delivered, 19), "queued");
        assert_eq!(at(Fate::Delivered, 20), "sent");
        assert_eq!(at(Fate::Delivered, 30), "delivered");
        assert_eq!(at(Fate::Undelivered, 10_000), "undelivered");
        assert_eq!(at(Fate::OptedOut, 20), "failed");
        assert_eq!(
            Fate::Delivered.status_after(ms(0), Duration::ZERO),
            "delivered"
        );
    }

    #[test]
    fn fate_follows_the_configured_ranges() {
        let s = Settings::default();
        let n = |raw: &str| PhoneNumber::parse(raw).unwrap();
        assert_eq!(Fate::of(&n("+13125550111"), &s), Fate::Undelivered);
        assert_eq!(Fate::of(&n("+13125550121"), &s), Fate::OptedOut);
        assert_eq!(Fate::of(&n("+14155550123"), &s), Fate::Delivered);
    }

    #[test]
    fn signatures_verify_with_the_shared_check() {
        let report = &plan(&delivery(Fate::Delivered), Utc::now(), Duration::ZERO)[0];
        for method in [CallbackMethod::Post, CallbackMethod::Get] {
            let cb = Callback {
                url: "https://api.example.com/v1/callbacks/plivo/status?tenant=a".into(),
                method,
            };
            let mut headers = HeaderMap::new();
            for (k, v) in signature_headers(&cb, report, "tok") {
                headers.insert(k, v.parse().unwrap());
            }
            let req = SignedRequest {
                method: method.as_str(),
                url: &cb.url,
                params: &report.params,
            };
            assert_eq!(
                verify_request(&headers, &req, &["tok"]),
                SignatureCheck::Valid(SignatureFamily::V3)
            );
            assert_eq!(
                verify_request(&headers, &req, &["other"]),
                SignatureCheck::Invalid
            );
            let nonce = headers[SignatureV3::NONCE_HEADER].to_str().unwrap();
            assert_eq!(nonce.len(), 20);
            assert!(nonce.bytes().all(|b| b.is_ascii_digit()));
        }
    }
}
