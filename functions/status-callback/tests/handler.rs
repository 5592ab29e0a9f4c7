//! status-callback handler tests: signed callbacks through the real handler and the
//! in-memory store.

use std::time::Duration;

use lambda_http::{Body, Request, http};
use sms_core::{
    PhoneNumber,
    config::CallbackSettings,
    plivo::{SignatureV2, SignatureV3, SignedRequest},
    store::{JobStore, MessageStatus, MessageStore, SuppressionList},
};

mod common;
use common::*;

#[tokio::test]
async fn a_signed_report_moves_the_message_forward() {
    let app = app();
    assert_eq!(send_report(&app, "u-1", "sent", "2", false).await, 200);
    assert_eq!(send_report(&app, "u-1", "delivered", "3", false).await, 200);
    let m = app.store.get_message("u-1").await.unwrap().unwrap();
    assert_eq!(m.status, MessageStatus::Delivered);
    assert_eq!(
        m.to.as_ref().map(|n| n.as_str()),
        Some("+14155550123"),
        "a report for an unknown uuid is stored, not dropped"
    );
}

#[tokio::test]
async fn out_of_order_and_duplicated_reports_end_in_the_right_status_and_counts() {
    // Arrange: a job whose batch Plivo accepted as three messages.
    let app = app();
    job_with(&app, &["a", "b", "c"]).await;

    // Act: a's reports arrive backwards, b's twice each, c stops at undelivered.
    for (uuid, status, seq) in [
        ("a", "delivered", "3"),
        ("a", "sent", "2"),
        ("a", "queued", "1"),
        ("b", "queued", "1"),
        ("b", "queued", "1"),
        ("b", "sent", "2"),
        ("b", "sent", "2"),
        ("b", "delivered", "3"),
        ("b", "delivered", "3"),
        ("c", "sent", "2"),
        ("c", "undelivered", "3"),
        ("c", "sent", "2"),
    ] {
        assert_eq!(send_report(&app, uuid, status, seq, true).await, 200);
    }

    // Assert
    let status =
        |u: &'static str| async { app.store.get_message(u).await.unwrap().unwrap().status };
    assert_eq!(status("a").await, MessageStatus::Delivered);
    assert_eq!(status("b").await, MessageStatus::Delivered);
    assert_eq!(status("c").await, MessageStatus::Undelivered);
    let counts = app.store.status_counts(&job()).await.unwrap();
    assert_eq!(
        (counts.delivered, counts.undelivered, counts.sent),
        (2, 1, 0)
    );
}

#[tokio::test]
async fn a_report_counts_in_the_batch_its_signed_url_names_and_only_then() {
    // Arrange: a job whose only batch has no recorded outcome (its send ended `unknown`).
    let app = app();
    let spec = one_batch_job();
    app.store
        .create_job(&spec, chrono::Utc::now())
        .await
        .unwrap();
    let with_batch = format!("/v1/callbacks/plivo/status?job_id={JOB}&batch=0");
    let without_batch = format!("/v1/callbacks/plivo/status?job_id={JOB}");

    // Act
    assert_eq!(
        send_report_to(&app, &with_batch, "u-9", "sent", "2").await,
        200
    );
    assert_eq!(
        send_report_to(&app, &with_batch, "u-9", "delivered", "3").await,
        200
    );
    assert_eq!(
        send_report_to(&app, &without_batch, "u-8", "delivered", "3").await,
        200
    );

    // Assert: u-9 is evidence Plivo accepted it; u-8 is stored but names no batch to count in.
    let record = app.store.get_job(&job()).await.unwrap().unwrap();
    let counts = app.store.status_counts(&job()).await.unwrap();
    assert_eq!((counts.delivered, counts.sent), (1, 0));
    assert_eq!(counts.seen_by_batch, [(0, 1)].into());
    assert_eq!(record.accepted_by_plivo(&counts).total, 1);
    assert_eq!(
        app.store.get_message("u-8").await.unwrap().unwrap().status,
        MessageStatus::Delivered
    );
}

