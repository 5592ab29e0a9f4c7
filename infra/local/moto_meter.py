"""A request meter for the local stack's moto: what AWS would bill for the requests it serves.

infra/local/moto_server.py installs it when `MOTO_METER=1` (off by default: the tests and
`make dev` run moto unmetered). It then counts every AWS request moto serves, by caller,
service and operation, and adds what each is billed in:

- DynamoDB: request units by DynamoDB's own rules (docs/cost.md, "Measured", says which):
  a write costs 1 WRU per KB (rounded up) of the larger of the item before and after it
  (PutItem, UpdateItem, DeleteItem, each item of BatchWriteItem; for a put, the item it asks
  for counts as the after even when its condition failed), 2 per KB in TransactWriteItems
  (ConditionCheck items included), whether its condition held or not;
  a read costs 1 RRU per 4 KB strongly consistent, half that eventually consistent (GetItem
  and each key of BatchGetItem at least one unit, found or not; a Query the sum of the items
  it read, rounded up once), 2 per 4 KB in TransactGetItems. Item sizes are DynamoDB's:
  attribute name bytes plus value bytes (`item_size`), the items looked up in moto's own
  backend before and after the request, under the lock moto_server.py serializes DynamoDB
  with, so no other request changes them in between.
- SQS: billed requests, each 64 KB of a SendMessage(Batch)'s bodies or of the messages a
  ReceiveMessage returns counting as one; receives that return nothing counted apart
  (`empty`), since their number depends on the poller's wait, not on the job.
- Everything else (S3, Secrets Manager, Scheduler, CloudWatch): requests by operation; S3's
  are named by the REST call they are (`s3_operation`), which decides their price class.

The caller is the `app/<name>` part of the User-Agent (the AWS SDK's `AWS_SDK_UA_APP_ID`,
which infra/local/dev.sh sets for the local tools standing in for AWS: `local-sqs-poller`,
`local-schedule-poller`, ...); requests without one are the functions' (`functions`).

HTTP, on moto's own port:
  GET  /__meter         the tallies, JSON: {"requests": [{"caller", "service", "operation",
                        "count", "billed", "empty", "wru", "rru", "payload_bytes"}, ...]}
  POST /__meter/reset   zeroes them
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
from collections import defaultdict
from typing import Any, Callable
from urllib.parse import parse_qs

KB = 1024
SQS_CHUNK = 64 * KB

# ---------------------------------------------------------------------------------------------
# DynamoDB's sizes (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/
# CapacityUnitCalculations.html)


def number_size(text: str) -> int:
    """1 byte per two significant digits (leading and trailing zeros trimmed), plus 1."""
    mantissa = re.split(r"[eE]", text.strip())[0].lstrip("+-").replace(".", "")
    digits = mantissa.strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    """The size of one attribute value in DynamoDB's JSON form (`{"S": "..."}`), without its name."""
    (kind, x), = value.items()
    if kind == "S":
        return len(x.encode())
    if kind == "N":
        return number_size(x)
    if kind == "B":
        return len(x) if isinstance(x, bytes) else len(base64.b64decode(x))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in x)
    if kind == "NS":
        return sum(number_size(n) for n in x)
    if kind == "BS":
        return sum(value_size({"B": b}) for b in x)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in x)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in x.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_size(attrs: dict[str, Any] | None) -> int:
    """An item's size: each attribute's name bytes plus its value's; 0 for no item."""
    if not attrs:
        return 0
    return sum(len(name.encode()) + value_size(v) for name, v in attrs.items())


def write_units(before: int, after: int, transactional: bool = False) -> int:
    units = max(1, math.ceil(max(before, after) / KB))
    return 2 * units if transactional else units


def read_units(size: int, consistent: bool, transactional: bool = False) -> float:
    units = max(1, math.ceil(size / (4 * KB)))
    if transactional:
        return 2.0 * units
    return float(units) if consistent else units / 2


# ---------------------------------------------------------------------------------------------
# The tallies


