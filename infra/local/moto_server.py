"""moto_server, with the one fix the AWS SDK for Rust needs from it.

infra/tests/with-moto.sh and infra/local/dev.sh start moto through this file (with the
virtualenv's python) instead of the `moto_server` script; the arguments are the same.

moto 5.2 writes its answers from the AWS service model, and names the root element of an
S3 answer after the model's `resultWrapper`, which moto's own extras
(`moto/s3/2006-03-01/service-2.moto-extras.json.gz`) add for each operation whose root S3
names differently. ListParts is missing there, so moto answers `<ListPartsResponse>` where S3
answers `<ListPartsResult>`; botocore does not look at the root, the Rust SDK refuses the
answer ("expected ListPartsResult"), and no multipart upload could be completed
(sms_core::files lists the parts to complete an upload). The fix below adds the missing
wrapper, the way moto's extras add the others. Remove it once moto's extras name it: the
multipart tests of functions/sms-core/tests/object_store.rs then pass without it.

With `MOTO_METER=1` it also meters what it serves (infra/local/moto_meter.py): the requests
by caller, service and operation, and DynamoDB's request units and SQS's 64 KB chunks, read
at `GET /__meter` (the cost benchmark, infra/tests/cost/).

It also makes moto's DynamoDB writes atomic, as DynamoDB's are. moto applies an update by
reading the item, changing it and storing it back, with nothing to stop two requests served
at once (one thread each) from interleaving: forty concurrent `ADD recipients :n` on one item
lost updates under load (functions/sms-core/tests/progress_log.rs), and concurrent
transactions could overwrite each other's items. One lock around each write (and each read,
so a read never sees half a transaction) restores what the code relies on; moto stays
correct, only no faster than one write at a time.

And it keeps moto's transactions from copying whole tables. To undo a cancelled transaction
moto deep-copies every table the transaction names before it starts, so each transaction
costs time and memory in proportion to the table: a 100,000-recipient job through `make dev`
(a transaction per delivery report) slowed to a few reports a second and grew moto past
15 GB. Here a transaction saves only the items it names and, when it is cancelled, puts them
back as they were (functions/sms-core/tests/jobs_and_reports.rs and control.rs check that a
cancelled transaction leaves every item unchanged).
"""

import os
import sys
import threading

from moto.core import loaders
from moto.server import main

S3_EXTRAS = {
    "version": 1.0,
    "merge": {"operations": {"ListParts": {"output": {"resultWrapper": "ListPartsResult"}}}},
}

_moto_find_extras = loaders.Loader._find_extras


def _find_extras(self, service_name, type_name, api_version):
    yield from _moto_find_extras(self, service_name, type_name, api_version)
    if service_name == "s3" and type_name == "service-2":
        yield S3_EXTRAS


loaders.Loader._find_extras = _find_extras


def _transactions_copy_only_their_items() -> None:
    import copy

    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend, Table

    class TablesUncopied:
        """moto's `copy` module, except that a table "copies" as itself: moto's own undo then
        changes nothing, and the one below restores the items."""

        def __getattr__(self, name):
            return getattr(copy, name)

        @staticmethod
        def deepcopy(x, memo=None):
            return x if isinstance(x, Table) else copy.deepcopy(x, memo)

    models.copy = TablesUncopied()
    moto_transact = DynamoDBBackend.transact_write_items

    def named_items(backend, transact_items):
        for entry in transact_items:
            op_type, op = next(iter(entry.items()))
            table = backend.tables.get(op.get("TableName"))
            if op_type == "ConditionCheck" or table is None:
                continue
            if op_type == "Put":
                attrs = op["Item"]
                names = [table.hash_key_attr, table.range_key_attr]
                key = {n: attrs[n] for n in names if n is not None and n in attrs}
            else:
                key = op.get("Key", {})
            try:
                item = backend.get_item(table.name, key)
            except Exception:  # a malformed key: moto's own validation answers it
                continue
            yield table.name, key, copy.deepcopy(item.to_json()["Attributes"]) if item else None

    def transact_write_items(self, transact_items):
        before = list(named_items(self, transact_items))
        try:
            return moto_transact(self, transact_items)
        except Exception:
            for table_name, key, attrs in reversed(before):
                if attrs is not None:
                    self.put_item(table_name, attrs, overwrite=True)
                elif self.get_item(table_name, key) is not None:
                    self.delete_item(table_name, key)
            raise

    DynamoDBBackend.transact_write_items = transact_write_items


# The one lock of every DynamoDB operation (see _serialize_dynamodb); the request meter takes it
# too, to see the items before and after a request with nothing in between.
DYNAMODB_LOCK = threading.RLock()


def _serialize_dynamodb() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    lock = DYNAMODB_LOCK
    names = (
        "put_item",
        "get_item",
        "update_item",
        "delete_item",
        "transact_write_items",
        "transact_get_items",
        "batch_write_item",
        "batch_get_item",
        "query",
        "scan",
    )
    for name in names:
        method = getattr(DynamoDBBackend, name, None)
        if method is None:
            continue

        def locked(self, *args, __method=method, **kwargs):
            with lock:
                return __method(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)


_transactions_copy_only_their_items()
_serialize_dynamodb()

# With MOTO_METER=1, a request meter: what AWS would bill for every request served
# (infra/local/moto_meter.py; `GET /__meter`, `POST /__meter/reset`). Off by default.
if os.environ.get("MOTO_METER") == "1":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import moto_meter

    moto_meter.install(DYNAMODB_LOCK)

if __name__ == "__main__":
    sys.exit(main())