#[tokio::test]
async fn forged_or_tampered_reports_are_403_and_change_nothing() {
    let app = app();
    let params = [("MessageUUID", "u-2"), ("Status", "delivered")];

    let wrong_token = signed_post("/v1/callbacks/plivo/status", &params, "not-the-token");
    assert_eq!(
        status_callback::handle(wrong_token, &app).await.status(),
        403
    );

    let mut tampered = signed_post("/v1/callbacks/plivo/status", &params, TOKEN);
    *tampered.body_mut() = Body::Text("MessageUUID=u-2&Status=failed".into());
    assert_eq!(status_callback::handle(tampered, &app).await.status(), 403);

    let other_url = signed_post("/v1/callbacks/plivo/status?job_id=x", &params, TOKEN);
    let (mut parts, body) = other_url.into_parts();
    parts.uri = "/v1/callbacks/plivo/status".parse().unwrap();
    assert_eq!(
        status_callback::handle(Request::from_parts(parts, body), &app)
            .await
            .status(),
        403
    );

    let unsigned = http::Request::builder()
        .method("POST")
        .uri("/v1/callbacks/plivo/status")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::Text("MessageUUID=u-2&Status=delivered".into()))
        .unwrap();
    assert_eq!(status_callback::handle(unsigned, &app).await.status(), 403);

    assert!(app.store.get_message("u-2").await.unwrap().is_none());
}

/// A POST signed with V2 only (nonce `nonce`), its body unsigned by nature.
fn v2_post(path: &str, body: &str, nonce: &str, token: &str) -> Request {
    let url = format!("{BASE}{path}");
    http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            SignatureV2::MA_HEADER,
            SignatureV2::sign(&url, nonce, token),
        )
        .header(SignatureV2::NONCE_HEADER, nonce)
        .body(Body::Text(body.into()))
        .unwrap()
}

#[tokio::test]
async fn a_v2_only_request_is_accepted_once_per_nonce_when_v2_is_on() {
    // Arrange
    let app = v2_app();
    let path = "/v1/callbacks/plivo/status";

    // Act: the genuine request, then its signature replayed with another body.
    let first = status_callback::handle(
        v2_post(path, "MessageUUID=u-3&Status=sent", "999", TOKEN),
        &app,
    )
    .await;
    let replay = status_callback::handle(
        v2_post(path, "MessageUUID=u-3&Status=failed", "999", TOKEN),
        &app,
    )
    .await;

    // Assert
    assert_eq!(first.status(), 200);
    assert_eq!(replay.status(), 403);
    assert!(
        problem_of(&replay)["detail"]
            .as_str()
            .unwrap()
            .contains("nonce")
    );
    assert_eq!(
        app.store.get_message("u-3").await.unwrap().unwrap().status,
        MessageStatus::Sent
    );
}

#[tokio::test]
async fn a_v2_only_request_is_403_when_v2_is_off_without_a_secret_read() {
    let app = app();
    let req = v2_post(
        "/v1/callbacks/plivo/status",
        "MessageUUID=u-6&Status=sent",
        "998",
        TOKEN,
    );

    let resp = status_callback::handle(req, &app).await;

    assert_eq!(resp.status(), 403);
    assert!(problem_of(&resp)["detail"].as_str().unwrap().contains("V2"));
    assert_eq!(secret_reads(&app), 0);
    assert!(app.store.get_message("u-6").await.unwrap().is_none());
}

