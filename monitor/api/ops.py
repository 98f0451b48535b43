"""Routes for operators and their machines: /healthz, /readyz, /metrics, /-/reload.

/healthz and /readyz need no token, so that load balancers and orchestrators can probe them;
they say nothing about the duties watched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import select

from monitor.api.auth import Admin, Credentials, ServiceDep, authorize, client_of
from monitor.api.errors import error
from monitor.api.now import Now
from monitor.audit import audit_reload
from monitor.calendar.coverage import coverage_warnings
from monitor.clock import local_date
from monitor.runtime.service import Service
from monitor.store.models import TickRecord
from monitor.tokens import declared

router = APIRouter()

Reload = Callable[[], Awaitable[tuple[bool, str]]]


def reload_of(request: Request) -> Reload:
    reload: Reload = request.app.state.reload
    return reload


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


def leader_tick(service: Service, now: datetime) -> dict[str, Any]:
    """The leader's last committed tick, as every replica reads it from the database: when,
    how long ago, and which process (host:pid) ran it."""
    with service.sessions() as session:
        row = session.execute(
            select(TickRecord.at, TickRecord.worker).where(TickRecord.name == "last")
        ).one_or_none()
    if row is None:
        return {"last_tick": None, "age_seconds": None, "worker": None}
    return {
        "last_tick": row.at.isoformat(),
        "age_seconds": round((now - row.at).total_seconds(), 3),
        "worker": row.worker,
    }


@router.get("/readyz", responses={503: {"description": "A check failed; `checks` says which."}})
async def readyz(service: ServiceDep, now: Now) -> JSONResponse:
    """Ready to serve: database reachable, rules loaded, calendar covers today, last tick fresh.

    A failed reload does not make it unready (the last good rules keep running): it shows as
    `last_reload_successful`, and in the metric of that name. A standby does not tick; it is
    ready when it can serve the API, so `tick` only judges the leader. A year with no State
    Council notice loaded (the current one, or from 1 November the next) is not a failure either:
    `warnings.calendar` names it (monitor/calendar/coverage.py). `role` says whether this replica
    leads; `leader` gives the leader's last tick, whichever replica answers.
    """
    settings = service.settings
    fresh_within = max(3 * settings.tick_seconds, settings.heartbeat_max_age_seconds)
    last_tick = service.last_tick
    ticking = last_tick is not None and (now - last_tick).total_seconds() <= fresh_within
    checks = {
        "database": await run_in_threadpool(service.database_ok),
        "rules": len(service.loaded.rulebook.rules) > 0,
        "calendar": service.loaded.calendar.covers(local_date(now).year),
        "tick": ticking or not service.leadership.is_leader,
    }
    ready = all(checks.values())
    warnings: dict[str, list[dict[str, Any]]] = {}
    calendar_warnings = coverage_warnings(service.loaded.calendar, now)
    if calendar_warnings:
        warnings["calendar"] = [
            {"year": w.year, "mode": w.mode, "message": w.message} for w in calendar_warnings
        ]
    body: dict[str, Any] = {
        "ready": ready,
        "role": "leader" if service.leadership.is_leader else "standby",
        "leader": await run_in_threadpool(leader_tick, service, now) if checks["database"] else None,
        "checks": checks,
        "warnings": warnings,
        "last_reload_successful": service.reload_ok,
    }
    return JSONResponse(body, 200 if ready else 503)


@router.get("/metrics", response_class=Response)
async def metrics(service: ServiceDep, credentials: Credentials) -> Response:
    """Prometheus text format, from the snapshot of the last tick: a scrape never reads the database.

    Needs a token with the `metrics` (or `read`) scope unless `metrics_require_token` is off: the
    obligations carry per-unit compliance figures that the status page guards with a token too.
    """
    if service.settings.metrics_require_token:
        # a token declared in the config is checked without the database, so that a scrape still
        # says `dutywatch_database_up 0` while the database is away
        presented = credentials.credentials.strip() if credentials is not None else ""
        principal = declared(service.settings, presented) if presented else None
        if principal is None or principal.scopes.isdisjoint(("metrics", "read")):
            await authorize(service, credentials, "metrics", "read")
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.post(
    "/-/reload", responses={422: {"description": "A file is broken; the last good ones keep running."}}
)
async def reload(
    who: Admin, run: Annotated[Reload, Depends(reload_of)], service: ServiceDep, request: Request
) -> Response:
    """Reload config, rules and calendar, as SIGHUP does. Audited."""
    ok, message = await run()
    await run_in_threadpool(audit_reload, service, ok, message, who.name, client_of(request))
    if not ok:
        return error(422, message, code="reload_failed")
    return JSONResponse({"reloaded": True, "message": message})


# HEAD answers as GET does, without the body: what many load balancers probe with (not in the
# OpenAPI document, where it would repeat each operation)
for _path, _probe in (("/healthz", healthz), ("/readyz", readyz)):
    router.add_api_route(_path, _probe, methods=["HEAD"], include_in_schema=False)
