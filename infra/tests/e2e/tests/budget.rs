//! A job's cap through the local stack: the dry run prices each destination country from
//! the simulator's Pricing API; a job whose estimate is over its `max_cost` gets a 422 with
//! the figures and Plivo never hears of it; one within its cap is sent.

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
