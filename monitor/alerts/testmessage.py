"""A test message to one official through the real outbox and channel, and what became of it.

As healthchecks' "send test notification": the message is an outbox row like any other, the
dispatcher claims and sends it with the configured channel, and the answer is what the outbox
recorded (sent, or failed with the stored reason). Nothing bypasses the outbox, so a test that
passes shows that alerts would pass the same way. A test message is tried once (the dispatcher
dead-letters it at its first failure): the operator is waiting for the answer now.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.dispatch import Dispatcher
from monitor.alerts.enqueue import notification_key
from monitor.alerts.recipients import contact, reachable
from monitor.audit import add_entry
from monitor.clock import iso_shanghai
from monitor.store.models import Notification, Official
from notifiers import capabilities, unknown_channel

KIND = "test"
WAIT_SECONDS = 30.0  # how long to wait for a row another worker (the daemon) claimed first


class TestMessageRefused(ValueError):
    """Nothing was queued: the official or the channel is unknown, or the channel has no address."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field  # the request's field at fault: official or channel


@dataclass(frozen=True)
class TestResult:
    """The outcome of one test row as the outbox recorded it."""

    id: int
    channel: str
    status: str  # sent, failed, deferred (quiet hours or the channel's rate), pending (not yet)
    detail: str | None = None  # the provider's id when sent, the stored reason when failed

    @property
    def ok(self) -> bool:
        return self.status == "sent"

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "channel": self.channel, "status": self.status, "detail": self.detail}


def queue_test(
    session: Session,
    official_id: str,
    channel: str | None,
    configured: Sequence[str],
    now: datetime,
    *,
    actor: str,
    source: str,
) -> list[int]:
    """Queue a test message to the official on `channel` (else on every configured channel that
    has an address for them) and audit it; the new rows' ids. The caller commits.

    Raises TestMessageRefused, queuing nothing, for an unknown official, an unknown channel, one
    the config does not use (the daemon would not send on it), or one without an address.
    """
    official = session.get(Official, official_id)
    if official is None:
        raise TestMessageRefused(f"no official {official_id!r} in the roster", "official")
    if channel is not None:
        unknown = unknown_channel(channel)
        if unknown is not None:
            raise TestMessageRefused(unknown, "channel")
        if channel not in configured:
            raise TestMessageRefused(
                f"channel {channel!r} is not configured (notify.channels: {', '.join(configured)})",
                "channel",
            )
        if not reachable(channel, contact(official.id, official)):
            what = "email address" if capabilities(channel).address == "email" else "phone number"
            raise TestMessageRefused(
                f"{official.name} ({official.id}) has no {what} for {channel}", "official"
            )
        chosen = [channel]
    else:
        chosen = [c for c in configured if reachable(c, contact(official.id, official))]
        if not chosen:
            raise TestMessageRefused(
                f"{official.name} ({official.id}) has no address on any configured channel "
                f"({', '.join(configured)})",
                "official",
            )
    nonce = secrets.token_hex(8)  # each test is a new message, even twice in one second
    when = iso_shanghai(now)[:16].replace("T", " ")
    rows = [
        Notification(
            key=notification_key(KIND, official.id, c, iso_shanghai(now), nonce),
            alert_id=None,
            kind=KIND,
            channel=c,
            recipient=official.id,
            subject="【测试】dutywatch 测试消息",
            text=(
                f"这是一条测试消息，经{c}发送给{official.name}，由{actor}于{when}发起，无需处理。"
                f"收到即说明督办提醒能经此渠道送达。"
            ),
            status="queued",
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
        for c in chosen
    ]
    session.add_all(rows)
    session.flush()
    add_entry(
        session,
        "notify.test",
        f"official {official.id}",
        actor=actor,
        source=source,
        detail={"channels": chosen, "outbox": [r.id for r in rows]},
        at=now,
    )
    return [r.id for r in rows]


def results(session: Session, ids: Sequence[int]) -> list[TestResult]:
    """What the outbox recorded for these rows, in id order."""
    rows = session.scalars(
        select(Notification).where(Notification.id.in_(list(ids))).order_by(Notification.id)
    )
    return [_result(row) for row in rows]


def _result(row: Notification) -> TestResult:
    if row.status == "sent":
        return TestResult(row.id, row.channel, "sent", row.provider_id)
    if row.status == "dead" or row.last_error:
        return TestResult(row.id, row.channel, "failed", row.last_error)
    if row.status == "queued" and row.attempts == 0 and row.claimed_by is not None:
        # handed back without an attempt counted: quiet hours or over the channel's rate
        until = iso_shanghai(row.next_attempt_at)
        return TestResult(row.id, row.channel, "deferred", f"waits until {until} (quiet hours or rate)")
    return TestResult(row.id, row.channel, "pending", "not sent yet; the outbox still holds it")


async def send_test(
    dispatcher: Dispatcher,
    sessions: sessionmaker[Session],
    ids: Sequence[int],
    now: datetime,
    *,
    wait_seconds: float = WAIT_SECONDS,
    send_timeout: float | None = None,
) -> list[TestResult]:
    """Send the queued test rows with the dispatcher, then read their outcome from the outbox.

    A row another worker claimed first (the daemon's dispatcher is always polling) is sent by
    that worker: wait up to `wait_seconds` more for its outcome. `send_timeout` bounds this
    dispatcher's own attempt (the API's); the channels' own timeouts bound it otherwise. A row on
    a channel a lane is sending on waits for that lane to end and the daemon's next batch. The
    outbox, not the dispatcher's outcomes, is the answer (the daemon's metrics count those when
    the lane ends).
    """
    loop = asyncio.get_running_loop()
    # given up on (a slow server, or the claim waiting for another batch's), the batch is not cut
    # short: its claim is shielded and its lanes go on to record what came of it (a mail server
    # has ten minutes to answer the end of a message), which the answer reads as `pending`
    # meanwhile; cancelled mid-send, the row stayed claimed, to be sent again after the lease
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(dispatcher.run_once(now, only=ids), send_timeout)
    deadline = loop.time() + wait_seconds

    def read() -> list[TestResult]:
        with sessions() as session:
            return results(session, ids)

    found = await asyncio.to_thread(read)
    while any(r.status == "pending" for r in found) and loop.time() < deadline:
        await asyncio.sleep(0.2)
        found = await asyncio.to_thread(read)
    return found
