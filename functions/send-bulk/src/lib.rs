//! send-bulk: `POST /v1/bulk` validates one text and a recipient list, cuts the list into
//! batches and fans them out through SQS, or accepts an upload for job-files to plan;
//! `GET /v1/bulk/{job_id}` reports progress; `POST /v1/uploads` signs an upload and
//! `POST /v1/bulk/{job_id}/results` asks for a results file; `POST /v1/bulk/{job_id}/pause`,
//! `/resume` and `/cancel` change a job's control (docs/api.md; docs/architecture.md, "A bulk
//! job", "A job's life").

mod budget;
mod control;
mod enqueue;
pub mod forecast;
mod intake;
mod progress;
mod quiet;
mod results;
pub mod uploads;

use chrono::Utc;
use lambda_http::{Body, Request, Response, http::Method, http::StatusCode};
use sms_core::{
    Problem,
    config::PublicBaseUrl,
    domain::{ids::JobId, preview::TextPreviews},
    files::ObjectStore,
    http::api::{self, IdempotencyKey, Route},
    http::idempotency::{self, Check, KeyedRequest, OnStale},
    queue::BatchQueue,
    secrets::SecretProvider,
    store::{
        ControlChange, IdempotencyStore, JobControls, JobStore, PlanStore, ProgressLog,
        ResultsStore, SuppressionList,
    },
};

pub use intake::{BulkRequest, BulkRequestBody, Intake, Parsed, Summary};

/// Lambda's largest request payload: about 300,000 numbers.
pub const BODY_LIMIT: usize = 6 * 1024 * 1024;

pub struct App<S, Q, P, F, T> {
    pub store: S,
    pub queue: Q,
    pub secrets: P,
    /// Uploads, rejects and results files (S3).
    pub files: F,
    /// The job-files function's queue: where a job from an upload is planned.
    pub tasks: T,
    pub public_base_url: PublicBaseUrl,
    pub batch_size: usize,
    /// The account's request budget and MPS, for the forecasts.
    pub rates: forecast::Rates,
    /// The largest upload `POST /v1/uploads` signs for (`MAX_UPLOAD_BYTES`).
    pub max_upload_bytes: u64,
    /// Prices per destination country, for estimates and caps (`SMS_PRICES`, Plivo's).
    pub prices: sms_core::pricing::Prices,
    /// Whether the deployment has a fallback provider a job may ask for (`FALLBACK` is
    /// `jobs` or `all`).
    pub fallback: bool,
}

/// What the store must offer send-bulk.
pub trait BulkStore:
    IdempotencyStore + JobStore + JobControls + SuppressionList + ProgressLog + PlanStore + ResultsStore
{
}
impl<T> BulkStore for T where
    T: IdempotencyStore
        + JobStore
        + JobControls
        + SuppressionList
        + ProgressLog
        + PlanStore
        + ResultsStore
{
}

/// The job's id. With an `Idempotency-Key` it follows from the key and the request (a list's
/// or an upload's), so a retry after a timeout finds the first attempt's job and finishes it
/// instead of starting a second one.
pub fn job_id<R: serde::Serialize>(key: Option<&IdempotencyKey>, request: &R) -> JobId {
    match key {
        Some(k) => JobId::derived(&format!(
            "bulk:{}:{}",
            k.as_str(),
            idempotency::fingerprint(request)
        )),
        None => JobId::random(),
    }
}

/// Serves one request; every outcome is an HTTP answer (see send-sms's `handle`).
pub async fn handle<
    S: BulkStore,
    Q: BatchQueue,
    P: SecretProvider,
    F: ObjectStore,
    T: BatchQueue,
>(
    req: Request,
    app: &App<S, Q, P, F, T>,
) -> Response<Body> {
    api::serve(&req, "send-bulk", || route(&req, app)).await
}

