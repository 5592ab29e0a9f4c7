//! The Send Message API as a client sees it: auth, validation, faults and the inspection
//! endpoints, over real HTTP against an in-process simulator.

mod common;

use std::time::{Duration, Instant};

use common::*;
use plivo_sim::Settings;
use serde_json::{Value, json};
use sms_core::{
    MessageText, PhoneNumber,
    plivo::{FailureClass, OutboundMessage, PlivoClient, PlivoConfig, PlivoError},
    retry::RetryPolicy,
    secrets::PlivoCredentials,
};
use uuid::Uuid;

fn request_body(dst: &str) -> Value {
    json!({"src": "14155550100", "dst": dst, "text": "hello", "method": "POST"})
}

fn assert_v4(s: &str) {
    let u = Uuid::parse_str(s).unwrap_or_else(|_| panic!("{s:?} is not a uuid"));
    assert_eq!(u.get_version_num(), 4, "{s}");
}

#[tokio::test]
async fn health_answers_and_unknown_paths_get_a_plivo_shaped_404() {
    let sim = sim().await;
    assert_eq!(get_json(&sim, "/health").await["status"], "ok");
    let (status, body) = read(
        http()
            .get(format!("{}/v1/nope", sim.url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn missing_or_wrong_credentials_are_401_and_recorded() {
    let sim = sim().await;
    let url = sim.message_url();
    let attempts = [
        http().post(&url).json(&request_body("14155550123")),
        http()
            .post(&url)
            .basic_auth(AUTH_ID, Some("wrong"))
            .json(&request_body("14155550123")),
        http()
            .post(&url)
            .basic_auth("MAWRONG", Some(TOKEN))
            .json(&request_body("14155550123")),
        http()
            .post(format!(
                "{}/v1/Account/MAOTHERACCOUNT000001/Message/",
                sim.url()
            ))
            .basic_auth(AUTH_ID, Some(TOKEN))
            .json(&request_body("14155550123")),
        http()
            .post(&url)
            .bearer_auth(TOKEN)
            .json(&request_body("14155550123")),
    ];
    for attempt in attempts {
        let (status, body) = read(attempt.send().await.unwrap()).await;
        assert_eq!(status, 401, "{body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
        assert!(body.get("api_id").is_none(), "{body}");
    }
    let requests = get_json(&sim, "/__sim/requests").await;
    let requests = requests.as_array().unwrap();
    assert_eq!(requests.len(), 5);
    for r in requests {
        assert_eq!(r["auth_ok"], false);
        assert_eq!(r["outcome"], "unauthorized");
        assert_eq!(r["status"], 401);
        assert_eq!(r["dst"], json!(["14155550123"]));
        assert_eq!(r["message_uuids"], json!([]));
    }
}

#[tokio::test]
async fn a_single_send_is_queued_with_plivos_answer_shape() {
    let sim = sim().await;
    let (status, body) = send(&sim, &request_body("+14155550123")).await;
    assert_eq!(status, 202, "{body}");
    assert_v4(body["api_id"].as_str().unwrap());
    assert_eq!(body["message"], "message(s) queued");
    let ids = uuids(&body);
    assert_eq!(ids.len(), 1);
    assert_v4(&ids[0]);
    assert!(body.get("invalid_number").is_none(), "{body}");

    // Without the trailing slash too.
    let resp = http()
        .post(sim.message_url().trim_end_matches('/'))
        .basic_auth(AUTH_ID, Some(TOKEN))
        .json(&request_body("14155550124"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);

    let requests = get_json(&sim, "/__sim/requests").await;
    let first = &requests[0];
    assert_eq!(first["seq"], 1);
    assert_eq!(first["auth_ok"], true);
    assert_eq!(first["outcome"], "accepted");
    assert_eq!(first["status"], 202);
    assert_eq!(first["src"], "14155550100");
    assert_eq!(first["dst"], json!(["+14155550123"]));
    assert_eq!(first["text"], "hello");
    assert_eq!(first["method"], "POST");
    assert_eq!(first["url"], Value::Null);
    assert_eq!(first["message_uuids"], json!(ids));
    assert_eq!(
        first["recipients"],
        json!([{"to": "+14155550123", "message_uuid": ids[0]}])
    );
    assert_eq!(requests[1]["seq"], 2);
}

#[tokio::test]
async fn destinations_are_split_deduplicated_and_answered_out_of_order() {
    let sim = sim().await;
    let dst = "14155550123<+14155550123<14155550124<14155550125<14155550124";
    let (status, body) = send(&sim, &request_body(dst)).await;
    assert_eq!(status, 202, "{body}");
    let ids = uuids(&body);
    assert_eq!(ids.len(), 3);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3);

    let record = &get_json(&sim, "/__sim/requests").await[0];
    assert_eq!(
        record["dst"].as_array().unwrap().len(),
        5,
        "dst is kept as sent"
    );
    let recipients = record["recipients"].as_array().unwrap();
    let to: Vec<&str> = recipients
        .iter()
        .map(|r| r["to"].as_str().unwrap())
        .collect();
    assert_eq!(to, ["+14155550123", "+14155550124", "+14155550125"]);
    let in_dst_order: Vec<String> = recipients
        .iter()
        .map(|r| r["message_uuid"].as_str().unwrap().to_owned())
        .collect();
    assert_ne!(ids, in_dst_order, "uuids must not come back in dst order");
}

#[tokio::test]
async fn malformed_and_reserved_numbers_are_reported_in_invalid_number() {
    let sim = sim().await;
    let (status, body) = send(
        &sim,
        &request_body("14155550123<13125550101<abc<123<+0123456789"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(uuids(&body).len(), 1);
    assert_eq!(
        body["invalid_number"],
        json!(["13125550101", "abc", "123", "+0123456789"])
    );
    let record = &get_json(&sim, "/__sim/requests").await[0];
    assert_eq!(record["invalid_number"], body["invalid_number"]);
    assert_eq!(record["recipients"].as_array().unwrap().len(), 1);
}

async fn assert_bad_request(
    sim: &plivo_sim::RunningSim,
    request: reqwest::RequestBuilder,
    needle: &str,
) {
    let (status, body) = read(request.send().await.unwrap()).await;
    assert_eq!(status, 400, "{body}");
    assert_v4(body["api_id"].as_str().unwrap_or_default());
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(needle),
        "{error:?} should mention {needle:?}"
    );
    let requests = get_json(sim, "/__sim/requests").await;
    let last = requests.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["outcome"], "bad_request");
    assert_eq!(last["message_uuids"], json!([]));
}

#[tokio::test]
async fn bad_requests_get_plivo_shaped_400s() {
    let sim = sim().await;
    let post = || {
        http()
            .post(sim.message_url())
            .basic_auth(AUTH_ID, Some(TOKEN))
    };
    assert_bad_request(&sim, post().body("src=1&dst=2"), "JSON").await;
    assert_bad_request(
        &sim,
        post().json(&json!({"src": "14155550100", "dst": "14155550123"})),
        "text",
    )
    .await;
    assert_bad_request(
        &sim,
        post().json(&json!({"dst": "14155550123", "text": "x"})),
        "src",
    )
    .await;
    assert_bad_request(
        &sim,
        post().json(&json!({"src": "14155550100", "text": "x"})),
        "dst",
    )
    .await;
    assert_bad_request(
        &sim,
        post().json(&request_body("13125550101<nonsense")),
        "valid",
    )
    .await;
    let too_many: Vec<String> = (0..1001).map(|i| format!("1415600{i:04}")).collect();
    assert_bad_request(
        &sim,
        post().json(&request_body(&too_many.join("<"))),
        "1000",
    )
    .await;
    assert_eq!(
        get_json(&sim, "/__sim/stats").await["outcomes"]["bad_request"],
        6
    );
}

#[tokio::test]
async fn a_thousand_unique_destinations_are_accepted_and_duplicates_do_not_count() {
    let sim = sim().await;
    let mut dst: Vec<String> = (0..1000).map(|i| format!("1415600{i:04}")).collect();
    dst.extend((0..50).map(|i| format!("+1415600{i:04}")));
    let (status, body) = send(&sim, &request_body(&dst.join("<"))).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(uuids(&body).len(), 1000);
}

#[tokio::test]
async fn every_nth_request_is_rate_limited_or_fails_and_is_not_accepted() {
    let sim = sim_with(Settings {
        rate_limit_every: 3,
        server_error_every: 4,
        ..quick()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let (status, body) = send(&sim, &request_body("14155550123")).await;
        if status == 429 {
            assert_eq!(body["error"], "too many requests");
            assert_v4(body["api_id"].as_str().unwrap());
        }
        if status == 500 {
            assert!(
                body["error"].is_string() && body["api_id"].is_string(),
                "{body}"
            );
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [202, 202, 429, 500, 202, 429, 202, 500]);
    let requests = get_json(&sim, "/__sim/requests").await;
    let outcomes: Vec<&str> = requests
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "accepted",
            "accepted",
            "rate_limited",
            "server_error",
            "accepted",
            "rate_limited",
            "accepted",
            "server_error"
        ]
    );
    assert_eq!(requests[2]["message_uuids"], json!([]));
    let stats = get_json(&sim, "/__sim/stats").await;
    assert_eq!(stats["requests"], 8);
    assert_eq!(stats["recipients_accepted"], 4);
    assert_eq!(stats["outcomes"]["rate_limited"], 2);
    assert_eq!(stats["outcomes"]["server_error"], 2);
}

#[tokio::test]
async fn faults_can_be_switched_at_runtime() {
    let sim = sim().await;
    let (status, config) = post_json(
        &sim,
        "/__sim/config",
        &json!({"server_error_share": 1.0, "server_error_status": 503}),
    )
    .await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["server_error_status"], 503);
    assert_eq!(
        get_json(&sim, "/__sim/config").await["server_error_share"],
        1.0
    );
    assert_eq!(send(&sim, &request_body("14155550123")).await.0, 503);

    post_json(
        &sim,
        "/__sim/config",
        &json!({"server_error_share": 0.0, "rate_limit_share": 1.0}),
    )
    .await;
    assert_eq!(send(&sim, &request_body("14155550123")).await.0, 429);
    post_json(&sim, "/__sim/config", &json!({"rate_limit_share": 0})).await;
    assert_eq!(send(&sim, &request_body("14155550123")).await.0, 202);

    // "Every Nth" counts from the change.
    send(&sim, &request_body("14155550123")).await;
    post_json(&sim, "/__sim/config", &json!({"rate_limit_every": 2})).await;
    assert_eq!(send(&sim, &request_body("14155550123")).await.0, 202);
    assert_eq!(send(&sim, &request_body("14155550123")).await.0, 429);

    for bad in [
        json!({"rate_limit_share": 1.5}),
        json!({"server_error_status": 404}),
        json!({"nope": 1}),
        json!([]),
    ] {
        let (status, body) = post_json(&sim, "/__sim/config", &bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].is_string());
    }
    assert_eq!(
        get_json(&sim, "/__sim/config").await["rate_limit_share"],
        0.0
    );
}

#[tokio::test]
async fn a_slow_answer_times_the_client_out_but_the_message_was_accepted() {
    let sim = sim_with(Settings {
        slow_every: 2,
        slow_ms: 3_000,
        ..quick()
    })
    .await;
    assert_eq!(send(&sim, &request_body("14155550123")).await.0, 202);
    let timed_out = http()
        .post(sim.message_url())
        .basic_auth(AUTH_ID, Some(TOKEN))
        .json(&request_body("14155550124"))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(timed_out.is_err_and(|e| e.is_timeout()));

    let requests = get_json(&sim, "/__sim/requests").await;
    let slow = &requests[1];
    assert_eq!(slow["outcome"], "accepted");
    assert_eq!(slow["slow"], true);
    assert_eq!(slow["status"], 202);
    assert_eq!(slow["recipients"][0]["to"], "+14155550124");
    assert_eq!(
        get_json(&sim, "/__sim/stats").await["recipients_accepted"],
        2
    );
}

#[tokio::test]
async fn latency_is_added_to_every_send() {
    let sim = sim_with(Settings {
        latency_ms: 200,
        ..quick()
    })
    .await;
    let started = Instant::now();
    assert_eq!(send(&sim, &request_body("14155550123")).await.0, 202);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn stats_count_repeat_recipients_and_reset_clears_everything() {
    let sim = sim().await;
    send(&sim, &request_body("14155550123<14155550124")).await;
    send(&sim, &request_body("+14155550123<14155550199<abc")).await;
    post_json(&sim, "/__sim/config", &json!({"latency_ms": 1})).await;
    let stats = get_json(&sim, "/__sim/stats").await;
    assert_eq!(stats["requests"], 2);
    assert_eq!(stats["outcomes"]["accepted"], 2);
    assert_eq!(stats["recipients_accepted"], 4);
    assert_eq!(stats["distinct_recipients"], 3);
    assert_eq!(stats["duplicates"], json!(["+14155550123"]));
    assert_eq!(stats["invalid_numbers"], 1);

    let (status, _) = post_json(&sim, "/__sim/reset", &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(get_json(&sim, "/__sim/requests").await, json!([]));
    let stats = get_json(&sim, "/__sim/stats").await;
    assert_eq!(
        (
            stats["requests"].clone(),
            stats["distinct_recipients"].clone()
        ),
        (json!(0), json!(0))
    );
    assert_eq!(
        get_json(&sim, "/__sim/config").await["latency_ms"],
        0,
        "reset restores the startup settings"
    );
    send(&sim, &request_body("14155550123")).await;
    assert_eq!(get_json(&sim, "/__sim/requests").await[0]["seq"], 1);
}

/// The project's own Plivo client against the simulator: the two must agree on the wire.
#[tokio::test]
async fn the_sms_core_client_understands_the_simulator() {
    let sim = sim().await;
    let client = PlivoClient::new(PlivoConfig {
        retry: RetryPolicy::NONE,
        ..PlivoConfig::new(sim.url())
    })
    .unwrap();
    let creds = PlivoCredentials::new(AUTH_ID, TOKEN);
    let src = sms_core::Sender::parse("+14155550100").unwrap();
    let dst = [
        PhoneNumber::parse("+14155550123").unwrap(),
        PhoneNumber::parse("+13125550101").unwrap(),
    ];
    let text = MessageText::parse("hi").unwrap();
    let msg = OutboundMessage {
        expires_at: None,
        src: &src,
        dst: &dst,
        text: &text,
        callback_url: "http://127.0.0.1:9/v1/callbacks/plivo/status",
    };
    let accepted = client.send_once(&creds, &msg).await.unwrap();
    assert_eq!(accepted.message_uuid.len(), 1);
    assert_eq!(accepted.invalid_number, ["13125550101"]);

    let wrong = PlivoCredentials::new(AUTH_ID, "wrong");
    let err = client.send_once(&wrong, &msg).await.unwrap_err();
    assert_eq!(err.class(), FailureClass::Unauthorized, "{err}");

    post_json(&sim, "/__sim/config", &json!({"rate_limit_every": 1})).await;
    let err = client.send_once(&creds, &msg).await.unwrap_err();
    assert!(
        matches!(err, PlivoError::RateLimited { ref error } if error == "too many requests"),
        "{err}"
    );
}

fn limited(rate_limit: &str) -> Settings {
    Settings {
        rate_limit: rate_limit.parse().unwrap(),
        ..quick()
    }
}

/// `n` sends at once; their statuses and bodies in no particular order.
async fn send_concurrently(sim: &plivo_sim::RunningSim, n: usize) -> Vec<(u16, Value)> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let url = sim.message_url();
        tasks.spawn(async move {
            let resp = http()
                .post(url)
                .basic_auth(AUTH_ID, Some(TOKEN))
                .json(&request_body(&format!("1415555{i:04}")))
                .send()
                .await
                .unwrap();
            read(resp).await
        });
    }
    tasks.join_all().await
}

#[tokio::test]
async fn the_enforced_rate_limit_admits_n_per_window_and_refuses_the_rest_with_429() {
    let sim = sim_with(limited("5/1s")).await;
    let answers = send_concurrently(&sim, 8).await;
    let accepted = answers.iter().filter(|(s, _)| *s == 202).count();
    let refused: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 429)
        .map(|(_, b)| b)
        .collect();
    assert_eq!((accepted, refused.len()), (5, 3), "{answers:?}");
    for body in refused {
        assert_v4(body["api_id"].as_str().unwrap_or_default());
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.starts_with("too many requests"), "{body}");
    }

    let requests = get_json(&sim, "/__sim/requests").await;
    let limited: Vec<&Value> = requests
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "rate_limited")
        .collect();
    assert_eq!(limited.len(), 3);
    for r in limited {
        assert_eq!(r["status"], 429);
        assert_eq!(r["auth_ok"], true);
        assert_eq!(r["message_uuids"], json!([]));
        assert!(r["error"].as_str().unwrap().contains("5/1s"), "{r}");
    }

    let stats = get_json(&sim, "/__sim/stats").await;
    let rate = &stats["rate_limit"];
    assert_eq!(rate["limit"], "5/1s");
    assert_eq!(
        (&rate["admitted"], &rate["refused"], &rate["peak_in_window"]),
        (&json!(5), &json!(3), &json!(5)),
        "{stats}"
    );
    assert_eq!(stats["outcomes"]["rate_limited"], 3);
    assert_eq!(stats["outcomes"]["accepted"], 5);
    let first = rate["first_admitted_at"].as_str().unwrap();
    let last = rate["last_admitted_at"].as_str().unwrap();
    let (first, last) = (
        chrono::DateTime::parse_from_rfc3339(first).unwrap(),
        chrono::DateTime::parse_from_rfc3339(last).unwrap(),
    );
    assert!(first <= last, "{stats}");
    assert!(
        rate["first_admitted_at"].as_str().unwrap().ends_with('Z')
            && rate["first_admitted_at"].as_str().unwrap().contains('.'),
        "RFC 3339 with milliseconds: {rate}"
    );

    // Once the window has passed, the limit admits again.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(send(&sim, &request_body("14155550123")).await.0, 202);
    let rate = get_json(&sim, "/__sim/stats").await["rate_limit"].clone();
    assert_eq!(
        (&rate["admitted"], &rate["refused"]),
        (&json!(6), &json!(3))
    );
    assert_eq!(rate["peak_in_window"], 5);
}

