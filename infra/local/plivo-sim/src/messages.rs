//! Plivo's Message list and get APIs (its Message Detail Records):
//! `GET /v1/Account/{auth_id}/Message/` and `GET /v1/Account/{auth_id}/Message/{uuid}/`.
//!
//! Every message the simulator accepted is a record: its state follows the report schedule of
//! `reports.rs` (`Fate::status_after`), whether reports are sent or not, and it appears
//! `listing_delay_ms` after acceptance. Inbound messages are not kept, so an inbound listing
//! is empty.
//!
//! Order of judgement, as for a send: latency, authentication, the account's enforced rate
//! limit (`rate_limit`), then for a list the List API's own limit (`list_rate_limit`), then
//! the injected 5xx (`list_error_*`), then the query.

use std::time::Duration;

use axum::{
    Json,
    extract::{
        Path, Query, State,
        rejection::{PathRejection, QueryRejection},
    },
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};

use crate::{
    auth,
    reports::{self, MCC, MNC},
    send::plivo_error,
    state::{SimState, StoredMessage},
};

/// Plivo's largest (and default) page.
pub const MAX_LIMIT: usize = 20;
/// Without a `message_time` filter Plivo lists the last 24 hours.
const DEFAULT_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// The states Plivo's filter takes (its SDKs' lists and its docs); the simulator's messages
/// only ever reach queued, sent, delivered, undelivered and failed.
const STATES: [&str; 8] = [
    "queued",
    "sent",
    "failed",
    "delivered",
    "undelivered",
    "rejected",
    "read",
    "received",
];

const MESSAGE_TYPES: [&str; 3] = ["sms", "mms", "whatsapp"];

/// `YYYY-MM-DD HH:MM:SS.uuuuuu+00:00`: Plivo's `message_time`, in UTC.
pub fn message_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string()
}

