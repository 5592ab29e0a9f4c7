//! What a dry run shows of a list's quiet hours: who would wait for their window when the
//! job starts (now, or at `send_at`), and who never could be sent (docs/api.md, "Quiet hours").

use chrono::{DateTime, Utc};
use serde::Serialize;
use sms_core::{
    PhoneNumber,
    domain::{
        quiet_hours::{QuietHours, Window},
        zones,
    },
};

use crate::forecast::stamp;

#[derive(Debug, PartialEq, Serialize)]
pub struct QuietPreview {
    /// `HH:MM-HH:MM`, in each recipient's local time.
    pub hours: String,
    /// Recipients whose window is closed when the job starts: they wait for it.
    pub recipients_waiting: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_window_opens_at: Option<String>,
    /// Recipients whose zones leave no hour outside the quiet hours: never sent.
    pub recipients_never_sent: u64,
}

/// The batches' windows at `start`. The intake cut the batches by zone window, so each
/// batch's first recipient speaks for the batch (as in the sender).
pub fn preview(
    quiet: QuietHours,
    batches: &[Vec<PhoneNumber>],
    start: DateTime<Utc>,
) -> QuietPreview {
    let mut view = QuietPreview {
        hours: quiet.to_string(),
        recipients_waiting: 0,
        next_window_opens_at: None,
        recipients_never_sent: 0,
    };
    let mut next: Option<DateTime<Utc>> = None;
    for batch in batches {
        let Some(first) = batch.first() else { continue };
        let count = batch.len() as u64;
        match quiet.window(zones::window_key(first).zones(), start) {
            Ok(Window::Open { .. }) => {}
            Ok(Window::Waits { opens, .. }) => {
                view.recipients_waiting += count;
                next = Some(next.map_or(opens, |n| n.min(opens)));
            }
            Err(_) => view.recipients_never_sent += count,
        }
    }
    view.next_window_opens_at = next.map(stamp);
    view
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(raw: &[&str]) -> Vec<PhoneNumber> {
        raw.iter().map(|n| PhoneNumber::parse(n).unwrap()).collect()
    }

    #[test]
    fn counts_who_waits_when_the_job_starts_and_when_the_first_window_opens() {
        // 22:00 in London (UTC in December), 17:00 in New York.
        let start: DateTime<Utc> = "2026-12-07T22:00:00Z".parse().unwrap();
        let quiet = QuietHours::parse("21:00", "08:00").unwrap();
        let batches = vec![
            numbers(&["+447400123456", "+447400123457"]),
            numbers(&["+12125550100"]),
        ];
        let view = preview(quiet, &batches, start);
        assert_eq!(
            view,
            QuietPreview {
                hours: "21:00-08:00".into(),
                recipients_waiting: 2,
                next_window_opens_at: Some("2026-12-08T08:00:00Z".into()),
                recipients_never_sent: 0,
            }
        );
        // At noon UTC both windows are open.
        let noon: DateTime<Utc> = "2026-12-08T15:00:00Z".parse().unwrap();
        let open = preview(quiet, &batches, noon);
        assert_eq!(
            (open.recipients_waiting, open.next_window_opens_at),
            (0, None)
        );
    }

    #[test]
    fn recipients_whose_zones_share_no_window_are_never_sent() {
        // A toll-free number may be anywhere from Hawaii to Newfoundland: 18:00-09:00 in
        // every one of those zones leaves no hour of the day.
        let toll_free = numbers(&["+18002752273"]);
        assert!(zones::window_key(&toll_free[0]).zones().len() > 5);
        let quiet = QuietHours::parse("18:00", "09:00").unwrap();
        let start: DateTime<Utc> = "2026-12-07T12:00:00Z".parse().unwrap();
        let view = preview(quiet, &[toll_free], start);
        assert_eq!(
            (view.recipients_never_sent, view.recipients_waiting),
            (1, 0)
        );
    }
}
