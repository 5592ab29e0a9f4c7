//! status-callback: `POST|GET /v1/callbacks/plivo/status` records Plivo's delivery reports;
//! `POST|GET /v1/callbacks/plivo/inbound` honours STOP and START replies. Every request must
//! carry a valid Plivo signature (`shared/plivo/SIGNATURES.md`) or is refused with 403 and
//! changes nothing.
//!
//! Answers: 200 when the report is recorded (or was a duplicate or stale: Plivo must not
//! retry those), 400 for a signed report without `MessageUUID` or `Status`, 500 when the
//! table could not be written, so Plivo retries and no report is lost.

use chrono::Utc;
use lambda_http::{Body, Request, Response, http::Method};
use sms_core::{
    Problem, ProblemKind, api,
    config::PublicBaseUrl,
    plivo::{
        SignatureCheck, SignedRequest,
        callback::{self, OPTED_OUT_ERROR, OptChange},
        verify_request,
    },
    secrets::SecretProvider,
    store::{BatchRef, ReportEffect, ReportStore, SuppressionList, SuppressionSource},
};
use tracing::{error, info, warn};

pub struct App<S, P> {
    pub store: S,
    pub secrets: P,
    pub public_base_url: PublicBaseUrl,
}

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
    S: ReportStore + SuppressionList,
    P: SecretProvider,
{
    api::serve(&req, "status-callback", || route(&req, app)).await
}

async fn route<S, P>(req: &Request, app: &App<S, P>) -> Result<Response<Body>, Problem>
where
    S: ReportStore + SuppressionList,
    P: SecretProvider,
{
    let callback = match api::path_segments(req).as_slice() {
        [.., "plivo", "status"] => Callback::Status,
        [.., "plivo", "inbound"] => Callback::Inbound,
        _ => return Ok(api::not_found(req)),
    };
    if req.method() != Method::POST && req.method() != Method::GET {
        return Ok(api::method_not_allowed("POST, GET"));
    }
    let params = parameters(req)?;
    verify(req, callback, &params, app).await?;
    match callback {
        Callback::Status => status(req, &params, app).await,
        Callback::Inbound => inbound(&params, app).await,
    }
}

fn query_pairs(req: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The signed parameters: decoded form fields for POST, decoded query fields for GET.
fn parameters(req: &Request) -> Result<Vec<(String, String)>, Problem> {
    if req.method() == Method::GET {
        return Ok(query_pairs(req));
    }
    let body = api::body_bytes(req);
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
    Ok(url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// Checks the signature against the URL Plivo was given: the public base, the route and the
/// query string. On a mismatch the secret is re-read once, in case the token was rotated.
async fn verify<S, P: SecretProvider>(
    req: &Request,
    callback: Callback,
    params: &[(String, String)],
    app: &App<S, P>,
) -> Result<(), Problem> {
    let mut url = app.public_base_url.join(callback.path());
    if let Some(q) = req.uri().query().filter(|q| !q.is_empty()) {
        url = format!("{url}?{q}");
    }
    let signed = SignedRequest {
        method: req.method().as_str(),
        url: &url,
        params,
    };
    let secret = api::service_secret(&app.secrets).await?;
    let mut check = verify_request(req.headers(), &signed, &[secret.plivo.token()]);
    if check == SignatureCheck::Invalid {
        let fresh = app
            .secrets
            .refresh()
            .await
            .map_err(api::secret_unreadable)?;
        check = verify_request(req.headers(), &signed, &[fresh.plivo.token()]);
    }
    match check {
        SignatureCheck::Valid => Ok(()),
        SignatureCheck::Missing => {
            warn!("callback without a Plivo signature refused");
            Err(Problem::new(
                ProblemKind::Forbidden,
                "the request carries no Plivo signature",
            ))
        }
        SignatureCheck::Invalid => {
            warn!(%url, "callback with an invalid Plivo signature refused");
            Err(Problem::new(
                ProblemKind::Forbidden,
                "the Plivo signature does not match",
            ))
        }
    }
}

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
    let effect = app.store.apply_report(&report, batch.as_ref(), Utc::now()).await.map_err(|e| {
        error!(error = %e, message_uuid = %report.message_uuid, "the report could not be recorded");
        Problem::new(ProblemKind::Internal, "the report could not be recorded; retry")
    })?;
    match effect {
        ReportEffect::Applied { from } => {
            info!(message_uuid = %report.message_uuid, from = ?from, to = %report.status, "status recorded")
        }
        ReportEffect::Ignored => {
            info!(message_uuid = %report.message_uuid, status = %report.status, "duplicate or stale report ignored")
        }
    }
    if report.error_code.as_deref() == Some(OPTED_OUT_ERROR)
        && let Some(to) = &report.to
    {
        app.store
            .suppress(to, SuppressionSource::PlivoError200, Utc::now())
            .await
            .map_err(|e| {
                error!(error = %e, "an opted-out number could not be suppressed");
                Problem::new(
                    ProblemKind::Internal,
                    "the opt-out could not be recorded; retry",
                )
            })?;
        info!(number = %to, "Plivo reported the destination opted out; suppressed");
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
    let change = callback::inbound_change(&message.text, message.intent.as_deref());
    let result = match change {
        Some(OptChange::OptOut) => {
            app.store
                .suppress(&message.from, SuppressionSource::Keyword, Utc::now())
                .await
        }
        Some(OptChange::OptIn) => app.store.unsuppress(&message.from).await,
        None => Ok(()),
    };
    result.map_err(|e| {
        error!(error = %e, "the suppression list could not be updated");
        Problem::new(
            ProblemKind::Internal,
            "the opt-out could not be recorded; retry",
        )
    })?;
    info!(number = %message.from, change = ?change, "inbound message handled");
    Ok(ok("application/xml", "<Response/>"))
}
