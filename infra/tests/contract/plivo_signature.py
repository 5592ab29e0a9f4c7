"""Plivo's V3 callback signature (docs/plivo.md, "V3"), for the contract test's signed callbacks.

The service's own implementation is functions/sms-core/src/plivo/signature.rs; this one is
written from the same description and checked against the same vectors (test_plivo_signature.py),
so a request it signs is one Plivo would have signed.
"""

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, urlsplit


def _sorted_pairs(pairs):
    # By key in byte order, then by value.
    return sorted(pairs, key=lambda kv: (kv[0].encode(), kv[1].encode()))


def base_string(method: str, url: str, params: list[tuple[str, str]]) -> str:
    """The string V3 signs, before the nonce: `params` are the decoded form fields (POST) or
    the request's decoded query fields (GET)."""
    parts = urlsplit(url)
    base = url.split("?", 1)[0].split("#", 1)[0]
    query = _sorted_pairs(parse_qsl(parts.query, keep_blank_values=True))
    written = "&".join(f"{k}={v}" if v else k for k, v in query)
    if method.upper() == "GET":
        union = _sorted_pairs(set(query) | set(params))
        joined = "&".join(f"{k}={v}" if v else k for k, v in union)
        return f"{base}?{joined}" if joined else base
    concatenated = "".join(k + v for k, v in _sorted_pairs(params))
    if written and concatenated:
        return f"{base}?{written}.{concatenated}"
    if written:
        return f"{base}?{written}"
    if concatenated:
        return f"{base}?{concatenated}"
    return base


def sign_v3(method: str, url: str, params: list[tuple[str, str]], nonce: str, token: str) -> str:
    signed = f"{base_string(method, url, params)}.{nonce}"
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()
