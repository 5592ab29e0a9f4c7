//! The Message list and get APIs as a client sees them: Plivo's fields and filters, paging,
//! refusals, auth, the listing delay, and the faults and limits that apply to them.

mod common;

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use common::*;
use plivo_sim::RunningSim;
use serde_json::{Value, json};

const DELIVERED: &str = "14155550123";
const UNDELIVERABLE: &str = "13125550111";
const OPTED_OUT: &str = "13125550121";

fn body(dst: &str) -> Value {
    json!({"src": "14155550100", "dst": dst, "text": "hello"})
}

/// Sends to `dst` and answers the accepted uuids.
async fn send_ok(sim: &RunningSim, dst: &str) -> Vec<String> {
    let (status, answer) = send(sim, &body(dst)).await;
    assert_eq!(status, 202, "{answer}");
    uuids(&answer)
}

async fn list_as(
    sim: &RunningSim,
    query: &[(&str, &str)],
    auth: Option<(&str, &str)>,
) -> (u16, Value) {
    let mut url = reqwest::Url::parse(&sim.message_url()).expect("a URL");
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    let mut request = http().get(url);
    if let Some((id, token)) = auth {
        request = request.basic_auth(id, Some(token));
    }
    read(request.send().await.expect("answers")).await
}

async fn list(sim: &RunningSim, query: &[(&str, &str)]) -> (u16, Value) {
    list_as(sim, query, Some((AUTH_ID, TOKEN))).await
}

/// A list that must succeed: its objects.
async fn objects(sim: &RunningSim, query: &[(&str, &str)]) -> Vec<Value> {
    let (status, body) = list(sim, query).await;
    assert_eq!(status, 200, "{body}");
    body["objects"].as_array().expect("objects").clone()
}

async fn get(sim: &RunningSim, uuid: &str) -> (u16, Value) {
    read(
        http()
            .get(format!("{}{uuid}/", sim.message_url()))
            .basic_auth(AUTH_ID, Some(TOKEN))
            .send()
            .await
            .expect("answers"),
    )
    .await
}

fn uuids_of(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|o| o["message_uuid"].as_str().expect("a uuid").to_owned())
        .collect()
}

/// Waits until every listed message is in a final state, and answers them.
async fn settled(sim: &RunningSim, count: usize) -> Vec<Value> {
    eventually("every message in its final state", || async {
        let all = objects(sim, &[]).await;
        let done = all.len() == count
            && all.iter().all(|o| {
                ["delivered", "undelivered", "failed"]
                    .contains(&o["message_state"].as_str().unwrap_or(""))
            });
        done.then_some(all)
    })
    .await
}

#[tokio::test]
async fn an_accepted_message_is_listed_and_got_with_plivos_fields() {
    let sim = sim().await;
    let uuids = send_ok(&sim, &format!("+{DELIVERED}<{UNDELIVERABLE}<13125550101")).await;
    assert_eq!(
        uuids.len(),
        2,
        "the invalid number gets no uuid and no record"
    );
    let all = settled(&sim, 2).await;

    let by_to = |to: &str| {
        all.iter()
            .find(|o| o["to_number"] == to)
            .unwrap_or_else(|| panic!("no message to {to} in {all:?}"))
            .clone()
    };
    let delivered = by_to(DELIVERED);
    let uuid = delivered["message_uuid"].as_str().unwrap().to_owned();
    assert!(uuids.contains(&uuid));
    let expected = json!({
        "carrier_fees": "0.00000",
        "carrier_fees_rate": "0.00000",
        "destination_country_iso2": "US",
        "destination_network": "",
        "error_code": "000",
        "from_number": "14155550100",
        "is_domestic": true,
        "mcc": "310",
        "mnc": "004",
        "message_direction": "outbound",
        "message_state": "delivered",
        "message_time": delivered["message_time"],
        "message_type": "sms",
        "message_uuid": uuid,
        "resource_uri": format!("/v1/Account/{AUTH_ID}/Message/{uuid}/"),
        "to_number": DELIVERED,
        "total_amount": "0.00500",
        "total_rate": "0.00500",
        "units": 1,
    });
    assert_eq!(delivered, expected);
    // `YYYY-MM-DD HH:MM:SS.uuuuuu+00:00`, close to now.
    let time = delivered["message_time"].as_str().unwrap();
    let parsed = chrono::DateTime::parse_from_str(time, "%Y-%m-%d %H:%M:%S%.6f%:z")
        .unwrap_or_else(|e| panic!("{time:?}: {e}"));
    assert!((chrono::Utc::now() - parsed.to_utc()).num_seconds().abs() < 30);

    let undelivered = by_to(UNDELIVERABLE);
    assert_eq!(undelivered["message_state"], "undelivered");
    assert_eq!(undelivered["error_code"], "70");

    let (status, got) = get(&sim, &uuid).await;
    assert_eq!(status, 200, "{got}");
    assert!(
        got["api_id"].as_str().is_some_and(|a| a.len() == 36),
        "{got}"
    );
    let mut without_api_id = got.as_object().unwrap().clone();
    without_api_id.remove("api_id");
    assert_eq!(Value::Object(without_api_id), expected);

    let (status, missing) = get(&sim, "00000000-0000-4000-8000-000000000000").await;
    assert_eq!(status, 404, "{missing}");
    assert_eq!(missing["error"], "not found");
    assert!(missing["api_id"].is_string());
}

