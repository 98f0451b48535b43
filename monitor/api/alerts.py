"""Alerts and obligations as the store holds them (`read` scope); acknowledgements (`admin`).

Lists are filtered in SQL and paged with `limit` and `offset`, in a stable order.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.exceptions import HTTPException

from monitor.alerts.acks import ack_history, acknowledge
from monitor.api.auth import Admin, Reader, RowId, ServiceDep, Text, client_of
from monitor.clock import iso_shanghai
from monitor.evaluation.obligations import Status
from monitor.obligation_status import obligation_json, obligations_query
from monitor.store.models import OPEN_STATES, AlertRecord

router = APIRouter()

Limit = Annotated[int, Query(ge=1, le=10_000)]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]
AlertState = Literal["warning", "overdue", "resolved"]


class AckBody(BaseModel):
    reason: Text = Field(min_length=1, max_length=2000)


def alert_json(row: AlertRecord, acks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The alert record of docs/api.md, plus id, unit, fired_at, inhibition, silence and ack.

    `acked` is the latest acknowledgement; its `history` every one since the alert fired.
    """
    return {
        "id": row.id,
        "rule": row.rule,
        "subject": row.subject,
        "period": row.period or None,
        "state": row.state,
        "level": row.level,
        "due": iso_shanghai(row.due_at),
        "recipients": row.recipients,
        "clause": row.clause,
        "message": row.message,
        "provisional": row.provisional,
        "unit": row.unit_id,
        "fired_at": iso_shanghai(row.fired_at),
        "inhibited_by": row.inhibited_by,
        "silenced_by": row.silenced_by,
        "acked": None
        if row.acked_at is None
        else {
            "by": row.acked_by,
            "at": iso_shanghai(row.acked_at),
            "reason": row.ack_reason,
            "history": acks or [],
        },
    }


@router.get("/v1/alerts")
async def list_alerts(
    _: Reader,
    service: ServiceDep,
    state: AlertState | None = None,
    rule: str | None = None,
    unit: str | None = None,
    level: Annotated[int | None, Query(ge=0, le=9)] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """Open alerts (warning and overdue), or those in `state`; the filters combine."""
    stmt = select(AlertRecord).order_by(AlertRecord.rule, AlertRecord.subject, AlertRecord.period)
    stmt = stmt.where(AlertRecord.state == state) if state else stmt.where(AlertRecord.state.in_(OPEN_STATES))
    if rule:
        stmt = stmt.where(AlertRecord.rule == rule)
    if unit:
        stmt = stmt.where(AlertRecord.unit_id == unit)
    if level is not None:
        stmt = stmt.where(AlertRecord.level == level)

    def query() -> list[dict[str, Any]]:
        with service.sessions() as session:
            rows = list(session.scalars(stmt.limit(limit).offset(offset)))
            acks = ack_history(session, rows)
            return [alert_json(r, acks.get(r.id)) for r in rows]

    return await run_in_threadpool(query)


@router.post("/v1/alerts/{alert_id}/ack")
async def ack_alert(
    alert_id: RowId, body: AckBody, who: Admin, service: ServiceDep, request: Request
) -> dict[str, Any]:
    """Acknowledge an alert: who (the token's name), when, and why. Audited."""
    source = client_of(request)

    def update() -> dict[str, Any]:
        with service.sessions() as session:
            row = session.get(AlertRecord, alert_id)
            if row is None:
                raise HTTPException(404, f"no alert {alert_id}")
            acknowledge(session, row, who=who.name, reason=body.reason, actor=who.name, source=source)
            session.commit()
            return alert_json(row, ack_history(session, [row])[row.id])

    return await run_in_threadpool(update)


@router.get("/v1/obligations")
async def list_obligations(
    _: Reader,
    service: ServiceDep,
    unit: str | None = None,
    rule: str | None = None,
    period: str | None = None,
    status: Status | None = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """Each duty's status as of the last tick, by (rule, subject, period); the filters combine."""
    stmt = obligations_query(unit=unit, rule=rule, period=period, status=status)

    def query() -> list[dict[str, Any]]:
        with service.sessions() as session:
            return [obligation_json(o) for o in session.scalars(stmt.limit(limit).offset(offset))]

    return await run_in_threadpool(query)
