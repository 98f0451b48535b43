"""Routes of the HTTP API. JSON everywhere; every route but /healthz needs a bearer token with
the right scope (ingest, read, admin); /metrics too when configured."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.exceptions import HTTPException

from monitor.api.errors import BodyLimit, install
from monitor.clock import iso_shanghai, local_date, utcnow
from monitor.ingest.outcome import RecordOutcome
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.service import IMMEDIATE_TYPES, Service, heartbeat_age
from monitor.store.models import AlertRecord, ObligationRecord
from monitor.tokens import Principal, authenticate


class AckBody(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


def _alert_json(row: AlertRecord) -> dict[str, Any]:
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
        "unit": row.unit_id,
        "fired_at": iso_shanghai(row.fired_at),
        "inhibited_by": row.inhibited_by,
        "silenced_by": row.silenced_by,
        "acked": None
        if row.acked_at is None
        else {"by": row.acked_by, "at": iso_shanghai(row.acked_at), "reason": row.ack_reason},
    }


async def _json_body(request: Request) -> Any:
    """The request body as JSON; 400 with the reason when it is not (bad UTF-8, bad JSON, too deep)."""
    try:
        return json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPException(400, f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise HTTPException(400, "the body nests too deeply") from None


def _results(outcomes: list[RecordOutcome]) -> JSONResponse:
    counts = {s: sum(1 for o in outcomes if o.status == s) for s in ("accepted", "duplicate", "rejected")}
    return JSONResponse({**counts, "results": [o.as_dict() for o in outcomes]})


def require(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the caller's bearer token must exist, be unrevoked and carry the scope."""

    async def check(request: Request) -> Principal:
        service: Service = request.app.state.service
        kind, _, token = request.headers.get("authorization", "").partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise HTTPException(401, "a bearer token is required")

        def lookup() -> Principal | None:
            with service.sessions() as session:
                return authenticate(session, service.settings, token.strip())

        principal = await run_in_threadpool(lookup)
        if principal is None:
            raise HTTPException(401, "unknown or revoked token")
        if scope not in principal.scopes:
            raise HTTPException(403, f"this token lacks the {scope!r} scope")
        return principal

    return check


Reader = Annotated[Principal, Depends(require("read"))]
Ingester = Annotated[Principal, Depends(require("ingest"))]
Admin = Annotated[Principal, Depends(require("admin"))]


