"""template.yaml and infra/deploy/deploy-role.yaml against the rules of template_rules.py.

The first test runs the checker on the real files: it must find nothing. The others break
one rule at a time, in a copy of a template, of Cargo.toml's router or of the Rust sources (or
in the checker's own ROUTES table), and require the checker to say so, so that a rule which
stopped checking would be noticed.

Run: `make template-check` (or `.venv/bin/pytest infra/tests/template-tests`).
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Callable

import pytest

import template_rules as rules

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def template() -> dict:
    return rules.load(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def deploy_role() -> dict:
    return rules.load(ROOT / "infra/deploy/deploy-role.yaml")


def test_the_templates_keep_every_rule(template: dict, deploy_role: dict) -> None:
    found = rules.problems(template, deploy_role, ROOT)
    assert found == [], "\n".join(found)


def test_the_environment_table_matches_what_the_code_reads() -> None:
    for function, names in rules.ENVIRONMENT.items():
        required, optional, problems = rules.environment_from_code(ROOT, function)
        assert problems == []
        assert required <= names, f"{function} requires {required - names}"
        assert names <= required | optional, f"{function} never reads {names - required - optional}"
        undecided = optional - names - set(rules.LEFT_UNSET)
        assert not undecided, f"{function} reads {undecided}: set them (ENVIRONMENT) or say why not (LEFT_UNSET)"


# ---------------------------------------------------------------------------------------
# Broken copies of template.yaml: each must be caught, with the expected sentence.

def _fn(t: dict, binary: str) -> dict:
    return rules._functions(t)[binary][1]["Properties"]


def _role_statement(t: dict, role: str, sid: str) -> dict:
    for pol in t["Resources"][role]["Properties"]["Policies"]:
        for st in pol["PolicyDocument"]["Statement"]:
            if isinstance(st, dict) and st.get("Sid") == sid:
                return st
    raise KeyError(sid)


def _drop_route(t: dict) -> None:
    del _fn(t, "send-bulk")["Events"]["GetJob"]


def _misroute(t: dict) -> None:
    ev = _fn(t, "send-sms")["Events"].pop("GetMessage")
    _fn(t, "send-bulk")["Events"]["GetMessage"] = ev


def _post_only_event(t: dict) -> None:
    # The route as it was: API Gateway would answer TRACE /v1/messages with its own 404.
    _fn(t, "send-sms")["Events"]["SendMessage"]["Properties"]["Method"] = "POST"


def _get_only_event(t: dict) -> None:
    _fn(t, "send-bulk")["Events"]["GetJob"]["Properties"]["Method"] = "GET"


def _route_twice(t: dict) -> None:
    # A second event for a path that already has its ANY route.
    _fn(t, "send-sms")["Events"]["GetMessageAgain"] = copy.deepcopy(_fn(t, "send-sms")["Events"]["GetMessage"])


def _unknown_route(t: dict) -> None:
    ev = copy.deepcopy(_fn(t, "send-bulk")["Events"]["GetJob"])
    ev["Properties"]["Path"] = "/v1/bulk/{job_id}/retry"
    _fn(t, "send-bulk")["Events"]["RetryJob"] = ev


def _drop_env(t: dict) -> None:
    del _fn(t, "sender")["Environment"]["Variables"]["SMS_TABLE"]


def _typo_env(t: dict) -> None:
    env = _fn(t, "send-bulk")["Environment"]["Variables"]
    env["SMS_QUEUE"] = env.pop("SMS_QUEUE_URL")


def _wildcard_action(t: dict) -> None:
    _role_statement(t, "SendSmsRole", "Table")["Action"] = "dynamodb:*"


def _star_resource(t: dict) -> None:
    _role_statement(t, "SenderRole", "Secret")["Resource"] = "*"


def _extra_action(t: dict) -> None:
    _role_statement(t, "SendSmsRole", "Table")["Action"].append("dynamodb:Scan")


def _missing_action(t: dict) -> None:
    _role_statement(t, "SendBulkRole", "Table")["Action"].remove("dynamodb:BatchGetItem")


def _queue_on_table(t: dict) -> None:
    _role_statement(t, "SendBulkRole", "Queue")["Resource"] = {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}


def _sam_policies(t: dict) -> None:
    props = _fn(t, "sender")
    del props["Role"]
    props["Policies"] = [{"SQSPollerPolicy": {"QueueName": "x"}}]


def _no_partial_failures(t: dict) -> None:
    _fn(t, "sender")["Events"]["Batches"]["Properties"]["FunctionResponseTypes"] = []


def _no_max_concurrency(t: dict) -> None:
    del _fn(t, "sender")["Events"]["Batches"]["Properties"]["ScalingConfig"]


def _too_few_in_flight(t: dict) -> None:
    t["Parameters"]["SenderBatchSize"]["Default"] = 1


def _budget_not_shared(t: dict) -> None:
    _fn(t, "send-sms")["Environment"]["Variables"]["PLIVO_REQUESTS_PER_SECOND"] = 10


def _short_visibility(t: dict) -> None:
    t["Resources"]["BatchQueue"]["Properties"]["VisibilityTimeout"] = 300


def _no_redrive(t: dict) -> None:
    del t["Resources"]["BatchQueue"]["Properties"]["RedrivePolicy"]


def _no_dlq_alarm(t: dict) -> None:
    del t["Resources"]["DeadLetterQueueAlarm"]


def _no_unknown_alarm(t: dict) -> None:
    t["Resources"]["UnknownBatchesAlarm"]["Properties"]["Namespace"] = "Other"


def _dashboard_without_a_metric(t: dict) -> None:
    body = t["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]
    body["Fn::Sub"] = body["Fn::Sub"].replace('["PlivoSms", "RecipientsSubmitted"]', '["AWS/SQS", "X"]')


def _dashboard_with_a_metric_no_code_emits(t: dict) -> None:
    body = t["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]
    body["Fn::Sub"] = body["Fn::Sub"].replace('["PlivoSms", "UnknownBatches"]', '["PlivoSms", "Reconciled"]')


def _fallback_may_publish_to_topics(t: dict) -> None:
    for pol in t["Resources"]["SenderRole"]["Properties"]["Policies"]:
        doc = pol["PolicyDocument"]
        doc["Statement"] = [st for st in doc["Statement"] if st.get("Sid") != "FallbackNoTopics"]


def _no_rate_limited_alarm(t: dict) -> None:
    del t["Resources"]["PlivoRateLimitedAlarm"]


def _no_ttl(t: dict) -> None:
    t["Resources"]["Table"]["Properties"]["TimeToLiveSpecification"]["Enabled"] = False


def _no_pitr(t: dict) -> None:
    del t["Resources"]["Table"]["Properties"]["PointInTimeRecoverySpecification"]


def _x86(t: dict) -> None:
    t["Globals"]["Function"]["Architectures"] = ["x86_64"]


def _wrong_memory(t: dict) -> None:
    _fn(t, "send-bulk")["MemorySize"] = 256


def _body_paths(t: dict) -> dict:
    return t["Resources"]["HttpApi"]["Properties"]["DefinitionBody"]["paths"]


def _body_route_to_wrong_function(t: dict) -> None:
    op = _body_paths(t)["/v1/bulk"][rules.ANY_METHOD]
    op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"] = op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"].replace("send-bulk", "send-sms")


def _body_post_only(t: dict) -> None:
    # The operation as it was, `post:`: only POST /v1/bulk would reach send-bulk.
    ops = _body_paths(t)["/v1/bulk"]
    ops["post"] = ops.pop(rules.ANY_METHOD)


def _body_get_beside_any(t: dict) -> None:
    # A GET operation beside the ANY one: GET would take its own route.
    ops = _body_paths(t)["/v1/bulk/{job_id}"]
    ops["get"] = copy.deepcopy(ops[rules.ANY_METHOD])


def _body_route_missing(t: dict) -> None:
    del _body_paths(t)["/v1/uploads"]


def _body_payload_v1(t: dict) -> None:
    _body_paths(t)["/v1/messages"][rules.ANY_METHOD]["x-amazon-apigateway-integration"]["payloadFormatVersion"] = "1.0"


def _route_settings_of_a_post_route(t: dict) -> None:
    # The callback throttle keyed as before: a route key that no longer exists.
    settings = t["Resources"]["HttpApi"]["Properties"]["RouteSettings"]
    settings["POST /v1/callbacks/plivo/inbound"] = settings.pop("ANY /v1/callbacks/plivo/inbound")


def _route_settings_of_no_path(t: dict) -> None:
    settings = t["Resources"]["HttpApi"]["Properties"]["RouteSettings"]
    settings["ANY /v1/callbacks/plivo/voice"] = copy.deepcopy(settings["ANY /v1/callbacks/plivo/status"])


def _callback_unthrottled(t: dict) -> None:
    del t["Resources"]["HttpApi"]["Properties"]["RouteSettings"]["ANY /v1/callbacks/plivo/status"]


def _dashboard_route_of_a_post_route(t: dict) -> None:
    body = t["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]
    body["Fn::Sub"] = body["Fn::Sub"].replace('"ANY /v1/callbacks/plivo/status"', '"POST /v1/callbacks/plivo/status"')


def _sam_generated_integrations(t: dict) -> None:
    # Without the explicit route table SAM writes integrations that !GetAtt each function,
    # while the functions' PUBLIC_BASE_URL refers to the API: a cycle CloudFormation refuses
    # (and cfn-lint does not notice).
    del t["Resources"]["HttpApi"]["Properties"]["DefinitionBody"]


def _no_output(t: dict) -> None:
    del t["Outputs"]["StatusCallbackUrl"]


def _no_reserved_concurrency(t: dict) -> None:
    del _fn(t, "status-callback")["ReservedConcurrentExecutions"]


def _reserved_concurrency_default(t: dict) -> None:
    t["Parameters"]["StatusCallbackReservedConcurrency"]["Default"] = 1000


def _get_callback_route(t: dict) -> None:
    # A GET route beside the ANY one: the callbacks serve POST only (ROUTES), and one event per path.
    _fn(t, "status-callback")["Events"]["StatusGet"] = {
        "Type": "HttpApi",
        "Properties": {"ApiId": {"Ref": "HttpApi"}, "Method": "GET", "Path": "/v1/callbacks/plivo/status"},
    }


def _post_only_callback_route(t: dict) -> None:
    _fn(t, "status-callback")["Events"]["InboundPost"]["Properties"]["Method"] = "POST"


def _v2_on_by_default(t: dict) -> None:
    t["Parameters"]["PlivoAcceptV2Signatures"]["Default"] = "true"


def _callback_delete_item(t: dict) -> None:
    _role_statement(t, "StatusCallbackRole", "Table")["Action"].append("dynamodb:DeleteItem")


def _bucket(t: dict) -> dict:
    return t["Resources"]["FilesBucket"]["Properties"]


def _drop_role_statement(t: dict, role: str, sid: str) -> None:
    for pol in t["Resources"][role]["Properties"]["Policies"]:
        pol["PolicyDocument"]["Statement"] = [
            st for st in pol["PolicyDocument"]["Statement"] if not (isinstance(st, dict) and st.get("Sid") == sid)]


def _lifecycle_without(t: dict, rule_id: str) -> None:
    rules = _bucket(t)["LifecycleConfiguration"]["Rules"]
    _bucket(t)["LifecycleConfiguration"]["Rules"] = [r for r in rules if r["Id"] != rule_id]


def _bucket_public(t: dict) -> None:
    del _bucket(t)["PublicAccessBlockConfiguration"]


def _bucket_partly_public(t: dict) -> None:
    _bucket(t)["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] = False


def _bucket_unencrypted(t: dict) -> None:
    del _bucket(t)["BucketEncryption"]


def _bucket_acls(t: dict) -> None:
    _bucket(t)["OwnershipControls"]["Rules"][0]["ObjectOwnership"] = "ObjectWriter"


def _bucket_cors(t: dict) -> None:
    _bucket(t)["CorsConfiguration"] = {"CorsRules": [{"AllowedMethods": ["PUT"], "AllowedOrigins": ["*"]}]}


def _uploads_kept(t: dict) -> None:
    _lifecycle_without(t, "ExpireUploads")


def _jobs_kept_too_briefly(t: dict) -> None:
    for rule in _bucket(t)["LifecycleConfiguration"]["Rules"]:
        if rule["Id"] == "ExpireJobFiles":
            rule["ExpirationInDays"] = 30


def _multipart_kept(t: dict) -> None:
    _lifecycle_without(t, "AbortIncompleteMultipartUploads")


def _bucket_plain_http(t: dict) -> None:
    del t["Resources"]["FilesBucketPolicy"]


def _job_files_deletes_anywhere(t: dict) -> None:
    t["Resources"]["JobFilesRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Sid": "Everything", "Effect": "Allow", "Action": "s3:DeleteObject", "Resource": "*"})


def _job_files_writes_uploads(t: dict) -> None:
    _role_statement(t, "JobFilesRole", "JobFiles")["Resource"] = {"Fn::Sub": "${FilesBucket.Arn}/*"}


def _job_files_aborts(t: dict) -> None:
    _role_statement(t, "JobFilesRole", "JobFiles")["Action"].append("s3:AbortMultipartUpload")


def _send_bulk_cannot_read(t: dict) -> None:
    _drop_role_statement(t, "SendBulkRole", "Files")


def _send_bulk_puts_anywhere(t: dict) -> None:
    _role_statement(t, "SendBulkRole", "Uploads")["Resource"] = {"Fn::Sub": "${FilesBucket.Arn}/*"}


def _no_list_bucket(t: dict) -> None:
    _drop_role_statement(t, "JobFilesRole", "Bucket")


def _list_bucket_on_objects(t: dict) -> None:
    _role_statement(t, "SendBulkRole", "Bucket")["Resource"] = {"Fn::Sub": "${FilesBucket.Arn}/*"}


def _no_continuation_task(t: dict) -> None:
    _drop_role_statement(t, "JobFilesRole", "FilesQueue")


def _job_files_polls_the_batch_queue(t: dict) -> None:
    _role_statement(t, "JobFilesRole", "EventSource")["Resource"] = {"Fn::GetAtt": ["BatchQueue", "Arn"]}


def _job_files_batch_of_ten(t: dict) -> None:
    _fn(t, "job-files")["Events"]["Tasks"]["Properties"]["BatchSize"] = 10


def _job_files_concurrency_default(t: dict) -> None:
    t["Parameters"]["JobFilesMaximumConcurrency"]["Default"] = 5


def _job_files_no_partial_failures(t: dict) -> None:
    del _fn(t, "job-files")["Events"]["Tasks"]["Properties"]["FunctionResponseTypes"]


def _files_short_visibility(t: dict) -> None:
    t["Resources"]["FilesQueue"]["Properties"]["VisibilityTimeout"] = 900


def _no_files_dlq_alarm(t: dict) -> None:
    del t["Resources"]["FilesDeadLetterQueueAlarm"]


def _bucket_by_name(t: dict) -> None:
    _fn(t, "job-files")["Environment"]["Variables"]["SMS_BUCKET"] = "my-bucket"


def _job_files_memory(t: dict) -> None:
    _fn(t, "job-files")["MemorySize"] = 512


def _no_uploads_route(t: dict) -> None:
    del _fn(t, "send-bulk")["Events"]["CreateUpload"]


def _path_style_on_aws(t: dict) -> None:
    _fn(t, "job-files")["Environment"]["Variables"]["S3_FORCE_PATH_STYLE"] = "true"


def _max_upload_default(t: dict) -> None:
    t["Parameters"]["MaxUploadBytes"]["Default"] = 1024


def _stream_event(t: dict) -> dict:
    return _fn(t, "report-counts")["Events"]["StatusChanges"]["Properties"]


def _bisected(t: dict) -> None:
    _stream_event(t)["BisectBatchOnFunctionError"] = True


def _retried_for_ever(t: dict) -> None:
    _stream_event(t)["MaximumRetryAttempts"] = -1


def _no_failure_destination(t: dict) -> None:
    del _stream_event(t)["DestinationConfig"]


def _unfiltered_stream(t: dict) -> None:
    del _stream_event(t)["FilterCriteria"]


def _no_stream(t: dict) -> None:
    del t["Resources"]["Table"]["Properties"]["StreamSpecification"]


def _stream_read_on_table(t: dict) -> None:
    _role_statement(t, "ReportCountsRole", "EventSource")["Resource"] = {"Fn::GetAtt": ["Table", "Arn"]}


def _callback_platform_logs(t: dict) -> None:
    del _fn(t, "status-callback")["LoggingConfig"]["SystemLogLevel"]


def _callbacks_to_the_api(t: dict) -> None:
    _fn(t, "send-bulk")["Environment"]["Variables"]["STATUS_CALLBACK_BASE_URL"] = {
        "Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    }


def _function_url_with_iam(t: dict) -> None:
    _fn(t, "status-callback")["FunctionUrlConfig"]["AuthType"] = "AWS_IAM"


BROKEN_TEMPLATES: list[tuple[str, Callable[[dict], None], str]] = [
    ("fallback may publish to topics", _fallback_may_publish_to_topics, "needs the Deny FallbackNoTopics beside it"),
    ("reports sent to another URL", _callbacks_to_the_api, "STATUS_CALLBACK_BASE_URL must be !GetAtt"),
    ("function URL Plivo cannot call", _function_url_with_iam, "needs FunctionUrlConfig AuthType NONE"),
    ("stream batch bisected", _bisected, "BisectBatchOnFunctionError must be false"),
    ("stream batch retried for ever", _retried_for_ever, "MaximumRetryAttempts must be bounded"),
    ("stream batch given up without trace", _no_failure_destination, "DestinationConfig.OnFailure must be"),
    ("stream unfiltered", _unfiltered_stream, "FilterCriteria must be the one pattern"),
    ("table without its stream", _no_stream, "StreamViewType must be NEW_AND_OLD_IMAGES"),
    ("stream read granted on the table", _stream_read_on_table, "must be on !GetAtt Table.StreamArn only"),
    ("callback platform logs on", _callback_platform_logs, "SystemLogLevel WARN"),
    ("route missing", _drop_route, "route ANY /v1/bulk/{job_id} must go to send-bulk, goes to None"),
    ("route on the wrong function", _misroute, "route ANY /v1/messages/{message_uuid} must go to send-sms, goes to send-bulk"),
    ("POST-only route", _post_only_event, "SendSmsFunction.SendMessage: route POST /v1/messages must be ANY /v1/messages"),
    ("GET-only route", _get_only_event, "SendBulkFunction.GetJob: route GET /v1/bulk/{job_id} must be ANY /v1/bulk/{job_id}"),
    ("route declared twice", _route_twice, "route ANY /v1/messages/{message_uuid} is declared twice"),
    ("route the API does not have", _unknown_route, "route ANY /v1/bulk/{job_id}/retry is not a route of the API"),
    ("required variable missing", _drop_env, "requires environment variable SMS_TABLE"),
    ("variable misspelt", _typo_env, "requires environment variable SMS_QUEUE_URL"),
    ("wildcard action", _wildcard_action, "wildcard action 'dynamodb:*'"),
    ("Resource *", _star_resource, "Resource '*'"),
    ("action the code does not use", _extra_action, "grants dynamodb:Scan"),
    ("action the code needs", _missing_action, "needs dynamodb:BatchGetItem"),
    ("action on another resource", _queue_on_table, "sqs:SendMessage must be on !GetAtt BatchQueue.Arn"),
    ("SAM policy templates", _sam_policies, "must use its own Role"),
    ("no ReportBatchItemFailures", _no_partial_failures, "ReportBatchItemFailures"),
    ("no MaximumConcurrency", _no_max_concurrency, "MaximumConcurrency"),
    ("in flight under a second of the budget", _too_few_in_flight, "must cover one second of PlivoRequestsPerSecond"),
    ("send-sms with a budget of its own", _budget_not_shared, "SendSmsFunction must take PLIVO_REQUESTS_PER_SECOND"),
    ("visibility under 6 x timeout", _short_visibility, "less than 6 × the sender's Timeout"),
    ("no redrive policy", _no_redrive, "RedrivePolicy"),
    ("no dead-letter alarm", _no_dlq_alarm, "ApproximateNumberOfMessagesVisible"),
    ("no UnknownBatches alarm", _no_unknown_alarm, "UnknownBatches > 0 is missing"),
    ("a metric the dashboard leaves out", _dashboard_without_a_metric,
     "emits PlivoSms/RecipientsSubmitted, which the dashboard does not show"),
    ("a metric no code emits", _dashboard_with_a_metric_no_code_emits,
     "shows PlivoSms/Reconciled, which no code emits"),
    ("no 429 alarm", _no_rate_limited_alarm, "PlivoRateLimited > 0 is missing"),
    ("TTL off", _no_ttl, "TTL enabled on expires_at"),
    ("PITR off", _no_pitr, "point-in-time recovery"),
    ("x86", _x86, "Architectures"),
    ("send-bulk memory", _wrong_memory, "MemorySize/Timeout must be 512/30"),
    ("API integration to the wrong function", _body_route_to_wrong_function,
     "HttpApi.DefinitionBody ANY /v1/bulk must go to send-bulk, goes to send-sms"),
    ("API operation of POST only", _body_post_only,
     "HttpApi.DefinitionBody: route POST /v1/bulk must be ANY /v1/bulk"),
    ("API operation of GET beside ANY", _body_get_beside_any,
     "HttpApi.DefinitionBody: route GET /v1/bulk/{job_id} must be ANY /v1/bulk/{job_id}"),
    ("API route missing from the body", _body_route_missing,
     "HttpApi.DefinitionBody ANY /v1/uploads must go to send-bulk, goes to None"),
    ("API integration of payload format 1.0", _body_payload_v1, "must be aws_proxy, payload format 2.0"),
    ("route settings of a POST route", _route_settings_of_a_post_route,
     "HttpApi.RouteSettings key 'POST /v1/callbacks/plivo/inbound' is not a route of the API"),
    ("route settings of no path", _route_settings_of_no_path,
     "HttpApi.RouteSettings key 'ANY /v1/callbacks/plivo/voice' is not a route of the API"),
    ("callback route unthrottled", _callback_unthrottled,
     "HttpApi.RouteSettings 'ANY /v1/callbacks/plivo/status' must throttle with !Ref CallbackThrottlingBurstLimit"),
    ("dashboard metrics of a POST route", _dashboard_route_of_a_post_route,
     "the dashboard reads the API's metrics of route 'POST /v1/callbacks/plivo/status', which is not a route"),
    ("SAM-generated integrations", _sam_generated_integrations, "circular dependency after the SAM transform"),
    ("output missing", _no_output, "StatusCallbackUrl"),
    ("status-callback without reserved concurrency", _no_reserved_concurrency,
     "ReservedConcurrentExecutions must be !Ref StatusCallbackReservedConcurrency"),
    ("reserved concurrency default changed", _reserved_concurrency_default, "(default 100)"),
    ("GET callback route", _get_callback_route,
     "StatusCallbackFunction.StatusGet: route GET /v1/callbacks/plivo/status must be ANY /v1/callbacks/plivo/status"),
    ("POST-only callback route", _post_only_callback_route,
     "StatusCallbackFunction.InboundPost: route POST /v1/callbacks/plivo/inbound must be ANY"),
    ("V2 signatures on by default", _v2_on_by_default, "PlivoAcceptV2Signatures must default to 'false'"),
    ("status-callback granted DeleteItem", _callback_delete_item, "StatusCallbackFunction: its role grants dynamodb:DeleteItem"),
    ("bucket without its public access block", _bucket_public, "FilesBucket must block public access"),
    ("bucket public access partly allowed", _bucket_partly_public, "FilesBucket must block public access"),
    ("bucket unencrypted", _bucket_unencrypted, "FilesBucket must have default encryption"),
    ("bucket with ACLs", _bucket_acls, "FilesBucket must have OwnershipControls BucketOwnerEnforced"),
    ("bucket with CORS", _bucket_cors, "FilesBucket must have no CorsConfiguration"),
    ("uploads never expire", _uploads_kept, "lifecycle rule expiring uploads/ after 2 days"),
    ("jobs' files expire before their records", _jobs_kept_too_briefly, "lifecycle rule expiring jobs/ after 90 days"),
    ("incomplete multipart uploads kept", _multipart_kept, "aborting incomplete multipart uploads after 1 day"),
    ("bucket over plain HTTP", _bucket_plain_http, "FilesBucket needs a bucket policy that denies s3:* on it and its objects without TLS"),
    ("job-files deletes objects anywhere", _job_files_deletes_anywhere,
     "JobFilesFunction: s3:DeleteObject must be on !Sub '${FilesBucket.Arn}/jobs/*' only"),
    ("job-files writes uploads", _job_files_writes_uploads, "JobFilesFunction: s3:PutObject must be on !Sub '${FilesBucket.Arn}/jobs/*' only"),
    ("job-files granted an abort it never makes", _job_files_aborts,
     "JobFilesFunction: its role grants s3:AbortMultipartUpload, which its code does not use"),
    ("send-bulk cannot read the upload", _send_bulk_cannot_read, "SendBulkFunction: its code needs s3:GetObject"),
    ("send-bulk presigns PUTs anywhere", _send_bulk_puts_anywhere,
     "SendBulkFunction: s3:PutObject must be on !Sub '${FilesBucket.Arn}/uploads/*' only"),
    ("no s3:ListBucket (403 for a missing key)", _no_list_bucket, "JobFilesFunction: its code needs s3:ListBucket"),
    ("s3:ListBucket on the objects", _list_bucket_on_objects, "SendBulkFunction: s3:ListBucket must be on !GetAtt FilesBucket.Arn only"),
    ("job-files cannot hand a plan on", _no_continuation_task, "JobFilesFunction: sqs:SendMessage must cover !GetAtt FilesQueue.Arn"),
    ("job-files polls the batch queue", _job_files_polls_the_batch_queue,
     "JobFilesFunction: sqs:ReceiveMessage must be on !GetAtt FilesQueue.Arn only"),
    ("job-files takes ten tasks at once", _job_files_batch_of_ten, "job-files's SQS event must have BatchSize 1"),
    ("job-files concurrency default", _job_files_concurrency_default, "!Ref JobFilesMaximumConcurrency (default 2)"),
    ("job-files without partial failures", _job_files_no_partial_failures,
     "job-files's SQS event must have FunctionResponseTypes [ReportBatchItemFailures]"),
    ("files queue visibility under 6 x timeout", _files_short_visibility, "FilesQueue.VisibilityTimeout 900 is less than 6 ×"),
    ("no files dead-letter alarm", _no_files_dlq_alarm, "an alarm on FilesDeadLetterQueue's ApproximateNumberOfMessagesVisible"),
    ("bucket named, not referenced", _bucket_by_name, "JobFilesFunction: SMS_BUCKET must be !Ref FilesBucket"),
    ("job-files memory", _job_files_memory, "JobFilesFunction: MemorySize/Timeout must be 1024/900"),
    ("uploads route missing", _no_uploads_route, "route ANY /v1/uploads must go to send-bulk, goes to None"),
    ("path-style addressing on AWS", _path_style_on_aws, "sets S3_FORCE_PATH_STYLE, which is not in the table ENVIRONMENT"),
    ("upload limit default not the code's", _max_upload_default, "parameter MaxUploadBytes must default to 536870912"),
]


@pytest.mark.parametrize("mutate,expected", [(m, e) for _, m, e in BROKEN_TEMPLATES],
                         ids=[n for n, _, _ in BROKEN_TEMPLATES])
def test_a_broken_template_is_caught(template: dict, deploy_role: dict, mutate, expected: str) -> None:
    broken = copy.deepcopy(template)
    mutate(broken)
    found = rules.problems(broken, deploy_role, ROOT)
    assert any(expected in p for p in found), f"expected {expected!r} in:\n" + "\n".join(found)


# ---------------------------------------------------------------------------------------
# Broken copies of deploy-role.yaml.

def _deploy_statement(d: dict, policy: str, sid: str) -> dict:
    for st in d["Resources"][policy]["Properties"]["PolicyDocument"]["Statement"]:
        if st.get("Sid") == sid:
            return st
    raise KeyError(sid)


def _deploy_star_write(d: dict) -> None:
    _deploy_statement(d, "DeployResourcesPolicy", "LogGroupsDescribe")["Action"].append("logs:DeleteLogGroup")


def _deploy_star_elsewhere(d: dict) -> None:
    _deploy_statement(d, "DeployResourcesPolicy", "Queues")["Resource"] = "*"


def _deploy_star_unconditioned(d: dict) -> None:
    del _deploy_statement(d, "DeployResourcesPolicy", "EventSourceMappingCreate")["Condition"]


def _deploy_wildcard_action(d: dict) -> None:
    _deploy_statement(d, "DeployStackPolicy", "ServiceStacks")["Action"] = "cloudformation:*"


def _deploy_trusts_a_branch_too(d: dict) -> None:
    cond = d["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
    cond["StringEquals"]["token.actions.githubusercontent.com:sub"] = [
        cond["StringEquals"]["token.actions.githubusercontent.com:sub"],
        {"Fn::Sub": "repo:${GitHubRepository}:ref:refs/heads/${DeployBranch}"},
    ]


def _deploy_trusts_any_workflow(d: dict) -> None:
    cond = d["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
    cond["StringLike"] = {"token.actions.githubusercontent.com:sub": {"Fn::Sub": "repo:${GitHubRepository}:environment:${Environment}:*"}}
    del cond["StringEquals"]["token.actions.githubusercontent.com:sub"]


def _deploy_rewrites_trust(d: dict) -> None:
    _deploy_statement(d, "DeployStackPolicy", "RolesManage")["Action"].append("iam:UpdateAssumeRolePolicy")


def _deploy_second_role(d: dict) -> None:
    d["Resources"]["OtherRole"] = copy.deepcopy(d["Resources"]["DeployRole"])


def _boundary_without_list_bucket(d: dict) -> None:
    _deploy_statement(d, "FunctionPermissionsBoundary", "Files")["Action"].remove("s3:ListBucket")


@pytest.mark.parametrize("mutate,expected", [
    (_deploy_trusts_a_branch_too, "the trust's subject must be exactly"),
    (_deploy_trusts_any_workflow, "StringEquals only"),
    (_deploy_rewrites_trust, "iam:UpdateAssumeRolePolicy without a condition"),
    (_deploy_second_role, "must make one role"),
    (_deploy_star_write, "non-read actions ['logs:DeleteLogGroup']"),
    (_deploy_star_elsewhere, "Queues: Resource '*'"),
    (_deploy_star_unconditioned, "needs a lambda:FunctionArn condition"),
    (_deploy_wildcard_action, "wildcard action 'cloudformation:*'"),
    (_boundary_without_list_bucket, "SendBulkRole: grants s3:ListBucket, which the permissions boundary"),
], ids=["trust of a branch", "trust of any workflow", "trust rewritable", "two roles",
        "write on *", "* outside the exceptions", "exception without its condition", "wildcard action",
        "boundary narrower than a role"])
def test_a_broken_deploy_role_is_caught(template: dict, deploy_role: dict, mutate, expected: str) -> None:
    broken = copy.deepcopy(deploy_role)
    mutate(broken)
    found = rules.problems(template, broken, ROOT)
    assert any(expected in p for p in found), f"expected {expected!r} in:\n" + "\n".join(found)


# ---------------------------------------------------------------------------------------
# The workflows: pinned actions, OIDC tokens only where a deploy needs one.

@pytest.fixture(scope="module")
def workflows() -> dict:
    return rules.load_workflows(ROOT)


def test_the_workflows_keep_every_rule(workflows: dict) -> None:
    assert set(workflows) == {".github/workflows/ci.yml", ".github/workflows/deploy.yml"}
    found = rules.check_workflows(workflows)
    assert not found, "\n".join(found)


def _job(wf: dict, name: str) -> dict:
    return wf[".github/workflows/deploy.yml"]["jobs"][name]


def _unpinned(wf: dict) -> None:
    _job(wf, "build")["steps"][0]["uses"] = "actions/checkout@v4"


def _token_for_all(wf: dict) -> None:
    wf[".github/workflows/deploy.yml"]["permissions"]["id-token"] = "write"


def _token_on_build(wf: dict) -> None:
    _job(wf, "build")["permissions"] = {"contents": "read", "id-token": "write"}


def _prod_without_environment(wf: dict) -> None:
    del _job(wf, "prod")["environment"]


@pytest.mark.parametrize("mutate,expected", [
    (_unpinned, "'actions/checkout@v4' is not pinned"),
    (_token_for_all, "granted to the whole workflow"),
    (_token_on_build, "build: id-token: write on a job that does not deploy"),
    (_prod_without_environment, "prod: a deploy job must run in a GitHub environment"),
], ids=["tag instead of SHA", "workflow-wide token", "token on a job that does not deploy", "prod outside its environment"])
def test_a_broken_workflow_is_caught(workflows: dict, mutate, expected: str) -> None:
    broken = copy.deepcopy(workflows)
    mutate(broken)
    found = rules.check_workflows(broken)
    assert any(expected in p for p in found), f"expected {expected!r} in:\n" + "\n".join(found)


# ---------------------------------------------------------------------------------------
# Copies of what the checker reads from the repository, to break.

@pytest.fixture()
def rust_copy(tmp_path: Path) -> Path:
    """A copy of what the checker reads from the repository (Cargo.toml, functions/ and the
    API's contract, docs/openapi.yaml)."""
    shutil.copy(ROOT / "Cargo.toml", tmp_path / "Cargo.toml")
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / "docs/openapi.yaml", tmp_path / "docs/openapi.yaml")
    shutil.copytree(ROOT / "functions", tmp_path / "functions",
                    ignore=shutil.ignore_patterns("target", "benches", "tests", "examples"))
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path} no longer contains {old!r}; update this test"
    path.write_text(text.replace(old, new, 1))


