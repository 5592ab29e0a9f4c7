//! `POST /v1/bulk/{job_id}/results`: asks for a job's results file, built by job-files
//! (docs/api.md, "The results file"); `GET /v1/bulk/{job_id}` shows the build and, once it
//! is ready, a link to the file.

use chrono::Utc;
use lambda_http::{Body, Response, http::StatusCode};
use serde::Serialize;
use sms_core::{
    Problem, ProblemKind,
    domain::{bulk::FileTask, ids::JobId},
    files::{ObjectStore, PresignedRequest, keys},
    http::api,
    queue::{BatchQueue, QueueEntry},
    store::{JobStore, PlanState, PlanStore, ResultsRecord, ResultsRequest, ResultsStore},
};

use crate::progress::FILE_LINK_TTL;

/// A results build as the API shows it.
#[derive(Debug, Serialize)]
pub struct ResultsView {
    /// `building`, `ready` or `failed`.
    pub state: &'static str,
    /// 1 for the job's first file, one more for each rebuild.
    pub generation: u32,
    /// Rows written so far (all of them once `ready`).
    pub rows: u64,
    pub requested_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A link to the file, once `ready`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PresignedRequest>,
}

impl ResultsView {
    pub async fn of<F: ObjectStore>(record: &ResultsRecord, files: &F) -> Self {
        let file = if record.state == sms_core::store::ResultsState::Ready {
            let name = format!("results-{}.csv", record.job_id);
            match files
                .presign_get(
                    &keys::results(&record.job_id),
                    &name,
                    FILE_LINK_TTL,
                    Utc::now(),
                )
                .await
            {
                Ok(link) => Some(link),
                Err(e) => {
                    tracing::warn!(error = %e, "no link to the results file could be made");
                    None
                }
            }
        } else {
            None
        };
        Self {
            state: record.state.as_str(),
            generation: record.generation,
            rows: record.checkpoint.rows,
            requested_at: crate::forecast::moment(record.requested_at),
            updated_at: crate::forecast::moment(record.updated_at),
            error: record.error.clone(),
            file,
        }
    }
}

#[derive(Debug, Serialize)]
struct Requested<'a> {
    job_id: &'a str,
    results: ResultsView,
}

/// Starts a build of the job's results file, or answers the one building. Either way the
/// task goes (again) to job-files: a second task for a build is dropped by its claim, and
/// one whose first task was lost is revived. A file that is ready is rebuilt: reports go on
/// arriving after a job is done, and the new file has them.
pub async fn request<S, F, T>(
    job_id: &str,
    store: &S,
    files: &F,
    tasks: &T,
) -> Result<Response<Body>, Problem>
where
    S: JobStore + PlanStore + ResultsStore,
    F: ObjectStore,
    T: BatchQueue,
{
    let job_id = JobId::parse(job_id)
        .map_err(|_| Problem::field("job_id", "must be a UUID as returned by POST /v1/bulk"))?;
    tracing::Span::current().record("job_id", job_id.as_str());
    let internal = |e: sms_core::store::StoreError| {
        Problem::internal("the job's results could not be requested; retry", &e)
    };
    if store.get_job(&job_id).await.map_err(internal)?.is_none() {
        return Err(match store.get_plan(&job_id).await.map_err(internal)? {
            Some(plan) if plan.state == PlanState::Failed => Problem::new(
                ProblemKind::NotReady,
                format!("job {job_id} failed planning: it has no recipients to report on"),
            ),
            Some(_) => Problem::new(
                ProblemKind::NotReady,
                format!("job {job_id} is still planning; ask for its results once it is not"),
            ),
            None => Problem::new(ProblemKind::NotFound, format!("no job {job_id}")),
        });
    }
    let record = match store
        .request_results(&job_id, Utc::now())
        .await
        .map_err(internal)?
    {
        ResultsRequest::Started(record) | ResultsRequest::Building(record) => record,
    };
    let task = FileTask::Results {
        job_id: job_id.clone(),
        generation: record.generation,
    };
    let body = serde_json::to_string(&task)
        .map_err(|e| Problem::internal("the results task could not be encoded", &e))?;
    let sent = tasks
        .send_batch(&[QueueEntry {
            id: "0".into(),
            body,
            delay_seconds: 0,
        }])
        .await;
    if !matches!(sent, Ok(ref refused) if refused.is_empty()) {
        tracing::warn!("the results task could not be enqueued");
        return Err(Problem::new(
            ProblemKind::Unavailable,
            format!("the results of job {job_id} could not be started; retry the request"),
        ));
    }
    let mut response = api::json_response(
        StatusCode::ACCEPTED,
        &Requested {
            job_id: job_id.as_str(),
            results: ResultsView::of(&record, files).await,
        },
    );
    if let Ok(location) = format!("/v1/bulk/{job_id}").parse() {
        response.headers_mut().insert("location", location);
    }
    Ok(response)
}
