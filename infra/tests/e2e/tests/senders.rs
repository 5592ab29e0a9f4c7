//! Sender identity through the local stack: a sender ID and a Powerpack reach the Plivo
//! simulator in Plivo's own fields, each message shows who it came from, and a sender ID
//! never goes to a US or Canadian number.

use e2e::Stack;
use serde_json::json;

/// The simulator's Powerpack number, as its reports name it (`plivo-sim`'s `POWERPACK_NUMBER`).
const POWERPACK_NUMBER: &str = "+14155550177";
const POWERPACK: &str = "d35f2e82-d387-427f-8594-6fa07613c43a";

/// UK mobiles no other test sends to.
fn uk_mobiles(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("+4474003{i:05}")).collect()
}

#[tokio::test]
async fn a_sender_id_goes_as_src_and_a_job_mixing_us_numbers_is_refused_naming_them() {
    let stack = Stack::from_env();
    stack.sim_reset().await;
    let uk = uk_mobiles(1);

    // A single send from a sender ID.
    let (status, body) = stack
        .post(
            "/v1/messages",
            &json!({"to": uk[0], "text": "Your table is ready", "from": "Acme Dining"}),
            &[],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let uuid = body["message_uuid"].as_str().unwrap().to_owned();
    let requests = stack.sim_requests().await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0]["src"], "Acme Dining");
    assert!(requests[0].get("powerpack_uuid").is_none());
    let message = stack.message_becomes(&uuid, "delivered").await;
    assert_eq!(message["from"], "Acme Dining");

    // A job from a sender ID to a UK and two North American numbers: refused, naming them.
    let mixed = json!([uk[0], e2e::numbers(7_500_000, 1)[0], "+16135550123"]);
    let (status, problem) = stack
        .post(
            "/v1/bulk",
            &json!({"recipients": mixed, "text": "Sale today", "from": "Acme"}),
            &[],
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["unreachable_count"], 2, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["recipients[1]", "recipients[2]"]);
    // And a single send to a US number from a sender ID never reaches Plivo.
    let (status, problem) = stack
        .post(
            "/v1/messages",
            &json!({"to": "+14155550123", "text": "Hi", "from": "Acme"}),
            &[],
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "to");
    assert_eq!(stack.sim_requests().await.len(), 1, "only the first send");
}

#[tokio::test]
async fn a_powerpack_job_sends_without_src_and_each_message_shows_the_number_plivo_picked() {
    let stack = Stack::from_env();
    stack.sim_reset().await;
    let recipients = [uk_mobiles(3), e2e::numbers(7_500_100, 3)].concat();

    let (status, body) = stack
        .post(
            "/v1/bulk",
            &json!({"recipients": recipients, "text": "Your parcel is out", "from": POWERPACK}),
            &[],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let job_id = body["job_id"].as_str().unwrap().to_owned();
    let progress = stack
        .wait_for_job(&job_id, 120, |p| {
            p["messages"]["delivered"] == 6 && p["status"] == "done"
        })
        .await;
    assert_eq!(progress["status"], "done", "{progress}");

    let requests = stack.sim_requests().await;
    assert!(!requests.is_empty());
    let mut uuids = Vec::new();
    for request in &requests {
        assert_eq!(request["powerpack_uuid"], POWERPACK, "{request}");
        assert!(request["src"].is_null(), "{request}");
        for uuid in request["message_uuids"].as_array().unwrap() {
            uuids.push(uuid.as_str().unwrap().to_owned());
        }
    }
    assert_eq!(uuids.len(), 6);
    for uuid in &uuids {
        let message = stack.message_becomes(uuid, "delivered").await;
        assert_eq!(message["from"], POWERPACK_NUMBER, "{message}");
    }
}