# ---------------------------------------------------------------------------------------
# Broken copies of Cargo.toml's `cargo lambda watch` router, and of ROUTES itself: the local
# API routes each path for every method to its function, as the deployed one does.

def test_a_local_route_of_one_method_is_caught(template, deploy_role, rust_copy: Path) -> None:
    # The router's other form routes only the methods it lists: cargo lambda watch would answer
    # GET /v1/messages with its own 404, not send-sms's 405.
    _edit(rust_copy / "Cargo.toml", '"/v1/messages" = "send-sms"',
          '"/v1/messages" = [{ method = "POST", function = "send-sms" }]')
    found = rules.problems(template, deploy_role, rust_copy)
    assert any("Cargo.toml's watch router: '/v1/messages' must name its function as a string" in p
               for p in found), "\n".join(found)


def test_a_local_route_missing_or_misrouted_is_caught(template, deploy_role, rust_copy: Path) -> None:
    _edit(rust_copy / "Cargo.toml", '"/v1/uploads" = "send-bulk"\n', "")
    _edit(rust_copy / "Cargo.toml", '"/v1/callbacks/plivo/inbound" = "status-callback"',
          '"/v1/callbacks/plivo/inbound" = "send-bulk"')
    found = rules.problems(template, deploy_role, rust_copy)
    differs = [p for p in found if p.startswith("Cargo.toml's watch router [")]
    assert differs and "'/v1/uploads'" not in differs[0].split(" differs ")[0], "\n".join(found)
    assert "('/v1/callbacks/plivo/inbound', 'send-bulk')" in differs[0], "\n".join(found)