#[tokio::test]
async fn only_authenticated_requests_count_and_admitted_ones_still_meet_faults_and_validation() {
    let sim = sim_with(Settings {
        rate_limit_every: 2,
        ..limited("4/10s")
    })
    .await;
    // Not authenticated: refused before the limit, so it takes no room in the window.
    let resp = http()
        .post(sim.message_url())
        .json(&request_body("14155550123"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    let post = || {
        http()
            .post(sim.message_url())
            .basic_auth(AUTH_ID, Some(TOKEN))
    };
    let mut statuses = Vec::new();
    for request in [
        post().json(&request_body("14155550123")),
        post().json(&request_body("14155550124")),
        post().body("not json"),
        post().json(&request_body("14155550125")),
        post().json(&request_body("14155550126")),
    ] {
        statuses.push(request.send().await.unwrap().status().as_u16());
    }
    // The second and fourth admitted are the injected 429s; the fifth meets the limit.
    assert_eq!(statuses, [202, 429, 400, 429, 429]);
    let stats = get_json(&sim, "/__sim/stats").await;
    assert_eq!(stats["outcomes"]["rate_limited"], 3, "both kinds: {stats}");
    assert_eq!(stats["outcomes"]["unauthorized"], 1);
    let rate = &stats["rate_limit"];
    assert_eq!(
        (&rate["admitted"], &rate["refused"], &rate["peak_in_window"]),
        (&json!(4), &json!(1), &json!(4)),
        "{stats}"
    );
    let requests = get_json(&sim, "/__sim/requests").await;
    assert_eq!(requests[2]["error"], "too many requests", "injected");
    assert!(
        requests[5]["error"].as_str().unwrap().contains("4/10s"),
        "enforced: {requests}"
    );
}

#[tokio::test]
async fn the_rate_limit_is_set_and_cleared_through_sim_config() {
    let sim = sim().await;
    assert_eq!(get_json(&sim, "/__sim/config").await["rate_limit"], "off");
    let stats = get_json(&sim, "/__sim/stats").await;
    assert_eq!(
        stats["rate_limit"],
        json!({"limit": null, "admitted": 0, "refused": 0, "peak_in_window": 0,
               "first_admitted_at": null, "last_admitted_at": null})
    );

    let (status, config) = post_json(&sim, "/__sim/config", &json!({"rate_limit": "2/10s"})).await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["rate_limit"], "2/10s");
    assert_eq!(get_json(&sim, "/__sim/config").await["rate_limit"], "2/10s");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(send(&sim, &request_body("14155550123")).await.0);
    }
    assert_eq!(statuses, [202, 202, 429]);

    // Changing another setting leaves the window alone...
    post_json(&sim, "/__sim/config", &json!({"latency_ms": 0})).await;
    assert_eq!(send(&sim, &request_body("14155550123")).await.0, 429);
    // ...setting the limit again, even to the same value, starts a fresh one.
    let (status, _) = post_json(&sim, "/__sim/config", &json!({"rate_limit": "2/10000ms"})).await;
    assert_eq!(status, 200);
    let rate = get_json(&sim, "/__sim/stats").await["rate_limit"].clone();
    assert_eq!(rate["limit"], "2/10s");
    assert_eq!(
        (&rate["admitted"], &rate["refused"]),
        (&json!(0), &json!(0))
    );
    assert_eq!(send(&sim, &request_body("14155550123")).await.0, 202);

    let (status, config) = post_json(&sim, "/__sim/config", &json!({"rate_limit": "off"})).await;
    assert_eq!((status, &config["rate_limit"]), (200, &json!("off")));
    for _ in 0..4 {
        assert_eq!(send(&sim, &request_body("14155550123")).await.0, 202);
    }
    assert_eq!(
        get_json(&sim, "/__sim/stats").await["rate_limit"]["limit"],
        Value::Null
    );

    for bad in ["0/1s", "5/0s", "abc", "5/1h", "4294967296/1s", "on"] {
        let (status, body) = post_json(&sim, "/__sim/config", &json!({"rate_limit": bad})).await;
        assert_eq!(status, 400, "{bad}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains("rate_limit: "), "{bad}: {error}");
    }
    // A value of the wrong type is refused naming its field too, for every setting.
    for (field, bad) in [("rate_limit", json!(5)), ("latency_ms", json!("soon"))] {
        let (status, body) = post_json(&sim, "/__sim/config", &json!({field: bad})).await;
        assert_eq!(status, 400, "{body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(&format!("{field}: ")), "{body}");
    }
    assert_eq!(get_json(&sim, "/__sim/config").await["rate_limit"], "off");
}

#[tokio::test]
async fn reset_restores_the_startup_limit_with_a_fresh_window() {
    let sim = sim_with(limited("1/10s")).await;
    assert_eq!(send(&sim, &request_body("14155550123")).await.0, 202);
    assert_eq!(send(&sim, &request_body("14155550123")).await.0, 429);
    post_json(&sim, "/__sim/config", &json!({"rate_limit": "off"})).await;
    post_json(&sim, "/__sim/reset", &json!({})).await;
    assert_eq!(get_json(&sim, "/__sim/config").await["rate_limit"], "1/10s");
    assert_eq!(send(&sim, &request_body("14155550123")).await.0, 202);
    assert_eq!(send(&sim, &request_body("14155550123")).await.0, 429);
    let rate = get_json(&sim, "/__sim/stats").await["rate_limit"].clone();
    assert_eq!(
        (&rate["admitted"], &rate["refused"]),
        (&json!(1), &json!(1))
    );
}
