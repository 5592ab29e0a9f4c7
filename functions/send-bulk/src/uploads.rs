//! Recipient files (docs/api.md, "Uploads"): `POST /v1/uploads` hands out a presigned S3
//! `PUT` for one file, and `POST /v1/bulk` with `upload_id` checks the file's start (it is
//! text, its header has the phone column and every placeholder's column, it has rows), then
//! either previews the whole plan (dry run) or records a plan and puts a task on the
//! job-files queue, answering 202 with the job `planning`.

use std::collections::BTreeMap;

use chrono::Utc;
use futures::StreamExt;
use lambda_http::{Request, Response, http::StatusCode};
use serde::{Deserialize, Serialize};
use sms_core::{
    FieldError, Problem, ProblemKind, Sender,
    domain::{
        bulk::FileTask,
        estimate::{Budget, Estimate, Tally, tally_batch},
        ids::JobId,
        plan::{FileLayout, Plan, PlanCounts, Sample},
        preview::{TextPreviews, Texts},
        quiet_hours::QuietHours,
        rows::{FileFormat, HEADER_PREFIX_BYTES, RowContent, RowReader, read_header},
        start::SendAt,
        template::Template,
        validity::Deadline,
    },
    files::{FileError, ObjectStore, PresignedRequest, keys},
    http::{
        api::{self, IdempotencyKey},
        fields,
        idempotency::{Answer, KeyFate},
    },
    queue::{BatchQueue, QueueEntry},
    secrets::SecretProvider,
    store::{CreateJob, PlanCheckpoint, PlanRecord, PlanState, PlanStore, plans::screen_plan},
};
use uuid::Uuid;

use crate::{App, BulkStore, forecast};

/// How long a presigned upload URL works.
pub const UPLOAD_URL_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The largest file by default (`MAX_UPLOAD_BYTES`): some 20 million rows of a typical
/// export, far beyond what one job should hold.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 512 * 1024 * 1024;