def test_no_local_router_is_caught(template, deploy_role, rust_copy: Path) -> None:
    text = (rust_copy / "Cargo.toml").read_text()
    (rust_copy / "Cargo.toml").write_text(text.replace("[workspace.metadata.lambda.watch.router]",
                                                       "[workspace.metadata.lambda.watch.unused]"))
    found = rules.problems(template, deploy_role, rust_copy)
    assert any("Cargo.toml needs [workspace.metadata.lambda.watch.router]" in p for p in found), "\n".join(found)


def test_routes_keep_one_function_per_path(monkeypatch) -> None:
    # An ANY route has one integration: ROUTES may not give one path's methods to two functions.
    monkeypatch.setitem(rules.ROUTES, ("DELETE", "/v1/bulk/{job_id}"), "job-files")
    _, found = rules.route_paths()
    assert any("ROUTES sends /v1/bulk/{job_id} to send-bulk and job-files (DELETE)" in p for p in found), found


# ---------------------------------------------------------------------------------------
# Broken copies of the Rust sources: the rules follow the code.

def test_a_variable_the_code_starts_requiring_is_caught(template, deploy_role, rust_copy: Path) -> None:
    _edit(rust_copy / "functions/send-sms/src/main.rs", "let sdk = config::aws().await;",
          'let sdk = config::aws().await;\n    let _x = config::required("SMS_NEW_SETTING")?;')
    found = rules.problems(template, deploy_role, rust_copy)
    assert any("send-sms" in p or "SendSms" in p for p in found if "SMS_NEW_SETTING" in p), "\n".join(found)


