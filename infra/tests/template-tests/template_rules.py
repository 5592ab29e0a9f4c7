"""The rules template.yaml and infra/deploy/deploy-role.yaml must keep, as one checker.

`problems(template, deploy_role, root)` returns a list of sentences, empty when every rule
holds. test_template.py runs it on the real files (it must find nothing) and on deliberately
broken copies of the templates and of the Rust sources (it must find each break), so a rule
that silently stopped checking would fail the tests too.

What comes from where:
- the routes are those of docs/api.md (hard-coded below, ROUTES: the method each path serves
  and its function; a Markdown file is no source to parse), and the API's contract,
  docs/openapi.yaml, documents exactly those operations. template.yaml routes each of their
  paths for ANY method to its function (HttpApi events, the DefinitionBody, RouteSettings keys,
  the dashboard's Route dimensions), and so does Cargo.toml's `cargo lambda watch` router (a
  string per path), so that a method a path does not serve reaches the function and gets its
  405 with `Allow`, not API Gateway's own 404;
- the environment each function must get is read from the Rust sources at test time
  (`config::required/optional/seconds("...")` in functions/<f>/src, the `wiring::` helpers
  and `::from_env()` constructors they call in sms-core) and compared with the hard-coded
  table ENVIRONMENT, which says why each variable is there;
- the DynamoDB/SQS/Secrets Manager/S3 actions each function needs are derived from the
  adapters' SDK calls (functions/sms-core/src/store/dynamo/, queue/, secrets.rs, files/s3.rs)
  for the trait methods each function uses (FUNCTION_METHODS), and must equal what its role
  grants, each on its own resource (the table, the queues its environment names, the
  bucket's objects under the prefixes it reads and writes, the bucket itself for
  s3:ListBucket);
- the bucket's lifecycle follows the key prefixes of functions/sms-core/src/files/keys.rs.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any, Iterable

FUNCTIONS = ("send-sms", "send-bulk", "sender", "status-callback", "job-files", "report-counts")

# The routes of docs/api.md: the method each path serves, and its function. The callbacks are
# POST only: the service gives Plivo its callback URLs with method POST, and the inbound URL is
# set up as POST (docs/operations.md, "First deployment"). The API routes each path for ANY
# method to its function (route_paths), which answers the methods here and 405 to the rest.
ROUTES = {
    ("POST", "/v1/messages"): "send-sms",
    ("GET", "/v1/messages/{message_uuid}"): "send-sms",
    ("GET", "/v1/openapi.json"): "send-sms",
    ("POST", "/v1/bulk"): "send-bulk",
    ("GET", "/v1/bulk/{job_id}"): "send-bulk",
    ("POST", "/v1/uploads"): "send-bulk",
    ("POST", "/v1/bulk/{job_id}/results"): "send-bulk",
    ("POST", "/v1/bulk/{job_id}/pause"): "send-bulk",
    ("POST", "/v1/bulk/{job_id}/resume"): "send-bulk",
    ("POST", "/v1/bulk/{job_id}/cancel"): "send-bulk",
    ("POST", "/v1/callbacks/plivo/status"): "status-callback",
    ("POST", "/v1/callbacks/plivo/inbound"): "status-callback",
}

# Paths whose ANY route has its own throttle in HttpApi.RouteSettings: Plivo's callbacks, whose
# bursts follow a job's sends, not a client's requests (docs/operations.md).
ROUTE_THROTTLES = {
    "/v1/callbacks/plivo/status": ("CallbackThrottlingBurstLimit", "CallbackThrottlingRateLimit"),
    "/v1/callbacks/plivo/inbound": ("CallbackThrottlingBurstLimit", "CallbackThrottlingRateLimit"),
}

# The operation of an OpenAPI path item that is API Gateway's ANY route.
ANY_METHOD = "x-amazon-apigateway-any-method"
OPENAPI_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# The environment template.yaml gives each function: exactly these names. Every other
# variable a function's code reads is optional and listed in LEFT_UNSET, with the reason the
# template leaves it to its code default.
ENVIRONMENT = {
    "send-sms": {
        "SMS_TABLE",  # required: wiring::dynamo_store
        "SMS_SECRET_ID",  # required: wiring::secret_cache
        "PUBLIC_BASE_URL",  # required: PublicBaseUrl::from_env (callback URL given to Plivo)
        "STATUS_CALLBACK_BASE_URL",  # optional: PublicBaseUrl::from_env (status-callback's function URL)
        "PLIVO_BASE_URL",  # optional: wiring::plivo_client -> plivo_config (template parameter)
        "PLIVO_REQUESTS_PER_SECOND",  # optional: wiring::pacer (PlivoRequestsPerSecond)
        "SMS_FILES_QUEUE_URL",  # required: wiring::files_queue (a scheduled message's start)
        "RUST_LOG",  # optional: telemetry::init's EnvFilter (Globals, LogLevel parameter)
    },
    "send-bulk": {
        "SMS_TABLE",  # required: wiring::dynamo_store
        "SMS_QUEUE_URL",  # required: wiring::sqs_queue
        "SMS_SECRET_ID",  # required: wiring::secret_cache
        "PUBLIC_BASE_URL",  # required: PublicBaseUrl::from_env (callback URL in each batch)
        "STATUS_CALLBACK_BASE_URL",  # optional: PublicBaseUrl::from_env (status-callback's function URL)
        "PLIVO_BATCH_SIZE",  # optional: send-bulk main.rs (PlivoBatchSize parameter)
        "PLIVO_REQUESTS_PER_SECOND",  # optional: wiring::request_rate, for the forecasts
        "PLIVO_ACCOUNT_MPS",  # optional: send-bulk main.rs (PlivoAccountMps parameter)
        "SMS_BUCKET",  # required: wiring::s3_files (uploads, the rejects file's link)
        "SMS_FILES_QUEUE_URL",  # required: wiring::files_queue (a plan task per upload job)
        "MAX_UPLOAD_BYTES",  # optional: send-bulk main.rs (MaxUploadBytes parameter)
        "PLIVO_BASE_URL",  # optional: wiring::prices (Plivo's Pricing API)
        "SMS_PRICES",  # optional: wiring::prices (SmsPrices parameter)
        "FALLBACK",  # optional: FallbackPolicy::is_enabled, whether a job may ask (Fallback)
        "RUST_LOG",
    },
    "sender": {
        "SMS_TABLE",  # required: wiring::dynamo_store
        "SMS_SECRET_ID",  # required: wiring::secret_cache
        "SMS_FILES_QUEUE_URL",  # required: wiring::files_queue (a quiet batch's wake-up)
        "PLIVO_BASE_URL",  # optional: wiring::plivo_config
        "PLIVO_REQUESTS_PER_SECOND",  # optional: wiring::pacer (PlivoRequestsPerSecond)
        "UNKNOWN_OUTCOME",  # optional: UnknownOutcome::parse (UnknownOutcome parameter)
        "RECONCILE_DELAY_SECONDS",  # optional: the settlement task's delay (parameter)
        "FALLBACK",  # optional: wiring::fallback (Fallback parameter)
        "FALLBACK_ORIGINATION",  # optional: wiring::fallback (FallbackOrigination)
        "RUST_LOG",
    },
    "status-callback": {
        "SMS_TABLE",  # required: wiring::dynamo_store
        "SMS_SECRET_ID",  # required: wiring::secret_cache (Plivo auth token for signatures)
        "PUBLIC_BASE_URL",  # required: PublicBaseUrl::from_env (the URL Plivo signed, inbound)
        "PLIVO_ACCEPT_V2_SIGNATURES",  # optional: CallbackSettings::from_env (parameter)
        "RUST_LOG",
    },
    "report-counts": {
        "SMS_TABLE",  # required: wiring::dynamo_store
        "RUST_LOG",
    },
    "job-files": {
        "SMS_TABLE",  # required: wiring::dynamo_store
        "SMS_BUCKET",  # required: wiring::s3_files (the upload, rejects, checkpoints)
        "SMS_QUEUE_URL",  # required: wiring::sqs_queue (a committed job's batches)
        "SMS_FILES_QUEUE_URL",  # required: wiring::files_queue (the task that goes on)
        "SMS_FILES_QUEUE_ARN",  # required: wiring::start_schedules (a schedule's target)
        "SMS_FILES_DLQ_ARN",  # optional: wiring::start_schedules (a start it cannot deliver)
        "SCHEDULE_GROUP",  # required: wiring::start_schedules (the stack's schedule group)
        "SCHEDULER_ROLE_ARN",  # required: wiring::start_schedules (what Scheduler assumes)
        "PLIVO_BATCH_SIZE",  # optional: job-files main.rs (PlivoBatchSize, as send-bulk)
        "SMS_SECRET_ID",  # required: wiring::secret_cache (Plivo's Pricing API, capped uploads)
        "PLIVO_BASE_URL",  # optional: wiring::prices (Plivo's Pricing API)
        "SMS_PRICES",  # optional: wiring::prices (SmsPrices parameter)
        "RECONCILE_DELAY_SECONDS",  # optional: when an absence of records proves something
        "RUST_LOG",
    },
}

# Optional variables the code reads and the template leaves unset, so their code defaults
# hold on AWS: why each.
LEFT_UNSET = {
    "FALLBACK_MESSAGES_PER_SECOND": "wiring::fallback; 20 a second is SNS's default SMS quota, which docs/operations.md says to raise it with",
    "STATUS_CALLBACK_BASE_URL": "status-callback (PublicBaseUrl::from_env); its own function URL cannot be in its "
                                "environment (a circular dependency), so it verifies a report against the domain "
                                "the request reached (function_url_base)",
    "SECRET_TTL_SECONDS": "wiring::secret_cache; 300 s is the rotation delay docs/operations.md promises",
    "PLIVO_TIMEOUT_SECONDS": "wiring::plivo_config; 10 s, which the functions' timeouts are sized for",
    "LOG_FORMAT": "telemetry::init; JSON on AWS, `text` is for reading logs locally",
    "S3_FORCE_PATH_STYLE": "wiring::s3_files; path-style addressing is for the local stack, whose endpoint is an IP address",
    "PRICING_FROM_PLIVO": "wiring::prices; Plivo's list prices price what SMS_PRICES does not list, "
                          "and `false` is only for an account whose every destination is in the table",
    "PLANNER_ROWS_PER_INVOCATION": "job-files main.rs; a cap on rows per invocation (5,000,000) that never binds "
                                   "on AWS, where the deadline stops reading first",
}

# The store/queue/secret trait methods each function's handler calls (functions/<f>/src and
# the sms-core helpers it goes through, e.g. sms_core::http::idempotency for Idempotency-Key).
FUNCTION_METHODS = {
    "send-sms": {
        "MessageStore.record_accepted",
        "MessageStore.get_message",
        "IdempotencyStore.claim_key",
        "IdempotencyStore.take_over_key",  # http::idempotency::check, on a stale claim
        "IdempotencyStore.finish_key",
        "IdempotencyStore.release_key",
        "SuppressionList.is_suppressed",
        "RequestSchedule.book_turns",  # pace::Pacer, before each Plivo attempt
        "RequestSchedule.hold_back",  # pace::Pacer, after a 429
        "SecretSource.fetch",
        "JobStore.get_job",  # a scheduled message (scheduled.rs): a job of one recipient
        "JobStore.create_job",
        "BatchQueue.send_batch",  # fanout::request_start: its schedule task
    },
    "send-bulk": {
        "IdempotencyStore.claim_key",
        "IdempotencyStore.take_over_key",  # http::idempotency::check, on a stale claim
        "IdempotencyStore.finish_key",
        "IdempotencyStore.release_key",
        "JobStore.get_job",
        "JobStore.create_job",
        "JobStore.ledger",
        "JobStore.mark_enqueued",
        "JobStore.status_counts",
        "ProgressLog.recent_progress",  # GET /v1/bulk/{id}: the last minute's rate
        "SuppressionList.suppressed_among",
        "BatchQueue.send_batch",  # the batch queue, and a plan task to the files queue
        "SecretSource.fetch",
        "PlanStore.create_plan",  # POST /v1/bulk with upload_id
        "PlanStore.get_plan",  # GET /v1/bulk/{id}: a job from an upload
        "ObjectStore.presign_put",  # POST /v1/uploads
        "ObjectStore.presign_get",  # GET /v1/bulk/{id}: the rejects and results files' links
        "ResultsStore.request_results",  # POST /v1/bulk/{id}/results
        "ResultsStore.get_results",  # GET /v1/bulk/{id}: the results build
        "JobControls.change_control",  # POST /v1/bulk/{id}/pause, resume, cancel
        "JobControls.raise_budget",  # POST /v1/bulk/{id}/resume with a raised cap
        "ObjectStore.head",  # POST /v1/bulk with upload_id: the upload's size and ETag
        "ObjectStore.read",  # its start (and the whole file for a dry run)
    },
    "sender": {
        "BatchLedger.claim_batch",
        "BatchLedger.finish_batch",
        "BatchLedger.release_batch",
        "JobControls.park_batch",  # a paused job's batch
        "JobControls.cancel_batch",  # a cancelled job's batch
        "JobControls.defer_batch",  # a batch in quiet hours
        "JobControls.change_control",  # a capped job's pause, when a batch could cross its cap
        "BatchQueue.send_batch",  # its job's wake-up (fanout::request_start)
        "MessageStore.record_accepted",
        "SuppressionList.suppressed_among",  # each batch screened again before it goes
        "ProgressLog.note_progress",  # each ended batch, for the job's recent rate
        "RequestSchedule.book_turns",  # pace::Pacer: a block per invocation, one per retry
        "RequestSchedule.hold_back",  # pace::Pacer, after a 429
        "SecretSource.fetch",
        "FallbackSms.publish",  # the fallback provider while Plivo's circuit is open
        "PlivoCircuit.circuit",
        "PlivoCircuit.note_plivo_failure",
        "PlivoCircuit.note_plivo_success",
    },
    "status-callback": {
        "ReportStore.apply_report",
        "SuppressionList.suppress",  # a default method over change
        "SuppressionList.change",
        "SeenOnce.first_sighting",
        "SecretSource.fetch",
    },
    "report-counts": {
        "CountStore.apply_counts",  # each batch of the table's stream (table_stream)
    },
    "job-files": {
        "PlanStore.claim_plan",
        "PlanStore.save_checkpoint",  # a plan that stops before the end of its file
        "PlanStore.end_plan",
        "PlanStore.put_batches",
        "JobStore.get_job",
        "JobStore.commit_job",
        "JobStore.ledger",
        "JobStore.mark_enqueued",  # sms_core::fanout::enqueue_batches
        "SuppressionList.suppressed_among",
        "BatchQueue.send_batch",  # batches (fanout), and the task that goes on
        "ObjectStore.head",
        "ObjectStore.read",
        "ObjectStore.put",  # rejects segments, the rejects file, checkpoints
        "ObjectStore.delete",  # segments and checkpoints no longer needed
        "ObjectStore.start_multipart",  # the rejects file from several segments; the results file
        "ObjectStore.upload_part",
        "ObjectStore.complete_multipart",
        "ResultsStore.claim_results",  # the results task (results.rs)
        "ResultsStore.save_results_checkpoint",
        "ResultsStore.end_results",
        "ResultsStore.reported",  # the reports of a page of the ledger's messages
        "JobStore.ledger_range",  # the ledger, page by page
        "JobControls.change_control",  # a scheduled job's start (start.rs)
        "StartSchedules.schedule_start",  # its one-time schedule
        "StartSchedules.forget_start",  # removed when it is cancelled before its start
        "SecretSource.fetch",  # a capped upload's prices from Plivo's Pricing API (planning.rs)
        "JobControls.unpark_batch",  # the sweep after a resume (sweep.rs)
        "JobControls.cancel_batch",  # the sweep after a cancel
        "JobStore.status_counts",  # an unknown batch seen in reports (reconcile.rs)
        "UnknownBatches.settle_unknown",  # its settlement
        "MessageStore.get_message",  # whose a record's uuid is
        "MessageStore.record_accepted",  # the messages found in Plivo's records
    },
}

# Granted beyond what the code needs, on purpose: nothing at the moment.
PENDING_EXTRA_ACTIONS: dict[str, set[str]] = {}

# Functions with reserved concurrency: the template parameter that sets it and its default.
RESERVED_CONCURRENCY = {
    "status-callback": ("StatusCallbackReservedConcurrency", 100),
}

# What Lambda's SQS event source mapping calls with the function's role.
EVENT_SOURCE_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}

# What Lambda's DynamoDB event source mapping calls with the function's role: on the table's
# stream (!GetAtt Table.StreamArn) only.
STREAM_EVENT_SOURCE_ACTIONS = {
    "dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams",
}

# Functions fed by the table's stream, and the rules of their event: every batch is counted
# once by marks named by each run's first record (CountStore::apply_counts), so a failed batch must be
# retried whole (no bisecting, one batch per shard at a time); retries are bounded and a batch
# given up on goes to an alarmed queue; only bulk messages' STATUS writes are delivered.
STREAM_FED = {
    "report-counts": "CountsFailureQueue",
}
STREAM_FILTER = {
    "eventName": ["INSERT", "MODIFY"],
    "dynamodb": {"Keys": {"sk": {"S": ["STATUS"]}}, "NewImage": {"job_id": {"S": [{"exists": True}]}}},
}

MEMORY_AND_TIMEOUT = {
    "send-sms": (256, 29),
    "send-bulk": (512, 30),
    "sender": (256, 120),
    "status-callback": (256, 10),
    "job-files": (1024, 900),  # a million-row plan peaks at 433 MB; one plan may take 15 min
    "report-counts": (128, 60),  # a batch of up to 1,000 stream records, one transaction per 99 jobs
}

OUTPUTS = {"ApiUrl", "StatusCallbackUrl", "InboundCallbackUrl", "QueueUrl", "DeadLetterQueueUrl", "TableName",
           "FilesBucketName", "FilesQueueUrl", "FilesDeadLetterQueueUrl"}

# Functions fed by a queue: (the queue, its dead-letter queue). Each has one SQS event on its
# queue with partial batch failures and a MaximumConcurrency; the queue's visibility timeout
# is at least 6 × the function's timeout, and its dead-letter queue has an alarm.
QUEUE_FED = {
    "sender": ("BatchQueue", "DeadLetterQueue"),
    "job-files": ("FilesQueue", "FilesDeadLetterQueue"),
}

# The environment variables that name a queue a function sends to, and that queue.
QUEUE_VARIABLES = {"SMS_QUEUE_URL": "BatchQueue", "SMS_FILES_QUEUE_URL": "FilesQueue"}

# What a function's environment variable must refer to (!Ref), so that it gets its value
# from the one resource or parameter that holds it.
ENVIRONMENT_SOURCES = {
    "SMS_TABLE": "Table",
    "SMS_SECRET_ID": "SecretName",
    "SMS_BUCKET": "FilesBucket",
    "MAX_UPLOAD_BYTES": "MaxUploadBytes",
    "PLIVO_BATCH_SIZE": "PlivoBatchSize",  # send-bulk and job-files batch alike
    # The sender's delay and job-files' proof of absence must agree.
    "RECONCILE_DELAY_SECONDS": "ReconcileDelaySeconds",
    "UNKNOWN_OUTCOME": "UnknownOutcome",
    **QUEUE_VARIABLES,
}

# The bucket. Its lifecycle expires every prefix of functions/sms-core/src/files/keys.rs
# (`pub const <NAME>_PREFIX`) after the days given here: a number, or the name of a constant
# of functions/sms-core/src/store/keys.rs.
BUCKET = "FilesBucket"
BUCKET_EXPIRY_DAYS: dict[str, int | str] = {
    "UPLOADS_PREFIX": 2,  # time to start a job from an upload, no longer to keep a client's list
    "JOBS_PREFIX": "MESSAGE_RETENTION_DAYS",  # a job's files live as long as its records
}
# A multipart upload nobody completed (a rejects file whose invocation died) is dropped.
ABORT_INCOMPLETE_UPLOADS_DAYS = 1

# S3 actions that write or change objects, and the one prefix (a constant of files/keys.rs)
# under which each function may do so; reads (s3:GetObject) may cover the whole bucket.
S3_WRITE_ACTIONS = {"s3:PutObject", "s3:DeleteObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"}
S3_WRITE_PREFIX = {
    "send-bulk": "UPLOADS_PREFIX",  # presign_put of keys::upload only: the client's PUT
    "job-files": "JOBS_PREFIX",  # a job's rejects, segments and checkpoints only
}
# S3 answers 404 for a missing key only to a caller allowed s3:ListBucket on the bucket
# (403 otherwise): a function that reads objects needs it, on the bucket.
S3_READ_NEEDS = {"s3:GetObject": "s3:ListBucket"}

# SDK operation (snake case, as the Rust SDK spells it) -> the IAM action it needs, per
# service; each adapter module is read with its service's table (`adapters` below).
DYNAMODB_ACTIONS = {
    "get_item": "dynamodb:GetItem",
    "put_item": "dynamodb:PutItem",
    "update_item": "dynamodb:UpdateItem",
    "delete_item": "dynamodb:DeleteItem",
    "query": "dynamodb:Query",
    "scan": "dynamodb:Scan",
    "batch_get_item": "dynamodb:BatchGetItem",
    "batch_write_item": "dynamodb:BatchWriteItem",
    "transact_get_items": "dynamodb:GetItem",
}
SQS_ACTIONS = {
    "send_message": "sqs:SendMessage",
    "send_message_batch": "sqs:SendMessage",  # authorised per message as SendMessage
}
SECRETS_ACTIONS = {
    "get_secret_value": "secretsmanager:GetSecretValue",
}
S3_ACTIONS = {
    "head_object": "s3:GetObject",  # HeadObject is authorised as GetObject
    # Sent, or presigned (`.presigned(...)` instead of `.send()`): S3 authorises a presigned
    # request as the role that signed it, when the client sends it.
    "get_object": "s3:GetObject",
    "put_object": "s3:PutObject",
    "delete_object": "s3:DeleteObject",
    # A multipart upload is authorised as PutObject, but for its parts' listing and abort.
    "create_multipart_upload": "s3:PutObject",
    "upload_part": "s3:PutObject",
    "complete_multipart_upload": "s3:PutObject",
    "list_parts": "s3:ListMultipartUploadParts",
    "abort_multipart_upload": "s3:AbortMultipartUpload",
}
SNS_ACTIONS = {
    "publish": "sns:Publish",
}
SCHEDULER_ACTIONS = {
    "create_schedule": "scheduler:CreateSchedule",
    "delete_schedule": "scheduler:DeleteSchedule",
}
# Actions an action needs beside it: a schedule names the role Scheduler assumes, which its
# creator must be allowed to pass.
ACTIONS_ALSO_NEED = {
    "scheduler:CreateSchedule": {"iam:PassRole"},
}
# TransactWriteItems is authorised per entry.
TRANSACT_ENTRY_ACTIONS = {
    "update": "dynamodb:UpdateItem",
    "put": "dynamodb:PutItem",
    "delete": "dynamodb:DeleteItem",
    "condition_check": "dynamodb:ConditionCheckItem",
}

# Resource "*" in deploy-role.yaml: only these statements, each for the reason given there.
DEPLOY_ROLE_STAR_STATEMENTS = {
    # read-only calls without a resource type
    "LogGroupsDescribe": {"condition": None},
    # no resource type before the mapping exists; must be limited by the function's ARN
    "EventSourceMappingCreate": {"condition": "lambda:FunctionArn"},
    # the functions' boundary: SNS's Publish to a phone number has no resource to name; a
    # Deny of every topic beside it leaves phone numbers only
    "FallbackSms": {"condition": None, "deny": "FallbackNoTopics"},
}
# Resource "*" in template.yaml's roles: only these statements, likewise.
TEMPLATE_STAR_STATEMENTS = {
    "Fallback": {"condition": None, "deny": "FallbackNoTopics"},
}
READ_ONLY_VERBS = ("Describe", "List", "Get")


# ----------------------------------------------------------------------------------------
# Small helpers over CloudFormation JSON (intrinsics as {"Ref": ...}, {"Fn::If": [...]}).

def _items(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _resolve_if(value: Any) -> list:
    """Every alternative of a value that may be wrapped in Fn::If (AWS::NoValue dropped)."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        _, yes, no = value["Fn::If"]
        return _resolve_if(yes) + _resolve_if(no)
    if value == {"Ref": "AWS::NoValue"}:
        return []
    return [value]


