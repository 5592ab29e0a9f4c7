//! `max_cost` and `max_segments` on `POST /v1/bulk`, and the estimate a dry run shows
//! (docs/api.md, "Budget"): a job over its cap is refused with the figures and nothing is
//! written or enqueued. The real handler with the in-memory store and queues; prices from a
//! table, or a wiremock Plivo Pricing API.

use std::time::Duration;

use serde_json::{Value, json};
use sms_core::pricing::{PlivoPricing, PriceTable, Prices};
use sms_test_support::{json_of, post_json};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};

mod common;
use common::TestApp;

/// Batches of 100, priced by `prices`.
fn app(prices: Prices) -> TestApp {
    TestApp {
        prices,
        ..common::app(100)
    }
}

/// US at half a cent a segment, GB at four cents.
fn table() -> Prices {
    Prices::table(PriceTable::parse(r#"{"US": "0.005", "GB": "0.04"}"#).unwrap())
}

async fn post(app: &TestApp, body: &Value) -> (u16, Value) {
    post_keyed(app, body, None).await
}

async fn post_keyed(app: &TestApp, body: &Value, key: Option<&str>) -> (u16, Value) {
    let response = send_bulk::handle(post_json("/v1/bulk", body, key), app).await;
    (response.status().as_u16(), json_of(&response))
}

/// 200 US numbers and 10 London ones.
fn recipients() -> Vec<String> {
    let us = (0..200).map(|i| format!("+1415555{:04}", 2000 + i));
    let gb = (0..10).map(|i| format!("+4420794{:05}", 60_000 + i));
    us.chain(gb).collect()
}

/// A text of two GSM-7 segments.
fn two_segments() -> String {
    "Flash sale! ".repeat(14)
}

#[tokio::test]
async fn a_dry_run_prices_each_destination_country() {
    let app = app(table());
    let (code, body) = post(
        &app,
        &json!({"recipients": recipients(), "text": two_segments(), "dry_run": true}),
    )
    .await;

    assert_eq!(code, 200, "{body}");
    assert_eq!(body["segments"], 2);
    // 400 × 0.005 + 20 × 0.04
    assert_eq!(
        body["estimate"],
        json!({
            "recipients": 210, "segments": 420, "cost": "2.80",
            "countries": [
                {"country": "GB", "recipients": 10, "segments": 20, "rate": "0.04",
                 "rate_source": "configured", "cost": "0.80"},
                {"country": "US", "recipients": 200, "segments": 400, "rate": "0.005",
                 "rate_source": "configured", "cost": "2.00"},
            ]
        })
    );
    assert!(body.get("budget").is_none(), "{body}");

    // With a cap, the dry run says whether the job would be accepted, and why not.
    let (_, capped) = post(
        &app,
        &json!({"recipients": recipients(), "text": two_segments(), "dry_run": true,
                "max_cost": "2.50"}),
    )
    .await;
    assert_eq!(capped["budget"]["max_cost"], "2.50");
    assert_eq!(capped["budget"]["fits"], false);
    assert!(
        capped["budget"]["detail"]
            .as_str()
            .unwrap()
            .contains("2.80, over its max_cost of 2.50"),
        "{capped}"
    );
    assert!(app.queue.bodies().is_empty());
}

#[tokio::test]
async fn opted_out_and_skipped_recipients_are_not_priced() {
    use sms_core::store::{SuppressionList, SuppressionSource};
    let app = app(table());
    let opted_out = sms_core::PhoneNumber::parse("+14155552000").unwrap();
    app.store
        .suppress(&opted_out, SuppressionSource::Api, chrono::Utc::now())
        .await
        .unwrap();
    // `recipients()`'s London numbers are landlines: skipped, so not priced.
    let list = recipients();
    let (code, body) = post(
        &app,
        &json!({"recipients": list, "text": "Hi", "dry_run": true, "skip_landlines": true}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["suppressed"], 1);
    let countries: Vec<(String, u64)> = body["estimate"]["countries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["country"].as_str().unwrap().to_owned(),
                c["recipients"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(countries, [("US".to_owned(), 199)]);
    assert_eq!(body["landlines_skipped"], 10);
    assert_eq!(body["estimate"]["recipients"], body["accepted"]);
}

#[tokio::test]
async fn a_job_over_its_max_cost_is_refused_with_the_figures_and_nothing_is_written() {
    let app = app(table());
    let (code, problem) = post_keyed(
        &app,
        &json!({"recipients": recipients(), "text": two_segments(), "max_cost": 2.79}),
        Some("campaign-1"),
    )
    .await;

    assert_eq!(code, 422, "{problem}");
    assert_eq!(problem["type"], "/problems/over-budget");
    assert_eq!(
        problem["detail"],
        "the job's estimated cost is 2.80, over its max_cost of 2.79; nothing was sent"
    );
    assert_eq!(problem["estimate"]["cost"], "2.80");
    assert_eq!(problem["budget"], json!({"max_cost": "2.79"}));
    assert!(app.queue.bodies().is_empty());

    // Nothing was written and the key was released: the request with a cap at the estimate
    // exactly goes under the same key.
    let (code, body) = post_keyed(
        &app,
        &json!({"recipients": recipients(), "text": two_segments(), "max_cost": "2.80"}),
        Some("campaign-1"),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(app.queue.bodies().len(), 3);
}

#[tokio::test]
async fn max_segments_needs_no_price() {
    // No table, no Plivo: segments are counted all the same.
    let app = app(Prices::default());
    let over = json!({"recipients": recipients(), "text": two_segments(), "max_segments": 419});
    let (code, problem) = post(&app, &over).await;
    assert_eq!(code, 422, "{problem}");
    assert_eq!(
        problem["detail"],
        "the job takes 420 segments, over its max_segments of 419; nothing was sent"
    );
    assert!(app.queue.bodies().is_empty());

    let fits = json!({"recipients": recipients(), "text": two_segments(), "max_segments": 420});
    let (code, body) = post(&app, &fits).await;
    assert_eq!(code, 202, "{body}");
}

#[tokio::test]
async fn max_cost_with_a_country_nobody_prices_is_refused_naming_it() {
    let app = app(Prices::table(
        PriceTable::parse(r#"{"US": "0.005"}"#).unwrap(),
    ));
    let (code, problem) = post(
        &app,
        &json!({"recipients": recipients(), "text": "Hi", "max_cost": 100}),
    )
    .await;
    assert_eq!(code, 422, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("no price is known for GB"), "{detail}");
    assert_eq!(problem["estimate"]["cost"], Value::Null);
    assert_eq!(problem["estimate"]["countries"][0]["country"], "GB");
    assert!(problem["estimate"]["countries"][0]["unpriced"].is_string());
    assert!(app.queue.bodies().is_empty());
}

#[tokio::test]
async fn when_plivo_cannot_price_the_job_is_a_503_to_retry() {
    let plivo = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&plivo)
        .await;
    let app = app(Prices::new(
        PriceTable::default(),
        Some(PlivoPricing::new(plivo.uri(), Duration::from_secs(2))),
    ));
    let (code, problem) = post(
        &app,
        &json!({"recipients": recipients(), "text": "Hi", "max_cost": 100}),
    )
    .await;
    assert_eq!(code, 503, "{problem}");
    assert_eq!(problem["type"], "/problems/plivo-unavailable");
    assert!(app.queue.bodies().is_empty());
    // Each country was asked once, with the service's credentials.
    let asked = plivo.received_requests().await.unwrap();
    assert_eq!(asked.len(), 2);
    assert!(
        asked
            .iter()
            .all(|r| r.headers.contains_key("authorization"))
    );
}

#[tokio::test]
async fn a_bad_cap_is_a_400_naming_its_field() {
    let app = app(table());
    for (fields, field) in [
        (json!({"max_cost": 0}), "max_cost"),
        (json!({"max_cost": "ten"}), "max_cost"),
        (json!({"max_cost": -1}), "max_cost"),
        (json!({"max_segments": 0}), "max_segments"),
        (json!({"max_segments": 1.5}), "max_segments"),
    ] {
        let mut body = json!({"recipients": recipients(), "text": "Hi"});
        for (k, v) in fields.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (code, problem) = post(&app, &body).await;
        assert_eq!(code, 400, "{fields}: {problem}");
        assert_eq!(problem["type"], "/problems/invalid-request", "{problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{fields}: {problem}");
    }
    assert!(app.queue.bodies().is_empty());
}

/// A job accepted under its cap: each batch carries what it reserves, and the status shows
/// the caps and what the claimed batches reserved of them.
#[tokio::test]
async fn each_batch_of_a_capped_job_carries_its_share_of_the_cap() {
    let app = app(table());
    let (code, body) = post(
        &app,
        &json!({"recipients": recipients(), "text": two_segments(), "max_cost": "3.00"}),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    let job_id = body["job_id"].as_str().unwrap().to_owned();

    // Batches of 100: two of US numbers (200 segments × 0.005) and one of London's
    // (20 × 0.04).
    let mut reserved: Vec<(u64, Value)> = app
        .queue
        .bodies()
        .iter()
        .map(|b| {
            let m: Value = serde_json::from_str(b).unwrap();
            (m["batch"].as_u64().unwrap(), m["reservation"].clone())
        })
        .collect();
    reserved.sort_by_key(|(b, _)| *b);
    assert_eq!(
        reserved,
        [
            (0, json!({"cost": "1.00"})),
            (1, json!({"cost": "1.00"})),
            (2, json!({"cost": "0.80"})),
        ]
    );
    let status =
        send_bulk::handle(sms_test_support::get(&format!("/v1/bulk/{job_id}")), &app).await;
    assert_eq!(
        json_of(&status)["budget"],
        json!({"max_cost": "3.00", "reserved_cost": "0.00"})
    );
}

async fn max_cost(app: &TestApp, job_id: &str) -> Value {
    let status = send_bulk::handle(sms_test_support::get(&format!("/v1/bulk/{job_id}")), app).await;
    json_of(&status)["budget"]["max_cost"].clone()
}

async fn resume(app: &TestApp, job_id: &str, body: &str) -> (u16, Value) {
    let request = sms_test_support::request("POST", &format!("/v1/bulk/{job_id}/resume"))
        .header("content-type", "application/json")
        .body(lambda_http::Body::from(body))
        .unwrap();
    let response = send_bulk::handle(request, app).await;
    (response.status().as_u16(), json_of(&response))
}

#[tokio::test]
async fn a_resume_may_raise_the_caps_and_a_bad_raise_changes_nothing() {
    let app = app(table());
    let (_, body) = post(
        &app,
        &json!({"recipients": recipients(), "text": two_segments(), "max_cost": "3.00"}),
    )
    .await;
    let job_id = body["job_id"].as_str().unwrap().to_owned();

    for (bad, field) in [
        (r#"{"max_cost": "lots"}"#, "max_cost"),
        (r#"{"max_cost": "3.00", "colour": "red"}"#, "colour"),
        (r#"{"max_segments": -1}"#, "max_segments"),
    ] {
        let (code, problem) = resume(&app, &job_id, bad).await;
        assert_eq!(code, 400, "{bad}: {problem}");
        assert!(problem.to_string().contains(field), "{bad}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{bad}: {problem}");
    }
    assert_eq!(max_cost(&app, &job_id).await, "3.00");

    let (code, answer) = resume(&app, &job_id, r#"{"max_cost": "4.50"}"#).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(max_cost(&app, &job_id).await, "4.50");
    // A job created without a cap has none to raise.
    let (_, uncapped) = post(&app, &json!({"recipients": recipients(), "text": "hello"})).await;
    let (code, problem) = resume(
        &app,
        uncapped["job_id"].as_str().unwrap(),
        r#"{"max_cost": "1"}"#,
    )
    .await;
    assert_eq!(code, 400, "{problem}");
    assert!(problem.to_string().contains("no cap to raise"), "{problem}");
    assert_eq!(problem["errors"][0]["field"], "max_cost", "{problem}");
}

/// A file of three US numbers (one sent a two-segment text), a London mobile and a
/// duplicate: at the table's rates, US 4 segments × 0.005 and GB 1 × 0.04, 0.06 in all.
const CAPPED_CSV: &str = "phone,name\n\
+14155552100,Ana\n\
+14155552101,Bo\n\
+447400123456,Cy\n\
+14155552100,Ana\n";

fn capped_csv() -> String {
    format!("{CAPPED_CSV}+14155552102,{}\n", "x".repeat(170))
}

fn upload(app: &TestApp, csv: &str) -> String {
    let id = uuid::Uuid::new_v4();
    app.files
        .insert(&sms_core::files::keys::upload(&id), csv.as_bytes().to_vec());
    id.to_string()
}

#[tokio::test]
async fn an_upload_takes_caps_and_its_plan_keeps_them() {
    use sms_core::{
        domain::{estimate::Budget, ids::JobId, money::Money},
        store::PlanStore,
    };
    let app = app(table());
    let upload_id = upload(&app, &capped_csv());
    let (code, body) = post(
        &app,
        &json!({"upload_id": upload_id, "text": "Hi {{name}}", "max_cost": "1.50",
                "max_segments": 10}),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    let job_id = JobId::parse(body["job_id"].as_str().unwrap()).unwrap();
    let plan = app.store.get_plan(&job_id).await.unwrap().unwrap();
    assert_eq!(
        plan.budget,
        Budget {
            max_cost: Some(Money::parse("1.50").unwrap()),
            max_segments: Some(10),
        }
    );
    assert_eq!(app.tasks.bodies().len(), 1, "its plan task");
    assert!(
        app.queue.bodies().is_empty(),
        "nothing enqueued before planning"
    );

    // Checked as for a list.
    for (cap, field) in [
        (json!({"max_cost": 0}), "max_cost"),
        (json!({"max_cost": -1}), "max_cost"),
        (json!({"max_segments": 0}), "max_segments"),
    ] {
        let mut body = json!({"upload_id": upload_id, "text": "Hi {{name}}"});
        for (k, v) in cap.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (code, problem) = post(&app, &body).await;
        assert_eq!(code, 400, "{cap}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{cap}: {problem}");
    }
    assert_eq!(app.tasks.bodies().len(), 1, "no plan for a bad cap");
}

#[tokio::test]
async fn an_uploads_dry_run_estimates_its_rows_and_says_whether_they_fit() {
    let app = app(table());
    let upload_id = upload(&app, &capped_csv());
    let (code, body) = post(
        &app,
        &json!({"upload_id": upload_id, "text": "Hi {{name}}", "dry_run": true,
                "max_cost": "0.05"}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["estimate"],
        json!({
            "recipients": 4, "segments": 5, "cost": "0.06",
            "countries": [
                {"country": "GB", "recipients": 1, "segments": 1, "rate": "0.04",
                 "rate_source": "configured", "cost": "0.04"},
                {"country": "US", "recipients": 3, "segments": 4, "rate": "0.005",
                 "rate_source": "configured", "cost": "0.02"},
            ]
        })
    );
    assert_eq!(body["budget"]["max_cost"], "0.05");
    assert_eq!(body["budget"]["fits"], false);
    assert!(
        body["budget"]["detail"]
            .as_str()
            .unwrap()
            .contains("0.06, over its max_cost of 0.05"),
        "{body}"
    );
    let (_, fits) = post(
        &app,
        &json!({"upload_id": upload_id, "text": "Hi {{name}}", "dry_run": true,
                "max_segments": 5}),
    )
    .await;
    assert_eq!(fits["budget"], json!({"max_segments": 5, "fits": true}));
    assert!(app.tasks.bodies().is_empty() && app.queue.bodies().is_empty());
}

/// What job-files leaves when a file is over its cap, shown by `GET /v1/bulk/{id}` as the
/// problem a list over its cap is answered with.
#[tokio::test]
async fn a_plan_failed_over_its_cap_shows_the_over_budget_problem() {
    use sms_core::{
        domain::{
            estimate::{Rate, RateSource, Tally},
            ids::JobId,
            money::Money,
        },
        store::{PlanClaim, PlanEnd, PlanStore},
    };
    let app = app(table());
    let upload_id = upload(&app, &capped_csv());
    let (_, body) = post(
        &app,
        &json!({"upload_id": upload_id, "text": "Hi {{name}}", "max_cost": "0.05"}),
    )
    .await;
    let job_id = JobId::parse(body["job_id"].as_str().unwrap()).unwrap();
    let now = chrono::Utc::now();
    let PlanClaim::Claimed { attempt, plan } = app
        .store
        .claim_plan(&job_id, now + chrono::Duration::minutes(1), now)
        .await
        .unwrap()
    else {
        panic!("no claim");
    };
    let mut checkpoint = plan.checkpoint.clone();
    checkpoint.tallies.countries.insert(
        "US".into(),
        Tally {
            recipients: 3,
            segments: 12,
        },
    );
    checkpoint.tallies.rates.insert(
        "US".into(),
        Rate::Priced {
            per_segment: Money::parse("0.005").unwrap(),
            source: RateSource::Configured,
        },
    );
    let over = plan
        .budget
        .check(&checkpoint.tallies.estimate())
        .unwrap_err();
    let end = PlanEnd::Failed {
        reason: over.to_string(),
    };
    assert!(
        app.store
            .end_plan(&job_id, attempt, &end, &checkpoint, now)
            .await
            .unwrap()
    );

    let response =
        send_bulk::handle(sms_test_support::get(&format!("/v1/bulk/{job_id}")), &app).await;
    let progress = json_of(&response);
    assert_eq!(response.status(), 200, "{progress}");
    assert_eq!(progress["status"], "failed");
    let planning = &progress["planning"];
    assert_eq!(planning["error"], over.to_string());
    let problem = &planning["problem"];
    assert_eq!(problem["type"], "/problems/over-budget", "{progress}");
    assert_eq!(problem["detail"], over.to_string());
    assert_eq!(problem["estimate"]["cost"], "0.06");
    assert_eq!(problem["budget"], json!({"max_cost": "0.05"}));
}
