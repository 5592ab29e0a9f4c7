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

It also makes moto's DynamoDB writes atomic, as DynamoDB's are. moto applies an update by
reading the item, changing it and storing it back, with nothing to stop two requests served
at once (one thread each) from interleaving: forty concurrent `ADD recipients :n` on one item
lost updates under load (functions/sms-core/tests/progress_log.rs), and concurrent
transactions could overwrite each other's items. One lock around each write (and each read,
so a read never sees half a transaction) restores what the code relies on; moto stays
correct, only no faster than one write at a time.
"""

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


def _serialize_dynamodb() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
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


_serialize_dynamodb()

if __name__ == "__main__":
    sys.exit(main())