class Tallies:
    FIELDS = ("count", "billed", "empty", "wru", "rru", "payload_bytes")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: dict[tuple[str, str, str], dict[str, float]] = {}

    def add(self, caller: str, service: str, operation: str, **amounts: float) -> None:
        with self.lock:
            row = self.rows.setdefault(
                (caller, service, operation), dict.fromkeys(self.FIELDS, 0)
            )
            for name, amount in amounts.items():
                row[name] += amount

    def reset(self) -> None:
        with self.lock:
            self.rows.clear()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            rows = [
                {"caller": c, "service": s, "operation": o, **row}
                for (c, s, o), row in sorted(self.rows.items())
            ]
        return {"requests": rows}


TALLIES = Tallies()


def caller_of(headers: Any) -> str:
    agent = f"{headers.get('User-Agent', '')} {headers.get('X-Amz-User-Agent', '')}"
    match = re.search(r"(?:^|\s)app/([^\s]+)", agent)
    return match.group(1) if match else "functions"


# ---------------------------------------------------------------------------------------------
# What each request is: service (the signature's scope) and operation


def service_of(environ: dict[str, Any]) -> str | None:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    match = re.search(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/", auth)
    if match:
        return match.group(1)
    query = parse_qs(environ.get("QUERY_STRING", ""))
    credential = query.get("X-Amz-Credential", [""])[0]  # a presigned URL
    parts = credential.split("/")
    if len(parts) >= 4:
        return parts[3]
    # S3's older query signature (a presigned URL of signature version 2)
    return "s3" if "AWSAccessKeyId" in query and "Signature" in query else None


def s3_operation(method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> str:
    """The S3 REST call a request is, path-style (`/bucket` or `/bucket/key`)."""
    has_key = len(path.strip("/").split("/", 1)) == 2
    if method == "PUT":
        if "partNumber" in query and "uploadId" in query:
            return "UploadPartCopy" if "HTTP_X_AMZ_COPY_SOURCE" in headers else "UploadPart"
        if not has_key:
            return "CreateBucket" if not query else "PutBucketConfiguration"
        return "CopyObject" if "HTTP_X_AMZ_COPY_SOURCE" in headers else "PutObject"
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId" in query:
            return "CompleteMultipartUpload"
        if "delete" in query:
            return "DeleteObjects"
        return "PostObject"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in query else "DeleteObject"
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "GET":
        if has_key:
            return "ListParts" if "uploadId" in query else "GetObject"
        if "uploads" in query:
            return "ListMultipartUploads"
        return "ListObjects" if not query or "list-type" in query or "prefix" in query else "GetBucketConfiguration"
    return method


def operation_of(service: str, environ: dict[str, Any]) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.split(".")[-1]
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if "Action" in query:
        return query["Action"][0]
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "")
    if service == "s3":
        return s3_operation(method, path, query, environ)
    if service == "scheduler":
        if path.startswith("/schedule-groups"):
            return f"{method} schedule-groups"
        named = re.fullmatch(r"/schedules/[^/]+", path) is not None
        return {
            ("GET", False): "ListSchedules",
            ("GET", True): "GetSchedule",
            ("POST", True): "CreateSchedule",
            ("PUT", True): "UpdateSchedule",
            ("DELETE", True): "DeleteSchedule",
        }.get((method, named), f"{method} {path}")
    return f"{method} {path}"


# ---------------------------------------------------------------------------------------------
# DynamoDB's units, measured around moto's handler


def _table(backend: Any, name: str) -> Any:
    return backend.tables.get(name.split("table/")[-1])


def _key_of(table: Any, item: dict[str, Any]) -> dict[str, Any]:
    names = [table.hash_key_attr, table.range_key_attr]
    return {n: item[n] for n in names if n is not None and n in item}


def _size_now(backend: Any, table_name: str, key: dict[str, Any]) -> int:
    table = _table(backend, table_name)
    if table is None:
        return 0
    try:
        item = backend.get_item(table.name, key)
    except Exception:  # a malformed key: moto's own validation answers the request
        return 0
    return item_size(item.to_json()["Attributes"]) if item else 0


def _written(backend: Any, op: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool, int]]:
    """The (table, key, transactional, size of the item a put asks for) of every item a write
    request may change; the last is what a put whose condition failed is charged for beside
    the item it found."""
    if op in ("PutItem", "UpdateItem", "DeleteItem"):
        table = _table(backend, body.get("TableName", ""))
        if table is None:
            return []
        key = _key_of(table, body.get("Item", {})) if op == "PutItem" else body.get("Key", {})
        return [(table.name, key, False, item_size(body.get("Item")))]
    if op == "BatchWriteItem":
        out = []
        for name, requests in body.get("RequestItems", {}).items():
            table = _table(backend, name)
            if table is None:
                continue
            for r in requests:
                if "PutRequest" in r:
                    item = r["PutRequest"].get("Item", {})
                    out.append((table.name, _key_of(table, item), False, item_size(item)))
                elif "DeleteRequest" in r:
                    out.append((table.name, r["DeleteRequest"].get("Key", {}), False, 0))
        return out
    if op == "TransactWriteItems":
        out = []
        for entry in body.get("TransactItems", []):
            kind, spec = next(iter(entry.items()))
            table = _table(backend, spec.get("TableName", ""))
            if table is None:
                continue
            key = _key_of(table, spec.get("Item", {})) if kind == "Put" else spec.get("Key", {})
            out.append((table.name, key, True, item_size(spec.get("Item"))))
        return out
    return []