#[tokio::test]
async fn a_failing_v3_signature_is_403_even_with_a_valid_v2_one() {
    // Arrange: V2 on, a body whose V3 signature is wrong but whose V2 signature is right.
    let app = v2_app();
    let path = "/v1/callbacks/plivo/status";
    let mut req = signed_post(path, &[("MessageUUID", "u-7"), ("Status", "sent")], TOKEN);
    *req.body_mut() = Body::Text("MessageUUID=u-7&Status=failed".into());
    let url = format!("{BASE}{path}");
    let headers = req.headers_mut();
    headers.insert(
        SignatureV2::HEADER,
        SignatureV2::sign(&url, "5150", TOKEN).parse().unwrap(),
    );
    headers.insert(SignatureV2::NONCE_HEADER, "5150".parse().unwrap());

    // Act
    let resp = status_callback::handle(req, &app).await;

    // Assert
    assert_eq!(resp.status(), 403);
    assert!(app.store.get_message("u-7").await.unwrap().is_none());
}

#[tokio::test]
async fn a_signed_report_without_uuid_or_status_is_400() {
    let app = app();
    let resp = status_callback::handle(
        signed_post(
            "/v1/callbacks/plivo/status",
            &[("To", "14155550123")],
            TOKEN,
        ),
        &app,
    )
    .await;
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = match resp.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        _ => panic!(),
    };
    assert_eq!(body["errors"][0]["field"], "MessageUUID");
    assert_eq!(body["errors"][1]["field"], "Status");
}

#[tokio::test]
async fn error_200_suppresses_the_destination() {
    let app = app();
    let params = [
        ("MessageUUID", "u-4"),
        ("Status", "failed"),
        ("To", "14155550123"),
        ("ErrorCode", "200"),
    ];
    assert_eq!(
        status_callback::handle(
            signed_post("/v1/callbacks/plivo/status", &params, TOKEN),
            &app
        )
        .await
        .status(),
        200
    );
    assert!(
        app.store
            .is_suppressed(&PhoneNumber::parse("+14155550123").unwrap())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn stop_and_start_change_the_suppression_list_and_reply_with_empty_xml() {
    let app = app();
    let number = PhoneNumber::parse("+14155550199").unwrap();
    let inbound = |text: &'static str| {
        signed_post(
            "/v1/callbacks/plivo/inbound",
            &[
                ("From", "14155550199"),
                ("To", "14155550100"),
                ("Text", text),
                ("Type", "sms"),
            ],
            TOKEN,
        )
    };

    let resp = status_callback::handle(inbound("  Stop "), &app).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/xml");
    assert_eq!(resp.body(), &Body::Text("<Response/>".into()));
    assert!(app.store.is_suppressed(&number).await.unwrap());

    status_callback::handle(inbound("hello there"), &app).await;
    assert!(app.store.is_suppressed(&number).await.unwrap());

    status_callback::handle(inbound("START"), &app).await;
    assert!(!app.store.is_suppressed(&number).await.unwrap());

    let forged = signed_post(
        "/v1/callbacks/plivo/inbound",
        &[("From", "14155550199"), ("Text", "STOP")],
        "bad",
    );
    assert_eq!(status_callback::handle(forged, &app).await.status(), 403);
    assert!(!app.store.is_suppressed(&number).await.unwrap());
}

#[tokio::test]
async fn get_is_not_served_405() {
    let app = app();
    let req = http::Request::builder()
        .method("GET")
        .uri("/v1/callbacks/plivo/status?MessageUUID=u-5&Status=sent")
        .body(Body::Empty)
        .unwrap();

    let resp = status_callback::handle(req, &app).await;

    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    assert!(app.store.get_message("u-5").await.unwrap().is_none());
}

fn problem_of(resp: &lambda_http::Response<Body>) -> serde_json::Value {
    match resp.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("unexpected body {other:?}"),
    }
}