def test_a_variable_a_wiring_helper_starts_requiring_is_caught(template, deploy_role, rust_copy: Path) -> None:
    _edit(rust_copy / "functions/sms-core/src/wiring.rs",
          "pub fn dynamo_store(sdk: &aws_config::SdkConfig) -> Result<DynamoStore, ConfigError> {",
          "pub fn dynamo_store(sdk: &aws_config::SdkConfig) -> Result<DynamoStore, ConfigError> {\n"
          '    let _region = config::required("SMS_TABLE_REGION")?;')
    found = rules.problems(template, deploy_role, rust_copy)
    flagged = [p for p in found if "SMS_TABLE_REGION" in p]
    assert len(flagged) == len(rules.FUNCTIONS), "\n".join(found)  # every function uses dynamo_store


def test_an_sdk_call_the_adapter_starts_making_is_caught(template, deploy_role, rust_copy: Path) -> None:
    # The ledger's finish starts deleting the job item in its transaction.
    _edit(rust_copy / "functions/sms-core/src/store/dynamo/jobs.rs",
          ".transact_items(TransactWriteItem::builder().update(job.clone()).build())",
          ".transact_items(TransactWriteItem::builder().delete(job.clone()).build())")
    found = rules.problems(template, deploy_role, rust_copy)
    assert any("SenderFunction: its code needs dynamodb:DeleteItem" in p for p in found), "\n".join(found)