#[tokio::test]
async fn a_powerpack_message_names_its_powerpack_and_an_opted_out_one_is_free() {
    let sim = sim().await;
    let pack = "d35f2e82-d387-427f-8594-6fa07613c43a";
    let (status, answer) = send(
        &sim,
        &json!({"powerpack_uuid": pack, "dst": OPTED_OUT, "text": "hello"}),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let all = settled(&sim, 1).await;
    let m = &all[0];
    assert_eq!(m["powerpack_id"], pack);
    assert_eq!(m["from_number"], plivo_sim::POWERPACK_NUMBER);
    assert_eq!(m["message_state"], "failed");
    assert_eq!(m["error_code"], "200");
    assert_eq!(m["total_amount"], "0.00000");
    assert_eq!(objects(&sim, &[("powerpack_id", pack)]).await.len(), 1);
    assert!(objects(&sim, &[("powerpack_id", "other")]).await.is_empty());
}

#[tokio::test]
async fn the_state_follows_the_delivery_reports() {
    let receiver = Receiver::start(0).await;
    let sim = sim().await;
    let (status, answer) = send(
        &sim,
        &json!({"src": "14155550100", "dst": DELIVERED, "text": "hi",
                "url": receiver.url("/status"), "method": "POST"}),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let uuid = uuids(&answer).remove(0);
    let reports = receiver.wait_for(3).await;
    assert_eq!(reports.last().unwrap().field("Status"), "delivered");
    let (_, got) = get(&sim, &uuid).await;
    assert_eq!(got["message_state"], "delivered");

    // Reports far apart: the message waits in `queued`, as its first report said.
    let slow = sim_with(plivo_sim::Settings {
        report_delay_ms: 60_000,
        ..quick()
    })
    .await;
    let uuid = send_ok(&slow, DELIVERED).await.remove(0);
    let (_, got) = get(&slow, &uuid).await;
    assert_eq!(got["message_state"], "queued");
    assert_eq!(got["error_code"], Value::Null);

    // Reports off: nobody is told, yet the message still reaches its final state.
    let silent = sim_with(plivo_sim::Settings {
        reports: false,
        ..quick()
    })
    .await;
    send_ok(&silent, UNDELIVERABLE).await;
    assert_eq!(settled(&silent, 1).await[0]["message_state"], "undelivered");
}

#[tokio::test]
async fn filters_select_by_direction_state_number_error_code_and_time() {
    let sim = sim().await;
    let first = send_ok(&sim, &format!("{DELIVERED}<{UNDELIVERABLE}")).await;
    settled(&sim, 2).await;
    let first_time = get(&sim, &first[0]).await.1["message_time"]
        .as_str()
        .unwrap()
        .trim_end_matches("+00:00")
        .to_owned();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let between = chrono::Utc::now()
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = send_ok(&sim, OPTED_OUT).await;
    settled(&sim, 3).await;

    let set = |objects: Vec<Value>| uuids_of(&objects).into_iter().collect::<HashSet<_>>();
    let all: HashSet<String> = first.iter().chain(&second).cloned().collect();
    assert_eq!(
        set(objects(&sim, &[("message_direction", "outbound")]).await),
        all
    );
    assert!(
        objects(&sim, &[("message_direction", "inbound")])
            .await
            .is_empty()
    );

    let sim_ref = &sim;
    let state =
        |s: &'static str| async move { uuids_of(&objects(sim_ref, &[("message_state", s)]).await) };
    assert_eq!(state("failed").await, second);
    assert_eq!(state("undelivered").await.len(), 1);
    assert_eq!(state("delivered").await.len(), 1);
    assert!(state("queued").await.is_empty());
    assert!(state("rejected").await.is_empty());
    let undelivered = objects(&sim, &[("error_code", "70")]).await;
    assert_eq!(undelivered.len(), 1);
    assert_eq!(undelivered[0]["to_number"], UNDELIVERABLE);
    let to = objects(&sim, &[("to_number", &format!("+{DELIVERED}"))]).await;
    assert_eq!(uuids_of(&to).len(), 1);
    assert_eq!(to[0]["to_number"], DELIVERED);

    // The window: after `between` only the second request's message, before it the first's.
    assert_eq!(
        set(objects(&sim, &[("message_time__gt", &between)]).await),
        set_of(&second)
    );
    assert_eq!(
        set(objects(&sim, &[("message_time__gte", &between)]).await),
        set_of(&second)
    );
    assert_eq!(
        set(objects(&sim, &[("message_time__lt", &between)]).await),
        set_of(&first)
    );
    assert_eq!(
        set(objects(&sim, &[("message_time__lte", &between)]).await),
        set_of(&first)
    );
    // Both bounds of a window, and an exact time (messages accepted together share it).
    let window = [
        ("message_time__gte", first_time.as_str()),
        ("message_time__lt", between.as_str()),
    ];
    assert_eq!(set(objects(&sim, &window).await), set_of(&first));
    assert_eq!(
        set(objects(&sim, &[("message_time", &first_time)]).await),
        set_of(&first)
    );
    let past = [("message_time__lte", "2020-01-01 00:00")];
    assert!(objects(&sim, &past).await.is_empty());
    // A subaccount has sent nothing: every message is the main account's.
    assert!(
        objects(&sim, &[("subaccount", "SAXXXXXXXXXXXXXXXXXX")])
            .await
            .is_empty()
    );
}

fn set_of(uuids: &[String]) -> HashSet<String> {
    uuids.iter().cloned().collect()
}

#[tokio::test]
async fn pages_follow_limit_offset_and_meta_next_newest_first() {
    let sim = sim().await;
    let dst: Vec<String> = (0..25).map(|i| format!("1415600{i:04}")).collect();
    let older = send_ok(&sim, &dst.join("<")).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let newest = send_ok(&sim, "14155550199").await;

    let (status, page) = list(&sim, &[]).await;
    assert_eq!(status, 200, "{page}");
    let meta = &page["meta"];
    assert_eq!(meta["limit"], 20);
    assert_eq!(meta["offset"], 0);
    assert_eq!(meta["total_count"], 26);
    assert_eq!(meta["previous"], Value::Null);
    let next = format!("/v1/Account/{AUTH_ID}/Message/?limit=20&offset=20");
    assert_eq!(meta["next"], next.as_str());
    let first = page["objects"].as_array().unwrap().clone();
    assert_eq!(first.len(), 20);
    assert_eq!(first[0]["message_uuid"], newest[0].as_str(), "newest first");

    let (status, page) = read(
        http()
            .get(format!("{}{next}", sim.url()))
            .basic_auth(AUTH_ID, Some(TOKEN))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["meta"]["next"], Value::Null);
    assert_eq!(
        page["meta"]["previous"],
        format!("/v1/Account/{AUTH_ID}/Message/?limit=20&offset=0").as_str()
    );
    let second = page["objects"].as_array().unwrap().clone();
    assert_eq!(second.len(), 6);
    let seen: HashSet<String> = uuids_of(&first)
        .into_iter()
        .chain(uuids_of(&second))
        .collect();
    let sent: HashSet<String> = older.iter().chain(&newest).cloned().collect();
    assert_eq!(seen, sent, "every message once across the pages");

    // A smaller page keeps the filters in its links.
    let (_, page) = list(
        &sim,
        &[
            ("message_direction", "outbound"),
            ("limit", "10"),
            ("offset", "10"),
        ],
    )
    .await;
    assert_eq!(page["objects"].as_array().unwrap().len(), 10);
    assert_eq!(
        page["meta"]["next"],
        format!("/v1/Account/{AUTH_ID}/Message/?message_direction=outbound&limit=10&offset=20")
            .as_str()
    );
    assert_eq!(
        page["meta"]["previous"],
        format!("/v1/Account/{AUTH_ID}/Message/?message_direction=outbound&limit=10&offset=0")
            .as_str()
    );
    let (_, beyond) = list(&sim, &[("offset", "100")]).await;
    assert_eq!(beyond["objects"], json!([]));
    assert_eq!(beyond["meta"]["total_count"], 26);
}

#[tokio::test]
async fn bad_filters_are_400_with_plivos_error_shape() {
    let sim = sim().await;
    for query in [
        [("limit", "21")],
        [("limit", "0")],
        [("limit", "many")],
        [("offset", "-1")],
        [("message_state", "lost")],
        [("message_direction", "both")],
        [("message_time__gt", "2026-01-01T00:00:00Z")],
        [("message_time__lte", "yesterday")],
    ] {
        let (status, body) = list(&sim, &query).await;
        assert_eq!(status, 400, "{query:?}: {body}");
        assert!(body["api_id"].is_string(), "{body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(query[0].0), "{query:?}: {error}");
    }
    let (status, _) = list(&sim, &[("limit", "20")]).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn list_and_get_need_the_accounts_basic_auth() {
    let sim = sim().await;
    let uuid = send_ok(&sim, DELIVERED).await.remove(0);
    for auth in [None, Some((AUTH_ID, "wrong")), Some(("MAWRONG", TOKEN))] {
        let (status, body) = list_as(&sim, &[], auth).await;
        assert_eq!(status, 401, "{auth:?}: {body}");
        let mut request = http().get(format!("{}{uuid}/", sim.message_url()));
        if let Some((id, token)) = auth {
            request = request.basic_auth(id, Some(token));
        }
        let (status, body) = read(request.send().await.unwrap()).await;
        assert_eq!(status, 401, "{auth:?}: {body}");
    }
    // Right credentials, someone else's account in the path.
    let other = format!("{}/v1/Account/MAOTHERACCOUNT000001/Message/", sim.url());
    for url in [other.clone(), format!("{other}{uuid}/")] {
        let (status, _) = read(
            http()
                .get(&url)
                .basic_auth(AUTH_ID, Some(TOKEN))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 401, "{url}");
    }
    assert_eq!(get(&sim, &uuid).await.0, 200);
}

#[tokio::test]
async fn a_message_appears_only_after_the_listing_delay() {
    let sim = sim().await;
    let (status, _) = post_json(&sim, "/__sim/config", &json!({"listing_delay_ms": 400})).await;
    assert_eq!(status, 200);
    let sent_at = Instant::now();
    let uuid = send_ok(&sim, DELIVERED).await.remove(0);
    let (_, page) = list(&sim, &[]).await;
    assert_eq!(page["meta"]["total_count"], 0, "{page}");
    assert_eq!(get(&sim, &uuid).await.0, 404);

    let found = eventually("the message to be listed", || async {
        let (_, page) = list(&sim, &[]).await;
        (page["meta"]["total_count"] == 1).then_some(page)
    })
    .await;
    assert!(sent_at.elapsed() >= Duration::from_millis(400));
    assert_eq!(found["objects"][0]["message_uuid"], uuid.as_str());
    assert_eq!(get(&sim, &uuid).await.0, 200);
}

#[tokio::test]
async fn the_list_api_can_be_made_to_fail() {
    let sim = sim().await;
    let uuid = send_ok(&sim, DELIVERED).await.remove(0);
    let (status, _) = post_json(
        &sim,
        "/__sim/config",
        &json!({"list_error_every": 2, "server_error_status": 503}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list(&sim, &[]).await.0, 200);
    let (status, body) = list(&sim, &[]).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["api_id"].is_string() && body["error"].is_string(),
        "{body}"
    );
    assert_eq!(get(&sim, &uuid).await.0, 200);
    assert_eq!(get(&sim, &uuid).await.0, 503, "get counts with the list");
    // Sending is not affected.
    send_ok(&sim, DELIVERED).await;
    send_ok(&sim, DELIVERED).await;
}

#[tokio::test]
async fn the_list_api_has_its_own_limit_and_shares_the_accounts() {
    let sim = sim().await;
    let (status, _) = post_json(&sim, "/__sim/config", &json!({"list_rate_limit": "2/60s"})).await;
    assert_eq!(status, 200);
    assert_eq!(list(&sim, &[]).await.0, 200);
    assert_eq!(list(&sim, &[]).await.0, 200);
    let (status, refusal) = list(&sim, &[]).await;
    assert_eq!(status, 429, "{refusal}");
    assert!(
        refusal["error"].as_str().unwrap().contains("2/60s"),
        "{refusal}"
    );
    send_ok(&sim, DELIVERED).await;

    // The account's limit counts sends, lists and gets together.
    let shared = sim_with(quick()).await;
    let (status, _) = post_json(&shared, "/__sim/config", &json!({"rate_limit": "3/60s"})).await;
    assert_eq!(status, 200);
    let uuid = send_ok(&shared, DELIVERED).await.remove(0);
    assert_eq!(list(&shared, &[]).await.0, 200);
    assert_eq!(get(&shared, &uuid).await.0, 200);
    assert_eq!(list(&shared, &[]).await.0, 429);
    let (status, _) = send(&shared, &body(DELIVERED)).await;
    assert_eq!(status, 429);
}

/// The project's own client for Plivo's records against the simulator: a sent message is
/// found by its number, sender and time window; outside the window, or before its record
/// appears, it is not.
#[tokio::test]
async fn the_sms_core_client_finds_a_sent_message_by_number_sender_and_window() {
    use sms_core::{
        PhoneNumber,
        plivo::{
            PlivoClient, PlivoConfig, PlivoError,
            records::{MessageRecord, RecordQuery},
        },
        retry::RetryPolicy,
        secrets::PlivoCredentials,
    };
    let sim = sim().await;
    let client = PlivoClient::new(PlivoConfig {
        retry: RetryPolicy::NONE,
        ..PlivoConfig::new(sim.url())
    })
    .unwrap();
    let creds = PlivoCredentials::new(AUTH_ID, TOKEN);
    let before_send = chrono::Utc::now() - chrono::Duration::seconds(1);
    let uuid = send_ok(&sim, DELIVERED).await.remove(0);
    let after_send = chrono::Utc::now() + chrono::Duration::seconds(1);
    let to = PhoneNumber::parse(&format!("+{DELIVERED}")).unwrap();
    let query = |from: Option<&'static str>, after, before| RecordQuery {
        to: &to,
        from,
        after,
        before,
        offset: 0,
    };

    let page = client
        .list_records(&creds, &query(Some("14155550100"), before_send, after_send))
        .await
        .unwrap();
    assert_eq!((page.total, page.more), (1, false));
    let MessageRecord {
        message_uuid,
        to: listed_to,
        from,
        sent_at,
        units,
        ..
    } = &page.records[0];
    assert_eq!(message_uuid, &uuid);
    assert_eq!(
        (listed_to.as_ref(), from.as_str()),
        (Some(&to), "14155550100")
    );
    assert!(sent_at.is_some_and(|t| before_send <= t && t <= after_send));
    assert_eq!(*units, Some(1));

    // Another sender, or a window that ends before the send, finds nothing.
    for (from, after, before) in [
        (Some("14155550199"), before_send, after_send),
        (
            None,
            before_send - chrono::Duration::minutes(5),
            before_send,
        ),
    ] {
        let page = client
            .list_records(&creds, &query(from, after, before))
            .await
            .unwrap();
        assert!(page.records.is_empty(), "{from:?} {after} {before}");
    }

    // Wrong credentials and the list API's own limit are classified as a send's would be.
    let wrong = PlivoCredentials::new(AUTH_ID, "wrong");
    let err = client
        .list_records(&wrong, &query(None, before_send, after_send))
        .await
        .unwrap_err();
    assert!(matches!(err, PlivoError::Unauthorized { .. }), "{err}");
    post_json(&sim, "/__sim/config", &json!({"list_rate_limit": "1/60s"})).await;
    let mut answers = Vec::new();
    for _ in 0..2 {
        answers.push(
            client
                .list_records(&creds, &query(None, before_send, after_send))
                .await,
        );
    }
    assert!(answers[0].is_ok(), "{:?}", answers[0]);
    assert!(
        matches!(answers[1], Err(PlivoError::RateLimited { .. })),
        "{:?}",
        answers[1]
    );
}

#[tokio::test]
async fn a_lost_request_times_the_client_out_and_leaves_no_record() {
    let sim = sim_with(plivo_sim::Settings {
        lost_every: 2,
        slow_ms: 500,
        ..quick()
    })
    .await;
    send_ok(&sim, DELIVERED).await;
    let timed_out = http()
        .post(sim.message_url())
        .basic_auth(AUTH_ID, Some(TOKEN))
        .json(&body("14155550124"))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(timed_out.is_err_and(|e| e.is_timeout()));
    tokio::time::sleep(Duration::from_millis(600)).await;

    let requests = get_json(&sim, "/__sim/requests").await;
    assert_eq!(requests[1]["outcome"], "lost");
    assert_eq!(requests[1]["recipients"], json!([]));
    let stats = get_json(&sim, "/__sim/stats").await;
    assert_eq!(
        (
            stats["outcomes"]["lost"].clone(),
            stats["recipients_accepted"].clone()
        ),
        (json!(1), json!(1))
    );
    assert!(
        objects(&sim, &[("to_number", "14155550124")])
            .await
            .is_empty()
    );
    assert_eq!(objects(&sim, &[("to_number", DELIVERED)]).await.len(), 1);
}
