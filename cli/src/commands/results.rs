//! `smsctl results`: asks for a job's results file, waits while job-files builds it, and
//! downloads it (docs/api.md, `POST /v1/bulk/{job_id}/results`, "The results file").

use std::time::Instant;

use serde_json::{Value, json};

use crate::{
    api::Repeat,
    cli::ResultsArgs,
    context::{Context, text},
    duration,
    failure::Failure,
};

pub async fn results(ctx: &Context, args: ResultsArgs) -> Result<(), Failure> {
    let job_id = &args.job.job_id;
    // Asking while a file is building answers that build, so a repeat does no harm.
    let asked = ctx
        .api
        .post(
            &format!("/v1/bulk/{job_id}/results"),
            None,
            None,
            Repeat::Safe,
        )
        .await?
        .body;
    let generation = asked
        .pointer("/results/generation")
        .cloned()
        .ok_or_else(|| Failure::Unexpected(format!("no results.generation in {asked}")))?;

    // The job shows the same `results` object; this build is over once its generation
    // is no longer `building`.
    let started = Instant::now();
    let results = loop {
        let job = ctx.api.get(&format!("/v1/bulk/{job_id}")).await?;
        let results = job.get("results").cloned().unwrap_or(Value::Null);
        if results.get("generation") == Some(&generation) && text(&results, "state") != "building" {
            break results;
        }
        if started.elapsed() >= args.timeout {
            return Err(Failure::TimedOut(format!(
                "the results file of job {job_id} was not built in {}; ask again later \
                 (the build goes on): smsctl results {job_id} -o {}",
                duration::show(args.timeout),
                args.out.display()
            )));
        }
        tokio::time::sleep(ctx.poll_interval).await;
    };

    match text(&results, "state") {
        "ready" => {}
        "failed" => {
            return Err(Failure::Service(Box::new(
                crate::problem::Problem::from_answer(
                    500,
                    json!({"title": "The results file could not be built",
                       "detail": text(&results, "error")}),
                ),
            )));
        }
        state => {
            return Err(Failure::Unexpected(format!(
                "the results file is {state:?}: {results}"
            )));
        }
    }
    let link = results.get("file").ok_or_else(|| {
        Failure::Unexpected(format!("a ready results file without a link: {results}"))
    })?;
    let bytes = ctx.api.download(link).await?;
    tokio::fs::write(&args.out, &bytes)
        .await
        .map_err(|e| Failure::Local(format!("cannot write {}: {e}", args.out.display())))?;
    let document = json!({"job_id": job_id, "results": results});
    ctx.print(&document, || {
        format!(
            "results of job {job_id}: {} rows written to {}",
            results.get("rows").and_then(Value::as_u64).unwrap_or(0),
            args.out.display()
        )
    });
    Ok(())
}
