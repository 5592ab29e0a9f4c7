"""Prices what one bulk job cost through the local stack (infra/tests/e2e's `cost-job` output) at
the list prices of prices.json, per million recipients, split by service.

Usage: price.py JOB_JSON TEMPLATE [--label NAME] [--summary OUT_JSON]

JOB_JSON is what `cost-job` printed; TEMPLATE the template.yaml of the revision measured (its
functions' memory and logging settings decide Lambda's GB-seconds and whether Lambda's own
platform lines are logged). Prints a table; --summary writes the totals for compare.py.

What is counted, and from where:
- API Gateway: the client's requests (cost-job's own: the job's POST, each 512 KB of its body
  a request, and the GETs that saw it done) and every delivery-report callback the simulator
  made, retries included (`report_attempts`).
- Lambda invocations: status-callback one per callback; send-bulk one per client request;
  sender and job-files one per non-empty receive of their pollers (what Lambda's event source
  mapping would invoke). GB-seconds: a duration model (prices.json) × the template's memory.
- DynamoDB, SQS, Secrets Manager, S3, CloudWatch metrics: moto's meter (infra/local/moto_meter.py)
  for the functions' requests; for the SQS pollers, their non-empty receives and their deletes
  (Lambda's event source mapping makes and bills them); the pollers' empty receives and the
  schedule poller's own requests are left out (their number follows the poller's wait, not the
  job: docs/cost.md counts the idle polls as a fixed monthly cost). Scheduler: one invocation
  per schedule the schedule poller fired.
- CloudWatch Logs: the bytes of the functions' own log lines written during the job (the
  stack's api.log, JSON), less those below a function's ApplicationLogLevel, plus Lambda's
  platform lines per invocation unless SystemLogLevel is WARN or higher.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter, defaultdict
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
MILLION = 1_000_000
LEVELS = {"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "ERROR": 4, "FATAL": 5}

S3_TIER1 = {
    "PutObject", "CopyObject", "PostObject", "ListObjects", "CreateMultipartUpload", "UploadPart",
    "UploadPartCopy", "CompleteMultipartUpload", "ListParts", "ListMultipartUploads",
    "CreateBucket", "PutBucketConfiguration",
}
S3_FREE = {"DeleteObject", "DeleteObjects", "AbortMultipartUpload"}


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, ...) read as plain values."""


