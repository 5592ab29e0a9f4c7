//! Plivo's Pricing API, `GET /v1/Account/{auth_id}/Pricing/?country_iso=XX`: the country's
//! outbound SMS rate from the `prices` setting, in Plivo's answer shape. A country the
//! setting does not list gets a 404, as a country Plivo does not serve would.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use crate::{auth, send::plivo_error, state::SimState};

#[derive(Deserialize)]
pub struct PricingQuery {
    country_iso: Option<String>,
}

pub async fn get_pricing(
    State(state): State<SimState>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    query: Result<Query<PricingQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let path_auth_id = path.as_ref().ok().map(|Path(id)| id.as_str());
    if let Err(failure) = auth::check(&headers, path_auth_id, state.credentials()) {
        return plivo_error(StatusCode::UNAUTHORIZED, failure.message());
    }
    let country = query
        .ok()
        .and_then(|Query(q)| q.country_iso)
        .unwrap_or_default();
    if country.len() != 2 {
        return plivo_error(StatusCode::BAD_REQUEST, "country_iso should be of length 2");
    }
    let settings = state.settings();
    let Some(rate) = settings.prices.get(&country) else {
        return plivo_error(StatusCode::NOT_FOUND, "pricing not found for this country");
    };
    let body = json!({
        "api_id": uuid::Uuid::new_v4().to_string(),
        "country": country,
        "country_code": 0,
        "country_iso": country,
        "message": {
            "inbound": {"rate": "0.00000"},
            "outbound": {"rate": rate},
            "outbound_networks_list": [{"group_name": "all networks", "rate": rate}],
        },
        "phone_numbers": {"local": {"rate": "0.80000"}, "tollfree": {"rate": "1.00000"}},
    });
    (StatusCode::OK, Json(body)).into_response()
}
