"""Who ticks and dispatches: exactly one process, the leader.

On PostgreSQL every replica serves the API, and the leader is whoever holds a session-level
advisory lock on a dedicated connection; when the leader dies its backend ends, the lock is
free, and a standby polling `pg_try_advisory_lock` takes over within one poll. On SQLite (one
process by design) the process is always the leader.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading

from sqlalchemy import Connection, Engine, text

log = logging.getLogger("dutywatch.leader")


def lock_key(database: str, schema: str) -> int:
    """The advisory lock of one deployment: a stable signed 64-bit number from its database and
    schema, so that deployments in separate schemas of one database do not fight for one lock."""
    digest = hashlib.blake2b(f"dutywatch:{database}:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Leadership:
    def __init__(self, engine: Engine, key: int | None = None) -> None:
        self.engine = engine
        self.key = key  # None: derived from the database and schema on the first poll
        self.shared = engine.dialect.name == "postgresql"
        self._connection: Connection | None = None
        self._lock = threading.Lock()
        self.is_leader = not self.shared

    def poll(self) -> bool:
        """Keep or try to take the lead; returns whether this process leads now."""
        if not self.shared:
            return True
        with self._lock:
            if self._connection is not None:
                try:
                    self._connection.execute(text("SELECT 1"))
                    return True
                except Exception:  # the dedicated connection broke: the lock went with it
                    log.warning("lost the leader connection")
                    self._drop()
            try:
                connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                if self.key is None:
                    database, schema = connection.execute(
                        text("SELECT current_database(), current_schema()")
                    ).one()
                    self.key = lock_key(str(database), str(schema))
                got = bool(
                    connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
                )
            except Exception:
                log.warning("cannot reach the database to take the lead")
                self.is_leader = False
                return False
            if got:
                self._connection = connection
                if not self.is_leader:
                    log.info("this process is now the leader")
                self.is_leader = True
            else:
                connection.close()
                self.is_leader = False
            return self.is_leader

    def _drop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail too
                self._connection.close()
        self._connection = None
        self.is_leader = False

    def release(self) -> None:
        with self._lock:
            if self._connection is not None:
                with contextlib.suppress(Exception):
                    self._connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self._drop()
