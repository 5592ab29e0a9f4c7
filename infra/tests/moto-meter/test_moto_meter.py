"""The request meter of the local moto (infra/local/moto_meter.py): item sizes by DynamoDB's
rules, and the units and requests it tallies for real requests to a metered moto_server.

Run by `make test` (infra/tests/test.sh): `.venv/bin/python -m pytest -q infra/tests/moto-meter`.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "infra/local"))

import moto_meter  # noqa: E402

TABLE = "meter-test"


def test_item_sizes_follow_dynamodbs_rules():
    # Strings: name bytes + UTF-8 bytes; "é" is two bytes.
    assert moto_meter.item_size({"pk": {"S": "abc"}, "t": {"S": "é"}}) == 2 + 3 + 1 + 2
    # Numbers: 1 byte per two significant digits, plus 1; zeros at either end trimmed.
    assert moto_meter.number_size("12345") == 4
    assert moto_meter.number_size("1000") == 2
    assert moto_meter.number_size("0.0012") == 2
    assert moto_meter.number_size("-7") == 2
    # Binary by its raw bytes, not base64; booleans and nulls one byte.
    assert moto_meter.item_size({"b": {"B": "AAEC"}, "f": {"BOOL": True}, "n": {"NULL": True}}) == 4 + 2 + 2
    # Lists and maps: 3 bytes, plus 1 per element, plus the elements (a map's with their names).
    assert moto_meter.value_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (2 + 1) + (2 + 1)
    assert moto_meter.value_size({"M": {"k": {"S": "v"}}}) == 3 + 1 + 1 + 1
    assert moto_meter.value_size({"M": {}}) == 3
    assert moto_meter.item_size(None) == 0


def test_units_round_up_per_kilobyte_and_four():
    assert moto_meter.write_units(0, 1) == 1
    assert moto_meter.write_units(1024, 0) == 1
    assert moto_meter.write_units(1025, 10) == 2
    assert moto_meter.write_units(10, 3000, transactional=True) == 6
    assert moto_meter.read_units(0, consistent=True) == 1
    assert moto_meter.read_units(4097, consistent=True) == 2
    assert moto_meter.read_units(4097, consistent=False) == 1
    assert moto_meter.read_units(100, consistent=False) == 0.5
    assert moto_meter.read_units(5000, consistent=True, transactional=True) == 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto():
    port = free_port()
    env = {**os.environ, "MOTO_METER": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "infra/local/moto_server.py"), "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def client(url, service, app=None):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(user_agent_appid=app) if app else None,
    )


def meter(url):
    rows = json.load(urllib.request.urlopen(f"{url}/__meter"))["requests"]
    return {(r["caller"], r["service"], r["operation"]): r for r in rows}


def reset(url):
    urllib.request.urlopen(urllib.request.Request(f"{url}/__meter/reset", method="POST"))


def test_dynamodb_requests_cost_their_units(moto):
    ddb = client(moto, "dynamodb")
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    reset(moto)
    # pk(2)+"a"(1) + sk(2)+"1"(1) + body(4)+2,990 = 3,000 bytes: 3 WRU to write.
    big = {"pk": {"S": "a"}, "sk": {"S": "1"}, "body": {"S": "x" * 2990}}
    ddb.put_item(TableName=TABLE, Item=big)
    # An update that shrinks it still costs the larger size: 3 WRU.
    ddb.update_item(TableName=TABLE, Key={"pk": {"S": "a"}, "sk": {"S": "1"}}, UpdateExpression="SET body = :b", ExpressionAttributeValues={":b": {"S": "y"}})
    # A conditional put whose condition fails still costs the larger of the item it found
    # (small now) and the one it asked for: 3 WRU.
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.put_item(TableName=TABLE, Item=big, ConditionExpression="attribute_not_exists(pk)")
    # Two items in a transaction, one new of 3,000 bytes (3 KB → 6), one updated small (2): 8 WRU.
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": TABLE, "Item": {**big, "sk": {"S": "2"}}}},
        {"Update": {"TableName": TABLE, "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}}, "UpdateExpression": "SET n = :n", "ExpressionAttributeValues": {":n": {"N": "1"}}}},
    ])
    # BatchWriteItem: each item on its own: 3 + 1 = 4 WRU.
    ddb.batch_write_item(RequestItems={TABLE: [
        {"PutRequest": {"Item": {**big, "sk": {"S": "3"}}}},
        {"PutRequest": {"Item": {"pk": {"S": "b"}, "sk": {"S": "1"}}}},
    ]})
    # Reads: strongly consistent 1 RRU (≤ 4 KB), eventually 0.5, a missing item still 1.
    ddb.get_item(TableName=TABLE, Key={"pk": {"S": "a"}, "sk": {"S": "2"}}, ConsistentRead=True)
    ddb.get_item(TableName=TABLE, Key={"pk": {"S": "a"}, "sk": {"S": "2"}})
    ddb.get_item(TableName=TABLE, Key={"pk": {"S": "zz"}, "sk": {"S": "2"}}, ConsistentRead=True)
    # BatchGetItem, eventually consistent: 0.5 a key = 1.5.
    ddb.batch_get_item(RequestItems={TABLE: {"Keys": [
        {"pk": {"S": "a"}, "sk": {"S": "1"}}, {"pk": {"S": "a"}, "sk": {"S": "2"}}, {"pk": {"S": "nobody"}, "sk": {"S": "1"}},
    ]}})
    # A Query sums what it read, rounded up once (about 6 KB: 2 RRU strongly consistent),
    # whatever it projects (projected with its whole key).
    ddb.query(TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}}, ConsistentRead=True, ProjectionExpression="pk, sk")

    # A cancelled transaction (its condition failed) is still charged for its items: 2 + 6 WRU.
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(TransactItems=[
            {"ConditionCheck": {"TableName": TABLE, "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}}, "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": TABLE, "Item": {**big, "sk": {"S": "4"}}}},
        ])

    m = meter(moto)
    units = lambda op: (m[("functions", "dynamodb", op)]["wru"], m[("functions", "dynamodb", op)]["rru"])  # noqa: E731
    assert m[("functions", "dynamodb", "PutItem")]["count"] == 2
    assert units("PutItem") == (3 + 3, 0)
    assert units("UpdateItem") == (3, 0)
    assert m[("functions", "dynamodb", "TransactWriteItems")]["count"] == 2
    assert units("TransactWriteItems") == (8 + 8, 0)
    assert units("BatchWriteItem") == (4, 0)
    assert units("GetItem") == (0, 2.5)
    assert units("BatchGetItem") == (0, 1.5)
    assert units("Query") == (0, 2)


def test_sqs_counts_64_kb_chunks_and_empty_receives_apart(moto):
    sqs = client(moto, "sqs")
    queue = sqs.create_queue(QueueName="meter-test")["QueueUrl"]
    reset(moto)
    poller = client(moto, "sqs", app="local-sqs-poller")
    poller.receive_message(QueueUrl=queue, WaitTimeSeconds=0)
    # Ten bodies of 10,000 bytes: 100,000 bytes, two 64 KB chunks.
    sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": str(i), "MessageBody": "m" * 10_000} for i in range(10)])
    got = poller.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    poller.delete_message_batch(QueueUrl=queue, Entries=[{"Id": str(i), "ReceiptHandle": g["ReceiptHandle"]} for i, g in enumerate(got)])

    m = meter(moto)
    send = m[("functions", "sqs", "SendMessageBatch")]
    assert (send["count"], send["billed"], send["payload_bytes"]) == (1, 2, 100_000)
    receive = m[("local-sqs-poller", "sqs", "ReceiveMessage")]
    assert receive["count"] == 2 and receive["empty"] == 1
    assert receive["billed"] == 1 + -(-len(got) * 10_000 // 65536)
    assert m[("local-sqs-poller", "sqs", "DeleteMessageBatch")]["billed"] == 1


def test_other_services_count_requests_by_operation(moto):
    sm = client(moto, "secretsmanager")
    sm.create_secret(Name="meter-test", SecretString="{}")
    s3 = client(moto, "s3")
    s3v4 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing", config=Config(signature_version="s3v4"))
    s3.create_bucket(Bucket="meter-test")
    reset(moto)
    sm.get_secret_value(SecretId="meter-test")
    s3.put_object(Bucket="meter-test", Key="k", Body=b"x")
    s3.get_object(Bucket="meter-test", Key="k")
    s3.list_objects_v2(Bucket="meter-test")
    # A client's presigned PUT, as the service hands out (signature version 4) and version 2.
    for presigner in (s3v4, s3):
        url = presigner.generate_presigned_url("put_object", Params={"Bucket": "meter-test", "Key": "p"})
        urllib.request.urlopen(urllib.request.Request(url, data=b"y", method="PUT"))

    m = meter(moto)
    assert m[("functions", "secretsmanager", "GetSecretValue")]["count"] == 1
    assert m[("functions", "s3", "PutObject")]["count"] == 3
    assert m[("functions", "s3", "GetObject")]["count"] == 1
    assert m[("functions", "s3", "ListObjects")]["count"] == 1
