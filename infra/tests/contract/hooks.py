"""Schemathesis hooks of the contract test (run.sh): Plivo's callbacks signed as Plivo signs them.

docs/openapi.yaml declares the callbacks' authentication as the security scheme `plivoSignature`
(header `X-Plivo-Signature-V3`). A V3 signature covers the URL, the query and every form field,
so no fixed value can stand for it: this provider signs each generated request, its body and
query exactly as they will be sent, keyed with the local stack's Plivo token. The signature is
computed by local-stack's `plivo-sign` (sms_core's SignatureV3, the code the status callback
verifies with), started once. So the callbacks are tested past the signature check, in their
parsing and storing; schemathesis' own auth probes (no signature, a made-up one) still go
without it and must be refused.
"""

import json
import os
import secrets
import subprocess
from collections.abc import Mapping
from pathlib import Path

import schemathesis
from requests.models import RequestEncodingMixin

# Set by infra/tests/with-stack.sh: the URL the stack's callbacks are signed for, and its token.
PUBLIC_BASE_URL = os.environ["SMS_E2E_PUBLIC_BASE_URL"].rstrip("/")
PLIVO_AUTH_TOKEN = os.environ["SMS_E2E_PLIVO_AUTH_TOKEN"]
# Built by with-stack.sh (`cargo build --bins`).
SIGNER = os.environ.get(
    "PLIVO_SIGN_BIN", str(Path(__file__).resolve().parents[3] / "target" / "debug" / "plivo-sign")
)


def _encoded(value) -> str:
    """A body or query as `requests` will put it on the wire."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        encoded = RequestEncodingMixin._encode_params(value)
        return encoded.decode("utf-8", "replace") if isinstance(encoded, bytes) else encoded
    # Not a form at all (a negative case): the server refuses it before any signature.
    return ""


class _Signer:
    def __init__(self):
        self._process = None

    def sign(self, url: str, form: str, nonce: str, token: str) -> str:
        if self._process is None:
            self._process = subprocess.Popen(
                [SIGNER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "PLIVO_AUTH_TOKEN": token},
            )
        self._process.stdin.write(json.dumps({"url": url, "form": form, "nonce": nonce}) + "\n")
        self._process.stdin.flush()
        signature = self._process.stdout.readline().strip()
        if not signature:
            raise RuntimeError(f"{SIGNER} gave no signature")
        return signature


_SIGNER = _Signer()


@schemathesis.auth(refresh_interval=None).apply_to(path_regex="^/v1/callbacks/plivo/")
class PlivoSignature:
    def get(self, case, ctx):
        return PLIVO_AUTH_TOKEN

    def set(self, case, token, ctx):
        query = _encoded(case.query)
        url = PUBLIC_BASE_URL + case.formatted_path + (f"?{query}" if query else "")
        nonce = str(secrets.randbelow(10**20)).zfill(20)
        case.headers = dict(case.headers or {})
        case.headers["X-Plivo-Signature-V3"] = _SIGNER.sign(url, _encoded(case.body), nonce, token)
        case.headers["X-Plivo-Signature-V3-Nonce"] = nonce