/// A filter time: `YYYY-MM-DD HH:MM[:ss[.uuuuuu]]`, UTC.
pub fn parse_filter_time(raw: &str) -> Option<NaiveDateTime> {
    let raw = raw.trim();
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
    // More than microseconds is not Plivo's form.
    .filter(|t| t.and_utc().timestamp_subsec_nanos() % 1_000 == 0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Cmp {
    fn holds(self, t: NaiveDateTime, bound: NaiveDateTime) -> bool {
        match self {
            Self::Eq => t == bound,
            Self::Gt => t > bound,
            Self::Gte => t >= bound,
            Self::Lt => t < bound,
            Self::Lte => t <= bound,
        }
    }
}

/// A list request's query, checked.
#[derive(Debug, Default)]
struct Filters {
    inbound: bool,
    state: Option<String>,
    times: Vec<(Cmp, NaiveDateTime)>,
    subaccount: Option<String>,
    error_code: Option<String>,
    powerpack_id: Option<String>,
    message_type: Option<String>,
    /// Digits, without `+`.
    from_number: Option<String>,
    to_number: Option<String>,
    limit: Option<usize>,
    offset: usize,
    /// The query's filters as sent (not `limit` or `offset`), for `meta.next`/`previous`.
    echoed: Vec<(String, String)>,
}

fn bad(error: String) -> Response {
    plivo_error(StatusCode::BAD_REQUEST, &error)
}

impl Filters {
    fn parse(pairs: Vec<(String, String)>) -> Result<Self, String> {
        let mut f = Self::default();
        for (key, value) in pairs {
            let v = value.trim();
            // Blank is "not given", as an SDK that sends none would mean.
            if v.is_empty() {
                continue;
            }
            let cmp = match key.as_str() {
                "message_time" => Some(Cmp::Eq),
                "message_time__gt" => Some(Cmp::Gt),
                "message_time__gte" => Some(Cmp::Gte),
                "message_time__lt" => Some(Cmp::Lt),
                "message_time__lte" => Some(Cmp::Lte),
                _ => None,
            };
            if let Some(cmp) = cmp {
                let t = parse_filter_time(v).ok_or_else(|| {
                    format!("{key} must be a UTC time YYYY-MM-DD HH:MM[:ss[.uuuuuu]], got {v:?}")
                })?;
                f.times.push((cmp, t));
                f.echoed.push((key, v.to_owned()));
                continue;
            }
            match key.as_str() {
                "limit" => {
                    f.limit = Some(
                        v.parse::<usize>()
                            .ok()
                            .filter(|n| (1..=MAX_LIMIT).contains(n))
                            .ok_or_else(|| {
                                format!("limit must be a whole number from 1 to {MAX_LIMIT}")
                            })?,
                    );
                    continue;
                }
                "offset" => {
                    f.offset = v
                        .parse::<usize>()
                        .map_err(|_| "offset must be a whole number, 0 or more".to_owned())?;
                    continue;
                }
                "message_direction" => match v {
                    "inbound" => f.inbound = true,
                    "outbound" => f.inbound = false,
                    _ => {
                        return Err(format!(
                            "message_direction must be inbound or outbound, got {v:?}"
                        ));
                    }
                },
                "message_state" => {
                    if !STATES.contains(&v) {
                        return Err(format!(
                            "message_state must be one of {}, got {v:?}",
                            STATES.join(", ")
                        ));
                    }
                    f.state = Some(v.to_owned());
                }
                "message_type" => {
                    if !MESSAGE_TYPES.contains(&v) {
                        return Err(format!(
                            "message_type must be sms, mms or whatsapp, got {v:?}"
                        ));
                    }
                    f.message_type = Some(v.to_owned());
                }
                "subaccount" => f.subaccount = Some(v.to_owned()),
                "error_code" => f.error_code = Some(v.to_owned()),
                "powerpack_id" => f.powerpack_id = Some(v.to_owned()),
                "from_number" => f.from_number = Some(v.trim_start_matches('+').to_owned()),
                "to_number" => f.to_number = Some(v.trim_start_matches('+').to_owned()),
                // Filters the simulator has nothing to match (10DLC, WhatsApp conversations,
                // destination country...) are let through as Plivo lets unknown ones through.
                _ => {}
            }
            f.echoed.push((key, v.to_owned()));
        }
        Ok(f)
    }

    /// Whether `m`, in `status` now, is listed.
    fn matches(&self, m: &StoredMessage, status: &str, now: DateTime<Utc>) -> bool {
        if self.inbound || self.subaccount.is_some() {
            // No inbound messages are kept, and every message is the main account's.
            return false;
        }
        let t = m.accepted_at.naive_utc();
        let in_window = if self.times.is_empty() {
            m.accepted_at > now - DEFAULT_WINDOW
        } else {
            self.times.iter().all(|&(cmp, bound)| cmp.holds(t, bound))
        };
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        in_window
            && eq(&self.state, Some(status))
            && eq(&self.error_code, error_code(status))
            && eq(&self.powerpack_id, m.powerpack_uuid.as_deref())
            && eq(&self.message_type, Some("sms"))
            && eq(&self.from_number, Some(&m.from))
            && eq(&self.to_number, Some(&m.to))
    }
}

/// Plivo's `error_code` of a message in `status`: `000` once delivered, the failure's code
/// once failed or undelivered, null before.
fn error_code(status: &str) -> Option<&'static str> {
    match status {
        "delivered" => Some("000"),
        s => Some(reports::error_code(s)).filter(|c| !c.is_empty()),
    }
}

fn elapsed(m: &StoredMessage, now: DateTime<Utc>) -> Duration {
    (now - m.accepted_at).to_std().unwrap_or_default()
}

fn status(m: &StoredMessage, now: DateTime<Utc>) -> &'static str {
    m.fate.status_after(elapsed(m, now), m.step)
}

fn resource_uri(auth_id: &str, uuid: &str) -> String {
    format!("/v1/Account/{auth_id}/Message/{uuid}/")
}

