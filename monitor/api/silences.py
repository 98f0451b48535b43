"""Silences over HTTP, as Alertmanager's: list (`read`), add and expire (`admin`), validated and
audited by monitor/alerts/silence_admin.py as `dutywatch silence` is."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from monitor.alerts.silence_admin import SilenceError, add_silence, expire_silence, listed, silence_json
from monitor.api.auth import Admin, Reader, RowId, ServiceDep, Text, client_of
from monitor.api.errors import error
from monitor.api.now import Now

router = APIRouter()


class SilenceBody(BaseModel):
    # a key it does not know is refused, not ignored: a misspelt or Alertmanager-shaped matcher
    # ("matchers", "rulee") dropped silently would leave a silence wider than was asked for
    model_config = ConfigDict(extra="forbid")

    # lengths are checked by add_silence, so that the 422 names the field as the CLI does
    rule: Text | None = Field(None, description="A rule id; empty matches every rule.")
    unit: Text | None = Field(None, description="A unit id of the roster; empty matches every unit.")
    subject: Text | None = Field(None, description="An alert's subject, or a prefix ending in '*'.")
    start: Text | None = Field(None, description="ISO 8601; without an offset Asia/Shanghai; default now.")
    end: Text | None = Field(None, description="ISO 8601; or give `duration`.")
    duration: Text | None = Field(None, description="90m, 2h, 3d, 1d12h: from `start`.")
    daily: Text | None = Field(None, description="Daily window, Asia/Shanghai: 12:00-13:30.")
    created_by: Text = Field(description="Who silences.")
    comment: Text = Field(description="Why.")


@router.get("/v1/silences")
async def list_silences(
    _: Reader,
    service: ServiceDep,
    now: Now,
    state: Annotated[Literal["active", "pending", "expired", "all"], Query()] = "active",
) -> list[dict[str, Any]]:
    """Silences in force now (default), not yet begun (`pending`), ended (`expired`) or `all`."""

    def query() -> list[dict[str, Any]]:
        with service.sessions() as session:
            return [silence_json(s, now) for s in session.scalars(listed(state, now))]

    return await run_in_threadpool(query)


@router.post(
    "/v1/silences",
    status_code=201,
    responses={422: {"description": "The field at fault is named."}},
)
async def post_silence(
    body: SilenceBody, who: Admin, service: ServiceDep, now: Now, request: Request
) -> JSONResponse:
    """Mute the notifications of matching alerts from `start` to `end` (or for `duration`), at
    most 90 days; the alerts stay visible, marked silenced. Audited."""
    source = client_of(request)

    def add() -> dict[str, Any] | SilenceError:
        with service.sessions() as session:
            try:
                row = add_silence(session, **body.model_dump(), now=now, actor=who.name, source=source)
            except SilenceError as exc:
                return exc
            session.commit()
            return silence_json(row, now)

    result = await run_in_threadpool(add)
    if isinstance(result, SilenceError):
        return error(422, str(result), code="invalid_silence", field=result.field)
    return JSONResponse(result, status_code=201)


@router.delete("/v1/silences/{silence_id}")
async def delete_silence(
    silence_id: RowId, who: Admin, service: ServiceDep, now: Now, request: Request
) -> dict[str, Any]:
    """Expire a silence now, as `dutywatch silence expire` does; the silence stays listed under
    `expired`. Again on one already over: 200, nothing changes. Audited when it changes."""
    source = client_of(request)

    def expire() -> dict[str, Any] | None:
        with service.sessions() as session:
            found = expire_silence(session, silence_id, now=now, actor=who.name, source=source)
            if found is None:
                return None
            row, changed = found
            shown = {"expired": silence_json(row, now), "changed": changed}
            session.commit()
            return shown

    answer = await run_in_threadpool(expire)
    if answer is None:
        raise HTTPException(404, f"no silence {silence_id}")
    return answer
