"""POST /v1/notify/test (`admin`): a test message through the daemon's own outbox and dispatcher."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from monitor.alerts.testmessage import TestMessageRefused, queue_test, send_test
from monitor.api.auth import Admin, ServiceDep, Text, client_of
from monitor.api.errors import error
from monitor.api.now import Now

router = APIRouter()
# behind a lane sending on the same channel (a mail server slow to answer) the answer says
# `pending` rather than hold the request open
SEND_SECONDS = 45.0


class TestBody(BaseModel):
    official: Text = Field(min_length=1, max_length=64, description="The official's id in the roster.")
    channel: Text | None = Field(
        None, max_length=40, description="One configured channel; default every one with an address."
    )


@router.post(
    "/v1/notify/test",
    responses={422: {"description": "Unknown official or channel, or no address: nothing was queued."}},
)
async def notify_test(
    body: TestBody, who: Admin, service: ServiceDep, request: Request, now: Now
) -> JSONResponse:
    """Send a test message to an official: an outbox row, sent by the daemon's dispatcher with the
    configured channel; the answer is what the outbox recorded for each channel (`sent`, `failed`
    with the reason, `deferred` by quiet hours or rate, `pending`), and `sent` says whether all
    went. Tried once, never retried. Audited."""
    source = client_of(request)

    def queue() -> list[int] | TestMessageRefused:
        with service.sessions() as session:
            try:
                ids = queue_test(
                    session, body.official, body.channel, service.channels, now, actor=who.name, source=source
                )
            except TestMessageRefused as exc:
                return exc
            session.commit()
            return ids

    queued = await run_in_threadpool(queue)
    if isinstance(queued, TestMessageRefused):
        return error(422, str(queued), code="invalid_test", field=queued.field)
    # the daemon's own dispatcher and channels, as alerts use them (a standby's too: the claim
    # makes sure one worker sends)
    # its outcome is counted in the metrics when its lane ends (Service._lane_ended)
    found = await send_test(service.dispatcher, service.sessions, queued, now, send_timeout=SEND_SECONDS)
    answer: dict[str, Any] = {
        "sent": bool(found) and all(r.ok for r in found),
        "results": [r.as_json() for r in found],
    }
    return JSONResponse(answer)