def _read_units(backend: Any, op: str, body: dict[str, Any], answer: dict[str, Any]) -> float:
    if op == "GetItem":
        size = _size_now(backend, body.get("TableName", ""), body.get("Key", {}))
        return read_units(size, bool(body.get("ConsistentRead")))
    if op == "BatchGetItem":
        total = 0.0
        for name, spec in body.get("RequestItems", {}).items():
            consistent = bool(spec.get("ConsistentRead"))
            for key in spec.get("Keys", []):
                total += read_units(_size_now(backend, name, key), consistent)
        return total
    if op == "TransactGetItems":
        total = 0.0
        for entry in body.get("TransactItems", []):
            spec = entry.get("Get", {})
            size = _size_now(backend, spec.get("TableName", ""), spec.get("Key", {}))
            total += read_units(size, True, transactional=True)
        return total
    if op in ("Query", "Scan"):
        # The items read, whole (a projection does not make a read cheaper): looked up again
        # by the keys of those answered. An answer projected without its whole key is sized
        # as answered (an undercount; the service's queries project nothing), and so are
        # items a filter dropped (it uses no filters either).
        table = _table(backend, body.get("TableName", ""))
        size = 0
        for item in answer.get("Items", []):
            key = _key_of(table, item) if table else {}
            whole = table is not None and len(key) == len([k for k in (table.hash_key_attr, table.range_key_attr) if k])
            size += _size_now(backend, table.name, key) if whole else item_size(item)
        return read_units(size, bool(body.get("ConsistentRead")))
    return 0.0


def metered_dynamodb(call_action: Callable[[Any], Any], lock: Any) -> Callable[[Any], Any]:
    def call(self: Any) -> Any:
        op = self._get_action()
        try:
            body = json.loads(self.body or "{}")
        except ValueError:
            body = {}
        backend = self.dynamodb_backend
        with lock:
            written = _written(backend, op, body)
            before = [_size_now(backend, t, k) for t, k, _, _ in written]
            result = call_action(self)
            after = [_size_now(backend, t, k) for t, k, _, _ in written]
            status, _headers, raw = result
            try:
                answer = json.loads(raw) if int(status) < 300 and raw else {}
            except (TypeError, ValueError):
                answer = {}
            rru = _read_units(backend, op, body, answer) if int(status) < 300 else 0.0
        # A write whose condition failed was still charged for the item it looked at; a
        # request refused before it reached an item (validation, missing table) was not.
        refused = int(status) >= 400 and "ConditionalCheckFailed" not in str(raw) and "TransactionCanceled" not in str(raw)
        wru = 0 if refused else sum(
            write_units(b, max(a, asked), transactional)
            for (_, _, transactional, asked), b, a in zip(written, before, after)
        )
        TALLIES.add(caller_of(self.headers), "dynamodb-units", op, count=1, wru=wru, rru=rru)
        return result

    return call


