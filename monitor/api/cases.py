"""A case's SLA clock (`GET /v1/cases/{id}`, `read` scope): received, due, working days used,
state and escalation level, with each of its clocks.

It evaluates the case's own duties at the instant asked (`evaluate(case_ids=…)`), so it answers
exactly what the tick would without evaluating the whole store; like every evaluation it runs on
the evaluation thread.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from monitor.api.auth import Reader, ServiceDep
from monitor.api.now import Now
from monitor.calendar.working_days import CalendarNotCovered
from monitor.clock import iso_shanghai, local_date
from monitor.config import Settings
from monitor.evaluation.evaluate import Evaluator
from monitor.ingest.values import ident_or_none
from monitor.store.models import Case, CaseEvent

router = APIRouter()


def _closed_at(session: Session, case_id: str, now: datetime) -> datetime | None:
    """When the case was last closed, unless it was reopened since (or never closed)."""
    last = session.execute(
        select(CaseEvent.type, CaseEvent.at)
        .where(
            CaseEvent.case_id == case_id,
            CaseEvent.type.in_(("case_closed", "case_reopened")),
            CaseEvent.at <= now,
        )
        .order_by(CaseEvent.at.desc(), CaseEvent.id.desc())
        .limit(1)
    ).first()
    if last is None:
        return None
    kind, at = last
    return at if kind == "case_closed" else None


def case_clock(
    session: Session, loaded: Evaluator, settings: Settings, case_id: str, now: datetime
) -> dict[str, Any] | None:
    """The case's clocks at `now`, or None when there is no such case.

    `state` is `closed`, else `overdue` when a running clock is past due, `warning` when an alert
    warns of one, else `running`; `due` is the earliest due time of the running clocks; `level`
    the highest escalation level of its alerts or of an explicit escalation event.
    """
    case = session.get(Case, case_id)
    if case is None:
        return None
    # this case's duties only: a whole evaluation per request took seconds at city size on the
    # one evaluation thread, queueing every tick and every other request behind it
    evaluation = loaded.evaluate(session, settings, now, case_ids=frozenset({case_id}))
    subject = f"case:{case_id}"
    alerts = {a.rule: a for a in [*evaluation.alerts, *evaluation.inhibited] if a.subject == subject}
    mine = [o for o in evaluation.obligations if o.subject == subject]
    running = [o for o in mine if o.status in ("pending", "overdue")]
    closed_at = _closed_at(session, case_id, now)
    if closed_at is not None:
        state = "closed"
    elif any(o.status == "overdue" for o in running):
        state = "overdue"
    elif any(a.state == "warning" for a in alerts.values()):
        state = "warning"
    else:
        state = "running"
    received = local_date(case.received_at)
    try:
        # counted from the day after receipt, up to today or the day it was closed
        used: int | None = loaded.calendar.count_workdays(
            received + timedelta(days=1), local_date(closed_at or now)
        )
    except CalendarNotCovered:
        used = None
    return {
        "case": case_id,
        "enterprise": case.enterprise_id,
        "unit": case.unit_id,
        "complexity": case.complexity,
        "channel": case.channel,
        "category": case.category,
        "received": iso_shanghai(case.received_at),
        "due": iso_shanghai(min(o.due_at for o in running)) if running else None,
        "provisional": any(o.provisional for o in running),
        "working_days_used": used,
        "state": state,
        "level": max([a.level for a in alerts.values()] + [o.escalated_level for o in mine], default=0),
        "closed": iso_shanghai(closed_at) if closed_at else None,
        "clocks": [
            {
                "rule": o.rule,
                # a clock whose due time rests on a year no calendar covers (strict mode) has none
                "due": None if o.status == "uncomputable" else iso_shanghai(o.due_at),
                "status": o.status,
                "provisional": o.provisional,
                "working_days_to_due": o.working_days_to_due,
                "working_days_overdue": o.working_days_overdue,
                "alert": alerts[o.rule].state if o.rule in alerts else None,
                "level": alerts[o.rule].level if o.rule in alerts else o.escalated_level,
                "met_at": iso_shanghai(o.met_at) if o.met_at else None,
            }
            for o in mine
        ],
    }


@router.get("/v1/cases/{case_id}")
async def get_case(case_id: str, _: Reader, service: ServiceDep, now: Now) -> dict[str, Any]:
    """The case's SLA clock now; 404 for an unknown case.

    The id in the path takes the normal form ids take in events (surrounding whitespace off), so
    the case an event named is the case the path finds; one holding control characters is no id.
    """
    normal = ident_or_none(case_id)

    def clock() -> dict[str, Any] | None:
        if normal is None:
            return None
        with service.sessions() as session:
            return case_clock(session, service.loaded, service.settings, normal, now)

    found = await asyncio.get_running_loop().run_in_executor(service.executor, clock)
    if found is None:
        raise HTTPException(404, f"no case {case_id!r}")
    return found