def statements(document: dict) -> list[dict]:
    out = []
    for st in _items(document.get("Statement", [])):
        for alt in _resolve_if(st):
            out.append(alt)
    return out


def policy_documents(template: dict) -> Iterable[tuple[str, dict]]:
    """(where, document) of every IAM policy document in a template."""
    for name, res in template.get("Resources", {}).items():
        props = res.get("Properties", {}) or {}
        kind = res.get("Type")
        if kind == "AWS::IAM::Role":
            yield f"{name}.AssumeRolePolicyDocument", props.get("AssumeRolePolicyDocument", {})
            for pol in props.get("Policies", []) or []:
                yield f"{name}.{pol.get('PolicyName')}", pol.get("PolicyDocument", {})
        elif kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy", "AWS::SQS::QueuePolicy",
                      "AWS::SQS::QueueInlinePolicy", "AWS::S3::BucketPolicy"):
            yield name, props.get("PolicyDocument", {})
        elif kind == "AWS::Serverless::Function":
            for pol in _items(props.get("Policies", [])):
                if isinstance(pol, dict) and "Statement" in pol:
                    yield f"{name}.Policies", pol


def _actions(st: dict) -> list[str]:
    return [a for a in _items(st.get("Action", [])) if isinstance(a, str)]


def _resources(st: dict) -> list:
    return _items(st.get("Resource", []))


