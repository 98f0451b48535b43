"""Engine creation and schema upgrades.

SQLite gets WAL, a busy timeout and foreign keys on every connection; PostgreSQL is used as
given by URL (`postgresql://` means psycopg 3). `upgrade` applies the Alembic migrations that
ship inside the package, so `dutywatch db upgrade`, the daemon and `import` all run the same.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings

log = logging.getLogger("dutywatch")

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def normalise_url(url: str) -> str:
    """`postgresql://` and `postgres://` mean psycopg 3 here; SQLite paths get their folder made."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


# SQLite copies the WAL into the database (a checkpoint, with its fsync) in whichever commit
# takes the WAL past this many pages. At SQLite's default of 1,000 pages (4 MB) that landed on
# every few requests of `POST /v1/events` (20 of a request's 66 ms at M). The daemon checkpoints
# every few seconds and after each tick instead (`checkpoint`), off the request path; this bound,
# 40 MB, is the net for when no daemon runs (an import by the command line).
WAL_AUTOCHECKPOINT_PAGES = 10_000


def checkpoint(engine: Engine) -> tuple[int, int, int] | None:
    """On SQLite, copy what the WAL holds into the database without waiting for anyone (PASSIVE:
    readers and writers go on); returns SQLite's (busy, WAL frames, frames checkpointed). None on
    other databases, which manage their own logs."""
    if engine.dialect.name != "sqlite":
        return None
    with engine.connect() as conn:
        row = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    return int(row[0]), int(row[1]), int(row[2])


# events committed between two checkpoints taken off the request path (`WalCopier`): about 2,000
# WAL pages at M, where a 500-event request writes ~950 (docs/scaling.md)
CHECKPOINT_EVENTS = 2_000


class WalCopier:
    """Checkpoints SQLite on a thread of its own once `every` events were committed since the last.

    The daemon checkpoints every few seconds (monitor/runtime/scheduler.py), but a client posting
    back to back fills SQLite's bound (`WAL_AUTOCHECKPOINT_PAGES`) in a few seconds, and then the
    copy and its fsync land in one request's commit; counted by what ingest wrote, the copy
    starts before that, beside the requests. Nothing to do on other databases."""

    def __init__(self, engine: Engine, every: int = CHECKPOINT_EVENTS) -> None:
        self._engine, self._every = engine, every
        self._since, self._running = 0, False
        self._lock = threading.Lock()
        self._pool = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="dutywatch-checkpoint")
            if engine.dialect.name == "sqlite"
            else None
        )

    def wrote(self, events: int) -> Future[tuple[int, int, int] | None] | None:
        """`events` more were committed; the checkpoint started, if this started one."""
        if self._pool is None or events <= 0:
            return None
        with self._lock:
            self._since += events
            if self._since < self._every or self._running:
                return None
            self._since, self._running = 0, True
        try:
            return self._pool.submit(self._copy)
        except RuntimeError:  # closed (the daemon drains): the events are stored, the copy can wait
            with self._lock:
                self._running = False
            return None

    def _copy(self) -> tuple[int, int, int] | None:
        try:
            return checkpoint(self._engine)
        except Exception:  # a busy or failing database: the next one, or SQLite's own bound, will do
            log.exception("checkpoint failed")
            return None
        finally:
            with self._lock:
                self._running = False

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def in_memory(url: str) -> bool:
    """Whether the URL names a SQLite database in memory (one process's own)."""
    parsed = make_url(normalise_url(url))
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def engine_for(settings: Settings) -> Engine:
    """The engine of the settings' database, with their SQLite busy timeout and sync level."""
    return make_engine(
        settings.database_url,
        busy_timeout=settings.sqlite_busy_timeout_seconds,
        synchronous=settings.sqlite_synchronous,
    )


def make_engine(
    url: str, *, busy_timeout: float = 30.0, synchronous: str = "NORMAL", **kwargs: Any
) -> Engine:
    """An engine for the URL; SQLite gets WAL, the busy timeout, `synchronous` and foreign keys."""
    if synchronous not in ("NORMAL", "FULL"):
        raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": busy_timeout}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            cursor.execute(f"PRAGMA synchronous={synchronous}")  # checked above: no injection
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision`; a no-op on an up-to-date database."""
    command.upgrade(alembic_config(engine), revision)


def is_empty(engine: Engine) -> bool:
    return not inspect(engine).get_table_names()


def ensure_schema(engine: Engine) -> None:
    """Upgrade the database to the current schema (empty databases included)."""
    upgrade(engine)


def drop_tables(engine: Engine) -> list[str]:
    """Drop dutywatch's own tables (its models' and `alembic_version`) from the connection's
    current schema, and nothing else: another application's tables, views or sequences in the
    same schema stay. Dependants first; no CASCADE, so an object of someone else's that depends
    on one of ours makes this fail rather than vanish with it. Returns the tables dropped."""
    from monitor.store.models import Base

    with engine.begin() as connection:
        schema = connection.dialect.default_schema_name
        present = set(inspect(connection).get_table_names())
        ours = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name in present]
        if "alembic_version" in present:
            ours.append("alembic_version")
        quote = connection.dialect.identifier_preparer.quote
        prefix = f"{quote(schema)}." if schema and engine.dialect.name != "sqlite" else ""
        for name in ours:
            connection.execute(text(f"DROP TABLE {prefix}{quote(name)}"))
    return ours


def for_evaluation(session: Session | Connection) -> None:
    """Set up the session's (or connection's) current transaction for an evaluation's queries.

    On PostgreSQL, JIT compilation off for this transaction only (`SET LOCAL`): the queries per obligation kind
    are costed above `jit_above_cost` at city size, and compiling their CASE and FILTER
    expressions took longer than running them (a meeting query spent 10 s compiling in one run;
    the full evaluation at M was 4.3-5.0 s with JIT on, 3.1-3.2 s off). And at least
    `EVALUATION_WORK_MEM` for its sorts and hashes: a part of a full tick groups 50,000 cases with
    their events, which PostgreSQL's default 4 MB sorts on disk (the case clocks' query of a part at
    M: 136 ms, 89-99 ms with 32 MB); a server configured with more keeps its own. The rest of the
    session's life keeps the server's settings. SQLite has nothing to set.
    """
    dialect = session.get_bind().dialect if isinstance(session, Session) else session.dialect
    if dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))
        session.execute(RAISE_WORK_MEM, {"least": EVALUATION_WORK_MEM})


EVALUATION_WORK_MEM = 32 * 1024 * 1024  # bytes: an evaluation's sorts and hashes on PostgreSQL, at least
RAISE_WORK_MEM = text(
    "SELECT set_config('work_mem', :least / 1024 || 'kB', true)"
    " WHERE pg_size_bytes(current_setting('work_mem')) < :least"
)
