//! send-sms: `POST /v1/messages` hands one SMS to Plivo (or, with `send_at`, schedules it as
//! a job of one recipient: `scheduled.rs`); `GET /v1/messages/{message_uuid}` reports what is
//! known of it (docs/api.md); `GET /v1/openapi.json` serves the API's contract
//! (docs/openapi.yaml, `openapi.rs`).

pub mod openapi;
mod request;
mod scheduled;

use chrono::Utc;
use lambda_http::{Body, Request, Response, http::Method, http::StatusCode};
use serde::Serialize;
use sms_core::{
    Encoding, Problem, ProblemKind,
    config::PublicBaseUrl,
    domain::ids::MessageUuid,
    http::api::{self, IdempotencyKey, Route},
    http::idempotency::{self, Answer, Check, KeyedRequest, OnStale},
    pace::Pace,
    plivo::{FailureClass, OutboundMessage, PlivoClient, PlivoError, SendFailure},
    queue::BatchQueue,
    secrets::SecretProvider,
    store::{
        AcceptedMessage, IdempotencyStore, JobStore, MessageStatus, MessageStore, SuppressionList,
    },
};
use tracing::{error, info, warn};

pub use request::{SendMessage, SendMessageBody};

/// Largest body accepted: a 1,600-character text with JSON escaping fits many times over.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Everything a request needs, built once per cold start.
pub struct App<S, P, R, T> {
    pub store: S,
    pub secrets: P,
    pub plivo: PlivoClient,
    /// The account's request budget, shared with every sender (`sms_core::pace`).
    pub pace: R,
    pub public_base_url: PublicBaseUrl,
    /// The job-files queue: where a scheduled message's start is arranged.
    pub tasks: T,
}

/// What the store must offer send-sms.
pub trait SendStore: MessageStore + IdempotencyStore + SuppressionList + JobStore {}
impl<T: MessageStore + IdempotencyStore + SuppressionList + JobStore> SendStore for T {}

/// The 202 answer of `POST /v1/messages`.
#[derive(Debug, Serialize)]
pub struct Queued<'a> {
    pub message_uuid: &'a str,
    pub to: &'a str,
    pub status: MessageStatus,
    pub encoding: Encoding,
    pub segments: usize,
}

/// Serves one request. Every outcome, failures included, is an HTTP answer: an `Err` from a
/// Lambda HTTP handler would reach the caller as API Gateway's bare 502.
pub async fn handle<S, P, R, T>(req: Request, app: &App<S, P, R, T>) -> Response<Body>
where
    S: SendStore,
    P: SecretProvider,
    R: Pace,
    T: BatchQueue,
{
    api::serve(&req, "send-sms", || route(&req, app)).await
}

async fn route<S, P, R, T>(req: &Request, app: &App<S, P, R, T>) -> Result<Response<Body>, Problem>
where
    S: SendStore,
    P: SecretProvider,
    R: Pace,
    T: BatchQueue,
{
    let segments = api::path_segments(req);
    // The contract is public: it is answered before any key is asked for.
    if openapi::is_route(&segments) {
        return Ok(openapi::answer(req.method()));
    }
    let route = api::match_route(&segments, "messages");
    if route == Route::Unknown {
        return Ok(api::not_found(req));
    }
    let secret = api::service_secret(&app.secrets).await?;
    api::authenticate(req, &secret.api_keys)?;
    match (route, req.method()) {
        (Route::Collection, &Method::POST) => send(req, app, &secret.default_src).await,
        (Route::Item(id), &Method::GET) => status(id, app).await,
        (Route::Collection, _) => Ok(api::method_not_allowed("POST")),
        (Route::Item(_), _) => Ok(api::method_not_allowed("GET")),
        (Route::Unknown, _) => Ok(api::not_found(req)),
    }
}

async fn send<S, P, R, T>(
    req: &Request,
    app: &App<S, P, R, T>,
    default_src: &sms_core::Sender,
) -> Result<Response<Body>, Problem>
where
    S: SendStore,
    P: SecretProvider,
    R: Pace,
    T: BatchQueue,
{
    let key = IdempotencyKey::from_request(req)?;
    let body: SendMessageBody = api::read_json(req, BODY_LIMIT)?;
    let message = SendMessage::parse(body, default_src)?;
    let job_id = message
        .start
        .map(|_| scheduled::job_id(key.as_ref(), &message));
    let claim = match idempotency::check(
        &app.store,
        KeyedRequest {
            scope: "messages",
            key: key.as_ref(),
            request: &message,
            on_stale: OnStale::Refuse,
        },
        Utc::now(),
    )
    .await?
    {
        Check::Respond(replayed) => return Ok(replayed),
        Check::Proceed(claim) => claim,
    };

    // A message for later is a job of one recipient, sent at its time.
    if let (Some(start), Some(job_id)) = (message.start, job_id) {
        let answer = scheduled::schedule(&message, start, &job_id, app).await;
        return Ok(answer.settle(claim, Utc::now()).await);
    }
    // The key is released only when nothing can have reached Plivo, so a retry is safe.
    Ok(deliver(&message, app).await.settle(claim, Utc::now()).await)
}

