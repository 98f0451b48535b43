"""The store: migrations on both back ends, models and migration in agreement, UTC round trips."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.exc import StatementError

from monitor.store.db import make_engine, session_factory, upgrade
from monitor.store.models import Base, Event


def test_migrations_are_idempotent_and_match_the_models(engine: Engine) -> None:
    upgrade(engine)  # a second time: nothing to do
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_times_go_in_as_shanghai_and_come_back_aware_utc(engine: Engine) -> None:
    local = datetime(2024, 10, 8, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    with session_factory(engine)() as session:
        session.add(
            Event(id="e", type="visit", at=local, payload={"a": "中文"}, digest="d", received_at=local)
        )
        session.commit()
    with session_factory(engine)() as session:
        event = session.get(Event, "e")
        assert event is not None
        assert event.at == local and event.at.tzinfo is UTC
        assert event.payload == {"a": "中文"}


def test_a_naive_datetime_is_refused(engine: Engine) -> None:
    with session_factory(engine)() as session:
        session.add(
            Event(
                id="n",
                type="visit",
                at=datetime(2024, 1, 1),
                payload={},
                digest="d",
                received_at=datetime(2024, 1, 1),
            )
        )
        with pytest.raises(StatementError, match="naive datetime"):
            session.commit()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    with engine.connect() as conn:
        assert conn.scalar(text("PRAGMA journal_mode")) == "wal"
        assert conn.scalar(text("PRAGMA busy_timeout")) == 30000
    engine.dispose()