def create_app(service: Service) -> FastAPI:
    app = FastAPI(title="dutywatch", version="0.1.0", docs_url=None, redoc_url=None)
    app.state.service = service
    install(app)
    app.add_middleware(BodyLimit, limit=service.settings.ingest.max_body_bytes)
    background: set[asyncio.Future[Any]] = set()

    def evaluate_soon() -> None:
        future = asyncio.get_running_loop().run_in_executor(service.executor, service.tick, None)
        background.add(future)
        future.add_done_callback(background.discard)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(_: Reader) -> JSONResponse:
        now = utcnow()
        age = heartbeat_age(service.settings.heartbeat_file, now)
        limit = max(3 * service.settings.tick_seconds, service.settings.heartbeat_max_age_seconds)
        checks = {
            "database": await run_in_threadpool(service.database_ok),
            "rules": service.reload_ok,
            "calendar": service.loaded.calendar.covers(local_date(now).year),
            "tick": age is not None and age <= limit,
        }
        return JSONResponse(
            {"ready": all(checks.values()), "checks": checks}, 200 if all(checks.values()) else 503
        )

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        if service.settings.metrics_require_token:
            await require("read")(request)
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/events")
    async def post_events(request: Request, _: Ingester) -> JSONResponse:
        body = await _json_body(request)
        records = body if isinstance(body, list) else [body]
        if len(records) > service.settings.ingest.max_batch:
            raise HTTPException(413, f"at most {service.settings.ingest.max_batch} events per request")
        outcomes = await run_in_threadpool(service.ingest, [(f"[{i}]", r) for i, r in enumerate(records)])
        accepted = [r for (r, o) in zip(records, outcomes, strict=True) if o.status == "accepted"]
        if any(isinstance(r, dict) and r.get("type") in IMMEDIATE_TYPES for r in accepted):
            evaluate_soon()
        return _results(outcomes)

    @app.post("/v1/roster")
    async def post_roster(request: Request, _: Admin) -> JSONResponse:
        body = await _json_body(request)

        def upsert() -> list[RecordOutcome]:
            roster, problems = load_roster(body, "roster")
            with service.sessions() as session:
                outcomes = problems + upsert_roster(session, roster)
                session.commit()
            return outcomes

        return _results(await run_in_threadpool(upsert))

    @app.get("/v1/alerts")
    async def alerts(
        _: Reader,
        state: str | None = None,
        rule: str | None = None,
        unit: str | None = None,
        level: Annotated[int | None, Query(ge=0, le=9)] = None,
    ) -> list[dict[str, Any]]:
        def query() -> list[dict[str, Any]]:
            stmt = select(AlertRecord).order_by(AlertRecord.rule, AlertRecord.subject, AlertRecord.period)
            stmt = (
                stmt.where(AlertRecord.state == state)
                if state
                else stmt.where(AlertRecord.state != "resolved")
            )
            if rule:
                stmt = stmt.where(AlertRecord.rule == rule)
            if unit:
                stmt = stmt.where(AlertRecord.unit_id == unit)
            if level is not None:
                stmt = stmt.where(AlertRecord.level == level)
            with service.sessions() as session:
                return [_alert_json(r) for r in session.scalars(stmt.limit(10_000))]

        return await run_in_threadpool(query)

    @app.post("/v1/alerts/{alert_id}/ack")
    async def ack(alert_id: int, body: AckBody, who: Admin) -> dict[str, Any]:
        def update() -> dict[str, Any]:
            with service.sessions() as session:
                row = session.get(AlertRecord, alert_id)
                if row is None:
                    raise HTTPException(404, f"no alert {alert_id}")
                row.acked_by, row.acked_at, row.ack_reason = who.name, utcnow(), body.reason
                session.commit()
                return _alert_json(row)

        return await run_in_threadpool(update)

    @app.get("/v1/obligations")
    async def obligations(
        _: Reader,
        unit: str | None = None,
        rule: str | None = None,
        period: str | None = None,
        status: str | None = None,
    ) -> list[dict[str, Any]]:
        def query() -> list[dict[str, Any]]:
            stmt = select(ObligationRecord).order_by(ObligationRecord.rule, ObligationRecord.subject)
            for column, value in (
                (ObligationRecord.unit_id, unit),
                (ObligationRecord.rule, rule),
                (ObligationRecord.period, period),
                (ObligationRecord.status, status),
            ):
                if value is not None:
                    stmt = stmt.where(column == value)
            with service.sessions() as session:
                return [
                    {
                        "rule": o.rule,
                        "subject": o.subject,
                        "period": o.period or None,
                        "unit": o.unit_id,
                        "due": iso_shanghai(o.due_at),
                        "status": o.status,
                        "met_at": iso_shanghai(o.met_at) if o.met_at else None,
                    }
                    for o in session.scalars(stmt.limit(10_000))
                ]

        return await run_in_threadpool(query)

    @app.get("/v1/cases/{case_id}")
    async def case(case_id: str, _: Reader) -> dict[str, Any]:
        return await asyncio.get_running_loop().run_in_executor(
            service.executor, service.case_clock, case_id, None
        )

    @app.post("/-/reload")
    async def reload(_: Admin) -> JSONResponse:
        ok, message = await asyncio.get_running_loop().run_in_executor(service.executor, service.reload)
        return JSONResponse({"reloaded": ok, "message": message}, 200 if ok else 422)

    return app
