"""What the HTTP channels share: one POST/GET with timeouts, and the mapping of failures to
transient or permanent. Secrets in URLs never reach an error message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from notifiers.base import TransportError

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


async def request(
    method: str, url: str, *, redact: str | Sequence[str] = (), **kwargs: Any
) -> httpx.Response:
    """Send; a connection failure, a timeout or a 5xx is transient, another 4xx permanent (429 transient).

    A refusal's body goes into the error, with each secret in `redact` blotted out: some
    gateways echo the request (its URL, its headers) in their error replies."""
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            response = await client.request(method, url, **kwargs)
    except httpx.TimeoutException:
        raise TransportError("timed out", unreachable=True) from None
    except httpx.HTTPError as exc:
        raise TransportError(f"connection failed: {type(exc).__name__}", unreachable=True) from None
    if response.status_code == 429 or response.status_code >= 500:
        raise TransportError(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        body = response.text
        for secret in [redact] if isinstance(redact, str) else redact:
            if secret:
                body = body.replace(secret, "***")
        raise TransportError(f"HTTP {response.status_code}: {body[:200]}", permanent=True)
    return response


def json_body(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise TransportError(f"not JSON in reply (HTTP {response.status_code})") from None
    if not isinstance(data, dict):
        raise TransportError("unexpected reply shape")
    return data


def truncate_utf8(text: str, limit: int) -> str:
    """At most `limit` bytes of UTF-8, cut on a character boundary."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode("utf-8", errors="ignore") + "…"