def test_a_store_method_a_function_starts_calling_is_caught(template, deploy_role, rust_copy: Path) -> None:
    _edit(rust_copy / "functions/sender/src/lib.rs", "pub async fn handle<S, P, R, T>(",
          "async fn _peek<S: MessageStore>(s: &S) { let _ = s.get_message(\"x\").await; }\n\npub async fn handle<S, P, R, T>(")
    found = rules.problems(template, deploy_role, rust_copy)
    assert any("sender: its code calls .get_message(" in p for p in found), "\n".join(found)


def test_an_optional_variable_nobody_decided_about_is_caught(template, deploy_role, rust_copy: Path) -> None:
    _edit(rust_copy / "functions/job-files/src/main.rs", "let sdk = config::aws().await;",
          'let sdk = config::aws().await;\n    let _knob = config::optional("PLANNER_NEW_KNOB");')
    found = rules.problems(template, deploy_role, rust_copy)
    assert any("JobFilesFunction: its code reads PLANNER_NEW_KNOB" in p for p in found), "\n".join(found)


def test_an_object_store_call_through_another_method_is_caught(template, deploy_role, rust_copy: Path) -> None:
    # Completing the rejects file starts aborting the upload first: a call to another port
    # method through `self`, which job-files then needs the action of.
    _edit(rust_copy / "functions/sms-core/src/files/s3.rs",
          "let Some(parts) = self.list_parts(key, upload_id).await? else {",
          "self.abort_multipart(key, upload_id).await?;\n        let Some(parts) = self.list_parts(key, upload_id).await? else {")
    found = rules.problems(template, deploy_role, rust_copy)
    assert any("JobFilesFunction: its code needs s3:AbortMultipartUpload" in p for p in found), "\n".join(found)


