//! `smsctl send` and `smsctl message`: one SMS (docs/api.md, `POST /v1/messages`,
//! `GET /v1/messages/{uuid}`).

use serde_json::{Value, json};

use crate::{
    api::Repeat,
    cli::{MessageArgs, SendArgs},
    commands::job::follow,
    context::{Context, flag, put, required, text},
    failure::Failure,
    watch,
};

pub async fn send(ctx: &Context, args: SendArgs) -> Result<(), Failure> {
    let mut body = json!({"to": args.to, "text": args.text});
    put(&mut body, "from", args.from);
    put(&mut body, "reference", args.reference);
    put(&mut body, "send_at", args.send_at);
    put(&mut body, "valid_for", args.valid_for);
    flag(&mut body, "smart_encoding", args.smart_encoding);
    flag(&mut body, "skip_landlines", args.skip_landlines);
    let answer = ctx
        .api
        .post(
            "/v1/messages",
            Some(&body),
            args.idempotency_key.as_deref(),
            Repeat::Never,
        )
        .await?;
    let sent = answer.body;

    // With send_at the answer is a job of one recipient (docs/api.md, "Scheduled messages").
    if sent.get("job_id").is_some() {
        let job_id = required(&sent, "job_id")?;
        ctx.started(&sent, args.wait, || scheduled(&sent));
        if !args.wait {
            return Ok(());
        }
        return follow(ctx, job_id, args.waiting.timeout).await;
    }

    let uuid = required(&sent, "message_uuid")?;
    ctx.started(&sent, args.wait, || shown(&sent));
    if !args.wait {
        return Ok(());
    }
    let message = watch::message(&ctx.api, uuid, ctx.pace(args.waiting.timeout)).await?;
    ctx.print(&message, || shown(&message));
    outcome(&message)
}

pub async fn message(ctx: &Context, args: MessageArgs) -> Result<(), Failure> {
    let message = if args.wait {
        watch::message(&ctx.api, &args.uuid, ctx.pace(args.waiting.timeout)).await?
    } else {
        ctx.api.get(&format!("/v1/messages/{}", args.uuid)).await?
    };
    ctx.print(&message, || shown(&message));
    if args.wait { outcome(&message) } else { Ok(()) }
}

/// Exit 0 only for a delivered message; 4 for the other final statuses.
fn outcome(message: &Value) -> Result<(), Failure> {
    match text(message, "status") {
        "delivered" => Ok(()),
        status => {
            let mut why = format!("message {} ended {status}", text(message, "message_uuid"));
            if let Some(code) = message.get("error_code").filter(|c| !c.is_null()) {
                why.push_str(&format!(
                    " (error code {})",
                    code.as_str()
                        .map_or_else(|| code.to_string(), str::to_owned)
                ));
            }
            Err(Failure::Ended(why))
        }
    }
}

/// A message for a person, from the send's answer or the lookup's.
fn shown(m: &Value) -> String {
    let mut out = format!("message {} {}", text(m, "message_uuid"), text(m, "status"));
    let mut row = |name: &str, value: String| {
        if !value.is_empty() {
            out.push_str(&format!("\n  {name:<10}{value}"));
        }
    };
    row("to", text(m, "to").to_owned());
    row("from", text(m, "from").to_owned());
    row("reference", text(m, "reference").to_owned());
    row("job", text(m, "job_id").to_owned());
    if let Some(segments) = m.get("segments").and_then(Value::as_u64) {
        let plural = if segments == 1 { "" } else { "s" };
        row(
            "encoding",
            format!("{}, {segments} segment{plural}", text(m, "encoding")),
        );
    }
    if let Some(code) = m.get("error_code").filter(|c| !c.is_null()) {
        row(
            "error",
            code.as_str()
                .map_or_else(|| code.to_string(), str::to_owned),
        );
    }
    if let Some(amount) = m.get("amount").filter(|a| !a.is_null()) {
        let units = m.get("units").and_then(Value::as_u64).unwrap_or(0);
        row(
            "charged",
            format!(
                "{} ({units} units)",
                amount
                    .as_str()
                    .map_or_else(|| amount.to_string(), str::to_owned)
            ),
        );
    }
    row("updated", text(m, "updated_at").to_owned());
    out
}

fn scheduled(job: &Value) -> String {
    let id = text(job, "job_id");
    format!(
        "scheduled job {id} {}: to {} at {} ({}, {} segment(s))\n\
         follow it: smsctl job {id} --watch; cancel it before then: smsctl cancel {id}",
        text(job, "status"),
        text(job, "to"),
        text(job, "send_at"),
        text(job, "encoding"),
        job.get("segments").and_then(Value::as_u64).unwrap_or(0)
    )
}