/// Media types an upload may declare.
const CONTENT_TYPES: [&str; 2] = ["text/csv", "text/plain"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRequestBody {
    pub size: Option<u64>,
    #[serde(default)]
    pub content_type: Option<String>,
}

/// The answer to `POST /v1/uploads`.
#[derive(Debug, Serialize)]
pub struct UploadTicket {
    pub upload_id: Uuid,
    /// What to send: `PUT` to `url` with exactly these headers and `size` bytes.
    #[serde(flatten)]
    pub request: PresignedRequest,
    pub size: u64,
    pub max_bytes: u64,
}

/// `POST /v1/uploads`.
pub async fn create<S, Q, P, F: ObjectStore, T>(
    req: &Request,
    app: &App<S, Q, P, F, T>,
) -> Result<Response<lambda_http::Body>, Problem> {
    let body: UploadRequestBody = api::read_json(req, 4 * 1024)?;
    let max = app.max_upload_bytes;
    let size = match body.size {
        None => {
            return Err(Problem::field(
                "size",
                "is required: the file's size in bytes",
            ));
        }
        Some(0) => return Err(Problem::field("size", "must be at least 1 byte")),
        Some(size) if size > max => {
            let error = FieldError::new(
                "size",
                format!("is {size} bytes; the largest upload is {max} bytes"),
            );
            return Err(Problem {
                errors: vec![error],
                ..Problem::new(
                    ProblemKind::PayloadTooLarge,
                    format!(
                        "a file of {size} bytes is larger than the largest upload, {max} bytes; split it into several jobs"
                    ),
                )
            });
        }
        Some(size) => size,
    };
    let content_type = body
        .content_type
        .unwrap_or_else(|| CONTENT_TYPES[0].to_owned());
    if !CONTENT_TYPES.contains(&content_type.as_str()) {
        return Err(Problem::field(
            "content_type",
            format!("must be one of {}", CONTENT_TYPES.join(", ")),
        ));
    }
    let upload_id = Uuid::new_v4();
    let request = app
        .files
        .presign_put(
            &keys::upload(&upload_id),
            size,
            &content_type,
            UPLOAD_URL_TTL,
            Utc::now(),
        )
        .await
        .map_err(|e| Problem::internal("the upload URL could not be made; retry", &e))?;
    Ok(api::json_response(
        StatusCode::CREATED,
        &UploadTicket {
            upload_id,
            request,
            size,
            max_bytes: max,
        },
    ))
}

/// A valid `POST /v1/bulk` for an upload. Serialized only to fingerprint it for idempotency:
/// the file's ETag is part of it, so a replaced file is a new request; so is the flag, left
/// out when off as for a list.
#[derive(Debug, Serialize)]
pub struct UploadJobRequest {
    pub upload_id: Uuid,
    pub etag: String,
    pub format: FileFormat,
    pub phone_column: Option<String>,
    /// The text as given, placeholders included: smart encoding applies to each rendered
    /// text, so a placeholder's column name is never changed by it.
    pub text: String,
    pub from: Sender,
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub smart_encoding: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skip_landlines: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_for: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    /// The cap (likewise: each part is left out when not given, so a request without one
    /// keeps the fingerprint it always had).
    #[serde(flatten)]
    pub budget: Budget,
    #[serde(skip)]
    pub start: Option<SendAt>,
    #[serde(skip)]
    pub deadline: Option<Deadline>,
    #[serde(skip)]
    pub template: Template,
    #[serde(skip)]
    pub size: u64,
    #[serde(skip)]
    pub header: Vec<String>,
    /// Where the first row starts.
    #[serde(skip)]
    pub rows_start: u64,
    #[serde(skip)]
    pub dry_run: bool,
}

/// The fields of a `POST /v1/bulk` body that name an upload.
pub struct UploadFields {
    pub upload_id: String,
    pub format: Option<FileFormat>,
    pub phone_column: Option<String>,
    pub text: String,
    pub from: Option<String>,
    pub reference: Option<String>,
    pub dry_run: bool,
    pub smart_encoding: bool,
    pub skip_landlines: bool,
    pub valid_for: Option<u64>,
    pub expires_at: Option<String>,
    pub send_at: Option<String>,
    pub quiet_hours: Option<QuietHours>,
    /// `max_cost`, `max_segments`: checked by the planner against the whole file.
    pub budget: Budget,
}

fn upload_field(message: impl ToString) -> Problem {
    Problem::field("upload_id", message)
}

/// Checks the fields and the start of the file: a 400 naming the field for anything wrong.
pub async fn parse<F: ObjectStore>(
    body: UploadFields,
    default_src: &Sender,
    files: &F,
) -> Result<UploadJobRequest, Problem> {
    let mut errors = Vec::new();
    let upload_id = Uuid::parse_str(body.upload_id.trim())
        .map_err(|_| {
            errors.push(FieldError::new(
                "upload_id",
                "must be an upload_id as POST /v1/uploads returned it",
            ))
        })
        .ok();
    let template = Template::parse(&body.text)
        .map_err(|e| errors.push(FieldError::new("text", e)))
        .ok();
    let (start, deadline) = fields::schedule(
        body.send_at.as_deref(),
        body.valid_for,
        body.expires_at.as_deref(),
        chrono::Utc::now(),
        &mut errors,
    );
    // Checks the text as it is sent when it has no placeholders; rendered texts are checked
    // row by row.
    let message = fields::message(
        body.text,
        body.smart_encoding,
        body.from.as_deref(),
        body.reference,
        default_src,
        &mut errors,
    );
    crate::intake::budget_errors(&body.budget, &mut errors);
    let format = body.format.unwrap_or(FileFormat::Csv);
    if format == FileFormat::Lines && body.phone_column.is_some() {
        errors.push(FieldError::new(
            "phone_column",
            "names a column of a CSV; a list of lines has none",
        ));
    }
    let (Some(upload_id), Some(template), Some(message)) = (upload_id, template, message) else {
        return Err(Problem::fields(errors));
    };
    if !errors.is_empty() {
        return Err(Problem::fields(errors));
    }
    let key = keys::upload(&upload_id);
    let info = files
        .head(&key)
        .await
        .map_err(|e| Problem::internal("the upload could not be read; retry", &e))?
        .ok_or_else(|| {
            upload_field(
                "names no uploaded file: it was never uploaded, or it expired; upload it again",
            )
        })?;
    if info.size == 0 {
        return Err(upload_field("names an empty file"));
    }
    let prefix = read_prefix(files, &key, &info.etag).await?;
    let whole = info.size <= prefix.len() as u64;
    if prefix.contains(&0) {
        return Err(upload_field(
            "names a file that is not text (it holds NUL bytes): upload a CSV or a list of numbers, one a line",
        ));
    }
    let (header, rows_start) = match format {
        FileFormat::Csv => {
            let header = read_header(&prefix, whole).map_err(|e| {
                upload_field(format!("names a file whose header cannot be read: {e}"))
            })?;
            (header.names, header.end)
        }
        FileFormat::Lines => (Vec::new(), 0),
    };
    let layout = FileLayout {
        format,
        phone_column: body.phone_column.clone(),
    };
    layout
        .bind(
            (format == FileFormat::Csv).then_some(header.as_slice()),
            &template,
        )
        .map_err(|e| match e {
            sms_core::domain::plan::LayoutError::MissingColumns(_)
            | sms_core::domain::plan::LayoutError::PlaceholdersWithoutColumns => {
                Problem::field("text", e)
            }
            other => Problem::field(
                if body.phone_column.is_some() {
                    "phone_column"
                } else {
                    "upload_id"
                },
                other,
            ),
        })?;
    if whole && !has_a_row(&prefix[rows_start as usize..], format) {
        return Err(upload_field(match format {
            FileFormat::Csv => "names a file with a header and no rows",
            FileFormat::Lines => "names a file with no lines",
        }));
    }
    Ok(UploadJobRequest {
        upload_id,
        etag: info.etag,
        format,
        phone_column: body.phone_column,
        text: message.given_text,
        from: message.from,
        reference: message.reference,
        smart_encoding: body.smart_encoding,
        skip_landlines: body.skip_landlines,
        valid_for: body.valid_for,
        expires_at: body.expires_at,
        send_at: body.send_at,
        quiet_hours: body.quiet_hours,
        budget: body.budget,
        start,
        deadline,
        template,
        size: info.size,
        header,
        rows_start,
        dry_run: body.dry_run,
    })
}

async fn read_prefix<F: ObjectStore>(files: &F, key: &str, etag: &str) -> Result<Vec<u8>, Problem> {
    let mut body = files
        .read(key, etag, 0, Some(HEADER_PREFIX_BYTES))
        .await
        .map_err(read_problem)?;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        bytes.extend_from_slice(&chunk.map_err(read_problem)?);
    }
    Ok(bytes)
}

