//! A job's cap through the local stack: the dry run prices each destination country from
//! the simulator's Pricing API; a job whose estimate is over its `max_cost` gets a 422 with
//! the figures and Plivo never hears of it; one within its cap is sent. An uploaded file
//! over its cap is planned by job-files, priced there, and its plan fails with the same
//! problem; Plivo never hears of it either.

use e2e::Stack;
use serde_json::json;

#[tokio::test]
async fn a_job_over_its_max_cost_gets_a_422_and_sends_nothing() {
    // Arrange: 20 New York numbers and 5 UK mobiles, at the simulator's list prices.
    let stack = Stack::from_env();
    stack.sim_reset().await;
    stack
        .sim_config(json!({"reports": false, "prices": {"US": "0.00500", "GB": "0.04000"}}))
        .await;
    let mut recipients = e2e::numbers(7_400_000, 20);
    recipients.extend((0..5).map(|i| format!("+4474001234{i:02}")));
    let job = |extra: serde_json::Value| {
        let mut body = json!({"recipients": recipients, "text": "Sale ends tonight"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };

    // Act + assert: the dry run's estimate, priced by Plivo's Pricing API.
    let (status, preview) = stack
        .post("/v1/bulk", &job(json!({"dry_run": true})), &[])
        .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(
        preview["estimate"],
        json!({
            "recipients": 25, "segments": 25, "cost": "0.30",
            "countries": [
                {"country": "GB", "recipients": 5, "segments": 5, "rate": "0.04",
                 "rate_source": "plivo", "cost": "0.20"},
                {"country": "US", "recipients": 20, "segments": 20, "rate": "0.005",
                 "rate_source": "plivo", "cost": "0.10"},
            ]
        })
    );

    // Over the cap: refused with the figures, and nothing reaches Plivo.
    let (status, problem) = stack
        .post("/v1/bulk", &job(json!({"max_cost": "0.29"})), &[])
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["type"], "/problems/over-budget");
    assert_eq!(problem["estimate"]["cost"], "0.30");
    assert_eq!(problem["budget"]["max_cost"], "0.29");
    assert!(stack.sim_requests().await.is_empty());

    // Within it: sent, to everyone.
    let (status, body) = stack
        .post("/v1/bulk", &job(json!({"max_cost": "0.30"})), &[])
        .await;
    assert_eq!(status, 202, "{body}");
    let job_id = body["job_id"].as_str().unwrap().to_owned();
    let done = stack
        .wait_for_job(&job_id, 120, e2e::all_batches_ended)
        .await;
    assert_eq!(done["batches"]["sent"], 1, "{done}");
    let sent: usize = e2e::accepted_destinations(&stack)
        .await
        .iter()
        .map(Vec::len)
        .sum();
    assert_eq!(sent, 25);
}

/// The done-when's mid-way stop: the estimate fits the cap, but the carrier surcharges the
/// reports charge (absent from the Pricing API) use up the cap; the batch that would cross
/// it is not sent, the job pauses with reason `budget`, and a resume that raises `max_cost`
/// finishes it, everyone once. London's batch is held by its quiet hours until New York's
/// reports are in, so the order is the same on any machine.
#[tokio::test]
async fn a_job_that_reaches_its_cap_mid_way_pauses_for_budget_and_a_raise_finishes_it() {
    use chrono::{Duration, Timelike, Utc};
    use sms_core::{PhoneNumber, domain::zones};
    use std::collections::HashSet;

    // Arrange: a cent of surcharge on every segment; list prices US 0.005, GB 0.04.
    let stack = Stack::from_env();
    stack.sim_reset().await;
    stack
        .sim_config(json!({
            "prices": {"US": "0.00500", "GB": "0.04000"},
            "carrier_surcharge": "0.01000",
        }))
        .await;
    let new_york = e2e::numbers(7_450_000, 100);
    let london: Vec<String> = (0..100).map(|i| format!("+4474002{i:05}")).collect();
    // Quiet in London from an hour ago until the minute after next.
    let london_zone = zones::zones_of(&PhoneNumber::parse(&london[0]).unwrap())[0];
    let local = Utc::now().with_timezone(&london_zone);
    let from = format!("{:02}:{:02}", (local.hour() + 23) % 24, local.minute());
    let until = local + Duration::minutes(2);
    let to = format!("{:02}:{:02}", until.hour(), until.minute());
    let mut recipients = new_york.clone();
    recipients.extend(london.iter().cloned());

    // Act: estimated 100 × 0.005 + 100 × 0.04 = 4.50, under 5.00. New York's batch goes
    // at once and is charged 100 × 0.015 = 1.50; at London's window 1.50 + 4.00 > 5.00.
    let (status, body) = stack
        .post(
            "/v1/bulk",
            &json!({"recipients": recipients, "text": "Doors open", "max_cost": "5.00",
                    "quiet_hours": {"from": from, "to": to}}),
            &[("Idempotency-Key", "e2e-budget-mid-way")],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let job_id = body["job_id"].as_str().unwrap().to_owned();

    // Assert: paused for its budget once London's window opened, London unsent.
    let paused = stack
        .wait_for_job(&job_id, 300, |p| p["status"] == "paused")
        .await;
    assert_eq!(paused["paused_reason"], "budget", "{paused}");
    assert_eq!(paused["batches"]["sent"], 1, "{paused}");
    assert_eq!(paused["budget"]["max_cost"], "5.00", "{paused}");
    assert_eq!(paused["budget"]["reserved_cost"], "0.50", "{paused}");
    let sent_to = || async {
        e2e::accepted_destinations(&stack)
            .await
            .into_iter()
            .flatten()
            .map(|d| format!("+{}", d.trim_start_matches('+')))
            .collect::<Vec<_>>()
    };
    let before = sent_to().await;
    let london_set: HashSet<&String> = london.iter().collect();
    assert_eq!(before.len(), 100, "New York only");
    assert!(before.iter().all(|n| !london_set.contains(n)));

    // Act: raise the cap and resume.
    let (status, resumed) = stack
        .post(
            &format!("/v1/bulk/{job_id}/resume"),
            &json!({"max_cost": "10.00"}),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{resumed}");

    // Assert: done, everyone once.
    let done = stack
        .wait_for_job(&job_id, 300, e2e::all_batches_ended)
        .await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["batches"]["sent"], 2, "{done}");
    assert_eq!(done["budget"]["max_cost"], "10.00", "{done}");
    let all = sent_to().await;
    assert_eq!(all.len(), 200, "nobody twice");
    let expected: HashSet<&String> = new_york.iter().chain(london.iter()).collect();
    assert_eq!(all.iter().collect::<HashSet<_>>(), expected);
}

#[tokio::test]
async fn an_uploaded_file_over_its_max_cost_fails_its_plan_and_sends_nothing() {
    // Arrange: 30 Washington numbers (a range no other test uses), a third of them sent a
    // text of two segments: 40 segments at the simulator's 0.005, 0.20 in all.
    let stack = Stack::from_env();
    stack.sim_reset().await;
    stack
        .sim_config(json!({"reports": false, "prices": {"US": "0.00500"}}))
        .await;
    let mut csv = String::from("phone,name\n");
    for i in 0..30 {
        let name = if i % 3 == 0 {
            "x".repeat(170)
        } else {
            "Ana".into()
        };
        csv.push_str(&format!("+1202555{:04},{name}\n", 100 + i));
    }
    let upload_id = stack.upload(csv.as_bytes()).await;

    // Act: accepted for planning, as any upload is; job-files prices the whole file.
    let (status, body) = stack
        .post(
            "/v1/bulk",
            &json!({"upload_id": upload_id, "text": "Hi {{name}}", "max_cost": "0.19"}),
            &[],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let job_id = body["job_id"].as_str().unwrap().to_owned();
    let failed = stack
        .wait_for_job(&job_id, 120, |p| p["status"] == "failed")
        .await;

    // Assert: the plan failed with the over-budget problem and its figures, and nothing
    // reached Plivo.
    let problem = &failed["planning"]["problem"];
    assert_eq!(problem["type"], "/problems/over-budget", "{failed}");
    assert_eq!(problem["estimate"]["segments"], 40, "{failed}");
    assert_eq!(problem["estimate"]["cost"], "0.20", "{failed}");
    assert_eq!(problem["estimate"]["countries"][0]["rate_source"], "plivo");
    assert_eq!(problem["budget"], json!({"max_cost": "0.19"}));
    assert_eq!(failed["planning"]["error"], problem["detail"]);
    assert!(stack.sim_requests().await.is_empty(), "Plivo heard nothing");
}
