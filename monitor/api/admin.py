"""Waivers (`read` to list, `admin` to add or revoke) and the audit log (`admin` only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.exceptions import HTTPException

from monitor.api.auth import Admin, Reader, RowId, ServiceDep, Text, client_of
from monitor.api.errors import error
from monitor.audit import ACTIONS, MAX_LIMIT, as_json, entries
from monitor.store.models import Waiver
from monitor.waivers import WaiverError, add_waiver, revoke_waiver, waiver_json

router = APIRouter()


class WaiverBody(BaseModel):
    rule: Text = Field(min_length=1, max_length=64)
    subject: Text = Field(min_length=1, max_length=200)
    period: Text = Field("", max_length=10, description="YYYY-MM, YYYY-Bn, YYYY-Hn, YYYY; empty for a clock")
    reason: Text = Field(min_length=1, max_length=2000)
    approver: Text = Field(min_length=1, max_length=100)


@router.get("/v1/waivers")
async def list_waivers(_: Reader, service: ServiceDep) -> list[dict[str, Any]]:
    """Every waiver in force."""

    def query() -> list[dict[str, Any]]:
        with service.sessions() as session:
            return [waiver_json(w) for w in session.scalars(select(Waiver).order_by(Waiver.id))]

    return await run_in_threadpool(query)


@router.post("/v1/waivers", status_code=201, responses={422: {"description": "The field at fault is named."}})
async def post_waiver(body: WaiverBody, who: Admin, service: ServiceDep, request: Request) -> JSONResponse:
    """Waive an obligation, with a reason and an approver: it neither alerts nor counts as
    missed from the next tick on, and the monthly report lists it. Audited."""
    source = client_of(request)
    rulebook = service.loaded.rulebook  # the rules in force: what their duties look like

    def add() -> dict[str, Any] | WaiverError:
        with service.sessions() as session:
            try:
                row = add_waiver(
                    session, actor=who.name, source=source, rulebook=rulebook, **body.model_dump()
                )
            except WaiverError as exc:
                return exc
            session.commit()
            return waiver_json(row)

    result = await run_in_threadpool(add)
    if isinstance(result, WaiverError):
        status = 409 if result.conflict else 422
        return error(status, str(result), code="invalid_waiver", field=result.field)
    return JSONResponse(result, status_code=201)


@router.delete("/v1/waivers/{waiver_id}")
async def delete_waiver(
    waiver_id: RowId, who: Admin, service: ServiceDep, request: Request
) -> dict[str, Any]:
    """Revoke a waiver: the duty is owed again from the next tick. Audited."""
    source = client_of(request)

    def revoke() -> dict[str, Any] | None:
        with service.sessions() as session:
            row = revoke_waiver(session, waiver_id, actor=who.name, source=source)
            if row is None:
                return None
            shown = waiver_json(row)
            session.commit()
            return shown

    found = await run_in_threadpool(revoke)
    if found is None:
        raise HTTPException(404, f"no waiver {waiver_id}")
    return {"revoked": found}


@router.get("/v1/audit")
async def list_audit(
    _: Admin,
    service: ServiceDep,
    since: datetime | None = None,
    action: Annotated[str | None, Query(description=", ".join(ACTIONS))] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> list[dict[str, Any]]:
    """The audit log, newest first: who, when, what, from where (`admin` only)."""
    if since is not None and since.tzinfo is None:
        raise HTTPException(422, "since needs a time zone offset, e.g. 2026-11-01T00:00:00+08:00")
    if since is not None:
        try:
            since = since.astimezone(UTC)  # 0001-01-01T00:00+14:00 has no UTC instant
        except OverflowError:
            raise HTTPException(422, f"since is out of range: {since.isoformat()}") from None
    if action is not None and action not in ACTIONS:
        raise HTTPException(422, f"action must be one of {', '.join(ACTIONS)}")

    def query() -> list[dict[str, Any]]:
        with service.sessions() as session:
            return [as_json(e) for e in entries(session, since=since, action=action, limit=limit)]

    return await run_in_threadpool(query)