def _any_tag(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return {"Tag": loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {"Tag": loader.construct_sequence(node)}
    return {"Tag": loader.construct_mapping(node)}


CfnLoader.add_multi_constructor("!", _any_tag)


def functions_of(template_path: Path) -> dict[str, dict]:
    """Each function by its binary's name: memory (MB), SystemLogLevel, ApplicationLogLevel."""
    t = yaml.load(template_path.read_text(), Loader=CfnLoader)
    glob = (t.get("Globals") or {}).get("Function") or {}
    out = {}
    for res in (t.get("Resources") or {}).values():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res.get("Properties") or {}
        binary = ((res.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        if not binary:
            continue
        logging = {**(glob.get("LoggingConfig") or {}), **(props.get("LoggingConfig") or {})}

        def level(name):
            v = logging.get(name)
            return v.upper() if isinstance(v, str) else None

        out[binary] = {
            "memory_mb": props.get("MemorySize", glob.get("MemorySize", 128)),
            "log_format": logging.get("LogFormat", "Text"),
            "system_log_level": level("SystemLogLevel"),
            "application_log_level": level("ApplicationLogLevel"),
            # Plivo's reports reach it at its function URL rather than through API Gateway.
            "function_url": bool(props.get("FunctionUrlConfig")),
        }
    return out


def log_lines(job: dict) -> list[tuple[str, str | None, int, str | None]]:
    """(function, level, bytes, message) of each JSON line the functions wrote during the job.

    The function is the one its span names (`request` spans carry `function`; the sender's
    spans are `batch`, job-files' `task`); lines outside any span (a cold start's warning, the
    sender's metric lines) are `(no span)`. Lines that are not JSON are cargo lambda watch's own.
    """
    where = job["api_log"]
    with open(where["path"], "rb") as f:
        f.seek(where["from"])
        data = f.read(where["to"] - where["from"])
    out = []
    for raw in data.split(b"\n"):
        line = raw.strip()
        if not line.startswith(b"{"):
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        span = doc.get("span") or {}
        function = span.get("function") or {"batch": "sender", "task": "job-files"}.get(span.get("name"), "(no span)")
        message = doc.get("message") or (doc.get("fields") or {}).get("message")
        out.append((function, doc.get("level"), len(line), message))
    return out


def measure(job: dict, functions: dict, prices: dict) -> dict:
    n = job["accepted"]
    scale = MILLION / n
    rows = job["meter"]["requests"]
    sim = job["simulator"]

    def meter(caller=None, service=None, op=None):
        return [r for r in rows if (caller is None or r["caller"] == caller)
                and (service is None or r["service"] == service) and (op is None or r["operation"] == op)]

    def busy_receives(caller):
        return sum(r["count"] - r["empty"] for r in meter(caller, "sqs", "ReceiveMessage"))

    items = []  # (service, item, quantity per job, dollars per job)

    # API Gateway
    api = prices["api_gateway_http"]
    client = job["api_requests"]
    post_units = max(1, math.ceil(job.get("post_body_bytes", 0) / api["request_unit_bytes"]))
    gets = sum(v for k, v in client.items() if not k.startswith("POST"))
    callbacks = sim["report_attempts"]
    # Reports that reach status-callback's function URL cost its invocation only.
    via_api = 0 if functions.get("status-callback", {}).get("function_url") else callbacks
    api_requests = post_units + gets + via_api
    where = "report callbacks" if via_api else "report callbacks (0: they reach the function URL)"
    items.append(("API Gateway", f"requests: {via_api:,} {where}, {post_units + gets} client", api_requests, api_requests * api["per_request"]))

    # Lambda
    lam = prices["lambda"]
    invocations = Counter({
        "status-callback": callbacks,
        "send-bulk": sum(client.values()),
        "sender": busy_receives("local-sqs-poller"),
        "job-files": busy_receives("local-files-poller"),
        # The stream trigger's batches: each invocation logs one "counted" line.
        "report-counts": sum(1 for fn, _, _, message in log_lines(job) if fn == "report-counts" and message == "counted"),
    })
    lambda_floor = 0.0  # every invocation billed Lambda's minimum, 1 ms
    for fn, count in sorted(invocations.items()):
        if not count:
            continue
        ms = lam["billed_ms_per_invocation"].get(fn, 1)
        gb = functions.get(fn, {}).get("memory_mb", 128) / 1024
        gb_s = count * ms / 1000 * gb
        dollars = count * lam["per_request"] + gb_s * lam["per_gb_second"]
        lambda_floor += count * (lam["per_request"] + 0.001 * gb * lam["per_gb_second"])
        items.append(("Lambda", f"{fn}: {count:,} invocations, {gb_s:,.1f} GB-s ({ms} ms × {gb * 1024:.0f} MB, modelled)", count, dollars))

    # DynamoDB
    ddb = prices["dynamodb_on_demand"]
    by_op = defaultdict(lambda: [0, 0.0, 0.0])
    for r in meter("functions", "dynamodb"):
        by_op[r["operation"]][0] += r["count"]
        by_op[r["operation"]][1] += r["wru"]
        by_op[r["operation"]][2] += r["rru"]
    for op, (count, wru, rru) in sorted(by_op.items(), key=lambda kv: -(kv[1][1] * ddb["per_wru"] + kv[1][2] * ddb["per_rru"])):
        units = ", ".join(x for x in (f"{wru:,.0f} WRU" if wru else "", f"{rru:,.1f} RRU" if rru else "") if x)
        items.append(("DynamoDB", f"{op}: {count:,} requests, {units}", wru + rru, wru * ddb["per_wru"] + rru * ddb["per_rru"]))

    # SQS
    sqs = prices["sqs_standard"]
    billed = sum(r["billed"] for r in meter("functions", "sqs"))
    for poller in ("local-sqs-poller", "local-files-poller"):
        billed += sum(r["billed"] - r["empty"] for r in meter(poller, "sqs"))
    empty = sum(r["empty"] for r in rows if r["service"] == "sqs")
    items.append(("SQS", f"billed requests (64 KB chunks; {empty:,} empty polls not priced)", billed, billed * sqs["per_request"]))

    # Secrets Manager
    sm = sum(r["count"] for r in meter("functions", "secretsmanager"))
    if sm:
        items.append(("Secrets Manager", "calls", sm, sm * prices["secrets_manager"]["per_call"]))

    # S3
    s3 = prices["s3_standard"]
    tier1 = sum(r["count"] for r in meter("functions", "s3") if r["operation"] in S3_TIER1)
    tier2 = sum(r["count"] for r in meter("functions", "s3") if r["operation"] not in S3_TIER1 | S3_FREE)
    if tier1 or tier2:
        items.append(("S3", f"requests: {tier1:,} PUT/COPY/POST/LIST, {tier2:,} GET and others", tier1 + tier2, tier1 * s3["per_tier1_request"] + tier2 * s3["per_tier2_request"]))

    # Scheduler: what the schedule poller fired (it sends each due schedule's message).
    fired = sum(r["count"] for r in meter("local-schedule-poller", "sqs", "SendMessage"))
    if fired:
        items.append(("EventBridge Scheduler", "invocations", fired, fired * prices["scheduler"]["per_invocation"]))

    # CloudWatch
    cw = prices["cloudwatch"]
    metrics = sum(r["count"] for r in meter("functions", "monitoring", "PutMetricData"))
    if metrics:
        items.append(("CloudWatch", "PutMetricData requests", metrics, metrics * cw["per_put_metric_data_request"]))
    own = Counter()
    dropped = 0
    for fn, level, size, _message in log_lines(job):
        floor = functions.get(fn, {}).get("application_log_level")
        if floor and level and LEVELS.get(level.upper(), 2) < LEVELS.get(floor, 0):
            dropped += size
            continue
        own[fn] += size
    platform_per = sum(len(line) for line in cw["platform_lines"])
    platform = 0
    quiet = []
    for fn, count in invocations.items():
        level = functions.get(fn, {}).get("system_log_level")
        if level and LEVELS.get(level, 2) > LEVELS["INFO"]:
            quiet.append(fn)
            continue
        platform += count * platform_per
    log_bytes = sum(own.values()) + platform
    detail = ", ".join(
        f"{fn} {b:,}" + (f" = {b / invocations[fn]:,.0f} B an invocation" if invocations.get(fn) else "")
        for fn, b in own.most_common()
    )
    note = f"; platform lines off for {', '.join(sorted(quiet))}" if quiet else ""
    items.append(("CloudWatch Logs", f"bytes: functions' lines {sum(own.values()):,} ({detail}); platform lines {platform:,} ({platform_per} B an invocation){note}", log_bytes, log_bytes / 1e9 * cw["per_logs_ingested_gb"]))

    by_service = defaultdict(float)
    for service, _item, _q, dollars in items:
        by_service[service] += dollars * scale
    return {
        "recipients": n,
        "scale": scale,
        "items": [{"service": s, "item": i, "per_job": q, "per_million": d * scale} for s, i, q, d in items],
        "by_service": dict(by_service),
        "total_per_million": sum(by_service.values()),
        "reports_per_recipient": callbacks / n,
        "lambda_floor_per_million": lambda_floor * scale,
        "platform_bytes_per_invocation": platform_per,
        "platform_lines_off": sorted(quiet),
        "log_bytes_dropped_by_level": dropped,
    }


def print_table(m: dict, label: str) -> None:
    print(f"  {label}: one job of {m['recipients']:,} recipients ({m['reports_per_recipient']:.2f} report callbacks each), scaled ×{m['scale']:,.0f} to a million")
    print(f"  {'service':<22} {'per job':>14}  {'$ per million':>13}  item")
    for it in m["items"]:
        q = it["per_job"]
        qs = f"{q:,.1f}" if isinstance(q, float) and not q.is_integer() else f"{q:,.0f}"
        print(f"  {it['service']:<22} {qs:>14}  {it['per_million']:>13.4f}  {it['item']}")
    print(f"  {'by service':<22}")
    for service, dollars in sorted(m["by_service"].items(), key=lambda kv: -kv[1]):
        share = dollars / m["total_per_million"] * 100 if m["total_per_million"] else 0
        print(f"  {service:<22} {'':>14}  {dollars:>13.2f}  {share:4.1f} %")
    print(f"  {'total':<22} {'':>14}  {m['total_per_million']:>13.2f}  per million recipients")
    off = ", ".join(m["platform_lines_off"]) or "none"
    print(f"  notes: Lambda duration is modelled (prices.json, docs/cost.md's ms per invocation), not measured;"
          f" at the 1 ms billed minimum Lambda would be ${m['lambda_floor_per_million']:.2f}.")
    print(f"         Lambda's platform lines: {m['platform_bytes_per_invocation']} B an invocation (prices.json's platform.start"
          f" and platform.report samples); off (template SystemLogLevel above INFO) for: {off}.")
    print("         What a job does once (its POST, the GET that sees it done, a cold start's secret read) is scaled"
          " with the rest: the figure is per million recipients in jobs of this size.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("job")
    ap.add_argument("template")
    ap.add_argument("--label", default="measured")
    ap.add_argument("--summary")
    ap.add_argument("--prices", default=str(HERE / "prices.json"))
    a = ap.parse_args()
    prices = json.loads(Path(a.prices).read_text())
    job = json.loads(Path(a.job).read_text())
    m = measure(job, functions_of(Path(a.template)), prices)
    m["label"] = a.label
    print_table(m, a.label)
    if a.summary:
        Path(a.summary).write_text(json.dumps(m, indent=1))


if __name__ == "__main__":
    main()
