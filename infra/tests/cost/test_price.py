"""price.py on a made-up job: what it counts from the meter, the simulator and the logs, and
that the measured template decides Lambda's platform lines and memory.

Run by `make test` (infra/tests/test.sh) with the moto meter's tests.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import price  # noqa: E402

PRICES = json.loads((Path(price.__file__).parent / "prices.json").read_text())

TEMPLATE = """
Globals:
  Function:
    MemorySize: 128
    LoggingConfig:
      LogFormat: JSON
Resources:
  Callback:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: status-callback}}
    Properties:
      MemorySize: 256
      Role: !GetAtt CallbackRole.Arn
      LoggingConfig: {LogGroup: !Ref Group%s}
  Sender:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: sender}}
    Properties: {}
"""


def row(caller, service, op, count=0, billed=None, empty=0, wru=0, rru=0):
    return {"caller": caller, "service": service, "operation": op, "count": count,
            "billed": count if billed is None else billed, "empty": empty, "wru": wru, "rru": rru,
            "payload_bytes": 0}


def job(tmp_path):
    log = tmp_path / "api.log"
    lines = [
        "cargo lambda watch's own line, not JSON",
        json.dumps({"level": "INFO", "message": "status recorded", "span": {"name": "request", "function": "status-callback"}}),
        json.dumps({"level": "DEBUG", "message": "detail", "span": {"name": "request", "function": "status-callback"}}),
        json.dumps({"level": "INFO", "message": "batch ended", "span": {"name": "batch"}}),
    ]
    text = "before the job\n" + "\n".join(lines) + "\n"
    log.write_text(text)
    return {
        "accepted": 1000,
        "api_requests": {"POST /v1/bulk": 1, "GET /v1/bulk/{job_id}": 1},
        "post_body_bytes": 20_000,
        "simulator": {"report_attempts": 3000},
        "meter": {"requests": [
            row("functions", "dynamodb", "TransactWriteItems", 3000, wru=12000),
            row("functions", "dynamodb", "GetItem", 3000, rru=3000),
            row("functions", "sqs", "SendMessageBatch", 1, billed=2),
            row("local-sqs-poller", "sqs", "ReceiveMessage", 40, billed=40, empty=39),
            row("local-sqs-poller", "sqs", "DeleteMessageBatch", 1),
            row("local-schedule-poller", "scheduler", "ListSchedules", 30),
            row("functions", "secretsmanager", "GetSecretValue", 2),
        ]},
        "api_log": {"path": str(log), "from": len("before the job\n"), "to": len(text)},
    }


def test_a_job_is_priced_per_million_by_service(tmp_path):
    (tmp_path / "t.yaml").write_text(TEMPLATE % "")
    m = price.measure(job(tmp_path), price.functions_of(tmp_path / "t.yaml"), PRICES)
    assert m["scale"] == 1000
    s = m["by_service"]
    # 3,000 callbacks + the POST + the GET, $1 a million, ×1,000.
    assert round(s["API Gateway"], 6) == round(3002 * 1e-6 * 1000, 6)
    # 12,000 WRU and 3,000 RRU.
    assert round(s["DynamoDB"], 6) == round((12000 * 0.625 + 3000 * 0.125) * 1e-6 * 1000, 6)
    # The function's 2 billed, the poller's one busy receive and its delete; no empty polls.
    assert round(s["SQS"], 9) == round(4 * 0.4e-6 * 1000, 9)
    # status-callback at its own 256 MB, the sender (one busy receive) at the global 128 MB.
    lam = PRICES["lambda"]
    callback = 3000 * (lam["per_request"] + 0.030 * 0.25 * lam["per_gb_second"])
    sender = 1 * (lam["per_request"] + 2.5 * 0.125 * lam["per_gb_second"])
    bulk = 2 * (lam["per_request"] + 0.1 * 0.125 * lam["per_gb_second"])
    assert abs(s["Lambda"] - (callback + sender + bulk) * 1000) < 1e-9
    # Logs: the JSON lines after the job's start, and 374 B of platform lines an invocation.
    own = sum(len(line) for line in (tmp_path / "api.log").read_text().splitlines()[2:])
    platform = (3000 + 2 + 1) * sum(len(x) for x in PRICES["cloudwatch"]["platform_lines"])
    assert abs(s["CloudWatch Logs"] - (own + platform) / 1e9 * 0.5 * 1000) < 1e-9
    assert "Scheduler" not in " ".join(s)


def test_the_template_turns_platform_lines_and_low_levels_off(tmp_path):
    (tmp_path / "t.yaml").write_text(TEMPLATE.replace("LogGroup: !Ref Group%s}", "LogGroup: !Ref Group, SystemLogLevel: WARN, ApplicationLogLevel: INFO}"))
    fns = price.functions_of(tmp_path / "t.yaml")
    assert fns["status-callback"]["system_log_level"] == "WARN"
    m = price.measure(job(tmp_path), fns, PRICES)
    logs = next(i for i in m["items"] if i["service"] == "CloudWatch Logs")
    lines = (tmp_path / "api.log").read_text().splitlines()
    info_lines = len(lines[2]) + len(lines[4])  # the DEBUG line is dropped
    platform = (2 + 1) * sum(len(x) for x in PRICES["cloudwatch"]["platform_lines"])
    assert logs["per_job"] == info_lines + platform
    assert m["log_bytes_dropped_by_level"] == len(lines[3])