fn read_problem(e: FileError) -> Problem {
    match e {
        FileError::Missing { .. } => {
            upload_field("names no uploaded file: it expired; upload it again")
        }
        FileError::Changed { .. } => upload_field("names a file that is being replaced; retry"),
        other => Problem::internal("the upload could not be read; retry", &other),
    }
}

fn has_a_row(bytes: &[u8], format: FileFormat) -> bool {
    let mut reader = RowReader::resume(format, Vec::new(), 1, 0);
    let mut any = false;
    let mut on_row = |row: sms_core::domain::rows::Row<'_>| {
        any |= match row.content {
            RowContent::Fields(f) => f.iter().any(|v| !v.trim().is_empty()),
            _ => true,
        };
    };
    reader.feed(bytes, &mut on_row);
    reader.finish(&mut on_row);
    any
}

/// The answer to a job from an upload (202) or its dry run (200).
#[derive(Debug, Serialize)]
struct UploadJobAnswer<'a> {
    job_id: Option<&'a str>,
    status: &'a str,
    upload_id: Uuid,
    bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    rows: Option<PlanCounts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    samples: Option<&'a [Sample]>,
    /// A dry run's: the distinct texts as rendered, previewed.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    texts: Option<Texts<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    forecast: Option<forecast::Forecast>,
    /// When the job starts, if it was scheduled (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    send_at: Option<String>,
    /// A dry run's: false when the file is longer than [`DRY_RUN_MAX_BYTES`] and only its
    /// start was planned.
    #[serde(skip_serializing_if = "Option::is_none")]
    complete: Option<bool>,
    /// A dry run's: recipients, segments and cost per destination country of the rows
    /// planned (docs/api.md, "Budget").
    #[serde(skip_serializing_if = "Option::is_none")]
    estimate: Option<Estimate>,
    /// A dry run's, with `max_cost` or `max_segments`: whether the job would fit.
    #[serde(skip_serializing_if = "Option::is_none")]
    budget: Option<crate::budget::Verdict>,
}