#[tokio::test]
async fn wrong_media_types_methods_and_paths_are_answered_and_write_nothing() {
    let app = app();
    let json_body = http::Request::builder()
        .method("POST")
        .uri("/v1/callbacks/plivo/status")
        .header("content-type", "application/json")
        .body(Body::Text(
            "{\"MessageUUID\": \"u-9\", \"Status\": \"delivered\"}".into(),
        ))
        .unwrap();
    let resp = status_callback::handle(json_body, &app).await;
    assert_eq!(resp.status(), 415);
    assert_eq!(
        problem_of(&resp)["type"],
        "/problems/unsupported-media-type"
    );

    let delete = http::Request::builder()
        .method("DELETE")
        .uri("/v1/callbacks/plivo/status")
        .body(Body::Empty)
        .unwrap();
    assert_eq!(status_callback::handle(delete, &app).await.status(), 405);
    let elsewhere = http::Request::builder()
        .method("POST")
        .uri("/v1/callbacks/plivo/other")
        .body(Body::Empty)
        .unwrap();
    assert_eq!(status_callback::handle(elsewhere, &app).await.status(), 404);
    assert!(app.store.get_message("u-9").await.unwrap().is_none());
}

#[tokio::test]
async fn a_signed_inbound_message_without_a_sender_is_a_named_400() {
    let app = app();
    let req = signed_post(
        "/v1/callbacks/plivo/inbound",
        &[("Text", "STOP"), ("To", "14155550100")],
        TOKEN,
    );
    let resp = status_callback::handle(req, &app).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(problem_of(&resp)["errors"][0]["field"], "From");
}

/// A v1 (time-based) uuid made `secs_ago` seconds before now, as Plivo's message uuids are.
fn v1_uuid(secs_ago: i64, node: u8) -> String {
    let at = chrono::Utc::now() - chrono::Duration::seconds(secs_ago);
    let ticks = (at.timestamp_nanos_opt().unwrap() / 100) as u64 + 0x01B2_1DD2_1381_4000;
    format!(
        "{:08x}-{:04x}-{:04x}-8123-0102030405{node:02x}",
        ticks & 0xffff_ffff,
        (ticks >> 32) & 0xffff,
        ((ticks >> 48) & 0x0fff) | 0x1000,
    )
}

fn inbound_from(number: &str, text: &str, uuid: &str) -> Request {
    signed_post(
        "/v1/callbacks/plivo/inbound",
        &[
            ("From", number),
            ("To", "14155550100"),
            ("Text", text),
            ("Type", "sms"),
            ("MessageUUID", uuid),
        ],
        TOKEN,
    )
}

#[tokio::test]
async fn a_replayed_start_never_undoes_a_later_stop() {
    // Arrange: START sent 60 s ago, STOP 30 s ago, both applied in order.
    let app = app();
    let number = PhoneNumber::parse("+14155550177").unwrap();
    let start = v1_uuid(60, 1);
    let stop = v1_uuid(30, 2);
    assert_eq!(
        status_callback::handle(inbound_from("14155550177", "START", &start), &app)
            .await
            .status(),
        200
    );
    assert_eq!(
        status_callback::handle(inbound_from("14155550177", "STOP", &stop), &app)
            .await
            .status(),
        200
    );
    assert!(app.store.is_suppressed(&number).await.unwrap());

    // Act: the captured START again (as Plivo's retry would send it: re-signed, new nonce).
    let replay = status_callback::handle(inbound_from("14155550177", "START", &start), &app).await;

    // Assert: answered (Plivo must not retry) and nothing changed.
    assert_eq!(replay.status(), 200);
    assert!(app.store.is_suppressed(&number).await.unwrap());
}

#[tokio::test]
async fn an_inbound_message_without_a_time_based_uuid_is_still_applied_once() {
    // Arrange: uuids that carry no time, so each message is dated by its arrival.
    let app = app();
    let number = PhoneNumber::parse("+14155550178").unwrap();
    let start = "7a2b3c4d-0000-4000-8000-00000000000a";
    let stop = "7a2b3c4d-0000-4000-8000-00000000000b";
    status_callback::handle(inbound_from("14155550178", "START", start), &app).await;
    status_callback::handle(inbound_from("14155550178", "STOP", stop), &app).await;

    // Act: the START replayed arrives last, so it looks newest.
    let replay = status_callback::handle(inbound_from("14155550178", "START", start), &app).await;

    // Assert
    assert_eq!(replay.status(), 200);
    assert!(app.store.is_suppressed(&number).await.unwrap());
}