# ---------------------------------------------------------------------------------------------
# SQS's 64 KB chunks, around moto's handler


def _sqs_payload(op: str, body: dict[str, Any], answer: dict[str, Any]) -> int:
    def size(message: dict[str, Any]) -> int:
        n = len(str(message.get("MessageBody", message.get("Body", ""))).encode())
        for name, attr in (message.get("MessageAttributes") or {}).items():
            n += len(name.encode()) + len(str(attr.get("DataType", "")).encode())
            n += len(str(attr.get("StringValue", attr.get("BinaryValue", ""))).encode())
        return n

    if op == "SendMessage":
        return size(body)
    if op == "SendMessageBatch":
        return sum(size(e) for e in body.get("Entries", []))
    if op == "ReceiveMessage":
        return sum(size(m) for m in answer.get("Messages", []))
    return 0


def metered_sqs(call_action: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def call(self: Any) -> Any:
        result = call_action(self)
        op = self._get_action()
        try:
            body = json.loads(self.body or "{}") if self.body else {}
        except (TypeError, ValueError):
            body = {}
        status, _headers, raw = result
        try:
            answer = json.loads(raw) if raw else {}
        except (TypeError, ValueError):
            answer = {}
        payload = _sqs_payload(op, body, answer)
        empty = op == "ReceiveMessage" and not answer.get("Messages")
        TALLIES.add(
            caller_of(self.headers),
            "sqs-payload",
            op,
            count=1,
            billed=max(1, math.ceil(payload / SQS_CHUNK)),
            payload_bytes=payload,
            empty=1 if empty else 0,
        )
        return result

    return call


# ---------------------------------------------------------------------------------------------
# Installing it


def _answer(start_response: Callable[..., Any], status: str, document: Any) -> list[bytes]:
    body = json.dumps(document).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def merged() -> dict[str, Any]:
    """Each (caller, service, operation) once. DynamoDB's and SQS's requests are those their
    handlers counted as they answered, each with its units in the same tally, so a request
    still in flight (a poller's long poll) is never half counted; the other services' are
    those counted at the door."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    extra = {"dynamodb-units": "dynamodb", "sqs-payload": "sqs"}
    for row in TALLIES.snapshot()["requests"]:
        service = extra.get(row["service"], row["service"])
        key = (row["caller"], service, row["operation"])
        into = rows.setdefault(key, {"caller": key[0], "service": key[1], "operation": key[2], **dict.fromkeys(Tallies.FIELDS, 0)})
        for name in Tallies.FIELDS:
            into[name] += row[name]
    for row in rows.values():
        if row["service"] != "sqs":
            row["billed"] = row["count"]
    return {"requests": sorted(rows.values(), key=lambda r: (r["service"], r["operation"], r["caller"]))}


def install(dynamodb_lock: Any) -> None:
    """Counts every request moto's server answers, and the DynamoDB and SQS units."""
    from moto.dynamodb.responses import DynamoHandler
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from moto.sqs.responses import SQSResponse

    DynamoHandler.call_action = metered_dynamodb(DynamoHandler.call_action, dynamodb_lock)
    SQSResponse.call_action = metered_sqs(SQSResponse.call_action)

    dispatch = DomainDispatcherApplication.__call__

    def metered(self: Any, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == "/__meter" and environ.get("REQUEST_METHOD") == "GET":
            return _answer(start_response, "200 OK", merged())
        if path == "/__meter/reset" and environ.get("REQUEST_METHOD") == "POST":
            TALLIES.reset()
            return _answer(start_response, "200 OK", {"reset": True})
        service = service_of(environ)
        # DynamoDB's and SQS's requests are counted by their handlers, with their units.
        if service is not None and service not in ("dynamodb", "sqs") and not path.startswith("/moto-api"):
            headers = {"User-Agent": environ.get("HTTP_USER_AGENT", ""), "X-Amz-User-Agent": environ.get("HTTP_X_AMZ_USER_AGENT", "")}
            TALLIES.add(caller_of(headers), service, operation_of(service, environ), count=1)
        return dispatch(self, environ, start_response)

    DomainDispatcherApplication.__call__ = metered
