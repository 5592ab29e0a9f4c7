//! `POST /v1/Account/{auth_id}/Message/`: Plivo's Send Message API.
//!
//! Order of judgement: latency first (it stands for the network), then authentication, then
//! the enforced rate limit, then the injected faults (a rate limiter refuses without reading
//! the body), then the body.
//! Every request is recorded with its outcome, whatever that is.

use std::time::Duration;

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header::WWW_AUTHENTICATE},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use tracing::info;
use uuid::Uuid;

use crate::{
    auth,
    config::Settings,
    faults::{self, Decision},
    order::out_of_order,
    reports::{Batch, Delivery, Fate},
    request::{self, ParsedBody, SendFields, Sender, Valid},
    state::{Outcome, RecipientRecord, RequestRecord, SimState, StoredMessage},
};

#[derive(Serialize)]
struct Queued {
    api_id: String,
    message: &'static str,
    message_uuid: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    invalid_number: Vec<String>,
}

#[derive(Serialize)]
struct PlivoError<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    api_id: Option<String>,
    error: &'a str,
}

fn api_id() -> String {
    Uuid::new_v4().to_string()
}

/// Plivo's error shape. A 401 carries no `api_id`, as Plivo's may not.
pub fn plivo_error(status: StatusCode, error: &str) -> Response {
    let api_id = (status != StatusCode::UNAUTHORIZED).then(api_id);
    let mut response = (status, Json(PlivoError { api_id, error })).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Plivo\""),
        );
    }
    response
}

/// One request on its way through: what is recorded about it whatever the outcome.
struct Received {
    seq: u64,
    epoch: u64,
    received_at: String,
    fields: SendFields,
}

impl Received {
    fn finish(
        &self,
        auth_ok: bool,
        outcome: Outcome,
        status: StatusCode,
        error: Option<&str>,
    ) -> RequestRecord {
        RequestRecord {
            seq: self.seq,
            received_at: self.received_at.clone(),
            auth_ok,
            src: self.fields.src.clone(),
            powerpack_uuid: self.fields.powerpack_uuid.clone(),
            dst: self.fields.destinations(),
            text: self.fields.text.clone(),
            url: self.fields.url.clone(),
            method: self.fields.method.clone(),
            message_expiry: self.fields.message_expiry.clone(),
            outcome,
            status: status.as_u16(),
            slow: false,
            error: error.map(str::to_owned),
            message_uuids: Vec::new(),
            invalid_number: Vec::new(),
            recipients: Vec::new(),
        }
    }

    /// Records and logs a refusal, and answers it.
    fn refuse(
        &self,
        state: &SimState,
        auth_ok: bool,
        outcome: Outcome,
        status: StatusCode,
        error: &str,
    ) -> Response {
        let record = self.finish(auth_ok, outcome, status, Some(error));
        log_line(&record);
        state.record(self.epoch, record, Vec::new(), 0);
        plivo_error(status, error)
    }
}

fn log_line(r: &RequestRecord) {
    // One line per request. Never the Authorization header: it carries the token.
    info!(
        seq = r.seq,
        dst_count = r.dst.len(),
        outcome = r.outcome.as_str(),
        status = r.status,
        accepted = r.recipients.len(),
        invalid = r.invalid_number.len(),
        slow = r.slow,
        "send request"
    );
}

