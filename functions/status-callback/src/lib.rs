//! status-callback: `POST /v1/callbacks/plivo/status` records Plivo's delivery reports;
//! `POST /v1/callbacks/plivo/inbound` honours STOP and START replies. Every request must carry
//! a valid Plivo signature (docs/plivo.md, "Webhook signatures") or is refused with 403 and
//! changes nothing.
//!
//! Only POST is served: the service gives Plivo its callback URLs with `method=POST`, and the
//! inbound URL is set up as POST. A GET route would only be one more unauthenticated way in.
//!
//! Before anything is parsed or read, a request must be small (413) and carry signature
//! headers of Plivo's form (403); a bad signature may re-read the secret (a rotated token) at
//! most once per interval. When any V3 header is present V3 alone decides; a V2-only request
//! needs `PLIVO_ACCEPT_V2_SIGNATURES` and a nonce never seen before.
//!
//! Answers: 200 when the report is recorded (or was a duplicate or stale: Plivo must not
//! retry those), 400 for a signed report without `MessageUUID` or `Status`, 500 when the
//! table could not be written, so Plivo retries and no report is lost.

use std::sync::Arc;

use chrono::Utc;
use lambda_http::{Body, Request, RequestExt, Response, http::Method, request::RequestContext};
use sms_core::{
    Problem, ProblemKind,
    config::{CallbackSettings, PublicBaseUrl},
    http::api,
    plivo::{
        CallbackSignatures, SignatureFamily, SignedRequest, UncheckableSignature,
        callback::{self, OPTED_OUT_ERROR, OptChange},
    },
    secrets::SecretProvider,
    store::{
        BatchRef, ChangeOutcome, MessageStatus, ReportEffect, ReportStore, SeenOnce, Sighting,
        SuppressionChange, SuppressionList, SuppressionSource,
    },
};
use tracing::{info, warn};

pub struct App<S, P> {
    pub store: S,
    pub secrets: P,
    pub public_base_url: PublicBaseUrl,
    pub settings: CallbackSettings,
}

/// The largest body accepted. Delivery reports are under 2 KB; an inbound message is up to
/// 1,600 characters of `Text`, which form-encoded is at most 1,600 × 4 UTF-8 bytes × 3
/// (`%XX` each) = 19,200 bytes, plus about 1 KB of other fields. 32 KiB holds that with room.
pub const MAX_BODY_BYTES: usize = 32 * 1024;

/// The most form fields accepted: Plivo sends about 20.
pub const MAX_FIELDS: usize = 64;

/// The longest query string accepted: the service's own callback URLs carry `job_id` only.
pub const MAX_QUERY_BYTES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Callback {
    Status,
    Inbound,
}

impl Callback {
    fn path(self) -> &'static str {
        match self {
            Self::Status => PublicBaseUrl::STATUS_CALLBACK_PATH,
            Self::Inbound => PublicBaseUrl::INBOUND_PATH,
        }
    }
}

pub async fn handle<S, P>(req: Request, app: &App<S, P>) -> Response<Body>
where
    S: ReportStore + SuppressionList + SeenOnce,
    P: SecretProvider,
{
    api::serve(&req, "status-callback", || route(&req, app)).await
}

async fn route<S, P>(req: &Request, app: &App<S, P>) -> Result<Response<Body>, Problem>
where
    S: ReportStore + SuppressionList + SeenOnce,
    P: SecretProvider,
{
    let callback = match api::path_segments(req).as_slice() {
        [.., "plivo", "status"] => Callback::Status,
        [.., "plivo", "inbound"] => Callback::Inbound,
        _ => return Ok(api::not_found(req)),
    };
    if req.method() != Method::POST {
        return Ok(api::method_not_allowed("POST"));
    }
    let body = bounded_form_body(req)?;
    let signatures = CallbackSignatures::from_headers(req.headers()).map_err(refuse_unchecked)?;
    if signatures.family() == SignatureFamily::V2 && !app.settings.accept_v2_signatures {
        warn!("callback signed with V2 only refused (PLIVO_ACCEPT_V2_SIGNATURES is off)");
        return Err(Problem::new(
            ProblemKind::Forbidden,
            "the request carries only V2 signatures, which this service does not accept",
        ));
    }
    let params = form_fields(body)?;
    verify(req, callback, &params, &signatures, app).await?;
    if signatures.family() == SignatureFamily::V2 {
        check_v2_nonce(signatures.nonce(), app).await?;
    }
    match callback {
        Callback::Status => status(req, &params, app).await,
        Callback::Inbound => inbound(&params, app).await,
    }
}

