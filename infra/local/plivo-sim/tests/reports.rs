//! Delivery reports as a callback endpoint sees them: form-encoded, signed (checked with
//! the project's own `verify_request`), per-message status sequences, retries and modes.

mod common;

use std::collections::HashMap;

use axum::http::{Method, header::CONTENT_TYPE};
use common::*;
use plivo_sim::{ReportMode, RunningSim, Settings};
use serde_json::json;
use sms_core::plivo::{SignatureCheck, SignatureFamily, SignedRequest, verify_request};

const PATH: &str = "/v1/callbacks/plivo/status";

async fn send_with_callback(sim: &RunningSim, dst: &str, url: &str, method: &str) -> Vec<String> {
    let (status, body) = send(
        sim,
        &json!({"src": "+14155550100", "dst": dst, "text": "hello", "url": url, "method": method}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    uuids(&body)
}

fn check(c: &Captured, url: &str, token: &str) -> SignatureCheck {
    let params = c.params.clone().expect("form fields");
    let req = SignedRequest {
        method: c.method.as_str(),
        url,
        params: &params,
    };
    verify_request(&c.headers, &req, &[token])
}

/// Reports by message uuid, in arrival order, as (Status, Sequence).
fn by_message(reports: &[Captured]) -> HashMap<String, Vec<(String, String)>> {
    let mut map: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for r in reports {
        map.entry(r.field("MessageUUID").to_owned())
            .or_default()
            .push((r.field("Status").to_owned(), r.field("Sequence").to_owned()));
    }
    map
}

fn statuses(list: &[(String, String)]) -> Vec<&str> {
    list.iter().map(|(s, _)| s.as_str()).collect()
}

#[tokio::test]
async fn a_powerpacks_reports_name_the_pool_number_and_the_powerpack() {
    let sim = sim().await;
    let receiver = Receiver::start(0).await;
    let url = receiver.url(PATH);
    let pack = "d35f2e82-d387-427f-8594-6fa07613c43a";
    let (status, body) = send(
        &sim,
        &json!({"powerpack_uuid": pack, "dst": "14155550123", "text": "hello", "url": url}),
    )
    .await;
    assert_eq!(status, 202, "{body}");

    let reports = receiver.wait_for(3).await;
    for r in &reports {
        assert_eq!(r.field("From"), plivo_sim::POWERPACK_NUMBER);
        assert_eq!(r.field("PowerpackUUID"), pack);
    }
    let record = &get_json(&sim, "/__sim/requests").await[0];
    assert_eq!(record["powerpack_uuid"], pack);
    assert!(record["src"].is_null());
}

#[tokio::test]
async fn each_message_gets_signed_form_encoded_queued_sent_delivered() {
    let sim = sim().await;
    let receiver = Receiver::start(0).await;
    // A query string in the callback URL is part of what Plivo signs.
    let url = receiver.url(&format!("{PATH}?tenant=a"));
    let ids = send_with_callback(&sim, "14155550123<+14155550124", &url, "POST").await;

    let reports = receiver.wait_for(6).await;
    assert_eq!(reports.len(), 6);
    for r in &reports {
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.uri.path(), PATH);
        assert_eq!(r.headers[CONTENT_TYPE], "application/x-www-form-urlencoded");
        assert_eq!(
            check(r, &url, TOKEN),
            SignatureCheck::Valid(SignatureFamily::V3),
            "{r:?}"
        );
        assert_eq!(check(r, &url, "another-token"), SignatureCheck::Invalid);
        assert_eq!(
            check(r, &receiver.url("/elsewhere"), TOKEN),
            SignatureCheck::Invalid
        );
        for header in [
            "x-plivo-signature-v3",
            "x-plivo-signature-ma-v3",
            "x-plivo-signature-v3-nonce",
            "x-plivo-signature-v2",
            "x-plivo-signature-ma-v2",
            "x-plivo-signature-v2-nonce",
        ] {
            assert!(r.headers.contains_key(header), "{header} missing");
        }
        assert_eq!(r.field("From"), "14155550100");
        assert!(["14155550123", "14155550124"].contains(&r.field("To")));
        assert_eq!(r.field("ErrorCode"), "");
        assert_eq!(r.field("ParentMessageUUID"), r.field("MessageUUID"));
        assert_eq!(r.field("Type"), "sms");
        assert_eq!(r.field("Units"), "1");
        assert_eq!(r.field("PowerpackUUID"), "");
        for name in [
            "TotalRate",
            "TotalAmount",
            "MCC",
            "MNC",
            "PartInfo",
            "MessageTime",
            "QueuedTime",
        ] {
            assert!(!r.field(name).is_empty(), "{name} is empty");
        }
        let _ = (r.field("SentTime"), r.field("DeliveryReportTime"));
    }

    let per_message = by_message(&reports);
    let mut seen: Vec<&String> = per_message.keys().collect();
    seen.sort();
    let mut expected: Vec<&String> = ids.iter().collect();
    expected.sort();
    assert_eq!(seen, expected);
    for list in per_message.values() {
        assert_eq!(
            list,
            &[
                ("queued".into(), "1".into()),
                ("sent".into(), "2".into()),
                ("delivered".into(), "3".into())
            ]
        );
    }

    // The report's To ties each uuid to its recipient, as the inspection log does.
    let record = &get_json(&sim, "/__sim/requests").await[0];
    for r in &reports {
        let recipient = record["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["message_uuid"] == r.field("MessageUUID"))
            .unwrap();
        assert_eq!(
            recipient["to"].as_str().unwrap().trim_start_matches('+'),
            r.field("To")
        );
    }

    let stats = eventually("stats to settle", || async {
        let s = get_json(&sim, "/__sim/stats").await;
        (s["reports_pending"] == 0).then_some(s)
    })
    .await;
    assert_eq!(
        (
            stats["reports_sent"].clone(),
            stats["reports_failed"].clone()
        ),
        (json!(6), json!(0))
    );
}

#[tokio::test]
async fn get_callbacks_carry_the_fields_in_the_query_and_verify() {
    let sim = sim().await;
    let receiver = Receiver::start(0).await;
    let url = receiver.url(PATH);
    send_with_callback(&sim, "14155550123", &url, "GET").await;
    for r in receiver.wait_for(3).await {
        assert_eq!(r.method, Method::GET);
        assert_eq!(
            check(&r, &url, TOKEN),
            SignatureCheck::Valid(SignatureFamily::V3),
            "{r:?}"
        );
    }
}

#[tokio::test]
async fn undeliverable_and_opted_out_ranges_end_with_their_status_and_error_code() {
    let sim = sim().await;
    let receiver = Receiver::start(0).await;
    let url = receiver.url(PATH);
    send_with_callback(&sim, "13125550111<13125550121", &url, "POST").await;
    let reports = receiver.wait_for(5).await;
    let last_of = |to: &str| {
        reports
            .iter()
            .filter(|r| r.field("To") == to)
            .max_by_key(|r| r.field("Sequence").parse::<u32>().unwrap())
            .cloned()
            .unwrap()
    };
    let undelivered = last_of("13125550111");
    assert_eq!(
        (undelivered.field("Status"), undelivered.field("ErrorCode")),
        ("undelivered", "70")
    );
    let opted_out = last_of("13125550121");
    assert_eq!(
        (opted_out.field("Status"), opted_out.field("ErrorCode")),
        ("failed", "200")
    );
    let per_message = by_message(&reports);
    let mut shapes: Vec<Vec<&str>> = per_message.values().map(|l| statuses(l)).collect();
    shapes.sort();
    assert_eq!(
        shapes,
        [
            vec!["queued", "failed"],
            vec!["queued", "sent", "undelivered"]
        ]
    );
}

#[tokio::test]
async fn duplicate_mode_sends_every_report_twice() {
    let sim = sim_with(Settings {
        report_mode: ReportMode::Duplicate,
        ..quick()
    })
    .await;
    let receiver = Receiver::start(0).await;
    let url = receiver.url(PATH);
    send_with_callback(&sim, "14155550123", &url, "POST").await;
    let reports = receiver.wait_for(6).await;
    let list = by_message(&reports).into_values().next().unwrap();
    assert_eq!(
        statuses(&list),
        ["queued", "queued", "sent", "sent", "delivered", "delivered"]
    );
    assert!(
        reports
            .iter()
            .all(|r| check(r, &url, TOKEN) == SignatureCheck::Valid(SignatureFamily::V3))
    );
}

#[tokio::test]
async fn shuffle_mode_sends_a_messages_reports_out_of_order_with_their_sequence() {
    let sim = sim_with(Settings {
        report_mode: ReportMode::Shuffle,
        ..quick()
    })
    .await;
    let receiver = Receiver::start(0).await;
    send_with_callback(&sim, "14155550123", &receiver.url(PATH), "POST").await;
    let reports = receiver.wait_for(3).await;
    let list = by_message(&reports).into_values().next().unwrap();
    assert_ne!(statuses(&list), ["queued", "sent", "delivered"]);
    let mut sorted = list.clone();
    sorted.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(statuses(&sorted), ["queued", "sent", "delivered"]);
}

#[tokio::test]
async fn a_failed_callback_is_retried_and_then_delivered() {
    let sim = sim().await;
    let receiver = Receiver::start(2).await;
    send_with_callback(&sim, "14155550123", &receiver.url(PATH), "POST").await;
    let reports = receiver.wait_for(3).await;
    let list = by_message(&reports).into_values().next().unwrap();
    assert_eq!(statuses(&list), ["queued", "sent", "delivered"]);
    let all = receiver.captured();
    assert_eq!(all.len(), 5);
    assert!(all[..2].iter().all(|c| c.field("Status") == "queued"));
    // The receiver has answered before the simulator counts the answer.
    let stats = eventually("stats to settle", || async {
        let s = get_json(&sim, "/__sim/stats").await;
        (s["reports_pending"] == 0).then_some(s)
    })
    .await;
    assert_eq!(
        (
            stats["reports_sent"].clone(),
            stats["reports_failed"].clone()
        ),
        (json!(3), json!(0))
    );
    // Five callback requests for three reports: the two failures count as attempts.
    assert_eq!(stats["report_attempts"], 5);
}

#[tokio::test]
async fn a_callback_that_keeps_failing_is_dropped_after_three_retries() {
    let sim = sim().await;
    let receiver = Receiver::start(usize::MAX).await;
    send_with_callback(&sim, "14155550123", &receiver.url(PATH), "POST").await;
    let stats = eventually("reports to be dropped", || async {
        let s = get_json(&sim, "/__sim/stats").await;
        (s["reports_pending"] == 0).then_some(s)
    })
    .await;
    assert_eq!(
        (
            stats["reports_sent"].clone(),
            stats["reports_failed"].clone()
        ),
        (json!(0), json!(3))
    );
    // Each of the three reports: one attempt and three retries.
    assert_eq!(receiver.captured().len(), 12);
    assert_eq!(stats["report_attempts"], 12);
}

#[tokio::test]
async fn no_reports_without_a_url_or_when_switched_off() {
    let sim = sim_with(Settings {
        reports: false,
        ..quick()
    })
    .await;
    let receiver = Receiver::start(0).await;
    send_with_callback(&sim, "14155550123", &receiver.url(PATH), "POST").await;
    let (status, _) = send(
        &sim,
        &json!({"src": "14155550100", "dst": "14155550124", "text": "x"}),
    )
    .await;
    assert_eq!(status, 202);
    // Reports are counted as pending the moment a request is accepted, so zero here means
    // none were scheduled at all.
    let stats = get_json(&sim, "/__sim/stats").await;
    assert_eq!(stats["reports_pending"], 0);
    assert_eq!(stats["reports_sent"], 0);

    post_json(&sim, "/__sim/config", &json!({"reports": true})).await;
    send_with_callback(&sim, "14155550125", &receiver.url(PATH), "POST").await;
    let reports = receiver.wait_for(3).await;
    assert!(reports.iter().all(|r| r.field("To") == "14155550125"));
}
