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
"""

import sys

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

if __name__ == "__main__":
    sys.exit(main())