/// The form body, refused before any parsing when the query or body is too large (413) or the
/// body is not form-encoded (415).
fn bounded_form_body(req: &Request) -> Result<&[u8], Problem> {
    let query = req.uri().query().unwrap_or_default().len();
    if query > MAX_QUERY_BYTES {
        return Err(Problem::new(
            ProblemKind::PayloadTooLarge,
            format!("the query string is {query} bytes; the limit is {MAX_QUERY_BYTES}"),
        ));
    }
    let body = api::body_bytes(req);
    if body.len() > MAX_BODY_BYTES {
        return Err(Problem::new(
            ProblemKind::PayloadTooLarge,
            format!(
                "the body is {} bytes; the limit is {MAX_BODY_BYTES}",
                body.len()
            ),
        ));
    }
    if let Some(ct) = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        && !body.is_empty()
        && !ct
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    {
        return Err(Problem::new(
            ProblemKind::UnsupportedMediaType,
            "Plivo callbacks are form-encoded",
        ));
    }
    Ok(body)
}

/// The decoded form fields, parsed once; more than [`MAX_FIELDS`] is a 413.
fn form_fields(body: &[u8]) -> Result<Vec<(String, String)>, Problem> {
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(body)
        .take(MAX_FIELDS + 1)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if fields.len() > MAX_FIELDS {
        return Err(Problem::new(
            ProblemKind::PayloadTooLarge,
            format!("the body has more than {MAX_FIELDS} fields"),
        ));
    }
    Ok(fields)
}

fn refuse_unchecked(why: UncheckableSignature) -> Problem {
    match why {
        UncheckableSignature::Missing => {
            warn!("callback without a Plivo signature refused");
            Problem::new(
                ProblemKind::Forbidden,
                "the request carries no Plivo signature",
            )
        }
        UncheckableSignature::Malformed { header, reason } => {
            warn!(
                header,
                reason, "callback with a malformed Plivo signature refused"
            );
            Problem::new(ProblemKind::Forbidden, format!("{header} {reason}"))
        }
    }
}

