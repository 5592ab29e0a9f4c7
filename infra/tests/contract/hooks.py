"""Schemathesis hooks of the contract test (run.sh): Plivo's callbacks signed as Plivo signs them.

docs/openapi.yaml declares the callbacks' authentication as the security scheme `plivoSignature`
(header `X-Plivo-Signature-V3`). A V3 signature covers the URL, the query and every form field,
so no fixed value can stand for it: this provider computes it for each generated request, over
the body and query exactly as they will be sent, keyed with the local stack's Plivo token. So
the callbacks are tested past the signature check, in their parsing and storing; schemathesis'
own auth probes (no signature, a made-up one) still go without it and must be refused.
"""

import os
import secrets
from collections.abc import Mapping
from urllib.parse import parse_qsl

import schemathesis
from requests.models import RequestEncodingMixin

from plivo_signature import sign_v3

# Set by infra/tests/with-stack.sh: the URL the stack's callbacks are signed for, and its token.
PUBLIC_BASE_URL = os.environ["SMS_E2E_PUBLIC_BASE_URL"].rstrip("/")
PLIVO_AUTH_TOKEN = os.environ["SMS_E2E_PLIVO_AUTH_TOKEN"]


def _as_sent(value) -> list[tuple[str, str]]:
    """The decoded pairs the server reads from a body or query as `requests` will encode it."""
    if value is None:
        return []
    if isinstance(value, bytes):
        encoded = value.decode("utf-8", "replace")
    elif isinstance(value, str):
        encoded = value
    elif isinstance(value, Mapping):
        encoded = RequestEncodingMixin._encode_params(value)
    else:
        # Not a form at all (a negative case): the server refuses it before any signature.
        return []
    if isinstance(encoded, bytes):
        encoded = encoded.decode("utf-8", "replace")
    return parse_qsl(encoded, keep_blank_values=True)


@schemathesis.auth(refresh_interval=None).apply_to(path_regex="^/v1/callbacks/plivo/")
class PlivoSignature:
    def get(self, case, ctx):
        return PLIVO_AUTH_TOKEN

    def set(self, case, token, ctx):
        query = _as_sent(case.query)
        url = PUBLIC_BASE_URL + case.formatted_path
        if query:
            url += "?" + RequestEncodingMixin._encode_params(query)
        nonce = str(secrets.randbelow(10**20)).zfill(20)
        signature = sign_v3("POST", url, _as_sent(case.body), nonce, token)
        case.headers = dict(case.headers or {})
        case.headers["X-Plivo-Signature-V3"] = signature
        case.headers["X-Plivo-Signature-V3-Nonce"] = nonce