#[tokio::test]
async fn an_oversized_body_is_413_before_any_secret_read_or_write() {
    let app = app();
    let big = format!("MessageUUID=u-8&Status=sent&{}", "a&".repeat(20_000));
    let req = http::Request::builder()
        .method("POST")
        .uri("/v1/callbacks/plivo/status")
        .header("content-type", "application/x-www-form-urlencoded")
        .header(SignatureV3::HEADER, "x")
        .header(SignatureV3::NONCE_HEADER, "1")
        .body(Body::Text(big))
        .unwrap();

    let resp = status_callback::handle(req, &app).await;

    assert_eq!(resp.status(), 413);
    assert_eq!(problem_of(&resp)["type"], "/problems/payload-too-large");
    assert_eq!(secret_reads(&app), 0);
    assert!(app.store.get_message("u-8").await.unwrap().is_none());

    let long_query = http::Request::builder()
        .method("POST")
        .uri(format!(
            "/v1/callbacks/plivo/status?job_id={}",
            "j".repeat(2000)
        ))
        .body(Body::Empty)
        .unwrap();
    assert_eq!(
        status_callback::handle(long_query, &app).await.status(),
        413
    );
}

#[tokio::test]
async fn a_body_with_too_many_fields_is_413_before_any_secret_read() {
    let app = app();
    let many: Vec<(String, String)> = (0..100).map(|i| (format!("f{i}"), "1".into())).collect();
    let fields: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let req = signed_post("/v1/callbacks/plivo/status", &fields, TOKEN);

    let resp = status_callback::handle(req, &app).await;

    assert_eq!(resp.status(), 413);
    assert!(
        problem_of(&resp)["detail"]
            .as_str()
            .unwrap()
            .contains("64 fields")
    );
    assert_eq!(secret_reads(&app), 0);
}

#[tokio::test]
async fn the_longest_inbound_text_fits_the_limit() {
    // 1,600 characters of four UTF-8 bytes each: the largest text Plivo delivers.
    let app = app();
    let text = "😀".repeat(1600);
    let req = inbound_from("14155550179", &text, "7a2b3c4d-0000-4000-8000-00000000000c");
    assert_eq!(status_callback::handle(req, &app).await.status(), 200);
}

#[tokio::test]
async fn a_malformed_signature_header_is_403_without_a_secret_read() {
    let app = app();
    for (header, value) in [
        (SignatureV3::HEADER, "not-base64"),
        (
            SignatureV3::HEADER,
            "QsqiFpDgsO5WeLLSVGU6mtFklPmlBK7GoFv88l2LTjA",
        ),
        (
            SignatureV3::MA_HEADER,
            "QsqiFpDgsO5WeLLSVGU6mtFklPmlBK7GoFv88l2LTjA=,x",
        ),
    ] {
        let req = http::Request::builder()
            .method("POST")
            .uri("/v1/callbacks/plivo/status")
            .header("content-type", "application/x-www-form-urlencoded")
            .header(header, value)
            .header(SignatureV3::NONCE_HEADER, "12345")
            .body(Body::Text("MessageUUID=u-9&Status=sent".into()))
            .unwrap();

        let resp = status_callback::handle(req, &app).await;

        assert_eq!(resp.status(), 403, "{value}");
        assert!(
            problem_of(&resp)["detail"]
                .as_str()
                .unwrap()
                .contains(header)
        );
    }
    assert_eq!(secret_reads(&app), 0);
}

#[tokio::test]
async fn many_bad_signatures_reread_the_secret_at_most_once_per_interval() {
    // Arrange: the secret is read (a good report), then a flood of forged ones follows.
    let app = app();
    assert_eq!(send_report(&app, "u-10", "sent", "2", false).await, 200);
    assert_eq!(secret_reads(&app), 1);

    // Act
    for i in 0..50 {
        let forged = signed_post(
            "/v1/callbacks/plivo/status",
            &[
                ("MessageUUID", "u-10"),
                ("Status", "failed"),
                ("Sequence", &i.to_string()),
            ],
            "forged-token",
        );
        assert_eq!(status_callback::handle(forged, &app).await.status(), 403);
    }

    // Assert: the secret read a moment ago is not read again within the interval.
    assert_eq!(secret_reads(&app), 1);
}

