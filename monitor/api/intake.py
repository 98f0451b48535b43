"""What other platforms send: events (`ingest` scope) and the roster (`admin` scope).

Each record gets its own answer (accepted, duplicate, or rejected with field and reason); a bad
record never blocks the good ones beside it. Accepted records are committed before the answer.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from monitor.api.auth import Admin, Ingester, ServiceDep, client_of
from monitor.api.errors import error
from monitor.api.now import Now
from monitor.audit import add_entry, roster_summary
from monitor.clock import parse_instant
from monitor.ingest.commit import RaceNotSettled, commit_retrying
from monitor.ingest.event_examples import EXAMPLES
from monitor.ingest.event_schema import event_components
from monitor.ingest.outcome import RecordOutcome
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.runtime.scheduler import Evaluations

router = APIRouter()

_RESULTS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One result per record, in order: accepted, duplicate, or rejected with field and reason.",
        "content": {
            "application/json": {
                "example": {
                    "accepted": 1,
                    "duplicate": 0,
                    "rejected": 1,
                    "results": [
                        {"ref": "[0]", "id": "v-1", "status": "accepted"},
                        {
                            "ref": "[1]",
                            "id": "v-2",
                            "status": "rejected",
                            "field": "enterprise",
                            "reason": "required",
                        },
                    ],
                }
            }
        },
    }
}
_EVENT = {"$ref": "#/components/schemas/Event"}
_EVENTS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            "One event object or an array of them (docs/events.md). The schema of each type is under"
            " components/schemas (`Event_<type>`). Records are judged one by one: a record that does"
            " not fit is rejected with its field and reason in the answer, never the whole batch."
        ),
        "content": {
            "application/json": {
                "schema": {"oneOf": [_EVENT, {"type": "array", "items": _EVENT}]},
                "examples": {
                    **{kind: {"summary": f"a {kind} event", "value": e} for kind, e in EXAMPLES.items()},
                    "batch": {
                        "summary": "an array: every example, in an order that ingests whole",
                        "value": list(EXAMPLES.values()),
                    },
                },
            }
        },
    }
}
_ROSTER_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Sections units, officials, enterprises, pairings, projects (docs/roster.md).",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


# the routes whose bodies may be as large as `ingest.max_body_bytes` (monitor/api/errors.py)
BULK_ROUTES = frozenset({"/v1/events", "/v1/roster"})

# At most how many of JSON's value separators and containers (`,` `{` `[`) one event needs: its
# object, its fields, a list or two of ids, commas in its texts, with room to spare. A batch may
# hold `ingest.max_batch` times as many; a body with more is refused before it is parsed, since
# parsing is what costs: 16 MiB of `[{},{},…]` (or of one event whose field is such a list) is
# some 450 MB of Python objects before the batch limit or the record's check could refuse it.
STRUCTURE_PER_EVENT = 64
# ... and a body may always hold this many, whatever `max_batch` says: one wide event (a policy
# briefing naming hundreds of enterprises) is not refused by a deployment's small batches. About
# 5 MB of objects at most.
STRUCTURE_AT_LEAST = 65_536


def structure_budget(events_at_most: int) -> int:
    """How many JSON containers and separators a body of at most that many events may hold."""
    return max(events_at_most * STRUCTURE_PER_EVENT, STRUCTURE_AT_LEAST)


async def json_body(request: Request, *, events_at_most: int | None = None) -> Any:
    """The request body as JSON, parsed off the event loop (16 MiB take a third of a second); 400
    with the reason when it is not JSON (bad UTF-8, bad JSON, too deep, a number of more digits
    than Python converts); with `events_at_most`, 413 for a body that could not be that many
    events (`structure_budget`)."""
    raw = await request.body()
    return await run_in_threadpool(_parsed, raw, events_at_most)


def _parsed(raw: bytes, events_at_most: int | None) -> Any:
    if events_at_most is not None:
        found = raw.count(b",") + raw.count(b"{") + raw.count(b"[")
        if found > (budget := structure_budget(events_at_most)):
            raise HTTPException(
                413,
                f"the body holds {found} JSON containers and separators, more than a request of"
                f" at most {events_at_most} events takes ({budget}): send fewer events a request",
            )
    try:
        return json.loads(raw)
    except RecursionError:
        raise HTTPException(400, "the body nests too deeply") from None
    except ValueError as exc:  # UnicodeDecodeError, JSONDecodeError, the integer digits limit
        raise HTTPException(400, f"the body is not JSON: {exc}") from None


def document_events(app: FastAPI) -> None:
    """Put the schema of each event type under the app's OpenAPI `components/schemas`.

    The route reads its body itself so that a bad record cannot fail its batch; FastAPI therefore
    knows no model to publish, and the schemas are added to the document here instead.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            document.setdefault("components", {}).setdefault("schemas", {}).update(event_components())
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def results(outcomes: list[RecordOutcome]) -> JSONResponse:
    counts = {s: sum(1 for o in outcomes if o.status == s) for s in ("accepted", "duplicate", "rejected")}
    return JSONResponse({**counts, "results": [o.as_dict() for o in outcomes]})