/// The most of a file a dry run plans: the API answers within seconds, and its function's
/// memory is sized for requests, not for a whole file's de-duplication (job-files has that).
/// About 600,000 rows of a typical export.
pub const DRY_RUN_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// `POST /v1/bulk` with `upload_id`.
pub async fn start<
    S: BulkStore + PlanStore,
    Q,
    P: SecretProvider,
    F: ObjectStore,
    T: BatchQueue,
>(
    req: &Request,
    request: UploadJobRequest,
    app: &App<S, Q, P, F, T>,
) -> Result<Response<lambda_http::Body>, Problem> {
    if request.dry_run {
        return dry_run(&request, app).await;
    }
    let key = IdempotencyKey::from_request(req)?;
    let (job_id, claim) = match crate::claim_job(&app.store, key.as_ref(), &request).await? {
        Ok(claimed) => claimed,
        Err(replayed) => return Ok(replayed),
    };
    Ok(record_plan(&request, &job_id, app)
        .await
        .settle(claim, Utc::now())
        .await)
}

/// Writes the plan (or finds the one an earlier attempt wrote) and puts its task on the
/// job-files queue. A duplicate task is harmless: the plan's claim lets one invocation work.
async fn record_plan<S: BulkStore + PlanStore, Q, P, F, T: BatchQueue>(
    request: &UploadJobRequest,
    job_id: &JobId,
    app: &App<S, Q, P, F, T>,
) -> Answer {
    let now = Utc::now();
    let plan = PlanRecord {
        expires_at: request.deadline.map(Deadline::time),
        send_at: request.start.map(SendAt::time),
        quiet_hours: request.quiet_hours,
        job_id: job_id.clone(),
        state: PlanState::Planning,
        upload_id: request.upload_id.to_string(),
        etag: request.etag.clone(),
        size: request.size,
        layout: FileLayout {
            format: request.format,
            phone_column: request.phone_column.clone(),
        },
        template: request.text.clone(),
        smart_encoding: request.smart_encoding,
        skip_landlines: request.skip_landlines,
        from: request.from.clone(),
        reference: request.reference.clone(),
        callback_url: format!(
            "{}?job_id={job_id}",
            app.public_base_url.status_callback_url()
        ),
        header: request.header.clone(),
        budget: request.budget,
        checkpoint: PlanCheckpoint {
            records: u64::from(request.format == FileFormat::Csv),
            offset: request.rows_start,
            ..PlanCheckpoint::default()
        },
        attempts: 0,
        lease_until: None,
        error: None,
        created_at: now,
        updated_at: now,
    };
    match app.store.create_plan(&plan).await {
        // Conflict: an earlier attempt with this key wrote it; its task may have been lost.
        Ok(CreateJob::Created | CreateJob::Conflict) => {}
        Err(e) => {
            return Answer::released(Problem::internal(
                "the job could not be created; nothing will be sent",
                &e,
            ));
        }
    }
    let task = FileTask::Plan {
        job_id: job_id.clone(),
    };
    let sent = match serde_json::to_string(&task) {
        Ok(body) => app
            .tasks
            .send_batch(&[QueueEntry {
                id: "0".into(),
                body,
                delay_seconds: 0,
            }])
            .await
            .map(|refused| refused.is_empty()),
        Err(e) => {
            return Answer::released(Problem::internal(
                "the planning task could not be encoded",
                &e,
            ));
        }
    };
    if !matches!(sent, Ok(true)) {
        tracing::warn!("the planning task could not be enqueued");
        return Answer::released(Problem::new(
            ProblemKind::Unavailable,
            format!(
                "job {job_id} was recorded but its planning could not be started; retry the request with the same Idempotency-Key"
            ),
        ));
    }
    let answer = UploadJobAnswer {
        job_id: Some(job_id.as_str()),
        status: "planning",
        upload_id: request.upload_id,
        bytes: request.size,
        rows: None,
        samples: None,
        texts: None,
        forecast: None,
        send_at: request.start.map(|at| forecast::stamp(at.time())),
        complete: None,
        estimate: None,
        budget: None,
    };
    Answer {
        response: api::json_response(StatusCode::ACCEPTED, &answer),
        key: KeyFate::Finish,
    }
}