async fn route<S: BulkStore, Q: BatchQueue, P: SecretProvider, F: ObjectStore, T: BatchQueue>(
    req: &Request,
    app: &App<S, Q, P, F, T>,
) -> Result<Response<Body>, Problem> {
    let segments = api::path_segments(req);
    if api::match_route(&segments, "uploads") == Route::Collection {
        let secret = api::service_secret(&app.secrets).await?;
        api::authenticate(req, &secret.api_keys)?;
        return match req.method() {
            &Method::POST => uploads::create(req, app).await,
            _ => Ok(api::method_not_allowed("POST")),
        };
    }
    if let [.., "bulk", job_id, action] = segments.as_slice()
        && let Some(change) = control::change_of(action)
    {
        let secret = api::service_secret(&app.secrets).await?;
        api::authenticate(req, &secret.api_keys)?;
        return match req.method() {
            &Method::POST => {
                let raise = match change {
                    ControlChange::Resume => control::raised_caps(req)?,
                    _ => None,
                };
                control::change(job_id, change, raise, &app.store, &app.tasks).await
            }
            _ => Ok(api::method_not_allowed("POST")),
        };
    }
    if let [.., "bulk", job_id, "results"] = segments.as_slice() {
        let secret = api::service_secret(&app.secrets).await?;
        api::authenticate(req, &secret.api_keys)?;
        return match req.method() {
            &Method::POST => results::request(job_id, &app.store, &app.files, &app.tasks).await,
            _ => Ok(api::method_not_allowed("POST")),
        };
    }
    let route = api::match_route(&segments, "bulk");
    if route == Route::Unknown {
        return Ok(api::not_found(req));
    }
    let secret = api::service_secret(&app.secrets).await?;
    api::authenticate(req, &secret.api_keys)?;
    match (route, req.method()) {
        (Route::Collection, &Method::POST) => start(req, app, &secret.default_src).await,
        (Route::Item(id), &Method::GET) => {
            progress::report(id, &app.store, &app.files, app.rates).await
        }
        (Route::Collection, _) => Ok(api::method_not_allowed("POST")),
        (Route::Item(_), _) => Ok(api::method_not_allowed("GET")),
        (Route::Unknown, _) => Ok(api::not_found(req)),
    }
}

async fn start<S: BulkStore, Q: BatchQueue, P: SecretProvider, F: ObjectStore, T: BatchQueue>(
    req: &Request,
    app: &App<S, Q, P, F, T>,
    default_src: &sms_core::Sender,
) -> Result<Response<Body>, Problem> {
    let key = IdempotencyKey::from_request(req)?;
    let body: BulkRequestBody = api::read_json(req, BODY_LIMIT)?;
    let request = match intake::Parsed::from_body(body, default_src)? {
        intake::Parsed::List(request) if request.fallback && !app.fallback => {
            return Err(Problem::field(
                "fallback",
                "this deployment has no fallback provider (its FALLBACK setting is off)",
            ));
        }
        intake::Parsed::List(request) => request,
        intake::Parsed::Upload(fields) => {
            let request = uploads::parse(fields, default_src, &app.files).await?;
            return uploads::start(req, request, app).await;
        }
    };

    if request.dry_run {
        let intake = intake::screen(&request, &app.store, app.batch_size).await?;
        let summary = intake.summary(None, "dry_run");
        let mut forecast = forecast::Forecast::new(
            summary.batches as u64,
            summary.accepted,
            app.rates,
            Utc::now(),
        );
        // A dry run shows whether the job would fit its validity rather than refusing it.
        if let Some(deadline) = request.deadline {
            forecast = forecast.against(deadline, Utc::now()).0;
        }
        let mut previews = TextPreviews::default();
        previews.note(&request.given_text);
        let estimate = budget::estimate(&intake, app).await;
        let start = request.start.map_or_else(Utc::now, |s| s.time());
        let answer = intake::DryRun {
            summary,
            texts: previews.answer(),
            quiet_hours: request
                .quiet_hours
                .map(|q| quiet::preview(q, &intake.batches, start)),
            budget: budget::Verdict::of(&request, &estimate),
            estimate,
        };
        return Ok(api::json_response(
            StatusCode::OK,
            &forecast.beside(&answer),
        ));
    }

    let (job_id, claim) = match claim_job(&app.store, key.as_ref(), &request).await? {
        Ok(claimed) => claimed,
        Err(replayed) => return Ok(replayed),
    };
    Ok(enqueue::run(&request, &job_id, app)
        .await
        .settle(claim, Utc::now())
        .await)
}

/// A job's id and the claim on its `Idempotency-Key` (a list's request or an upload's: the
/// same rules), or the answer to give instead (a replay, or a 409 from the check).
pub(crate) async fn claim_job<'a, S: IdempotencyStore, R: serde::Serialize>(
    store: &'a S,
    key: Option<&IdempotencyKey>,
    request: &R,
) -> Result<Result<(JobId, Option<idempotency::Claim<'a, S>>), Response<Body>>, Problem> {
    let job_id = job_id(key, request);
    tracing::Span::current().record("job_id", job_id.as_str());
    let check = idempotency::check(
        store,
        KeyedRequest {
            scope: "bulk",
            key,
            request,
            on_stale: OnStale::Resume,
        },
        Utc::now(),
    )
    .await?;
    Ok(match check {
        Check::Respond(replayed) => Err(replayed),
        Check::Proceed(claim) => Ok((job_id, claim)),
    })
}
