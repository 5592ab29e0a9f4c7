//! Quiet hours through the whole local stack: a job whose quiet hours cover London's clock
//! now (until two minutes from now) but not New York's sends to New York at once; London's
//! batch waits, counted in the status with the window's opening, and goes when the window
//! opens (the sender's wake-up request → job-files' one-time schedule → the local stand-in
//! for EventBridge Scheduler → the start's sweep). Everyone gets it once, and no London
//! number reaches Plivo before its window.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Timelike, Utc};
use e2e::Stack;
use serde_json::json;
use sms_core::{
    PhoneNumber,
    domain::{quiet_hours::QuietHours, zones},
};

#[tokio::test]
async fn recipients_in_quiet_hours_get_it_when_their_window_opens_and_the_others_at_once() {
    // Arrange
    let stack = Stack::from_env();
    stack.sim_reset().await;
    stack.sim_config(json!({"reports": false})).await;
    let new_york = e2e::numbers(7_300_000, 1_500);
    // UK mobiles: in London's zone, like every UK number.
    let london: Vec<String> = (0..1_000).map(|i| format!("+4474001{i:05}")).collect();
    let london_zone = zones::zones_of(&PhoneNumber::parse(&london[0]).unwrap())[0];
    // Quiet from an hour ago until the minute after next, by London's clock.
    let now = Utc::now();
    let local = now.with_timezone(&london_zone);
    let from = format!("{:02}:{:02}", (local.hour() + 23) % 24, local.minute());
    let until = local + Duration::minutes(2);
    let to = format!("{:02}:{:02}", until.hour(), until.minute());
    let quiet = QuietHours::parse(&from, &to).unwrap();
    let opens = quiet
        .opens_at(
            zones::zones_of(&PhoneNumber::parse(&london[0]).unwrap()),
            now,
        )
        .unwrap()
        .expect("London is quiet now");
    let mut recipients = new_york.clone();
    recipients.extend(london.iter().cloned());

    // Act
    let (status, body) = stack
        .post(
            "/v1/bulk",
            &json!({"recipients": recipients, "text": "Doors open", "quiet_hours": {"from": from, "to": to}}),
            &[("Idempotency-Key", "e2e-quiet-hours-1")],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let job_id = body["job_id"].as_str().unwrap().to_owned();

    // Assert: New York's two batches go at once; London's waits, shown in the status.
    let waiting = stack
        .wait_for_job(&job_id, 120, |p| {
            p["batches"]["sent"] == 2 && p["quiet_hours"]["recipients_waiting"] == 1_000
        })
        .await;
    assert_eq!(
        waiting["quiet_hours"]["next_window_opens_at"],
        opens.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "{waiting}"
    );
    assert_eq!(waiting["status"], "sending", "{waiting}");

    // Assert: at its window London's batch goes too, and nobody gets it twice.
    let done = stack
        .wait_for_job(&job_id, 420, e2e::all_batches_ended)
        .await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["batches"]["sent"], 3, "{done}");
    assert_eq!(done["quiet_hours"]["recipients_waiting"], 0, "{done}");
    let mut sent: Vec<(DateTime<Utc>, String)> = Vec::new();
    for request in stack.sim_requests().await {
        if request["outcome"] != "accepted" {
            continue;
        }
        let at: DateTime<Utc> = request["received_at"].as_str().unwrap().parse().unwrap();
        for d in request["dst"].as_array().unwrap() {
            sent.push((
                at,
                format!("+{}", d.as_str().unwrap().trim_start_matches('+')),
            ));
        }
    }
    let london_set: HashSet<&String> = london.iter().collect();
    let early: Vec<_> = sent
        .iter()
        .filter(|(at, n)| london_set.contains(n) && *at < opens)
        .collect();
    assert!(
        early.is_empty(),
        "London got it before {opens}: {:?}",
        &early[..1]
    );
    let numbers: Vec<&String> = sent.iter().map(|(_, n)| n).collect();
    assert_eq!(numbers.len(), 2_500, "nobody twice");
    let expected: HashSet<&String> = new_york.iter().chain(london.iter()).collect();
    assert_eq!(numbers.into_iter().collect::<HashSet<_>>(), expected);
}