/// One Message Detail Record, with Plivo's fields (its "Retrieve a message" example and the
/// `Message` types of its SDKs).
fn object(m: &StoredMessage, auth_id: &str, now: DateTime<Utc>) -> Map<String, Value> {
    let status = status(m, now);
    let rate: f64 = m.rate.parse().unwrap_or(0.0);
    let amount = if m.fate.charged() {
        rate * m.units as f64
    } else {
        0.0
    };
    let country = m.country.clone().unwrap_or_default();
    let mut o = match json!({
        "carrier_fees": "0.00000",
        "carrier_fees_rate": "0.00000",
        "destination_country_iso2": country,
        "destination_network": "",
        "error_code": error_code(status),
        "from_number": m.from,
        // The simulated account is a US one.
        "is_domestic": country == "US",
        "mcc": MCC,
        "mnc": MNC,
        "message_direction": "outbound",
        "message_state": status,
        "message_time": message_time(m.accepted_at),
        "message_type": "sms",
        "message_uuid": m.message_uuid,
        "resource_uri": resource_uri(auth_id, &m.message_uuid),
        "to_number": m.to,
        "total_amount": format!("{amount:.5}"),
        "total_rate": format!("{rate:.5}"),
        "units": m.units,
    }) {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    if let Some(pack) = &m.powerpack_uuid {
        o.insert("powerpack_id".into(), Value::String(pack.clone()));
    }
    o
}

fn api_id() -> Value {
    Value::String(uuid::Uuid::new_v4().to_string())
}

/// Latency, authentication, the account's rate limit: what every Message API request meets.
/// `Err` is the answer to give instead.
async fn admit(
    state: &SimState,
    path_auth_id: Option<&str>,
    headers: &HeaderMap,
) -> Result<(), Response> {
    let epoch = state.epoch();
    let settings = state.settings();
    if settings.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(settings.latency_ms)).await;
    }
    auth::check(headers, path_auth_id, state.credentials())
        .map_err(|failure| plivo_error(StatusCode::UNAUTHORIZED, failure.message()))?;
    state.admit(epoch).map_err(|limit| {
        plivo_error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("too many requests: the limit is {limit}"),
        )
    })
}

/// The injected 5xx of the list and get APIs, if this request gets one.
fn injected_error(state: &SimState) -> Option<Response> {
    let settings = state.settings();
    settings
        .list_error()
        .fires(state.next_list_fault_tick())
        .then(|| {
            let status = StatusCode::from_u16(settings.server_error_status)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            plivo_error(status, "internal server error, please retry")
        })
}

pub async fn list_messages(
    State(state): State<SimState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let auth_id = path.ok().map(|Path(id)| id);
    if let Err(answer) = admit(&state, auth_id.as_deref(), &headers).await {
        return answer;
    }
    let auth_id = auth_id.unwrap_or_default();
    if let Err(limit) = state.admit_list(state.epoch()) {
        return plivo_error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("too many requests: the List Message API allows {limit}"),
        );
    }
    if let Some(answer) = injected_error(&state) {
        return answer;
    }
    let filters = match query {
        Ok(Query(pairs)) => match Filters::parse(pairs) {
            Ok(f) => f,
            Err(e) => return bad(e),
        },
        Err(e) => return bad(format!("the query could not be read: {}", e.body_text())),
    };

    let now = Utc::now();
    let limit = filters.limit.unwrap_or(MAX_LIMIT);
    let (total, page) = state.with_messages(|all| {
        let mut matching: Vec<(usize, &StoredMessage)> = all
            .iter()
            .enumerate()
            .filter(|(_, m)| m.visible_at <= now && filters.matches(m, status(m, now), now))
            .collect();
        // Newest first; among messages accepted together, the later-stored first.
        matching.sort_by(|(i, a), (j, b)| b.accepted_at.cmp(&a.accepted_at).then(j.cmp(i)));
        let page: Vec<Value> = matching
            .iter()
            .skip(filters.offset)
            .take(limit)
            .map(|(_, m)| Value::Object(object(m, &auth_id, now)))
            .collect();
        (matching.len(), page)
    });

    let page_uri = |offset: usize| {
        let mut url = reqwest::Url::parse("http://plivo.invalid/").ok()?;
        url.set_path(&format!("/v1/Account/{auth_id}/Message/"));
        url.query_pairs_mut()
            .extend_pairs(&filters.echoed)
            .append_pair("limit", &limit.to_string())
            .append_pair("offset", &offset.to_string());
        Some(format!(
            "{}?{}",
            url.path(),
            url.query().unwrap_or_default()
        ))
    };
    let offset = filters.offset;
    let next = (offset.saturating_add(limit) < total)
        .then(|| page_uri(offset + limit))
        .flatten();
    let previous = (offset > 0)
        .then(|| page_uri(offset.saturating_sub(limit)))
        .flatten();
    let body = json!({
        "api_id": api_id(),
        "meta": {
            "limit": limit,
            "next": next,
            "offset": offset,
            "previous": previous,
            "total_count": total,
        },
        "objects": page,
    });
    (StatusCode::OK, Json(body)).into_response()
}

