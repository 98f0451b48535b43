"""Test messages in the outbox: the daemon's dispatcher may claim the row first (the command then
reports the daemon's outcome), quiet hours defer it, and a test row is tried once."""

from __future__ import annotations

import asyncio
import random

from sqlalchemy import Engine, select

from monitor.alerts.dispatch import Dispatcher
from monitor.alerts.testmessage import queue_test, send_test
from monitor.clock import parse_instant
from monitor.config import NotifySettings
from monitor.store.db import session_factory
from monitor.store.models import Notification, Official
from notifiers.base import Message, Receipt, TransportError

NOW = parse_instant("2026-11-25T10:00")  # 10:00 in Shanghai


class Slow:
    """A channel that takes a while, as a real one may, and names who sent."""

    def __init__(self, worker: str, fail: bool = False) -> None:
        self.worker, self.fail, self.sent = worker, fail, 0

    async def send(self, message: Message) -> Receipt:
        await asyncio.sleep(0.3)
        if self.fail:
            raise TransportError("gateway busy (503)")  # transient: an alert's row would retry
        self.sent += 1
        return Receipt(f"{self.worker}-{message.idempotency_key[:6]}")


def queued(engine: Engine, channel: str = "file") -> list[int]:
    sessions = session_factory(engine)
    with sessions() as session:
        session.add(Official(id="o1", name="张伟", role="staff"))
        session.flush()
        ids = queue_test(session, "o1", channel, ("file", "wecom"), NOW, actor="cli:ops", source="cli")
        session.commit()
    return ids


def dispatcher(engine: Engine, notifier: object, worker: str, **settings: object) -> Dispatcher:
    settings.setdefault("quiet_hours", {})
    return Dispatcher(
        session_factory(engine),
        {"file": notifier, "wecom": notifier},  # type: ignore[dict-item]
        NotifySettings(**settings),  # type: ignore[arg-type]
        worker,
        random.Random(1),
    )


def test_a_row_the_daemon_claimed_first_is_reported_as_the_daemon_sent_it(engine: Engine) -> None:
    ids = queued(engine)
    daemon_channel, cli_channel = Slow("daemon"), Slow("cli")
    daemon, cli = dispatcher(engine, daemon_channel, "daemon"), dispatcher(engine, cli_channel, "cli")

    async def race() -> list[str]:
        sending = asyncio.create_task(daemon.run_once(NOW))  # claims every due row, ours included
        await asyncio.sleep(0.1)
        found = await send_test(cli, session_factory(engine), ids, NOW, wait_seconds=5)
        await sending
        return [f"{r.status}:{r.detail}" for r in found]

    [answer] = asyncio.run(race())
    assert answer.startswith("sent:daemon-") and (daemon_channel.sent, cli_channel.sent) == (1, 0)


def test_a_test_message_is_tried_once_even_when_the_failure_is_transient(engine: Engine) -> None:
    ids = queued(engine)
    [result] = asyncio.run(
        send_test(dispatcher(engine, Slow("cli", fail=True), "cli"), session_factory(engine), ids, NOW)
    )
    assert (result.status, result.detail) == ("failed", "gateway busy (503)")
    with session_factory(engine)() as session:
        row = session.scalars(select(Notification)).one()
    assert (row.status, row.attempts) == ("dead", 1)  # an alert's row would be queued for a retry


def test_quiet_hours_defer_a_test_message_and_say_until_when(engine: Engine) -> None:
    ids = queued(engine, "wecom")
    quiet = dispatcher(engine, Slow("cli"), "cli", quiet_hours={"wecom": "09:00-12:00"})
    [result] = asyncio.run(send_test(quiet, session_factory(engine), ids, NOW, wait_seconds=0))
    assert result.status == "deferred" and result.detail is not None
    assert result.detail.startswith("waits until 2026-11-25T12:00:00+08:00")


def test_a_test_message_given_up_on_is_still_sent_once_and_recorded(engine: Engine) -> None:
    """The API stops waiting for its batch after `send_timeout`; the batch goes on and records
    what came of it. Cancelled mid-send, it left its row claimed, to be sent again after the
    lease: a test message twice, and a mail server given the same message twice."""
    ids = queued(engine)
    channel = Slow("api")

    async def ask() -> tuple[str, tuple[str, int], int]:
        api = dispatcher(engine, channel, "api")
        [answer] = await send_test(api, session_factory(engine), ids, NOW, wait_seconds=0, send_timeout=0.1)
        await asyncio.sleep(0.6)  # the batch, still under way when the answer went, ends
        with session_factory(engine)() as session:
            row = session.get(Notification, ids[0])
            assert row is not None
            return answer.status, (row.status, row.attempts), channel.sent

    assert asyncio.run(ask()) == ("pending", ("sent", 1), 1)