#[tokio::test]
async fn a_rotated_token_is_picked_up_by_a_reread_once_the_interval_allows() {
    // Arrange: the token rotates after the first read; re-reads allowed at once.
    let app = app_with(
        CallbackSettings {
            secret_reread_interval: Duration::ZERO,
            ..CallbackSettings::default()
        },
        1,
    );
    assert_eq!(send_report(&app, "u-11", "queued", "1", false).await, 200);

    // Act: Plivo signs with the new token now.
    let req = signed_post(
        "/v1/callbacks/plivo/status",
        &[
            ("MessageUUID", "u-11"),
            ("Status", "sent"),
            ("Sequence", "2"),
        ],
        ROTATED_TOKEN,
    );
    let resp = status_callback::handle(req, &app).await;

    // Assert
    assert_eq!(resp.status(), 200);
    assert_eq!(secret_reads(&app), 2);
}

/// A report as it reaches the function through its function URL `domain` (Lambda puts the
/// domain in the request context), signed (V3) over `signed_base` + the path.
fn report_through_function_url(domain: &str, signed_base: &str, uuid: &str) -> Request {
    use lambda_http::{RequestExt, aws_lambda_events::apigw::ApiGatewayV2httpRequestContext};
    let path = format!("/v1/callbacks/plivo/status?job_id={JOB}&batch=0");
    let r = report(uuid, "delivered", "3");
    let params: Vec<(String, String)> = r
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let url = format!("{signed_base}{path}");
    let sig = SignatureV3::sign(
        &SignedRequest {
            method: "POST",
            url: &url,
            params: &params,
        },
        "7654321",
        TOKEN,
    );
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.domain_name = Some(domain.to_owned());
    http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header(SignatureV3::HEADER, sig)
        .header(SignatureV3::NONCE_HEADER, "7654321")
        .body(Body::Text(body))
        .unwrap()
        .with_request_context(lambda_http::request::RequestContext::ApiGatewayV2(context))
}

#[tokio::test]
async fn a_report_through_the_function_url_is_checked_against_the_url_plivo_called() {
    let app = app();
    let ours = "abcdefghijklmnop.lambda-url.us-east-1.on.aws";
    let call = |domain: &'static str, signed: String, uuid: &'static str| {
        let app = &app;
        async move {
            status_callback::handle(report_through_function_url(domain, &signed, uuid), app)
                .await
                .status()
                .as_u16()
        }
    };

    // Signed over the function URL it reached: recorded.
    assert_eq!(call(ours, format!("https://{ours}"), "fu-1").await, 200);
    let m = app.store.get_message("fu-1").await.unwrap().unwrap();
    assert_eq!(m.status, MessageStatus::Delivered);

    // Signed over another URL (the API's, or another stack's function URL): refused.
    assert_eq!(call(ours, BASE.to_owned(), "fu-2").await, 403);
    assert_eq!(
        call(
            ours,
            "https://otherstack0000000.lambda-url.us-east-1.on.aws".into(),
            "fu-3"
        )
        .await,
        403
    );
    // A domain that is not a function URL's is not trusted as one: the API's base decides.
    assert_eq!(
        call(
            "evil.example.com",
            "https://evil.example.com".into(),
            "fu-4"
        )
        .await,
        403
    );
    assert_eq!(call("sms.example.com", BASE.to_owned(), "fu-5").await, 200);
    for uuid in ["fu-2", "fu-3", "fu-4"] {
        assert!(
            app.store.get_message(uuid).await.unwrap().is_none(),
            "{uuid}"
        );
    }
}