@router.post("/v1/events", openapi_extra=_EVENTS_BODY, responses=_RESULTS)
async def post_events(request: Request, _: Ingester, service: ServiceDep, now: Now) -> JSONResponse:
    """Store events once each (the id is the idempotency key); up to `ingest.max_batch` a request.

    Accepted events that immediate rules wait for (a review, a case opened, closed, reopened or
    escalated) start an evaluation at once, on the leader whichever replica took them, so their
    alerts do not wait for the tick; unless they happened more than
    `ingest.immediate_within_hours` ago (a backfill: the tick takes them).
    """
    limit = service.settings.ingest.max_batch
    body = await json_body(request, events_at_most=limit)
    records = body if isinstance(body, list) else [body]
    if len(records) > limit:
        raise HTTPException(413, f"at most {limit} events per request, got {len(records)}")
    try:
        outcomes = await run_in_threadpool(service.ingest, [(f"[{i}]", r) for i, r in enumerate(records)])
    except RaceNotSettled as exc:
        # nothing was stored; the same request sent again is answered against the winners
        response = error(503, str(exc), code="unavailable")
        response.headers["Retry-After"] = "1"
        return response
    news = now - timedelta(hours=service.settings.ingest.immediate_within_hours)
    waking = service.loaded.rulebook.immediate_event_types  # the rules say which, not this module
    immediate = [
        at
        for r, o in zip(records, outcomes, strict=True)
        if o.status == "accepted" and isinstance(r, dict) and r.get("type") in waking
        if (at := parse_instant(str(r["at"]))) >= news
    ]
    if immediate:
        evaluations: Evaluations = request.app.state.evaluations
        await evaluations.wake()  # here, or on the leader when this replica stands by
        # an event of the future (a sender's clock a little ahead) counts from its time: wake then
        evaluations.wake_at(immediate)
    return results(outcomes)


@router.post("/v1/roster", openapi_extra=_ROSTER_BODY, responses=_RESULTS)
async def post_roster(request: Request, who: Admin, service: ServiceDep) -> JSONResponse:
    """Upsert units, officials, enterprises, pairings and projects; per-record results. Audited."""
    body = await json_body(request)
    source = client_of(request)

    def upsert() -> list[RecordOutcome]:
        roster, problems = load_roster(body, "roster")

        def write(session: Session) -> list[RecordOutcome]:
            outcomes = problems + upsert_roster(session, roster)
            add_entry(
                session,
                "roster.upsert",
                "POST /v1/roster",
                actor=who.name,
                source=source,
                detail=roster_summary(outcomes),
            )
            return outcomes

        # two admins (or one retrying) adding the same new record race like events do
        return commit_retrying(service.sessions, write)

    try:
        return results(await run_in_threadpool(upsert))
    except RaceNotSettled as exc:
        response = error(503, str(exc), code="unavailable")
        response.headers["Retry-After"] = "1"
        return response