def _ref_name(value: Any) -> str | None:
    """The logical id behind !Ref X or !GetAtt X.Arn."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            return att[0] if isinstance(att, list) else str(att).split(".")[0]
    return None


# ----------------------------------------------------------------------------------------
# What the Rust code reads and calls.

def _body_after(text: str, start: int) -> str:
    """The brace-delimited block that starts at the first '{' at or after `start`."""
    open_at = text.index("{", start)
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1:i]
    raise ValueError("unbalanced braces")


def _strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", text)


def _fn_bodies(text: str) -> dict[str, str]:
    """Top-level and impl-level `fn name(...) { body }`, by name (later ones win)."""
    out = {}
    for m in re.finditer(r"\bfn\s+(\w+)\s*(?:<[^>]*>)?\s*\(", text):
        try:
            out[m.group(1)] = _body_after(text, m.end())
        except ValueError:
            pass
    return out


ENV_CALL = re.compile(r'config::(required|optional|seconds)\(\s*"([A-Z0-9_]+)"')
BARE_ENV_CALL = re.compile(r'\b(required|optional|seconds)\(\s*"([A-Z0-9_]+)"')
STD_ENV = re.compile(r'env::var(?:_os)?\(\s*"([A-Z0-9_]+)"')


def rust_sources(dir_: Path) -> str:
    return "\n".join(_strip_comments(p.read_text()) for p in sorted(dir_.rglob("*.rs")))


def environment_from_code(root: Path, function: str) -> tuple[set[str], set[str], list[str]]:
    """(required, optional, problems) environment variables of one function, from the code."""
    core = root / "functions/sms-core/src"
    src = rust_sources(root / f"functions/{function}/src")
    required: set[str] = set()
    optional: set[str] = set()
    problems: list[str] = []

    def take(kind: str, name: str) -> None:
        (required if kind == "required" else optional).add(name)

    for kind, name in ENV_CALL.findall(src):
        take(kind, name)
    optional.update(STD_ENV.findall(src))

    # wiring:: helpers, followed through the helpers they call.
    wiring = _fn_bodies(_strip_comments((core / "wiring.rs").read_text()))
    seen: set[str] = set()
    todo = list(re.findall(r"wiring::(\w+)\(", src))
    while todo:
        helper = todo.pop()
        if helper in seen:
            continue
        seen.add(helper)
        body = wiring.get(helper)
        if body is None:
            problems.append(f"{function}: calls wiring::{helper}, which the test cannot find in wiring.rs")
            continue
        for kind, name in ENV_CALL.findall(body):
            take(kind, name)
        todo.extend(n for n in re.findall(r"\b(\w+)\(", body) if n in wiring)

    # Type::from_env() constructors in sms-core (config.rs).
    config = _strip_comments((core / "config.rs").read_text())
    for type_name in set(re.findall(r"(\w+)::from_env\(", src)):
        m = re.search(rf"impl\s+{type_name}\s*\{{", config)
        if not m:
            problems.append(f"{function}: uses {type_name}::from_env, which the test cannot find in config.rs")
            continue
        body = _fn_bodies(_body_after(config, m.start())).get("from_env", "")
        for kind, name in BARE_ENV_CALL.findall(body):
            take(kind, name)

    # telemetry::init: RUST_LOG through EnvFilter, LOG_FORMAT.
    if "telemetry::init" in src:
        telemetry = _strip_comments((core / "telemetry.rs").read_text())
        optional.update(STD_ENV.findall(telemetry))
        if "from_default_env" in telemetry:
            optional.add("RUST_LOG")
    return required, optional - required, problems


def unattributed_required(root: Path) -> list[str]:
    """Required variables read somewhere in sms-core that the analysis above does not follow."""
    core = root / "functions/sms-core/src"
    out = []
    for path in sorted(core.rglob("*.rs")):
        if path.name in ("wiring.rs", "config.rs"):
            continue
        for kind, name in ENV_CALL.findall(_strip_comments(path.read_text())):
            if kind == "required":
                out.append(f"sms-core {path.relative_to(root)} requires {name}, which this test does not attribute to any function; extend environment_from_code")
    return out


def _traits(text: str) -> dict[str, set[str]]:
    out = {}
    for m in re.finditer(r"pub\s+trait\s+(\w+)[^{;]*\{", text):
        body = _body_after(text, m.start())
        out[m.group(1)] = set(re.findall(r"\bfn\s+(\w+)", body))
    return out


def _default_methods(text: str) -> dict[str, dict[str, str]]:
    """{trait: {method: body}} of the methods a trait defines with a body (defaults)."""
    out: dict[str, dict[str, str]] = {}
    for m in re.finditer(r"pub\s+trait\s+(\w+)[^{;]*\{", text):
        body = _body_after(text, m.start())
        defaults = out.setdefault(m.group(1), {})
        for f in re.finditer(r"\bfn\s+(\w+)\s*(?:<[^>]*>)?\s*\(", body):
            depth, i = 0, f.end() - 1
            while i < len(body):  # to the end of the parameter list
                depth += {"(": 1, ")": -1}.get(body[i], 0)
                if depth == 0:
                    break
                i += 1
            semi, brace = body.find(";", i), body.find("{", i)
            if brace != -1 and (semi == -1 or brace < semi):
                defaults[f.group(1)] = _body_after(body, i)
    return out


def _ops_in(body: str, sdk_actions: dict[str, str]) -> set[str]:
    ops = set()
    for op in re.findall(r"\.\s*(\w+)\(\)", body):
        if op in sdk_actions:
            ops.add(sdk_actions[op])
            ops |= ACTIONS_ALSO_NEED.get(sdk_actions[op], set())
    if sdk_actions is DYNAMODB_ACTIONS and re.search(r"\.\s*transact_write_items\(\)", body):
        for entry in re.findall(r"TransactWriteItem::builder\(\)\s*\.\s*(\w+)\(", body):
            if entry in TRANSACT_ENTRY_ACTIONS:
                ops.add(TRANSACT_ENTRY_ACTIONS[entry])
    return ops


# The SDK operations an adapter may call without an entry in its table: none of them needs
# an IAM action of its own (TransactWriteItems is authorised per entry).
UNMAPPED_SDK_CALLS = {"transact_write_items"}
SDK_CALL = re.compile(r"\bclient(?:\(\))?\s*\.\s*(\w+)\(\)")


def dynamo_adapter_files(root: Path) -> list[Path]:
    """The DynamoDB adapter's modules, without the table's schema tool (not a port)."""
    return [p for p in sorted((root / "functions/sms-core/src/store/dynamo").glob("*.rs"))
            if p.name != "schema.rs"]


def adapters(root: Path) -> list[tuple[Path, dict[str, str]]]:
    """Every adapter module and the SDK table its calls are read with."""
    core = root / "functions/sms-core/src"
    return ([(p, DYNAMODB_ACTIONS) for p in dynamo_adapter_files(root)]
            + [(core / "queue/sqs.rs", SQS_ACTIONS), (core / "secrets.rs", SECRETS_ACTIONS),
               (core / "files/s3.rs", S3_ACTIONS), (core / "schedule/scheduler.rs", SCHEDULER_ACTIONS),
               (core / "fallback.rs", SNS_ACTIONS)])


def port_files(root: Path) -> list[Path]:
    """The modules that define the ports (traits) the adapters implement."""
    core = root / "functions/sms-core/src"
    return sorted((core / "store").glob("*.rs")) + [core / "queue/mod.rs", core / "secrets.rs", core / "files/mod.rs",
                                                     core / "schedule/mod.rs", core / "fallback.rs"]


def method_actions(root: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """({"Trait.method": IAM actions}, {"Trait": methods}) from the sms-core adapters.

    A method's actions are those of the SDK calls in its body and in every method of the same
    adapter type it calls through `self.` (inherent helpers, and other trait methods, such as
    PlanStore::claim_plan reading the plan with get_plan); a trait's default method (say
    JobStore::create_job) counts as the adapter's when the adapter does not override it."""
    traits: dict[str, set[str]] = {}
    defaults: dict[str, dict[str, str]] = {}
    for p in port_files(root):
        text = _strip_comments(p.read_text())
        traits.update(_traits(text))
        defaults.update(_default_methods(text))

    # (type, trait or None, method bodies, SDK table) of every impl block of the adapters.
    impls: list[tuple[str, str | None, dict[str, str], dict[str, str]]] = []
    for path, sdk in adapters(root):
        text = _strip_comments(path.read_text())
        for m in re.finditer(r"impl(?:<[^>]*>)?\s+(?:(\w+)(?:<[^>]*>)?\s+for\s+)?(\w+)(?:<[^>]*>)?\s*\{", text):
            impls.append((m.group(2), m.group(1), _fn_bodies(_body_after(text, m.start())), sdk))

    # Every method an adapter type has, by name: (body, the SDK table to read it with).
    methods: dict[str, dict[str, list[tuple[str, dict[str, str]]]]] = {}
    for type_, trait, bodies, sdk in impls:
        for name, body in bodies.items():
            methods.setdefault(type_, {}).setdefault(name, []).append((body, sdk))
    for type_, trait, bodies, sdk in impls:
        for name, body in (defaults.get(trait or "", {})).items():
            if name not in bodies:
                methods.setdefault(type_, {}).setdefault(name, []).append((body, sdk))

    memo: dict[tuple[str, str], set[str]] = {}

    def ops_of(type_: str, body: str, sdk: dict[str, str], stack: tuple = ()) -> set[str]:
        ops = _ops_in(body, sdk)
        for name in re.findall(r"\b(?:self|Self)\s*(?:\.|::)\s*(\w+)\s*\(", body):
            if (type_, name) in stack or name not in methods.get(type_, {}):
                continue
            if (type_, name) not in memo:
                found: set[str] = set()
                for inner, inner_sdk in methods[type_][name]:
                    found |= ops_of(type_, inner, inner_sdk, stack + ((type_, name),))
                memo[(type_, name)] = found
            ops |= memo[(type_, name)]
        return ops

    actions: dict[str, set[str]] = {}
    for type_, trait, bodies, sdk in impls:
        if not trait:
            continue
        for name in bodies.keys() | defaults.get(trait, {}).keys():
            body = bodies.get(name, defaults.get(trait, {}).get(name, ""))
            key = f"{trait}.{name}"
            actions[key] = actions.get(key, set()) | ops_of(type_, body, sdk, ((type_, name),))
    return actions, traits


