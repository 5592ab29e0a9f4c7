"""template.yaml and infra/deploy/deploy-role.yaml against the rules of template_rules.py.

The first test runs the checker on the real files: it must find nothing. The others break
one rule at a time, in a copy of a template or of the Rust sources, and require the checker
to say so, so that a rule which stopped checking would be noticed.

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


def _no_ttl(t: dict) -> None:
    t["Resources"]["Table"]["Properties"]["TimeToLiveSpecification"]["Enabled"] = False


def _no_pitr(t: dict) -> None:
    del t["Resources"]["Table"]["Properties"]["PointInTimeRecoverySpecification"]


def _x86(t: dict) -> None:
    t["Globals"]["Function"]["Architectures"] = ["x86_64"]


def _wrong_memory(t: dict) -> None:
    _fn(t, "send-bulk")["MemorySize"] = 256


def _body_route_to_wrong_function(t: dict) -> None:
    op = t["Resources"]["HttpApi"]["Properties"]["DefinitionBody"]["paths"]["/v1/bulk"]["post"]
    op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"] = op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"].replace("send-bulk", "send-sms")


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
    _fn(t, "status-callback")["Events"]["StatusGet"] = {
        "Type": "HttpApi",
        "Properties": {"ApiId": {"Ref": "HttpApi"}, "Method": "GET", "Path": "/v1/callbacks/plivo/status"},
    }


def _v2_on_by_default(t: dict) -> None:
    t["Parameters"]["PlivoAcceptV2Signatures"]["Default"] = "true"


def _callback_delete_item(t: dict) -> None:
    _role_statement(t, "StatusCallbackRole", "Table")["Action"].append("dynamodb:DeleteItem")


BROKEN_TEMPLATES: list[tuple[str, Callable[[dict], None], str]] = [
    ("route missing", _drop_route, "route GET /v1/bulk/{job_id} must go to send-bulk"),
    ("route on the wrong function", _misroute, "route GET /v1/messages/{message_uuid} must go to send-sms"),
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
    ("TTL off", _no_ttl, "TTL enabled on expires_at"),
    ("PITR off", _no_pitr, "point-in-time recovery"),
    ("x86", _x86, "Architectures"),
    ("send-bulk memory", _wrong_memory, "MemorySize/Timeout must be 512/30"),
    ("API integration to the wrong function", _body_route_to_wrong_function, "DefinitionBody routes"),
    ("SAM-generated integrations", _sam_generated_integrations, "circular dependency after the SAM transform"),
    ("output missing", _no_output, "StatusCallbackUrl"),
    ("status-callback without reserved concurrency", _no_reserved_concurrency,
     "ReservedConcurrentExecutions must be !Ref StatusCallbackReservedConcurrency"),
    ("reserved concurrency default changed", _reserved_concurrency_default, "(default 100)"),
    ("GET callback route", _get_callback_route, "route GET /v1/callbacks/plivo/status is not a route"),
    ("V2 signatures on by default", _v2_on_by_default, "PlivoAcceptV2Signatures must default to 'false'"),
    ("status-callback granted DeleteItem", _callback_delete_item, "StatusCallbackFunction: its role grants dynamodb:DeleteItem"),
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


@pytest.mark.parametrize("mutate,expected", [
    (_deploy_trusts_a_branch_too, "the trust's subject must be exactly"),
    (_deploy_trusts_any_workflow, "StringEquals only"),
    (_deploy_rewrites_trust, "iam:UpdateAssumeRolePolicy without a condition"),
    (_deploy_second_role, "must make one role"),
    (_deploy_star_write, "non-read actions ['logs:DeleteLogGroup']"),
    (_deploy_star_elsewhere, "Queues: Resource '*'"),
    (_deploy_star_unconditioned, "needs a lambda:FunctionArn condition"),
    (_deploy_wildcard_action, "wildcard action 'cloudformation:*'"),
], ids=["trust of a branch", "trust of any workflow", "trust rewritable", "two roles",
        "write on *", "* outside the exceptions", "exception without its condition", "wildcard action"])
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
# Broken copies of the Rust sources: the rules follow the code.

@pytest.fixture()
def rust_copy(tmp_path: Path) -> Path:
    """A copy of what the checker reads from the repository (Cargo.toml and functions/)."""
    shutil.copy(ROOT / "Cargo.toml", tmp_path / "Cargo.toml")
    shutil.copytree(ROOT / "functions", tmp_path / "functions",
                    ignore=shutil.ignore_patterns("target", "benches", "tests", "examples"))
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path} no longer contains {old!r}; update this test"
    path.write_text(text.replace(old, new, 1))


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
    assert len(flagged) == 4, "\n".join(found)  # every function uses dynamo_store


def test_an_sdk_call_the_adapter_starts_making_is_caught(template, deploy_role, rust_copy: Path) -> None:
    # The ledger's finish starts guarding the job item with a ConditionCheck entry.
    _edit(rust_copy / "functions/sms-core/src/store/dynamo/jobs.rs",
          ".transact_items(TransactWriteItem::builder().update(job.clone()).build())",
          ".transact_items(TransactWriteItem::builder().condition_check(job.clone()).build())")
    found = rules.problems(template, deploy_role, rust_copy)
    assert any("SenderFunction: its code needs dynamodb:ConditionCheckItem" in p for p in found), "\n".join(found)


def test_a_store_method_a_function_starts_calling_is_caught(template, deploy_role, rust_copy: Path) -> None:
    _edit(rust_copy / "functions/sender/src/lib.rs", "pub async fn handle<S, P, R>(",
          "async fn _peek<S: MessageStore>(s: &S) { let _ = s.get_message(\"x\").await; }\n\npub async fn handle<S, P, R>(")
    found = rules.problems(template, deploy_role, rust_copy)
    assert any("sender: its code calls .get_message(" in p for p in found), "\n".join(found)
