"""Bearer tokens on the API: every route but /healthz, /readyz and /openapi.json needs one with
the route's scope (`ingest`, `read` or `admin`); /metrics needs `metrics` or `read` unless
`metrics_require_token` is off."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator
from starlette.exceptions import HTTPException

from monitor.runtime.service import Service
from monitor.tokens import Principal, authenticate

# Declares the scheme in the OpenAPI document; the refusals are ours (401 and 403, JSON errors).
_bearer = HTTPBearer(auto_error=False, description="A token from `dutywatch token create` or the config.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def authorize(
    service: Service, credentials: HTTPAuthorizationCredentials | None, scope: str, *also: str
) -> Principal:
    """The caller, when the token exists, is unrevoked and carries the scope (or one of `also`):
    else 401 (no such token) or 403 (not that scope). The lookup reads the database, so it runs
    on the thread pool."""
    token = credentials.credentials.strip() if credentials is not None else ""
    if not token:
        raise HTTPException(401, "a bearer token is required")

    def lookup() -> Principal | None:
        with service.sessions() as session:
            return authenticate(session, service.settings, token)

    principal = await run_in_threadpool(lookup)
    if principal is None:
        raise HTTPException(401, "unknown or revoked token")
    if principal.scopes.isdisjoint((scope, *also)):
        wanted = " or ".join(repr(s) for s in (scope, *also))
        raise HTTPException(403, f"this token lacks the {wanted} scope")
    return principal


def require(scope: str) -> Callable[[Request, HTTPAuthorizationCredentials | None], Awaitable[Principal]]:
    """A dependency that lets only callers with `scope` through."""

    async def check(request: Request, credentials: Credentials) -> Principal:
        return await authorize(service_of(request), credentials, scope)

    return check


ServiceDep = Annotated[Service, Depends(service_of)]
Reader = Annotated[Principal, Depends(require("read"))]
Ingester = Annotated[Principal, Depends(require("ingest"))]
Admin = Annotated[Principal, Depends(require("admin"))]


def client_of(request: Request) -> str:
    """Where a request came from, for the audit log: the peer's address, or the client's behind a
    proxy listed in `http.trusted_proxies` (uvicorn rewrites the peer from X-Forwarded-For)."""
    return request.client.host if request.client is not None else "unknown"


# a row id in a path: bounded, so that no database sees a number wider than its integers
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode (a lone surrogate)") from None
    return value


# text a person typed into a request body, as every database can store it
Text = Annotated[str, AfterValidator(_storable)]