def adapter_call_problems(root: Path) -> list[str]:
    """An adapter's SDK call that no table maps, or that no port method reaches (a free
    function, say), would give no function its action: both are reported."""
    out = []
    reached: set[str] = set()
    for acts in method_actions(root)[0].values():
        reached |= acts
    for path, sdk in adapters(root):
        text = _strip_comments(path.read_text())
        for op in sorted(set(SDK_CALL.findall(text)) - set(sdk) - UNMAPPED_SDK_CALLS):
            out.append(f"{path.relative_to(root)} calls the SDK's {op}, which the rules map to no IAM action; add it")
        for action in sorted(_ops_in(text, sdk) - reached):
            out.append(f"{path.relative_to(root)} calls {action} outside any port method the rules follow; extend method_actions")
    return out


def table_actions_used_by_adapters(root: Path) -> set[str]:
    """Every DynamoDB data action the adapters call (the table's schema tool excluded)."""
    ops: set[str] = set()
    for p in dynamo_adapter_files(root):
        ops |= _ops_in(_strip_comments(p.read_text()), DYNAMODB_ACTIONS)
    return ops


# ----------------------------------------------------------------------------------------
# The checks.

def _functions(template: dict) -> dict[str, tuple[str, dict]]:
    """binary name -> (logical id, resource) of the template's functions."""
    out = {}
    for name, res in template["Resources"].items():
        if res.get("Type") == "AWS::Serverless::Function":
            binary = ((res.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
            out[binary] = (name, res)
    return out


def _env(template: dict, res: dict) -> dict:
    merged = dict(((template.get("Globals", {}).get("Function", {}) or {}).get("Environment") or {}).get("Variables") or {})
    merged.update(((res["Properties"].get("Environment") or {}).get("Variables")) or {})
    return merged


def _param_default(template: dict, value: Any) -> Any:
    name = _ref_name(value)
    if name and name in template.get("Parameters", {}):
        return template["Parameters"][name].get("Default")
    return value


def check_functions(template: dict, root: Path) -> list[str]:
    out = []
    glob = (template.get("Globals") or {}).get("Function") or {}
    for key, want in (("Runtime", "provided.al2023"), ("Architectures", ["arm64"]), ("Handler", "bootstrap")):
        if glob.get(key) != want:
            out.append(f"Globals.Function.{key} must be {want!r}, is {glob.get(key)!r}")
    if (glob.get("LoggingConfig") or {}).get("LogFormat") != "JSON":
        out.append("Globals.Function.LoggingConfig.LogFormat must be JSON")

    fns = _functions(template)
    if set(fns) != set(FUNCTIONS):
        out.append(f"functions (BuildProperties.Binary) must be {sorted(FUNCTIONS)}, are {sorted(map(str, fns))}")
    for binary, (name, res) in fns.items():
        props = res["Properties"]
        meta = res.get("Metadata") or {}
        if props.get("CodeUri") != ".":
            out.append(f"{name}: CodeUri must be '.' (the workspace), is {props.get('CodeUri')!r}")
        if meta.get("BuildMethod") != "rust-cargolambda":
            out.append(f"{name}: Metadata.BuildMethod must be rust-cargolambda")
        if binary not in FUNCTIONS or not (root / f"functions/{binary}/Cargo.toml").is_file():
            out.append(f"{name}: Binary {binary!r} is not a package under functions/")
        for key in ("Runtime", "Architectures", "Handler"):
            if key in props and props[key] != glob.get(key):
                out.append(f"{name}: overrides {key}")
        if binary in MEMORY_AND_TIMEOUT:
            mem, timeout = MEMORY_AND_TIMEOUT[binary]
            if props.get("MemorySize") != mem or props.get("Timeout") != timeout:
                out.append(f"{name}: MemorySize/Timeout must be {mem}/{timeout}, are {props.get('MemorySize')}/{props.get('Timeout')}")
        reserved = props.get("ReservedConcurrentExecutions")
        if binary in RESERVED_CONCURRENCY:
            param, default = RESERVED_CONCURRENCY[binary]
            if _ref_name(reserved) != param or _param_default(template, reserved) != default:
                out.append(f"{name}: ReservedConcurrentExecutions must be !Ref {param} (default {default})")
        elif reserved is not None:
            out.append(f"{name}: sets ReservedConcurrentExecutions, which table RESERVED_CONCURRENCY does not list")
        if "Policies" in props or "Role" not in props:
            out.append(f"{name}: must use its own Role (no SAM Policies, which add managed policies with Resource '*')")
        fname = props.get("FunctionName")
        if not (isinstance(fname, dict) and fname.get("Fn::Sub") == f"${{AWS::StackName}}-{binary}"):
            out.append(f"{name}: FunctionName must be !Sub '${{AWS::StackName}}-{binary}' (the API's integrations name it)")
    return out


def check_environment(template: dict, root: Path) -> list[str]:
    out = unattributed_required(root)
    for binary, (name, res) in _functions(template).items():
        if binary not in ENVIRONMENT:
            continue
        env = _env(template, res)
        have = set(env)
        required, optional, problems = environment_from_code(root, binary)
        out += problems
        for var in sorted(required - have):
            out.append(f"{name}: the code requires environment variable {var}, which the template does not set")
        for var in sorted(ENVIRONMENT[binary] - have):
            out.append(f"{name}: environment variable {var} is missing (table ENVIRONMENT)")
        for var in sorted(have - ENVIRONMENT[binary]):
            out.append(f"{name}: sets {var}, which is not in the table ENVIRONMENT")
        for var in sorted(have - required - optional):
            out.append(f"{name}: sets {var}, which its code never reads")
        for var in sorted(ENVIRONMENT[binary] - required - optional):
            out.append(f"{name}: table ENVIRONMENT lists {var}, which its code never reads")
        for var in sorted(optional - ENVIRONMENT[binary] - set(LEFT_UNSET)):
            out.append(f"{name}: its code reads {var}, which neither ENVIRONMENT (set by the template) nor "
                       "LEFT_UNSET (left to its code default, and why) lists")
        want_base = "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
        if "PUBLIC_BASE_URL" in env and env["PUBLIC_BASE_URL"] != {"Fn::Sub": want_base}:
            out.append(f"{name}: PUBLIC_BASE_URL must be !Sub {want_base!r}")
        # Delivery reports go to status-callback's function URL, which checks Plivo's signature
        # against the domain it was reached at (docs/cost.md, "Delivery reports").
        want_url = {"Fn::GetAtt": ["StatusCallbackFunctionUrl", "FunctionUrl"]}
        if "STATUS_CALLBACK_BASE_URL" in env and env["STATUS_CALLBACK_BASE_URL"] != want_url:
            out.append(f"{name}: STATUS_CALLBACK_BASE_URL must be !GetAtt StatusCallbackFunctionUrl.FunctionUrl")
        for var, source in ENVIRONMENT_SOURCES.items():
            if var in env and (_ref_name(env[var]) != source or "Ref" not in env[var]):
                out.append(f"{name}: {var} must be !Ref {source}")
    return out


def route_paths() -> tuple[dict[str, str], list[str]]:
    """path -> function, from ROUTES: each path is one ANY route to the function that serves
    its methods. Problems if ROUTES gives one path's methods to different functions (an ANY
    route has one integration)."""
    paths: dict[str, str] = {}
    out = []
    for (method, path), binary in ROUTES.items():
        if paths.setdefault(path, binary) != binary:
            out.append(f"ROUTES sends {path} to {paths[path]} and {binary} ({method}): "
                       "its ANY route can go to one function only")
    return paths, out


def _any_route_problem(where: str, method: str, path: Any) -> str:
    return (f"{where}: route {method} {path} must be ANY {path}: a route of one method leaves the "
            "others to API Gateway's own 404, where the function answers 405 with Allow")


def check_routes(template: dict, root: Path) -> list[str]:
    paths, out = route_paths()
    any_keys = {f"ANY {path}" for path in paths}
    fns = _functions(template)

    # The functions' HttpApi events (SAM's invoke permissions): one ANY event per path.
    events: dict[Any, str] = {}
    for binary, (name, res) in fns.items():
        for ev_name, ev in (res["Properties"].get("Events") or {}).items():
            if ev.get("Type") != "HttpApi":
                continue
            p = ev.get("Properties") or {}
            if _ref_name(p.get("ApiId")) != "HttpApi":
                out.append(f"{name}.{ev_name}: must be on the HttpApi")
            method, path = str(p.get("Method")).upper(), p.get("Path")
            if method != "ANY":
                out.append(_any_route_problem(f"{name}.{ev_name}", method, path))
            if path in events:
                out.append(f"route ANY {path} is declared twice (HttpApi events)")
            events[path] = binary
    for path, binary in paths.items():
        if events.get(path) != binary:
            out.append(f"route ANY {path} must go to {binary}, goes to {events.get(path)}")
    for path in sorted(set(events) - set(paths), key=str):
        out.append(f"route ANY {path} is not a route of the API (ROUTES, docs/api.md)")

    # The API's own route table (the DefinitionBody that breaks the circular dependency).
    api = template["Resources"].get("HttpApi", {})
    if api.get("Type") != "AWS::Serverless::HttpApi":
        out.append("HttpApi must be an AWS::Serverless::HttpApi")
        return out
    props = api.get("Properties") or {}
    if props.get("StageName") not in (None, "$default"):
        out.append("HttpApi must use the $default stage")
    drs = props.get("DefaultRouteSettings") or {}
    if "ThrottlingBurstLimit" not in drs or "ThrottlingRateLimit" not in drs:
        out.append("HttpApi.DefaultRouteSettings must set ThrottlingBurstLimit and ThrottlingRateLimit")
    body_routes: dict[str, str | None] = {}
    for path, ops in ((props.get("DefinitionBody") or {}).get("paths") or {}).items():
        for method, op in (ops or {}).items():
            if method in OPENAPI_METHODS:
                out.append(_any_route_problem("HttpApi.DefinitionBody", method.upper(), path)
                           + f" (operation {ANY_METHOD})")
            elif method != ANY_METHOD:
                continue  # not an operation (parameters, summary, ...)
            integ = (op or {}).get("x-amazon-apigateway-integration") or {}
            uri = integ.get("uri", {})
            uri = uri.get("Fn::Sub") if isinstance(uri, dict) else uri
            m = re.search(r":function:\$\{AWS::StackName\}-([a-z-]+)/invocations$", str(uri))
            if path in body_routes:
                out.append(f"HttpApi.DefinitionBody routes {path} twice ({method}): one {ANY_METHOD} per path")
            body_routes[path] = m.group(1) if m else None
            if integ.get("payloadFormatVersion") != "2.0" or str(integ.get("type")).lower() != "aws_proxy":
                out.append(f"HttpApi.DefinitionBody {method} {path}: must be aws_proxy, payload format 2.0")
    for path, binary in paths.items():
        if body_routes.get(path) != binary:
            out.append(f"HttpApi.DefinitionBody ANY {path} must go to {binary}, goes to {body_routes.get(path)}")
    for path in sorted(set(body_routes) - set(paths)):
        out.append(f"HttpApi.DefinitionBody routes {path}, which is not a route of the API (ROUTES, docs/api.md)")

    # Route keys named elsewhere must be keys of the API's routes: a RouteSettings key of no
    # route throttles nothing (if the stage takes it at all), a metric's Route dimension of no
    # route shows nothing. The callbacks keep their own throttle.
    route_settings = props.get("RouteSettings") or {}
    for key in route_settings:
        if key not in any_keys:
            out.append(f"HttpApi.RouteSettings key {key!r} is not a route of the API (its route keys are "
                       "'ANY <path>', a path of ROUTES)")
    for path, (burst, rate) in ROUTE_THROTTLES.items():
        settings = route_settings.get(f"ANY {path}") or {}
        if _ref_name(settings.get("ThrottlingBurstLimit")) != burst or _ref_name(settings.get("ThrottlingRateLimit")) != rate:
            out.append(f"HttpApi.RouteSettings 'ANY {path}' must throttle with !Ref {burst} and !Ref {rate}")
    named: set[tuple[str, Any]] = set()
    for r in template["Resources"].values():
        props_r = r.get("Properties") or {}
        if r.get("Type") == "AWS::CloudWatch::Dashboard":
            body = props_r.get("DashboardBody")
            body = body.get("Fn::Sub") if isinstance(body, dict) else body
            named |= {("the dashboard", k) for k in re.findall(r'"Route",\s*"([^"]*)"', str(body))}
        elif r.get("Type") == "AWS::CloudWatch::Alarm" and props_r.get("Namespace") == "AWS/ApiGateway":
            named |= {("an alarm", str(d.get("Value"))) for d in props_r.get("Dimensions") or []
                      if d.get("Name") == "Route"}
    for where, key in sorted(named):
        if key not in any_keys:
            out.append(f"{where} reads the API's metrics of route {key!r}, which is not a route of the API "
                       "(its route keys are 'ANY <path>', a path of ROUTES)")

    # cargo lambda watch's router (the local API) must serve the same paths, every method of
    # each to its function: a string per path. A list of {method, function} routes only those
    # methods, and cargo lambda watch answers the others with a 404 of its own.
    cargo = tomllib.loads((root / "Cargo.toml").read_text())
    router = (((cargo.get("workspace") or {}).get("metadata") or {}).get("lambda") or {}).get("watch", {}).get("router", {})
    if not router:
        out.append("Cargo.toml needs [workspace.metadata.lambda.watch.router], the local API's routes")
    local = {}
    for path, target in router.items():
        if isinstance(target, str):
            local[path] = target
            continue
        out.append(f"Cargo.toml's watch router: {path!r} must name its function as a string (every method), "
                   f"not {target!r}, which routes only the methods it lists")
        named_fns = {t.get("function") for t in target if isinstance(t, dict)} if isinstance(target, list) else set()
        local[path] = named_fns.pop() if len(named_fns) == 1 else None
    if router and local != paths:
        out.append(f"Cargo.toml's watch router {sorted(local.items(), key=str)} differs from the paths of "
                   f"ROUTES (docs/api.md) {sorted(paths.items())}")

    # The API's contract documents the same operations, and no other.
    import yaml  # PyYAML, which cfn-lint brings into .venv

    contract = yaml.safe_load((root / "docs" / "openapi.yaml").read_text())
    documented = {
        (method.upper(), path)
        for path, ops in (contract.get("paths") or {}).items()
        for method in ops
        if method in OPENAPI_METHODS
    }
    if documented != set(ROUTES):
        out.append(
            f"docs/openapi.yaml documents {sorted(documented - set(ROUTES))} beyond the API's routes "
            f"and lacks {sorted(set(ROUTES) - documented)}"
        )
    return out


def _queue_fed_problems(template: dict, binary: str, queue_name: str, dlq_name: str) -> list[str]:
    out = []
    res = template["Resources"]
    fn = _functions(template).get(binary, (None, {"Properties": {}}))[1]["Properties"]
    sqs_events = [e for e in (fn.get("Events") or {}).values() if e.get("Type") == "SQS"]
    if len(sqs_events) != 1:
        out.append(f"{binary} must have exactly one SQS event")
    for ev in sqs_events:
        p = ev.get("Properties") or {}
        if _ref_name(p.get("Queue")) != queue_name:
            out.append(f"{binary}'s SQS event must read {queue_name}")
        if "ReportBatchItemFailures" not in (p.get("FunctionResponseTypes") or []):
            out.append(f"{binary}'s SQS event must have FunctionResponseTypes [ReportBatchItemFailures]")
        if (p.get("ScalingConfig") or {}).get("MaximumConcurrency") is None:
            out.append(f"{binary}'s SQS event must set ScalingConfig.MaximumConcurrency")
        if "BatchSize" not in p:
            out.append(f"{binary}'s SQS event must set BatchSize")

    queue = (res.get(queue_name) or {}).get("Properties") or {}
    timeout = fn.get("Timeout") or 0
    vis = int(queue.get("VisibilityTimeout", 30))
    if vis < 6 * int(timeout):
        out.append(f"{queue_name}.VisibilityTimeout {vis} is less than 6 × the {binary}'s Timeout {timeout}")
    redrive = queue.get("RedrivePolicy") or {}
    if _ref_name(redrive.get("deadLetterTargetArn")) != dlq_name or int(redrive.get("maxReceiveCount", 0)) != 5:
        out.append(f"{queue_name}.RedrivePolicy must send to {dlq_name} after maxReceiveCount 5")
    dlq = (res.get(dlq_name) or {}).get("Properties") or {}
    if int(dlq.get("MessageRetentionPeriod", 0)) != 14 * 86400:
        out.append(f"{dlq_name} must keep messages 14 days")
    if not _has_alarm(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible", dlq_name):
        out.append(f"an alarm on {dlq_name}'s ApproximateNumberOfMessagesVisible > 0 is missing")
    return out


def _has_alarm(template: dict, ns: str | None, metric: str, dim_target: str | None) -> bool:
    for r in template["Resources"].values():
        if r.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        a = r.get("Properties") or {}
        if a.get("Namespace") == ns and a.get("MetricName") == metric \
                and a.get("ComparisonOperator") == "GreaterThanThreshold" and float(a.get("Threshold", -1)) == 0:
            dims = a.get("Dimensions") or []
            if dim_target is None or any(_ref_name(d.get("Value")) == dim_target for d in dims):
                return True
    return False


def check_queue_and_table(template: dict, root: Path) -> list[str]:
    out = []
    res = template["Resources"]
    for binary, (queue_name, dlq_name) in QUEUE_FED.items():
        out += _queue_fed_problems(template, binary, queue_name, dlq_name)

    fns = _functions(template)
    sender = fns.get("sender", (None, {"Properties": {}}))[1]["Properties"]
    for ev in [e for e in (sender.get("Events") or {}).values() if e.get("Type") == "SQS"]:
        p = ev.get("Properties") or {}
        mc = (p.get("ScalingConfig") or {}).get("MaximumConcurrency")
        if "BatchSize" in p and mc is not None:
            # The budget, not the concurrency, must be what binds: with Plivo answering in
            # up to a second, the requests in flight must cover a second of the budget.
            in_flight = float(_param_default(template, p["BatchSize"]) or 0) * float(
                _param_default(template, mc) or 0
            )
            rate = float(_param_default(template, {"Ref": "PlivoRequestsPerSecond"}) or 0)
            if in_flight < rate:
                out.append(
                    f"sender's BatchSize × MaximumConcurrency defaults ({in_flight:g} requests in"
                    f" flight) must cover one second of PlivoRequestsPerSecond ({rate:g})"
                )
    # job-files: one plan task per invocation (a plan may use all of it), and as few
    # invocations at once as SQS allows by default.
    job_files = fns.get("job-files", (None, {"Properties": {}}))[1]["Properties"]
    for ev in [e for e in (job_files.get("Events") or {}).values() if e.get("Type") == "SQS"]:
        p = ev.get("Properties") or {}
        if p.get("BatchSize") != 1:
            out.append("job-files's SQS event must have BatchSize 1 (one plan task per invocation)")
        mc = (p.get("ScalingConfig") or {}).get("MaximumConcurrency")
        if _ref_name(mc) != "JobFilesMaximumConcurrency" or _param_default(template, mc) != 2:
            out.append("job-files's MaximumConcurrency must be !Ref JobFilesMaximumConcurrency (default 2)")
    for name in ("SenderFunction", "SendSmsFunction", "SendBulkFunction"):
        env = (((res.get(name) or {}).get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
        if _ref_name(env.get("PLIVO_REQUESTS_PER_SECOND")) != "PlivoRequestsPerSecond":
            out.append(f"{name} must take PLIVO_REQUESTS_PER_SECOND from PlivoRequestsPerSecond (one budget)")

    metrics = _strip_comments((root / "functions/sms-core/src/metrics.rs").read_text())
    ns = re.search(r'NAMESPACE:\s*&str\s*=\s*"([^"]+)"', metrics)
    ns = ns.group(1) if ns else None
    if '"UnknownBatches"' not in rust_sources(root / "functions/sender/src"):
        out.append("the sender no longer emits UnknownBatches; update the alarm")
    if not _has_alarm(template, ns or "PlivoSms", "UnknownBatches", None):
        out.append(f"an alarm on {ns}/UnknownBatches > 0 is missing")

    table = res.get("Table") or {}
    tp = table.get("Properties") or {}
    keys = {(k["AttributeName"], k["KeyType"]) for k in tp.get("KeySchema", [])}
    attrs = {(a["AttributeName"], a["AttributeType"]) for a in tp.get("AttributeDefinitions", [])}
    if table.get("Type") != "AWS::DynamoDB::Table" or keys != {("pk", "HASH"), ("sk", "RANGE")} \
            or attrs != {("pk", "S"), ("sk", "S")}:
        out.append("Table must be a DynamoDB table keyed pk (S, hash) + sk (S, range)")
    if tp.get("BillingMode") != "PAY_PER_REQUEST":
        out.append("Table must be PAY_PER_REQUEST")
    schema = _strip_comments((root / "functions/sms-core/src/store/keys.rs").read_text())
    ttl_attr = re.search(r'TTL_ATTRIBUTE:\s*&str\s*=\s*"([^"]+)"', schema)
    ttl = tp.get("TimeToLiveSpecification") or {}
    if ttl.get("AttributeName") != (ttl_attr.group(1) if ttl_attr else "expires_at") or ttl.get("Enabled") is not True:
        out.append("Table must have TTL enabled on expires_at")
    if (tp.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled") is not True:
        out.append("Table must have point-in-time recovery enabled")
    if (tp.get("SSESpecification") or {}).get("SSEEnabled") is not True:
        out.append("Table must have SSESpecification.SSEEnabled")

    missing = OUTPUTS - set(template.get("Outputs", {}))
    if missing:
        out.append(f"Outputs missing: {sorted(missing)}")
    params = template.get("Parameters", {})
    for p, default in (("PlivoBatchSize", 1000), ("PlivoRequestsPerSecond", 55), ("PlivoBaseUrl", "https://api.plivo.com"),
                       ("PlivoAcceptV2Signatures", "false"), ("MaxUploadBytes", default_max_upload_bytes(root)),
                       ("JobFilesMaximumConcurrency", 2)):
        if p not in params or params[p].get("Default") != default:
            out.append(f"parameter {p} must default to {default!r}")
    return out


def default_max_upload_bytes(root: Path) -> int | None:
    """send_bulk::uploads::DEFAULT_MAX_UPLOAD_BYTES, a product of integers."""
    text = _strip_comments((root / "functions/send-bulk/src/uploads.rs").read_text())
    m = re.search(r"DEFAULT_MAX_UPLOAD_BYTES:\s*u64\s*=\s*([0-9_\s*]+);", text)
    if not m:
        return None
    value = 1
    for factor in m.group(1).split("*"):
        value *= int(factor.strip().replace("_", ""))
    return value


def rust_str_constants(path: Path) -> dict[str, str]:
    return dict(re.findall(r'pub\s+const\s+(\w+):\s*&str\s*=\s*"([^"]*)"', _strip_comments(path.read_text())))


def rust_int_constants(path: Path) -> dict[str, int]:
    found = re.findall(r"pub\s+const\s+(\w+):\s*[iu](?:8|16|32|64|size)\s*=\s*([0-9_]+)\s*;",
                       _strip_comments(path.read_text()))
    return {name: int(value.replace("_", "")) for name, value in found}


def bucket_prefixes(root: Path) -> dict[str, str]:
    """The key prefixes of files/keys.rs: {"UPLOADS_PREFIX": "uploads/", ...}."""
    consts = rust_str_constants(root / "functions/sms-core/src/files/keys.rs")
    return {name: value for name, value in consts.items() if name.endswith("_PREFIX")}


def check_bucket(template: dict, root: Path) -> list[str]:
    """Private, encrypted, TLS only, no ACLs, no CORS, every prefix of files/keys.rs expired."""
    out = []
    res = template["Resources"]
    bucket = res.get(BUCKET) or {}
    if bucket.get("Type") != "AWS::S3::Bucket":
        return [f"{BUCKET} must be an AWS::S3::Bucket"]
    bp = bucket.get("Properties") or {}

    sse = ((bp.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration")) or []
    algorithms = {((r.get("ServerSideEncryptionByDefault") or {}).get("SSEAlgorithm")) for r in sse}
    if not algorithms & {"AES256", "aws:kms", "aws:kms:dsse"}:
        out.append(f"{BUCKET} must have default encryption (SSE-S3 or KMS)")
    pab = bp.get("PublicAccessBlockConfiguration") or {}
    if any(pab.get(k) is not True for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")):
        out.append(f"{BUCKET} must block public access (all four PublicAccessBlockConfiguration settings true)")
    ownership = [r.get("ObjectOwnership") for r in ((bp.get("OwnershipControls") or {}).get("Rules") or [])]
    if ownership != ["BucketOwnerEnforced"]:
        out.append(f"{BUCKET} must have OwnershipControls BucketOwnerEnforced (ACLs off)")
    for prop in ("CorsConfiguration", "WebsiteConfiguration", "AccessControl"):
        if prop in bp:
            out.append(f"{BUCKET} must have no {prop}: clients reach objects only through presigned requests")

    rules = [r for r in ((bp.get("LifecycleConfiguration") or {}).get("Rules") or []) if r.get("Status") == "Enabled"]
    retention = rust_int_constants(root / "functions/sms-core/src/store/keys.rs")
    for const, prefix in sorted(bucket_prefixes(root).items()):
        days = BUCKET_EXPIRY_DAYS.get(const)
        if days is None:
            out.append(f"files/keys.rs has {const} ({prefix!r}), which BUCKET_EXPIRY_DAYS does not know: say how long its objects stay")
            continue
        if isinstance(days, str):
            days = retention.get(days)
        if not any(r.get("Prefix") == prefix and r.get("ExpirationInDays") == days and not r.get("TagFilters")
                   for r in rules):
            out.append(f"{BUCKET} needs an enabled lifecycle rule expiring {prefix} after {days} days ({const})")
    if not any((r.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation") == ABORT_INCOMPLETE_UPLOADS_DAYS
               and not r.get("Prefix") and not r.get("TagFilters") for r in rules):
        out.append(f"{BUCKET} needs an enabled bucket-wide lifecycle rule aborting incomplete multipart uploads "
                   f"after {ABORT_INCOMPLETE_UPLOADS_DAYS} day")

    def denies_plain_http(st: dict) -> bool:
        cond = ((st.get("Condition") or {}).get("Bool") or {}).get("aws:SecureTransport")
        resources = {json.dumps(r, sort_keys=True) for r in _resources(st)}
        want = {json.dumps({"Fn::GetAtt": [BUCKET, "Arn"]}, sort_keys=True),
                json.dumps({"Fn::Sub": "${" + BUCKET + ".Arn}/*"}, sort_keys=True)}
        return (st.get("Effect") == "Deny" and st.get("Principal") in ("*", {"AWS": "*"})
                and "s3:*" in _actions(st) and str(cond).lower() == "false" and want <= resources)

    policies = [r.get("Properties") or {} for r in res.values()
                if r.get("Type") == "AWS::S3::BucketPolicy" and _ref_name((r.get("Properties") or {}).get("Bucket")) == BUCKET]
    if not any(denies_plain_http(st) for pol in policies for st in statements(pol.get("PolicyDocument") or {})):
        out.append(f"{BUCKET} needs a bucket policy that denies s3:* on it and its objects without TLS "
                   "(aws:SecureTransport false)")
    return out


def check_no_wildcards(where_docs: Iterable[tuple[str, dict]], star_allowed: dict | None) -> list[str]:
    """No '*' in any action; Resource '*' only in the allowed statements (by Sid)."""
    out = []
    for where, doc in where_docs:
        for st in statements(doc):
            sid = st.get("Sid", "?")
            if "NotAction" in st or "NotResource" in st:
                out.append(f"{where} {sid}: NotAction/NotResource are not allowed")
            for a in _actions(st):
                # A Deny's wildcard only widens what is refused (the bucket's TLS-only rule).
                if "*" in a and st.get("Effect") != "Deny":
                    out.append(f"{where} {sid}: wildcard action {a!r}")
            if "Principal" in st and "Resource" not in st:
                continue  # a trust policy
            if any(r == "*" for r in _resources(st)):
                rule = (star_allowed or {}).get(sid)
                if rule is None:
                    out.append(f"{where} {sid}: Resource '*'")
                    continue
                if rule.get("deny"):
                    # Allowed beside a Deny of the same actions on every named resource.
                    denies = [d for d in statements(doc) if d.get("Sid") == rule["deny"]
                              and d.get("Effect") == "Deny"
                              and set(_actions(d)) == set(_actions(st))]
                    if not denies:
                        out.append(f"{where} {sid}: Resource '*' needs the Deny {rule['deny']} beside it")
                    continue
                if rule["condition"] is None:
                    writes = [a for a in _actions(st) if not a.split(":", 1)[1].startswith(READ_ONLY_VERBS)]
                    if writes:
                        out.append(f"{where} {sid}: Resource '*' with non-read actions {writes}")
                else:
                    conds = json.dumps(st.get("Condition") or {})
                    if rule["condition"] not in conds:
                        out.append(f"{where} {sid}: Resource '*' needs a {rule['condition']} condition")
    return out


def _role_statements(template: dict, role: str) -> list[dict]:
    res = template["Resources"].get(role) or {}
    out = []
    for pol in (res.get("Properties") or {}).get("Policies", []) or []:
        out += statements(pol.get("PolicyDocument", {}))
    return out


def check_function_permissions(template: dict, root: Path) -> list[str]:
    out = []
    actions_by_method, traits = method_actions(root)
    fns = _functions(template)
    granted_union: set[str] = set()
    for binary, (name, res) in fns.items():
        if binary not in FUNCTION_METHODS:
            continue
        role = _ref_name(res["Properties"].get("Role"))
        sts = _role_statements(template, role)
        granted: dict[str, set] = {}
        for st in sts:
            if st.get("Effect") != "Allow":
                continue
            for a in _actions(st):
                granted.setdefault(a, set()).update(
                    json.dumps(r, sort_keys=True) for r in _resources(st))
        # What the code needs.
        need: set[str] = set()
        for method in FUNCTION_METHODS[binary]:
            trait, fn = method.split(".")
            if fn not in traits.get(trait, set()):
                out.append(f"{binary}: {method} is no longer a method of {trait}; update FUNCTION_METHODS")
            need |= actions_by_method.get(method, set())
        # Methods of the function's traits that its own sources now call but the table misses.
        src = rust_sources(root / f"functions/{binary}/src")
        used_traits = {m.split(".")[0] for m in FUNCTION_METHODS[binary]}
        for trait in used_traits:
            for fn in traits.get(trait, set()):
                if f"{trait}.{fn}" not in FUNCTION_METHODS[binary] and re.search(rf"\.\s*{fn}\s*\(", src) \
                        and f"{trait}.{fn}" in actions_by_method:
                    out.append(f"{binary}: its code calls .{fn}( ({trait}), not listed in FUNCTION_METHODS; list it and grant its actions")
        event_queues = {_ref_name((e.get("Properties") or {}).get("Queue"))
                        for e in (res["Properties"].get("Events") or {}).values() if e.get("Type") == "SQS"}
        if event_queues:
            need |= EVENT_SOURCE_ACTIONS
        stream_events = [e.get("Properties") or {} for e in (res["Properties"].get("Events") or {}).values()
                         if e.get("Type") == "DynamoDB"]
        failure_queues = {_ref_name(((p.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"))
                          for p in stream_events} - {None}
        if stream_events:
            need |= STREAM_EVENT_SOURCE_ACTIONS
        if failure_queues:
            need.add("sqs:SendMessage")
        for read, also in S3_READ_NEEDS.items():
            if read in need:
                need.add(also)
        need |= {"logs:CreateLogStream", "logs:PutLogEvents"}
        allowed = need | PENDING_EXTRA_ACTIONS.get(binary, set())
        have = set(granted) - {"kms:Decrypt"}  # kms:Decrypt only with a customer key (Fn::If)
        for a in sorted(need - have):
            out.append(f"{name}: its code needs {a}, which its role does not grant")
        for a in sorted(have - allowed):
            out.append(f"{name}: its role grants {a}, which its code does not use")
        granted_union |= have
        # Each action only on its own resource: the table; the queues its environment names
        # (SendMessage) or its event reads (the event source's calls); the bucket's objects
        # under the prefix it writes, or anywhere for reads; the bucket for ListBucket.
        env = _env(template, res)
        send_queues = {QUEUE_VARIABLES[v] for v in env if v in QUEUE_VARIABLES} | failure_queues
        log_group = _ref_name((res["Properties"].get("LoggingConfig") or {}).get("LogGroup"))
        prefixes = bucket_prefixes(root)
        write_prefix = prefixes.get(S3_WRITE_PREFIX.get(binary, ""))
        for a, resources in granted.items():
            svc = a.split(":")[0]
            for r in map(json.loads, resources):
                if svc == "dynamodb" and a in STREAM_EVENT_SOURCE_ACTIONS:
                    if r != {"Fn::GetAtt": ["Table", "StreamArn"]}:
                        out.append(f"{name}: {a} must be on !GetAtt Table.StreamArn only, is on {r}")
                elif svc == "dynamodb":
                    if r != {"Fn::GetAtt": ["Table", "Arn"]}:
                        out.append(f"{name}: {a} must be on !GetAtt Table.Arn only, is on {r}")
                elif svc == "sqs":
                    queues = event_queues if a in EVENT_SOURCE_ACTIONS else send_queues
                    if _ref_name(r) not in queues or "Fn::GetAtt" not in r:
                        want = ", ".join(f"!GetAtt {q}.Arn" for q in sorted(q for q in queues if q))
                        out.append(f"{name}: {a} must be on {want or 'no queue'} only, is on {r}")
                elif svc == "s3":
                    sub = r.get("Fn::Sub") if isinstance(r, dict) else None
                    if a == "s3:ListBucket":
                        if _ref_name(r) != BUCKET or "Fn::GetAtt" not in r:
                            out.append(f"{name}: {a} must be on !GetAtt {BUCKET}.Arn only, is on {r}")
                    elif a in S3_WRITE_ACTIONS:
                        want = "${" + BUCKET + ".Arn}/" + (write_prefix or "<S3_WRITE_PREFIX>") + "*"
                        if write_prefix is None or sub != want:
                            out.append(f"{name}: {a} must be on !Sub '{want}' only (what it writes), is on {r}")
                    elif not (isinstance(sub, str) and sub in {"${" + BUCKET + ".Arn}/" + x + "*"
                                                               for x in ["", *prefixes.values()]}):
                        out.append(f"{name}: {a} must be on the bucket's objects (!Sub '${{{BUCKET}.Arn}}/*' or a "
                                   f"prefix of files/keys.rs), is on {r}")
                elif svc == "secretsmanager":
                    sub = r.get("Fn::Sub") if isinstance(r, dict) else None
                    if not (isinstance(sub, str) and sub.endswith(":secret:${SecretName}-??????")):
                        out.append(f"{name}: {a} must be on the secret's ARN (name + '-??????'), is on {r}")
                elif svc == "logs":
                    if _ref_name(r) is None or _ref_name(r) != log_group:
                        out.append(f"{name}: {a} must be on its own log group, is on {r}")
        if "sqs:SendMessage" in need:
            covered = {_ref_name(json.loads(r)) for r in granted.get("sqs:SendMessage", set())}
            for q in sorted(send_queues - covered):
                out.append(f"{name}: sqs:SendMessage must cover !GetAtt {q}.Arn (its environment names the queue)")
        if event_queues:
            for a in sorted(EVENT_SOURCE_ACTIONS):
                covered = {_ref_name(json.loads(r)) for r in granted.get(a, set())}
                for q in sorted(q for q in event_queues - covered if q):
                    out.append(f"{name}: {a} must cover !GetAtt {q}.Arn (its SQS event reads it)")
    for a in sorted(table_actions_used_by_adapters(root) - granted_union):
        out.append(f"the DynamoDB adapter calls {a}, which no function is granted")
    return out


def _references(value: Any, names: set[str]) -> set[str]:
    """Logical ids a value refers to: Ref, Fn::GetAtt, and ${X} / ${X.Attr} in Fn::Sub."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str) and inner in names:
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
                if target in names:
                    found.add(target)
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                local = set(inner[1]) if isinstance(inner, list) and len(inner) > 1 and isinstance(inner[1], dict) else set()
                for var in re.findall(r"\$\{([^}!][^}]*)\}", str(text)):
                    target = var.split(".")[0]
                    if target in names and target not in local:
                        found.add(target)
                if isinstance(inner, list) and len(inner) > 1:
                    found |= _references(inner[1], names)
            else:
                found |= _references(inner, names)
    elif isinstance(value, list):
        for inner in value:
            found |= _references(inner, names)
    return found


def cycles(template: dict) -> list[list[str]]:
    """Dependency cycles among a (plain CloudFormation) template's resources."""
    resources = template.get("Resources", {})
    names = set(resources)
    graph = {}
    for name, res in resources.items():
        deps = _references({k: v for k, v in res.items() if k != "DependsOn"}, names)
        deps |= set(_items(res.get("DependsOn", []))) & names
        graph[name] = deps - {name}
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                found.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def check_transformed(template: dict) -> list[str]:
    """Translate with SAM (offline) and look at the roles it would deploy."""
    try:
        from samtranslator.translator.transform import transform
    except ImportError:  # pragma: no cover - installed with aws-sam-cli
        return ["samtranslator is not installed (infra/local/requirements.txt: aws-sam-cli)"]
    import copy
    import os

    tpl = copy.deepcopy(template)
    for res in tpl["Resources"].values():
        if res.get("Type") == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = "s3://bucket/key"

    class NoManagedPolicies:
        def load(self) -> dict:
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        out_tpl = transform(tpl, {}, NoManagedPolicies())
    except Exception as e:  # noqa: BLE001 - report whatever SAM says
        return [f"SAM could not translate the template: {e}"]
    out = [f"circular dependency after the SAM transform: {' -> '.join(c)}" for c in cycles(out_tpl)]
    for name, res in out_tpl["Resources"].items():
        if res["Type"] == "AWS::IAM::Role":
            if res["Properties"].get("ManagedPolicyArns"):
                out.append(f"SAM adds managed policies to {name}: {res['Properties']['ManagedPolicyArns']}")
            if name not in template["Resources"]:
                out.append(f"SAM generates role {name}; give the function its own Role")
    out += check_no_wildcards(policy_documents(out_tpl), TEMPLATE_STAR_STATEMENTS)
    return out


def check_boundary(template: dict, deploy_role: dict) -> list[str]:
    """The permissions boundary of deploy-role.yaml allows every action a function's role
    grants: a role may grant only what its boundary allows too, or the call is refused."""
    out = []
    boundary = (deploy_role["Resources"].get("FunctionPermissionsBoundary") or {}).get("Properties") or {}
    allowed = {a for st in statements(boundary.get("PolicyDocument") or {}) if st.get("Effect") == "Allow"
               for a in _actions(st)}
    if not allowed:
        return ["deploy-role.yaml needs the functions' permissions boundary, FunctionPermissionsBoundary"]
    for binary, (name, res) in sorted(_functions(template).items(), key=lambda x: str(x[0])):
        role = _ref_name(res["Properties"].get("Role"))
        for st in _role_statements(template, role):
            if st.get("Effect") != "Allow":
                continue
            for a in _actions(st):
                if a not in allowed:
                    out.append(f"{role}: grants {a}, which the permissions boundary (deploy-role.yaml) does not allow")
    return out


EMITTED_METRIC = re.compile(r'metrics::count\(\s*"([A-Za-z]+)"')


def check_dashboard(template: dict, root: Path) -> list[str]:
    """The operations dashboard shows every metric the code emits, and only those; the 429
    metric has its alarm."""
    out = []
    emitted = set(EMITTED_METRIC.findall(rust_sources(root / "functions")))
    dashboards = [r for r in template["Resources"].values() if r.get("Type") == "AWS::CloudWatch::Dashboard"]
    if len(dashboards) != 1:
        return ["one AWS::CloudWatch::Dashboard (OperationsDashboard) is required"]
    body = (dashboards[0].get("Properties") or {}).get("DashboardBody")
    body = body.get("Fn::Sub") if isinstance(body, dict) else body
    if not isinstance(body, str):
        return ["the dashboard's DashboardBody must be a !Sub string"]
    shown = set(re.findall(r'\["PlivoSms",\s*"([A-Za-z]+)"', body))
    for name in sorted(shown - emitted):
        out.append(f"the dashboard shows PlivoSms/{name}, which no code emits (metrics::count)")
    for name in sorted(emitted - shown):
        out.append(f"the code emits PlivoSms/{name}, which the dashboard does not show")
    if "PlivoRateLimited" in emitted and not _has_alarm(template, "PlivoSms", "PlivoRateLimited", None):
        out.append("an alarm on PlivoSms/PlivoRateLimited > 0 is missing")
    return out


def check_stream_fed(template: dict) -> list[str]:
    """The table's stream and the functions it feeds (STREAM_FED); status-callback's logs."""
    out = []
    res = template["Resources"]
    table = res.get("Table", {}).get("Properties", {})
    if (table.get("StreamSpecification") or {}).get("StreamViewType") != "NEW_AND_OLD_IMAGES":
        out.append("Table: StreamSpecification.StreamViewType must be NEW_AND_OLD_IMAGES (report-counts)")
    fns = _functions(template)
    for binary, failure_queue in STREAM_FED.items():
        name, fn = fns.get(binary, (binary, {"Properties": {}}))
        events = [e.get("Properties") or {} for e in (fn["Properties"].get("Events") or {}).values()
                  if e.get("Type") == "DynamoDB"]
        if len(events) != 1:
            out.append(f"{name}: must have one DynamoDB event (the table's stream), has {len(events)}")
            continue
        p = events[0]
        if p.get("Stream") != {"Fn::GetAtt": ["Table", "StreamArn"]}:
            out.append(f"{name}: its DynamoDB event must read !GetAtt Table.StreamArn")
        if p.get("BisectBatchOnFunctionError") is not False:
            out.append(f"{name}: BisectBatchOnFunctionError must be false (a retry must start where the batch started)")
        if p.get("ParallelizationFactor", 1) != 1:
            out.append(f"{name}: ParallelizationFactor must be 1 (a failed batch is retried whole, in order)")
        retries = p.get("MaximumRetryAttempts")
        if not isinstance(retries, int) or not 0 <= retries <= 10000:
            out.append(f"{name}: MaximumRetryAttempts must be bounded (a poison batch must not hold its shard)")
        dest = ((p.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        if dest != {"Fn::GetAtt": [failure_queue, "Arn"]}:
            out.append(f"{name}: DestinationConfig.OnFailure must be !GetAtt {failure_queue}.Arn")
        if not _has_alarm(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible", failure_queue):
            out.append(f"{failure_queue}: needs an alarm on ApproximateNumberOfMessagesVisible")
        patterns = [json.loads(f.get("Pattern", "{}")) for f in (p.get("FilterCriteria") or {}).get("Filters") or []]
        if patterns != [STREAM_FILTER]:
            out.append(f"{name}: FilterCriteria must be the one pattern {json.dumps(STREAM_FILTER)}")
    _, callback = fns.get("status-callback", (None, {"Properties": {}}))
    # Its function URL: no IAM auth (Plivo's signature is the check), throttled by its reserved
    # concurrency.
    url = callback["Properties"].get("FunctionUrlConfig") or {}
    if url.get("AuthType") != "NONE" or "ReservedConcurrentExecutions" not in callback["Properties"]:
        out.append("status-callback: needs FunctionUrlConfig AuthType NONE and ReservedConcurrentExecutions "
                   "(its throttle)")
    # Three callbacks a message: Lambda's platform lines off, the function's own JSON lines.
    logging = callback["Properties"].get("LoggingConfig") or {}
    if (logging.get("LogFormat"), logging.get("SystemLogLevel")) != ("JSON", "WARN"):
        out.append("status-callback: LoggingConfig must have LogFormat JSON and SystemLogLevel WARN (docs/cost.md)")
    return out


def problems(template: dict, deploy_role: dict, root: Path) -> list[str]:
    out = []
    out += check_dashboard(template, root)
    out += check_stream_fed(template)
    out += check_functions(template, root)
    out += check_environment(template, root)
    out += check_routes(template, root)
    out += check_queue_and_table(template, root)
    out += check_bucket(template, root)
    out += check_no_wildcards(policy_documents(template), TEMPLATE_STAR_STATEMENTS)
    out += adapter_call_problems(root)
    out += check_function_permissions(template, root)
    out += check_boundary(template, deploy_role)
    out += check_no_wildcards(policy_documents(deploy_role), DEPLOY_ROLE_STAR_STATEMENTS)
    out += check_deploy_trust(deploy_role)
    out += check_transformed(template)
    return out


# ---------------------------------------------------------------------------------------
# The deploy role's trust and the workflows that use it.

DEPLOY_WORKFLOW = ".github/workflows/deploy.yml"
PINNED_ACTION = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")


def check_deploy_trust(deploy_role: dict) -> list[str]:
    """One role per environment; it trusts exactly one OIDC subject: a job of its own GitHub
    environment running the deploy workflow on the deploy branch. No unconditioned way to
    rewrite a role's trust."""
    out = []
    roles = {n: r for n, r in deploy_role["Resources"].items() if r.get("Type") == "AWS::IAM::Role"}
    if len(roles) != 1:
        out.append(f"the deploy-role template must make one role (its environment's), found {sorted(roles)}")
    if (deploy_role.get("Parameters", {}).get("Environment") or {}).get("AllowedValues") != ["dev", "prod"]:
        out.append("the deploy-role template needs an Environment parameter with values dev and prod")
    for name, role in roles.items():
        for st in statements(role["Properties"].get("AssumeRolePolicyDocument", {})):
            cond = st.get("Condition") or {}
            if set(cond) != {"StringEquals"}:
                out.append(f"{name}: the trust must use StringEquals only (no wildcards), found {sorted(cond)}")
                continue
            sub = cond["StringEquals"].get("token.actions.githubusercontent.com:sub")
            text = sub.get("Fn::Sub") if isinstance(sub, dict) else sub
            want = ("repo:${GitHubRepository}:environment:${Environment}:job_workflow_ref:"
                    "${GitHubRepository}/" + DEPLOY_WORKFLOW + "@refs/heads/${DeployBranch}")
            if text != want:
                out.append(f"{name}: the trust's subject must be exactly {want!r}, found {sub!r}")
            if cond["StringEquals"].get("token.actions.githubusercontent.com:aud") != "sts.amazonaws.com":
                out.append(f"{name}: the trust must require aud sts.amazonaws.com")
    for where, doc in policy_documents(deploy_role):
        for st in statements(doc):
            if "iam:UpdateAssumeRolePolicy" in _actions(st) and not st.get("Condition"):
                out.append(f"{where} {st.get('Sid', '?')}: iam:UpdateAssumeRolePolicy without a condition")
    return out


def check_workflows(workflows: dict[str, dict]) -> list[str]:
    """Every action pinned by commit SHA; `id-token: write` only on the jobs that deploy (the
    ones that trade the token for an AWS role), never for a whole workflow."""
    out = []
    for file, wf in workflows.items():
        if "id-token" in (wf.get("permissions") or {}):
            out.append(f"{file}: id-token is granted to the whole workflow; grant it to the deploy jobs only")
        for job_name, job in (wf.get("jobs") or {}).items():
            steps = job.get("steps") or []
            for step in steps:
                uses = step.get("uses")
                if uses and not uses.startswith("./") and not PINNED_ACTION.match(uses):
                    out.append(f"{file} {job_name}: {uses!r} is not pinned to a commit SHA")
            deploys = any("configure-aws-credentials" in (st.get("uses") or "") for st in steps)
            token = (job.get("permissions") or {}).get("id-token")
            if token == "write" and not deploys:
                out.append(f"{file} {job_name}: id-token: write on a job that does not deploy")
            if deploys and token != "write":
                out.append(f"{file} {job_name}: deploys without its own id-token: write")
            if deploys and not job.get("environment"):
                out.append(f"{file} {job_name}: a deploy job must run in a GitHub environment (the role trusts one)")
    return out


def load_workflows(root: Path) -> dict[str, dict]:
    import yaml

    out = {}
    for path in sorted((root / ".github/workflows").glob("*.yml")):
        # YAML 1.1 reads the key `on` as True; the rules never look at it.
        out[str(path.relative_to(root))] = yaml.safe_load(path.read_text())
    return out


def load(path: Path) -> dict:
    """A CloudFormation YAML file as plain JSON data (short tags like !Ref understood)."""
    from cfnlint.decode import decode

    data, matches = decode(str(path))
    if matches or data is None:
        raise ValueError(f"{path}: {[str(m) for m in matches]}")
    return json.loads(json.dumps(data))
