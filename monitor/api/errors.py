"""Errors as JSON with one stable shape: {"error": {"code": ..., "message": ...}}."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    422: "invalid",
    500: "internal",
    503: "unavailable",
}


def error(status: int, message: str, *, code: str | None = None, **extra: Any) -> JSONResponse:
    """The one error shape; `code` defaults to the status's name in CODES."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = {"code": code or CODES.get(status, "error"), "message": message, **extra}
    return JSONResponse({"error": body}, status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        cause = exc.__cause__
        if exc.status_code == 400 and cause is not None and not isinstance(cause, HTTPException):
            # FastAPI's "There was an error parsing the body" for a body its JSON parser gave up
            # on with something other than a syntax error: say which
            reason = "it nests too deeply" if isinstance(cause, RecursionError) else str(cause)
            return error(400, f"the body is not JSON we read: {reason}")
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [_problem(e) for e in exc.errors()]
        return error(422, "invalid request", problems=problems)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, OperationalError | InterfaceError | SATimeoutError):
            # the database is away, restarting or locked: nothing was accepted, try again soon
            service = getattr(request.app.state, "service", None)
            if service is not None:
                service.metrics.database_up = False
            response = error(
                503, "the database is unavailable; nothing was stored, retry later", code="unavailable"
            )
            response.headers["Retry-After"] = "5"
            return response
        if isinstance(exc, DataError):
            # a value the database would not take, past the validation meant to catch it
            return error(422, "a value the database cannot store; nothing was stored", code="invalid")
        return error(500, f"internal error: {type(exc).__name__}")


def _problem(e: Any) -> dict[str, str]:
    """A validation error as a field and a reason; a body that is no JSON names the body and the
    character where parsing stopped (pydantic's location is that offset, not a field)."""
    if e.get("type") == "json_invalid":
        where = e["loc"][1] if len(e["loc"]) > 1 else "?"
        detail = (e.get("ctx") or {}).get("error", "")
        return {
            "field": "body",
            "reason": f"not JSON: {detail} (at character {where})".replace(":  (", ": ("),
        }
    return {"field": ".".join(str(p) for p in e["loc"][1:]), "reason": e["msg"]}


_NUL = re.compile(rb"%00|\x00")


# the bodies of every route but the bulk ones (a silence, a waiver, an acknowledgement, a login
# form) are a few hundred bytes; FastAPI parses a route's body model before its dependencies ask
# for a token, so an anonymous client's 16 MiB of `{"x":[{},{},…]}` would cost some 450 MB of
# Python objects per request where this limit holds it to about 2 MB
SMALL_BODY_BYTES = 64 * 1024


class BodyLimit:
    """Refuse request bodies over the limit with 413, whether or not Content-Length is given,
    and addresses with NUL characters with 400; a client gone mid-body is let go quietly.

    `limit` holds for the routes of `bulk` (the events and the roster, which read their bodies
    themselves after the token is checked), `SMALL_BODY_BYTES` (or `limit`, when lower) for
    every other route."""

    def __init__(self, app: ASGIApp, limit: int, bulk: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.limit = limit
        self.bulk = bulk
        self.small = min(limit, SMALL_BODY_BYTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _NUL.search(scope.get("query_string") or b"") or "\x00" in scope.get("path", ""):
            # no database stores a NUL character (PostgreSQL refuses it): say so before one is asked
            await error(400, "NUL characters are not allowed in the address")(scope, receive, send)
            return
        limit = self.limit if scope.get("path") in self.bulk else self.small
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await error(413, f"request body larger than {limit} bytes")(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await error(413, f"request body larger than {limit} bytes")(scope, receive, send)
        except ClientDisconnect:
            # the client left mid-body (or was cut off as too slow): nobody to answer, nothing
            # stored, and not our error; a traceback each time would let any client flood the log
            return


class _TooLarge(Exception):
    pass