pub async fn get_message(
    State(state): State<SimState>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let (auth_id, uuid) = match path {
        Ok(Path(p)) => (Some(p.0), p.1),
        Err(_) => (None, String::new()),
    };
    if let Err(answer) = admit(&state, auth_id.as_deref(), &headers).await {
        return answer;
    }
    if let Some(answer) = injected_error(&state) {
        return answer;
    }
    let now = Utc::now();
    let Some(m) = state.message(&uuid).filter(|m| m.visible_at <= now) else {
        return plivo_error(StatusCode::NOT_FOUND, "not found");
    };
    let mut body = Map::new();
    body.insert("api_id".into(), api_id());
    body.extend(object(&m, auth_id.as_deref().unwrap_or_default(), now));
    (StatusCode::OK, Json(Value::Object(body))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_times_take_plivos_three_precisions_only() {
        let t = |s: &str| parse_filter_time(s).map(|t| t.to_string());
        assert_eq!(t("2026-03-21 11:47").unwrap(), "2026-03-21 11:47:00");
        assert_eq!(t("2026-03-21 11:47:30").unwrap(), "2026-03-21 11:47:30");
        assert_eq!(
            t("2026-03-21 11:47:30.982811").unwrap(),
            "2026-03-21 11:47:30.982811"
        );
        for bad in [
            "2026-03-21",
            "2026-03-21T11:47:30",
            "21/03/2026 11:47",
            "2026-03-21 11:47:30.123456789",
            "yesterday",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn message_time_is_printed_with_microseconds_in_utc() {
        let at = DateTime::parse_from_rfc3339("2026-03-21T11:47:30.982811Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(message_time(at), "2026-03-21 11:47:30.982811+00:00");
        let parsed = parse_filter_time("2026-03-21 11:47:30.982811").unwrap();
        assert_eq!(parsed, at.naive_utc());
    }

    #[test]
    fn bad_filters_are_refused_and_good_ones_kept() {
        let parse = |pairs: &[(&str, &str)]| {
            Filters::parse(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        for pairs in [
            [("limit", "21")],
            [("limit", "0")],
            [("limit", "ten")],
            [("offset", "-1")],
            [("message_state", "lost")],
            [("message_direction", "sideways")],
            [("message_type", "fax")],
            [("message_time__gte", "2026-13-01 00:00")],
        ] {
            assert!(parse(&pairs).is_err(), "{pairs:?}");
        }
        let f = parse(&[
            ("limit", "5"),
            ("message_state", "delivered"),
            ("to_number", "+14155550123"),
            ("extra", "kept"),
        ])
        .unwrap();
        assert_eq!((f.limit, f.state.as_deref()), (Some(5), Some("delivered")));
        assert_eq!(f.to_number.as_deref(), Some("14155550123"));
        assert_eq!(f.echoed.len(), 3);
    }
}