/// Plans the whole file without writing anything: the counts, the first rows rendered, a
/// preview of the first distinct texts and the forecast.
async fn dry_run<S: BulkStore, Q, P: SecretProvider, F: ObjectStore, T>(
    request: &UploadJobRequest,
    app: &App<S, Q, P, F, T>,
) -> Result<Response<lambda_http::Body>, Problem> {
    let layout = FileLayout {
        format: request.format,
        phone_column: request.phone_column.clone(),
    };
    let header = (request.format == FileFormat::Csv).then_some(request.header.as_slice());
    let (phone, bound) = layout
        .bind(header, &request.template)
        .map_err(|e| Problem::field("text", e))?;
    let mut plan = Plan::new(phone, bound, app.batch_size)
        .with_smart_encoding(request.smart_encoding)
        .with_zone_windows(request.quiet_hours.is_some())
        .with_skip_landlines(request.skip_landlines)
        .with_sender(&request.from)
        .with_text_previews();
    let records = u64::from(request.format == FileFormat::Csv);
    let mut reader = RowReader::resume(
        request.format,
        request.header.clone(),
        records,
        request.rows_start,
    );
    let key = keys::upload(&request.upload_id);
    let complete = request.size - request.rows_start <= DRY_RUN_MAX_BYTES;
    let mut body = app
        .files
        .read(
            &key,
            &request.etag,
            request.rows_start,
            Some(DRY_RUN_MAX_BYTES),
        )
        .await
        .map_err(read_problem)?;
    let screen_error = |e: sms_core::store::StoreError| {
        Problem::internal("the suppression list could not be read", &e)
    };
    let mut batches = 0u64;
    // Counted from the batches, as the planner counts them: each recipient once, with the
    // segments of the text it is sent.
    let mut tallies: BTreeMap<&'static str, Tally> = BTreeMap::new();
    let mut count = |ready: Vec<sms_core::domain::plan::PlannedBatch>| {
        batches += ready.len() as u64;
        for batch in ready {
            for (country, tally) in tally_batch(&batch.recipients, batch.text.segments() as u64) {
                let total = tallies.entry(country).or_default();
                total.recipients += tally.recipients;
                total.segments += tally.segments;
            }
        }
    };
    while let Some(chunk) = body.next().await {
        reader.feed(&chunk.map_err(read_problem)?, &mut |row| plan.row(row));
        screen_plan(&app.store, &mut plan, false)
            .await
            .map_err(screen_error)?;
        count(plan.take_ready());
        plan.take_rejects();
    }
    if complete {
        // Cut short, the last record read may be only part of one: it is left out.
        reader.finish(&mut |row| plan.row(row));
    }
    screen_plan(&app.store, &mut plan, true)
        .await
        .map_err(screen_error)?;
    count(plan.take_ready());
    let counts = plan.counts();
    let estimate = crate::budget::estimate_tallies(&tallies, app).await;
    // A scheduled job's clock starts at its start.
    let from = request.start.map_or_else(Utc::now, SendAt::time);
    let forecast = forecast::Forecast::new(batches, counts.accepted, app.rates, from);
    Ok(api::json_response(
        StatusCode::OK,
        &UploadJobAnswer {
            job_id: None,
            status: "dry_run",
            upload_id: request.upload_id,
            bytes: request.size,
            rows: Some(counts),
            samples: Some(plan.samples()),
            texts: plan.text_previews().map(TextPreviews::answer),
            forecast: Some(forecast),
            send_at: request.start.map(|at| forecast::stamp(at.time())),
            complete: Some(complete),
            budget: crate::budget::Verdict::of_caps(request.budget, &estimate),
            estimate: Some(estimate),
        },
    ))
}