/// The base of the URL the request was sent to when that is this function's URL
/// (`https://<id>.lambda-url.<region>.on.aws`): Lambda sets the request context's domain from
/// the host the request reached, and only requests to this function's URL reach it there, so
/// it is exactly the URL Plivo called (and signed). None for a request through the API.
fn function_url_base(req: &Request) -> Option<String> {
    let Some(RequestContext::ApiGatewayV2(context)) = req.request_context_ref() else {
        return None;
    };
    let domain = context.domain_name.as_deref()?;
    let labels: Vec<&str> = domain.split('.').collect();
    let is_function_url = matches!(labels.as_slice(), [id, "lambda-url", region, "on", "aws"]
        if !id.is_empty() && !region.is_empty()
            && domain.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
    is_function_url.then(|| format!("https://{domain}"))
}

/// Checks the signature against the URL Plivo was given: the function URL the request reached,
/// or else the API's public base; the route and the query string. On a mismatch the secret may
/// be re-read, in case the token was rotated, but at most once per `secret_reread_interval`:
/// anyone can send a bad signature.
async fn verify<S, P: SecretProvider>(
    req: &Request,
    callback: Callback,
    params: &[(String, String)],
    signatures: &CallbackSignatures<'_>,
    app: &App<S, P>,
) -> Result<(), Problem> {
    let mut url = match function_url_base(req) {
        Some(base) => format!("{base}{}", callback.path()),
        None => app.public_base_url.join(callback.path()),
    };
    if let Some(q) = req.uri().query().filter(|q| !q.is_empty()) {
        url = format!("{url}?{q}");
    }
    let signed = SignedRequest {
        method: req.method().as_str(),
        url: &url,
        params,
    };
    let secret = api::service_secret(&app.secrets).await?;
    if signatures.verify(&signed, &[secret.plivo.token()]) {
        return Ok(());
    }
    let fresh = app
        .secrets
        .refresh_if_older(app.settings.secret_reread_interval)
        .await
        .map_err(api::secret_unreadable)?;
    if !Arc::ptr_eq(&fresh, &secret) && signatures.verify(&signed, &[fresh.plivo.token()]) {
        return Ok(());
    }
    // Not the URL: its query is the caller's to choose, and an unsigned caller's at that.
    warn!(family = ?signatures.family(), "callback with an invalid Plivo signature refused");
    Err(Problem::new(
        ProblemKind::Forbidden,
        "the Plivo signature does not match",
    ))
}

/// A V2 signature covers the URL and nonce only, so each nonce vouches for one request: a
/// replay of a captured one, with whatever body, is refused.
async fn check_v2_nonce<S: SeenOnce, P>(nonce: &str, app: &App<S, P>) -> Result<(), Problem> {
    let first = app
        .store
        .first_sighting(Sighting::SignatureNonce(nonce), Utc::now())
        .await
        .map_err(|e| Problem::internal("the request could not be checked; retry", &e))?;
    if first {
        return Ok(());
    }
    warn!("callback with a V2 nonce seen before refused");
    Err(Problem::new(
        ProblemKind::Forbidden,
        "the V2 signature's nonce was used before",
    ))
}

/// The last four digits of a number: all a log line may show of it.
fn ok(content_type: &str, body: &str) -> Response<Body> {
    Response::builder()
        .status(200)
        .header("content-type", content_type)
        .body(Body::Text(body.to_owned()))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

async fn status<S, P>(
    req: &Request,
    params: &[(String, String)],
    app: &App<S, P>,
) -> Result<Response<Body>, Problem>
where
    S: ReportStore + SuppressionList,
{
    let report = callback::parse_report(params).map_err(Problem::fields)?;
    // The sender put the job and batch into the callback URL; the signature covers it.
    let batch = BatchRef::from_callback_query(req.uri().query().unwrap_or_default());
    if let Some(b) = &batch {
        tracing::Span::current().record("job_id", b.job_id.as_str());
    }
    let effect = app
        .store
        .apply_report(&report, batch.as_ref(), Utc::now())
        .await
        .map_err(|e| {
            let cause = format!("{e} (message {})", report.message_uuid);
            Problem::internal("the report could not be recorded; retry", &cause)
        })?;
    // Recorded in the request's span: its one `answered` line is the report's only line
    // (template.yaml turns Lambda's own lines off; docs/cost.md).
    let span = tracing::Span::current();
    span.record("message_uuid", report.message_uuid.as_str());
    match effect {
        ReportEffect::Applied { from } => span.record(
            "outcome",
            format!(
                "{}>{}",
                from.map_or("none", MessageStatus::as_str),
                report.status
            )
            .as_str(),
        ),
        ReportEffect::Ignored => {
            span.record("outcome", format!("{} ignored", report.status).as_str())
        }
    };
    if report.error_code.as_deref() == Some(OPTED_OUT_ERROR)
        && let Some(to) = &report.to
    {
        app.store
            .suppress(to, SuppressionSource::PlivoError200, Utc::now())
            .await
            .map_err(|e| Problem::internal("the opt-out could not be recorded; retry", &e))?;
        info!(number = %to.masked(), "Plivo reported the destination opted out; suppressed");
    }
    Ok(ok("text/plain", "OK"))
}

async fn inbound<S, P>(
    params: &[(String, String)],
    app: &App<S, P>,
) -> Result<Response<Body>, Problem>
where
    S: SuppressionList,
{
    let message = callback::parse_inbound(params).map_err(Problem::fields)?;
    let number = message.from.masked();
    let Some(change) = callback::inbound_change(&message.text, message.intent.as_deref()) else {
        info!(%number, "inbound message without an opt change");
        return Ok(ok("application/xml", "<Response/>"));
    };
    let now = Utc::now();
    let outcome = app
        .store
        .change(
            &SuppressionChange {
                number: &message.from,
                suppressed: change == OptChange::OptOut,
                source: SuppressionSource::Keyword,
                at: message.sent_at(now),
                message_uuid: message.message_uuid.as_deref(),
            },
            now,
        )
        .await
        .map_err(|e| Problem::internal("the opt-out could not be recorded; retry", &e))?;
    match outcome {
        ChangeOutcome::Applied => info!(%number, ?change, "suppression list updated"),
        ChangeOutcome::Duplicate => {
            info!(%number, ?change, "inbound message applied before; ignored")
        }
        ChangeOutcome::Stale => info!(%number, ?change, "a later opt change is on record; ignored"),
    }
    Ok(ok("application/xml", "<Response/>"))
}
