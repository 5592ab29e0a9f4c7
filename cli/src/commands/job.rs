//! `smsctl job`, `pause`, `resume`, `cancel`: a job's status and its control (docs/api.md,
//! `GET /v1/bulk/{job_id}`, "Campaign control").

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    api::Repeat,
    cli::{JobArgs, JobId, ResumeArgs},
    context::{Context, put, text},
    failure::Failure,
    job_view::{self, Progress},
    watch,
};

pub async fn show(ctx: &Context, args: JobArgs) -> Result<(), Failure> {
    let job_id = &args.job.job_id;
    if args.watch {
        return follow(ctx, job_id, args.waiting.timeout).await;
    }
    let job = ctx.api.get(&format!("/v1/bulk/{job_id}")).await?;
    ctx.print(&job, || job_view::summary(&job));
    Ok(())
}

/// Watches a job until it ends, prints its summary and exits as it ended: `job --watch`,
/// `bulk --watch` and a scheduled `send --wait` end alike.
pub async fn follow(ctx: &Context, job_id: &str, timeout: Option<Duration>) -> Result<(), Failure> {
    let job = watch::job(&ctx.api, job_id, ctx.display, ctx.pace(timeout)).await?;
    ctx.print(&job, || job_view::summary(&job));
    watched_outcome(&job)
}

/// A watched job's exit: 0 when it ended done with nothing failed, 4 otherwise.
fn watched_outcome(job: &Value) -> Result<(), Failure> {
    match Progress::of(job).shortfall() {
        None => Ok(()),
        Some(why) => Err(Failure::Ended(why)),
    }
}

pub async fn pause(ctx: &Context, args: JobId) -> Result<(), Failure> {
    control(ctx, &args.job_id, "pause", None).await
}

pub async fn cancel(ctx: &Context, args: JobId) -> Result<(), Failure> {
    control(ctx, &args.job_id, "cancel", None).await
}

pub async fn resume(ctx: &Context, args: ResumeArgs) -> Result<(), Failure> {
    let mut caps = json!({});
    put(&mut caps, "max_cost", args.max_cost);
    put(&mut caps, "max_segments", args.max_segments);
    let raises = caps.as_object().is_some_and(|m| !m.is_empty());
    control(ctx, &args.job.job_id, "resume", raises.then_some(&caps)).await
}

/// Each change is idempotent (asking for the state the job is in answers `changed: false`),
/// so it is repeated after a failure of the service, as the API asks.
async fn control(
    ctx: &Context,
    job_id: &str,
    action: &str,
    body: Option<&Value>,
) -> Result<(), Failure> {
    let answer = ctx
        .api
        .post(
            &format!("/v1/bulk/{job_id}/{action}"),
            body,
            None,
            Repeat::Safe,
        )
        .await?;
    let job = answer.body;
    ctx.print(&job, || {
        let status = text(&job, "status");
        let mut line = if job.get("changed") == Some(&Value::Bool(false)) {
            format!("job {job_id} was already {status}: nothing changed")
        } else {
            format!("job {job_id} {status}")
        };
        if let Some(reason) = job.get("paused_reason").and_then(Value::as_str) {
            line.push_str(&format!(" ({reason})"));
        }
        line
    });
    Ok(())
}