async fn deliver<S, P, R, T>(message: &SendMessage, app: &App<S, P, R, T>) -> Answer
where
    S: MessageStore + SuppressionList,
    P: SecretProvider,
    R: Pace,
{
    match app.store.is_suppressed(&message.to).await {
        Ok(false) => {}
        Ok(true) => {
            return Answer::released(Problem::new(
                ProblemKind::Suppressed,
                format!(
                    "{} has opted out of messages from this service; nothing was sent",
                    message.to
                ),
            ));
        }
        Err(e) => {
            return Answer::released(Problem::internal(
                "the suppression list could not be read; nothing was sent",
                &e,
            ));
        }
    }

    let callback_url = app.public_base_url.status_callback_url();
    let outbound = OutboundMessage {
        expires_at: message.deadline,
        src: &message.from,
        dst: std::slice::from_ref(&message.to),
        text: &message.text,
        callback_url: &callback_url,
    };
    let accepted = match app
        .plivo
        .send_refreshing_credentials(&app.pace, &app.secrets, &outbound)
        .await
    {
        Ok(accepted) => accepted,
        Err(failure) => return plivo_failure(failure),
    };
    let Some(uuid) = accepted.message_uuid.first() else {
        warn!(api_id = %accepted.api_id, "Plivo accepted the request but reported the destination invalid");
        return Answer::finished(
            Problem::new(
                ProblemKind::PlivoRejected,
                format!("Plivo reported {} as an invalid destination", message.to),
            )
            .into_response(),
        );
    };
    info!(message_uuid = %uuid, api_id = %accepted.api_id, segments = message.text.segments(), "Plivo accepted the message");

    let record = AcceptedMessage {
        message_uuid: uuid.clone(),
        to: Some(message.to.clone()),
        from: message.from.clone(),
        job_id: None,
        reference: message.reference.clone(),
        encoding: message.text.encoding(),
        segments: message.text.segments() as u32,
        provider: sms_core::domain::provider::Provider::Plivo,
    };
    if let Err(e) = app.store.record_accepted(&[record], Utc::now()).await {
        // The SMS is on its way; failing the request now would invite a duplicate send.
        // The delivery report will create the item if this write never lands.
        error!(error = %e, message_uuid = %uuid, "the message item could not be written");
    }
    Answer::finished(api::json_response(
        StatusCode::ACCEPTED,
        &Queued {
            message_uuid: uuid,
            to: message.to.as_str(),
            status: MessageStatus::Queued,
            encoding: message.text.encoding(),
            segments: message.text.segments(),
        },
    ))
}

fn plivo_failure(failure: SendFailure) -> Answer {
    let plivo = match failure {
        // Plivo answered 401 and the secret could not be read again: nothing was sent, and a
        // retry once the secret is readable may succeed, so the key is freed.
        SendFailure::Secret(e) => {
            return Answer::released(api::secret_unreadable(e));
        }
        // The budget could not be read: nothing was sent, and waiting for it is the retry.
        SendFailure::Pace(e) => {
            return Answer::released(Problem::internal(
                "the request budget could not be read; nothing was sent, retry",
                &e,
            ));
        }
        SendFailure::Plivo(e) => e,
    };
    // Its validity ran out while earlier attempts were retried: nothing was sent, and the
    // key is freed (a retry gets a validity of its own).
    if matches!(plivo, PlivoError::Expired) {
        return Answer::released(Problem::new(
            ProblemKind::ValidityTooShort,
            format!("{}; nothing was sent", plivo.public_detail()),
        ));
    }
    warn!(error = %plivo, class = ?plivo.class(), "Plivo did not take the message");
    let detail = plivo.public_detail();
    match plivo.class() {
        FailureClass::Retryable => Answer::released(Problem::new(
            ProblemKind::PlivoUnavailable,
            format!("{detail}; nothing was sent, retry later"),
        )),
        // 401 even with the re-read secret: nothing was sent, and the answer must not be kept
        // for a day, since fixing the credentials makes the same request succeed.
        FailureClass::Unauthorized => Answer::released(Problem::new(
            ProblemKind::PlivoRejected,
            format!("{detail}; nothing was sent"),
        )),
        FailureClass::Permanent => {
            Answer::finished(Problem::new(ProblemKind::PlivoRejected, detail).into_response())
        }
        FailureClass::Unknown => Answer::finished(
            Problem::new(
                ProblemKind::OutcomeUnknown,
                "Plivo did not answer in time; the message may have been sent, so it was not sent again",
            )
            .into_response(),
        ),
    }
}

/// `GET /v1/messages/{message_uuid}`.
async fn status<S, P, R, T>(id: &str, app: &App<S, P, R, T>) -> Result<Response<Body>, Problem>
where
    S: MessageStore,
{
    let id = MessageUuid::parse(id).map_err(|_| {
        Problem::field(
            "message_uuid",
            "must be a UUID as returned by POST /v1/messages",
        )
    })?;
    match app.store.get_message(id.as_str()).await {
        Ok(Some(record)) => Ok(api::json_response(StatusCode::OK, &record)),
        Ok(None) => Err(Problem::new(
            ProblemKind::NotFound,
            format!("no message {id}"),
        )),
        Err(e) => Err(Problem::internal(
            "the message could not be read; retry",
            &e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sms_core::http::idempotency::KeyFate;

    #[test]
    fn a_validity_that_ran_out_before_any_attempt_is_a_422_that_frees_the_key() {
        let answer = plivo_failure(SendFailure::Plivo(PlivoError::Expired));

        assert_eq!(answer.response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(answer.key, KeyFate::Release);
        let body = String::from_utf8_lossy(answer.response.body()).into_owned();
        assert!(body.contains("/problems/validity-too-short"), "{body}");
        assert!(body.contains("nothing was sent"), "{body}");
    }
}
