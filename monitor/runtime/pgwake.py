"""Across replicas on PostgreSQL: a standby that accepts an event an immediate rule waits for
tells the leader at once, by NOTIFY on the deployment's channel; the leader LISTENs and
evaluates. The leader's tick stays the safety net: a notification lost with a broken connection
delays the alert to the next tick, it never loses the event (it is committed before the NOTIFY).

The channel is named after the deployment's advisory-lock key (monitor.runtime.leader), so deployments
in separate schemas of one database wake only their own leader.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, text

from monitor.runtime.leader import Leadership, lock_key

log = logging.getLogger("dutywatch")

RECONNECT_SECONDS = 1.0  # after a broken listening connection; the tick covers the gap


def channel(key: int) -> str:
    """The NOTIFY channel of a deployment: an identifier PostgreSQL takes unquoted."""
    return f"dutywatch_{key & 0xFFFF_FFFF_FFFF_FFFF:016x}"


def _key(leadership: Leadership, execute: Callable[[str], Any]) -> int:
    # the same derivation as Leadership.poll: both ends agree without having talked
    if leadership.key is None:
        database, schema = execute("SELECT current_database(), current_schema()")
        leadership.key = lock_key(str(database), str(schema))
    return leadership.key


def tell_leader(engine: Engine, leadership: Leadership) -> None:
    """NOTIFY the leader of this deployment; call after the event was committed."""
    with engine.connect() as connection:
        key = _key(leadership, lambda sql: connection.execute(text(sql)).one())
        connection.execute(text("SELECT pg_notify(:c, '')"), {"c": channel(key)})
        connection.commit()


class Listener:
    """A thread holding one LISTEN connection outside the pool; calls `heard` (from that thread)
    for each NOTIFY (several heard together are one call) and each time its LISTEN is in place
    (what was sent before it is not delivered), and reconnects when the connection breaks."""

    def __init__(self, engine: Engine, leadership: Leadership, heard: Callable[[], None]) -> None:
        self._engine = engine
        self._leadership = leadership
        self._heard = heard
        self._stop = threading.Event()
        # set while a LISTEN is in place, after the `heard` that follows it (tests wait for it)
        self.listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dutywatch-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as exc:  # the database went away: the tick covers until it is back
                log.warning("listening for immediate events failed: %s", exc)
            self.listening.clear()
            self._stop.wait(RECONNECT_SECONDS)

    def _listen(self) -> None:
        pooled = self._engine.raw_connection()
        try:
            pooled.detach()  # held for the life of the process: not the pool's to hand out
            # once detached, `driver_connection` is None; the DBAPI connection is psycopg's own
            connection = pooled.dbapi_connection
            assert connection is not None
            connection.rollback()
            connection.autocommit = True
            key = _key(self._leadership, lambda sql: connection.execute(sql).fetchone())
            connection.execute(f"LISTEN {channel(key)}")
            # a NOTIFY sent while no LISTEN was in place (a reconnect) is lost: evaluate once now
            self._heard()
            self.listening.set()
            while not self._stop.is_set():
                # wakes each second to notice `stop`; several NOTIFYs heard together are one wake-up
                if any(True for _ in connection.notifies(timeout=1.0)):
                    self._heard()
        finally:
            with contextlib.suppress(Exception):
                pooled.close()
