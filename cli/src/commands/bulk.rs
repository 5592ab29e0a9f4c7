//! `smsctl bulk`: a job from a recipient file (docs/api.md, `POST /v1/uploads`, "Jobs from a
//! file"): ask for an upload link, PUT the file there, start the job with its `upload_id`,
//! and with `--watch` follow it.

use serde_json::{Value, json};

use crate::{
    api::Repeat,
    cli::BulkArgs,
    commands::job::follow,
    context::{Context, flag, put, required, text},
    failure::Failure,
};

pub async fn bulk(ctx: &Context, args: BulkArgs) -> Result<(), Failure> {
    let file = args.file.display().to_string();
    let bytes = tokio::fs::read(&args.file)
        .await
        .map_err(|e| Failure::Usage(format!("cannot read the recipient file {file}: {e}")))?;
    if bytes.is_empty() {
        return Err(Failure::Usage(format!(
            "the recipient file {file} is empty"
        )));
    }
    let size = bytes.len();

    let ticket = ctx
        .api
        .post(
            "/v1/uploads",
            Some(&json!({"size": size, "content_type": args.format.content_type()})),
            None,
            // A ticket is only a link: asking again does no harm.
            Repeat::Safe,
        )
        .await?
        .body;
    let upload_id = required(&ticket, "upload_id")?.to_owned();
    let url = required(&ticket, "url")?;
    let headers = ticket
        .get("headers")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    ctx.api.put_presigned(url, &headers, bytes).await?;

    let mut body = json!({"upload_id": upload_id, "text": args.text});
    if args.format != crate::cli::FileFormat::Csv {
        put(&mut body, "format", Some(args.format.api_name()));
    }
    put(&mut body, "phone_column", args.phone_column);
    put(&mut body, "from", args.from);
    put(&mut body, "reference", args.reference);
    put(&mut body, "send_at", args.send_at);
    put(
        &mut body,
        "quiet_hours",
        args.quiet_hours
            .map(|q| json!({"from": q.from, "to": q.to})),
    );
    put(&mut body, "max_cost", args.max_cost);
    put(&mut body, "max_segments", args.max_segments);
    put(&mut body, "valid_for", args.valid_for);
    flag(&mut body, "smart_encoding", args.smart_encoding);
    flag(&mut body, "skip_landlines", args.skip_landlines);
    flag(&mut body, "dry_run", args.dry_run);
    let started = ctx
        .api
        .post(
            "/v1/bulk",
            Some(&body),
            args.idempotency_key.as_deref(),
            Repeat::Never,
        )
        .await?
        .body;

    if args.dry_run {
        ctx.print(&started, || dry_run(&file, &started));
        return Ok(());
    }
    let job_id = required(&started, "job_id")?;
    ctx.started(&started, args.watch, || job_started(&file, size, &started));
    if !args.watch {
        return Ok(());
    }
    follow(ctx, job_id, args.waiting.timeout).await
}

fn job_started(file: &str, size: usize, job: &Value) -> String {
    let id = text(job, "job_id");
    let mut out = format!(
        "job {id} {}: {file} ({size} bytes) uploaded as {}",
        text(job, "status"),
        text(job, "upload_id")
    );
    if let Some(at) = job.get("send_at").and_then(Value::as_str) {
        out.push_str(&format!(", starts at {at}"));
    }
    out.push_str(&format!("\nfollow it: smsctl job {id} --watch"));
    out
}

fn dry_run(file: &str, answer: &Value) -> String {
    let n = |path: &str| answer.pointer(path).and_then(Value::as_u64).unwrap_or(0);
    let mut out = format!("dry run of {file}: nothing was written or sent");
    let mut row = |name: &str, value: String| out.push_str(&format!("\n  {name:<10}{value}"));
    row(
        "rows",
        format!(
            "{} read, {} accepted, {} duplicates, {} suppressed, {} rejected, {} landlines",
            n("/rows/rows"),
            n("/rows/accepted"),
            n("/rows/duplicates"),
            n("/rows/suppressed"),
            n("/rows/rejected"),
            n("/rows/landlines")
        ),
    );
    row(
        "texts",
        format!(
            "{} distinct, {} segments in all",
            n("/rows/distinct_texts"),
            n("/rows/segments")
        ),
    );
    for t in answer
        .get("texts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(3)
    {
        let mut value = format!(
            "{:?}: {}, {} segment(s)",
            text(t, "text"),
            text(t, "encoding"),
            t.get("segments").and_then(Value::as_u64).unwrap_or(0)
        );
        for c in t
            .get("ucs2_characters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            value.push_str(&format!(
                "\n            {} ({}) at {} forces UCS-2",
                text(c, "character"),
                text(c, "code_point"),
                c.get("position").and_then(Value::as_u64).unwrap_or(0)
            ));
        }
        if let Some(smart) = t.get("smart_encoding") {
            value.push_str(&format!(
                "\n            with --smart-encoding: {}, {} segment(s)",
                text(smart, "encoding"),
                smart.get("segments").and_then(Value::as_u64).unwrap_or(0)
            ));
        }
        row("text", value);
    }
    if let Some(cost) = answer.pointer("/estimate/cost").and_then(Value::as_str) {
        row("estimate", cost.to_owned());
    }
    if let Some(detail) = answer.pointer("/budget/detail").and_then(Value::as_str) {
        row("budget", detail.to_owned());
    }
    if answer.get("complete") == Some(&Value::Bool(false)) {
        row("note", "only the file's first 16 MiB were read".to_owned());
    }
    out
}