def test_an_object_store_method_a_function_starts_calling_is_caught(template, deploy_role, rust_copy: Path) -> None:
    _edit(rust_copy / "functions/job-files/src/planning.rs", "async fn read_whole<F: ObjectStore>(",
          "async fn _drop<F: ObjectStore>(f: &F) { let _ = f.abort_multipart(\"k\", \"u\").await; }\n\n"
          "async fn read_whole<F: ObjectStore>(")
    found = rules.problems(template, deploy_role, rust_copy)
    assert any("job-files: its code calls .abort_multipart( (ObjectStore)" in p for p in found), "\n".join(found)


def test_an_sdk_call_the_rules_cannot_map_is_caught(template, deploy_role, rust_copy: Path) -> None:
    _edit(rust_copy / "functions/sms-core/src/files/s3.rs", ".delete_object()", ".delete_objects()")
    found = rules.problems(template, deploy_role, rust_copy)
    assert any("calls the SDK's delete_objects, which the rules map to no IAM action" in p for p in found), "\n".join(found)


def test_a_new_key_prefix_needs_a_lifecycle_rule(template, deploy_role, rust_copy: Path) -> None:
    _edit(rust_copy / "functions/sms-core/src/files/keys.rs", 'pub const JOBS_PREFIX: &str = "jobs/";',
          'pub const JOBS_PREFIX: &str = "jobs/";\npub const EXPORTS_PREFIX: &str = "exports/";')
    found = rules.problems(template, deploy_role, rust_copy)
    assert any("files/keys.rs has EXPORTS_PREFIX" in p for p in found), "\n".join(found)


def test_port_methods_count_what_they_call_through_self() -> None:
    actions, _ = rules.method_actions(ROOT)
    # DynamoStore's claim_plan reads the plan (get_plan) when its claim is refused.
    assert "dynamodb:GetItem" in actions["PlanStore.claim_plan"]
    # JobStore::create_job is a default method over write_ledger and commit_job.
    assert {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query"} <= actions["JobStore.create_job"]
    # S3Files' completion lists the parts and, when the upload is gone, heads the object.
    assert actions["ObjectStore.complete_multipart"] == {"s3:ListMultipartUploadParts", "s3:PutObject", "s3:GetObject"}
    # Presigning is authorised as the request it signs.
    assert actions["ObjectStore.presign_put"] == {"s3:PutObject"}
    assert actions["ObjectStore.presign_get"] == {"s3:GetObject"}