pub async fn send_message(
    State(state): State<SimState>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (seq, epoch) = state.next_seq();
    let settings = state.settings();
    let received_at = chrono::Utc::now().to_rfc3339();
    if settings.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(settings.latency_ms)).await;
    }
    let parsed = match &body {
        Ok(bytes) => request::parse_body(bytes),
        Err(rejection) => ParsedBody {
            fields: SendFields::default(),
            problem: Some(format!(
                "the request body could not be read: {}",
                rejection.body_text()
            )),
        },
    };
    let received = Received {
        seq,
        epoch,
        received_at,
        fields: parsed.fields,
    };

    let path_auth_id = path.as_ref().ok().map(|Path(id)| id.as_str());
    if let Err(failure) = auth::check(&headers, path_auth_id, state.credentials()) {
        return received.refuse(
            &state,
            false,
            Outcome::Unauthorized,
            StatusCode::UNAUTHORIZED,
            failure.message(),
        );
    }

    // Every authenticated request counts against the limit, whatever its body, as at Plivo;
    // a refused one is not counted, and it does not reach the injected faults.
    if let Err(limit) = state.admit(epoch) {
        return received.refuse(
            &state,
            true,
            Outcome::RateLimited,
            StatusCode::TOO_MANY_REQUESTS,
            &format!("too many requests: the limit is {limit}"),
        );
    }

    let fault = faults::decide(&settings, state.next_fault_tick());
    match fault {
        Decision::RateLimited => {
            return received.refuse(
                &state,
                true,
                Outcome::RateLimited,
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests",
            );
        }
        Decision::ServerError(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return received.refuse(
                &state,
                true,
                Outcome::ServerError,
                status,
                "internal server error, please retry",
            );
        }
        Decision::Lost(delay) => {
            // Taken by nothing: the client gives up first, and Plivo has no trace of it.
            // Recorded before the wait, which the client's giving up cuts short.
            let answer = received.refuse(
                &state,
                true,
                Outcome::Lost,
                StatusCode::SERVICE_UNAVAILABLE,
                "the request was lost before it was taken",
            );
            tokio::time::sleep(delay).await;
            return answer;
        }
        Decision::Slow(_) | Decision::None => {}
    }

    if let Some(problem) = parsed.problem {
        let status = match body {
            Err(rejection) => rejection.status(),
            Ok(_) => StatusCode::BAD_REQUEST,
        };
        return received.refuse(&state, true, Outcome::BadRequest, status, &problem);
    }
    let valid = match request::validate(&received.fields, &settings.invalid_prefixes) {
        Ok(v) => v,
        Err(problem) => {
            return received.refuse(
                &state,
                true,
                Outcome::BadRequest,
                StatusCode::BAD_REQUEST,
                &problem,
            );
        }
    };

    let slow = match fault {
        Decision::Slow(d) => Some(d),
        _ => None,
    };
    let answer = accept(&state, &received, valid, &settings, slow.is_some());
    if let Some(delay) = slow {
        // The message is already accepted and its reports are on their way; only the
        // answer is late, which is what makes a client's timeout an unknown outcome.
        tokio::time::sleep(delay).await;
    }
    answer
}

fn accept(
    state: &SimState,
    received: &Received,
    valid: Valid,
    settings: &Settings,
    slow: bool,
) -> Response {
    let Valid {
        src,
        recipients,
        invalid,
        units,
        callback,
    } = valid;
    let records: Vec<RecipientRecord> = recipients
        .iter()
        .map(|to| RecipientRecord {
            to: to.as_str().to_owned(),
            message_uuid: Uuid::new_v4().to_string(),
        })
        .collect();
    let message_uuids = out_of_order(records.iter().map(|r| r.message_uuid.clone()).collect());

    let batch = callback.filter(|_| settings.reports).map(|callback| Batch {
        callback,
        deliveries: recipients
            .iter()
            .zip(&records)
            .map(|(to, r)| Delivery {
                message_uuid: r.message_uuid.clone(),
                to: to.clone(),
                from: src.report_form().to_owned(),
                powerpack_uuid: match &src {
                    Sender::Powerpack(uuid) => Some(uuid.clone()),
                    _ => None,
                },
                units,
                rate: settings.charge_for(to),
                fate: Fate::of(to, settings),
            })
            .collect(),
        settings: settings.clone(),
    });
    let reports = batch.as_ref().map_or(0, Batch::report_count);
    // What the Message list and get APIs will answer, whether reports go out or not.
    // Plivo keeps microseconds; so the printed `message_time` is exactly the stored one.
    let accepted_at = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
    // A delay too large to add is "never".
    let visible_at = chrono::Duration::from_std(Duration::from_millis(settings.listing_delay_ms))
        .ok()
        .and_then(|d| accepted_at.checked_add_signed(d))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
    let stored = recipients
        .iter()
        .zip(&records)
        .map(|(to, r)| StoredMessage {
            message_uuid: r.message_uuid.clone(),
            to: to.digits().to_owned(),
            from: src.report_form().to_owned(),
            powerpack_uuid: match &src {
                Sender::Powerpack(uuid) => Some(uuid.clone()),
                _ => None,
            },
            country: sms_core::domain::numbering::classify(to)
                .ok()
                .map(|n| n.region.to_owned()),
            units,
            rate: settings.charge_for(to),
            fate: Fate::of(to, settings),
            accepted_at,
            step: Duration::from_millis(settings.report_delay_ms),
            visible_at,
        })
        .collect();

    let mut record = received.finish(true, Outcome::Accepted, StatusCode::ACCEPTED, None);
    record.slow = slow;
    record.message_uuids = message_uuids.clone();
    record.invalid_number = invalid.clone();
    record.recipients = records;
    log_line(&record);
    // A reset while this request waited (latency) means nobody wants its reports any more.
    if state.record(received.epoch, record, stored, reports)
        && let Some(batch) = batch
    {
        batch.spawn(state, received.epoch);
    }

    let body = Queued {
        api_id: api_id(),
        message: "message(s) queued",
        message_uuid: message_uuids,
        invalid_number: invalid,
    };
    (StatusCode::ACCEPTED, Json(body)).into_response()
}
