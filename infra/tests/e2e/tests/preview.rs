//! The text preview through the local stack: a dry run names the curly apostrophe that makes
//! a text UCS-2 and shows its GSM-7 form with fewer segments; with `smart_encoding` the job
//! sends that form, and the simulator receives it.

use e2e::Stack;
use serde_json::json;

#[tokio::test]
async fn a_curly_apostrophe_is_named_with_its_gsm7_form_and_smart_encoding_sends_that() {
    let stack = Stack::from_env();
    stack.sim_reset().await;
    // 74 characters: one UCS-2 segment holds 70, one GSM-7 segment 160.
    let text = "Your table for two is ready at 8 pm. Don\u{2019}t be late: we hold it 15 minutes.";
    let plain = text.replace('\u{2019}', "'");
    let recipients = e2e::numbers(7_600_000, 3);

    let (status, preview) = stack
        .post(
            "/v1/bulk",
            &json!({"recipients": recipients, "text": text, "dry_run": true}),
            &[],
        )
        .await;

    assert_eq!(status, 200, "{preview}");
    let shown = &preview["texts"][0];
    assert_eq!(
        (shown["encoding"].clone(), shown["segments"].clone()),
        (json!("UCS-2"), json!(2)),
        "{shown}"
    );
    assert_eq!(
        shown["ucs2_characters"],
        json!([{"character": "\u{2019}", "code_point": "U+2019", "position": 40, "replacement": "'"}])
    );
    assert_eq!(
        shown["smart_encoding"],
        json!({"text": plain, "encoding": "GSM-7", "segments": 1})
    );
    assert!(
        stack.sim_requests().await.is_empty(),
        "a dry run sends nothing"
    );

    // Sent smart-encoded: Plivo receives the GSM-7 text, one segment for each recipient.
    let (status, body) = stack
        .post(
            "/v1/bulk",
            &json!({"recipients": recipients, "text": text, "smart_encoding": true}),
            &[],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        (body["encoding"].clone(), body["segments_total"].clone()),
        (json!("GSM-7"), json!(3))
    );
    let job_id = body["job_id"].as_str().unwrap().to_owned();
    stack
        .wait_for_job(&job_id, 120, e2e::all_batches_ended)
        .await;
    let requests = stack.sim_requests().await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0]["text"], plain);
}
