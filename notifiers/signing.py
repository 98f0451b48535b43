"""Request signing of the Chinese vendors' APIs, as pure functions checked against their own
published examples (tests/notifiers/test_signatures.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import quote, quote_plus


def percent_encode(value: str) -> str:
    """RFC 3986 as Alibaba Cloud wants it: space %20, '*' %2A, '~' kept."""
    return quote(value, safe="~")


def aliyun_rpc_signature(params: dict[str, str], secret: str, method: str = "GET") -> str:
    """Alibaba Cloud RPC signature V2 (HMAC-SHA1) of the request parameters (without Signature)."""
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))
    to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def aliyun_v3_signature(
    method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes, secret: str
) -> tuple[str, str, str]:
    """ACS3-HMAC-SHA256: (hex SHA-256 of the canonical request, signed header names, signature).

    `headers` are the ones to sign (host and x-acs-*), names in any case.
    """
    lowered = {k.lower(): v.strip() for k, v in headers.items()}
    names = sorted(lowered)
    canonical_query = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(query.items()))
    canonical_headers = "".join(f"{n}:{lowered[n]}\n" for n in names)
    signed = ";".join(names)
    canonical = "\n".join(
        [method, path, canonical_query, canonical_headers, signed, hashlib.sha256(body).hexdigest()]
    )
    hashed = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    signature = hmac.new(secret.encode(), f"ACS3-HMAC-SHA256\n{hashed}".encode(), hashlib.sha256).hexdigest()
    return hashed, signed, signature


def tencent_tc3_signature(
    secret_key: str,
    service: str,
    host: str,
    timestamp: int,
    payload: str,
    content_type: str = "application/json; charset=utf-8",
) -> str:
    """Tencent Cloud TC3-HMAC-SHA256 signature of a POST with a JSON payload."""
    canonical = (
        f"POST\n/\n\ncontent-type:{content_type}\nhost:{host}\n\ncontent-type;host\n"
        f"{hashlib.sha256(payload.encode('utf-8')).hexdigest()}"
    )
    day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = f"{day}/{service}/tc3_request"
    to_sign = (
        f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
    )

    def mac(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()

    signing = mac(mac(mac(f"TC3{secret_key}".encode(), day), service), "tc3_request")
    return hmac.new(signing, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk robot `sign`: urlencode(base64(HMAC-SHA256(secret, "timestamp\\nsecret")))."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


def webhook_signature(secret: str, body: bytes) -> str:
    """Our own webhook header value: sha256=<hex HMAC-SHA256 of the raw body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
