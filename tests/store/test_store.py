"""The store on SQLite and PostgreSQL: migrations, models and migration in agreement, UTC round
trips, and the SQLite connection settings."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from monitor.store.db import (
    WAL_AUTOCHECKPOINT_PAGES,
    alembic_config,
    checkpoint,
    ensure_schema,
    is_empty,
    make_engine,
    session_factory,
    upgrade,
)
from monitor.store.models import Base, Event, Project, ProjectItem

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _head(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def _event(event_id: str, at: datetime) -> Event:
    return Event(id=event_id, type="visit", at=at, payload={"a": "中文"}, digest="d", received_at=at)


# --- migrations --------------------------------------------------------------------------------


def test_migrations_build_every_table_on_an_empty_database(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert is_empty(engine)
        ensure_schema(engine)
        assert set(inspect(engine).get_table_names()) == {*Base.metadata.tables, "alembic_version"}
        assert _revision(engine) == _head(engine) is not None
    finally:
        engine.dispose()


def test_a_second_upgrade_changes_nothing_and_keeps_the_data(engine: Engine) -> None:
    with session_factory(engine)() as session:
        session.add(_event("kept", datetime(2024, 10, 8, tzinfo=UTC)))
        session.commit()
    before = _revision(engine)
    upgrade(engine)
    assert _revision(engine) == before
    with session_factory(engine)() as session:
        assert session.get(Event, "kept") is not None


def test_the_models_and_the_migration_agree(engine: Engine) -> None:
    # what `alembic check` does: autogenerate against the migrated database finds nothing to do
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


# --- UTCDateTime -----------------------------------------------------------------------------------


def test_a_shanghai_time_comes_back_as_the_same_instant_in_utc(engine: Engine) -> None:
    local = datetime(2024, 10, 8, 9, 30, tzinfo=SHANGHAI)
    with session_factory(engine)() as session:
        session.add(_event("e", local))
        session.commit()
    with session_factory(engine)() as session:
        event = session.get(Event, "e")
        assert event is not None
        assert event.at.tzinfo is UTC
        assert event.at == local
        assert event.at.replace(tzinfo=None) == datetime(2024, 10, 8, 1, 30)


def test_a_time_just_after_shanghai_midnight_is_the_day_before_in_utc(engine: Engine) -> None:
    local = datetime(2025, 1, 1, 0, 0, 1, tzinfo=SHANGHAI)
    with session_factory(engine)() as session:
        session.add(_event("ny", local))
        session.commit()
    with session_factory(engine)() as session:
        stored = session.scalar(select(Event.at).where(Event.id == "ny"))
        assert stored == datetime(2024, 12, 31, 16, 0, 1, tzinfo=UTC)


def test_instants_compare_as_instants_whatever_their_zone(engine: Engine) -> None:
    base = datetime(2024, 10, 8, 12, 0, tzinfo=UTC)
    with session_factory(engine)() as session:
        session.add_all([_event(f"e{i}", base + timedelta(hours=i)) for i in range(4)])
        session.commit()
    # 21:30 in Shanghai is 13:30 UTC: only e0 and e1 are at or before it
    cutoff = datetime(2024, 10, 8, 21, 30, tzinfo=SHANGHAI)
    with session_factory(engine)() as session:
        found = session.scalars(select(Event.id).where(Event.at <= cutoff).order_by(Event.at)).all()
    assert found == ["e0", "e1"]


def test_a_missing_time_stays_missing(engine: Engine) -> None:
    with session_factory(engine)() as session:
        session.add(Project(id="p", name="项目"))
        session.flush()
        session.add(ProjectItem(project_id="p", id="i", name="立项", due=date(2024, 1, 1)))
        session.commit()
    with session_factory(engine)() as session:
        assert session.scalar(select(ProjectItem.done_at)) is None


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with session_factory(engine)() as session:
        session.add(ProjectItem(project_id="nowhere", id="i", name="立项", due=date(2024, 1, 1)))
        with pytest.raises(IntegrityError):
            session.commit()


def test_a_naive_datetime_is_refused(engine: Engine) -> None:
    with session_factory(engine)() as session:
        session.add(_event("n", datetime(2024, 1, 1)))
        with pytest.raises(StatementError, match="naive datetime"):
            session.commit()


# --- SQLite connections ------------------------------------------------------------------------------


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("PRAGMA journal_mode")) == "wal"
            assert conn.scalar(text("PRAGMA busy_timeout")) == 30000
            assert conn.scalar(text("PRAGMA foreign_keys")) == 1
            assert conn.scalar(text("PRAGMA wal_autocheckpoint")) == WAL_AUTOCHECKPOINT_PAGES
    finally:
        engine.dispose()


def test_commits_leave_the_wal_to_the_checkpoint_below_its_bound(tmp_path: Path) -> None:
    """Commits under the bound do not copy the WAL into the database (no fsync in an ingest's
    commit) — past SQLite's default of 1,000 pages too; `checkpoint` copies all of it at once."""
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE filler (x TEXT)")
        for _ in range(1_200):  # a commit a page, as requests commit
            with engine.begin() as conn:
                conn.exec_driver_sql("INSERT INTO filler VALUES (?)", ("x" * 3500,))
        busy, frames, copied = checkpoint(engine) or (1, 0, 0)
        assert 1_200 < frames < WAL_AUTOCHECKPOINT_PAGES  # all still in the WAL until now
        assert busy == 0 and copied == frames  # and all copied now
    finally:
        engine.dispose()


def test_past_its_bound_sqlite_checkpoints_by_itself(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        ensure_schema(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE filler (x TEXT)")
        row = "x" * 3500  # about a page a row
        with engine.begin() as conn:  # past the bound in one transaction: the WAL holds it all
            conn.exec_driver_sql(
                "INSERT INTO filler SELECT ? FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1"
                f" FROM n WHERE i < {WAL_AUTOCHECKPOINT_PAGES + 500}) SELECT i FROM n)",
                (row,),
            )
        with engine.begin() as conn:  # the next commit finds the WAL past the bound and copies it
            conn.exec_driver_sql("INSERT INTO filler VALUES ('y')")
        busy, frames, copied = checkpoint(engine) or (1, 0, 0)
        assert busy == 0 and copied == frames
        assert frames < WAL_AUTOCHECKPOINT_PAGES  # the WAL started over after SQLite's own checkpoint
    finally:
        engine.dispose()


def test_a_checkpoint_is_sqlites_alone(engine: Engine) -> None:
    result = checkpoint(engine)
    if engine.dialect.name == "sqlite":
        assert result is not None and result[0] == 0
    else:
        assert result is None


def test_every_new_sqlite_connection_gets_the_settings(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    try:
        with engine.connect() as first, engine.connect() as second:
            assert (
                first.scalar(text("PRAGMA busy_timeout"))
                == second.scalar(text("PRAGMA busy_timeout"))
                == 30000
            )
    finally:
        engine.dispose()


def test_an_sqlite_file_in_a_missing_folder_gets_its_folder(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/var/deep/x.db")
    try:
        ensure_schema(engine)
        assert (tmp_path / "var" / "deep" / "x.db").exists()
    finally:
        engine.dispose()


@pytest.mark.parametrize("level", ["NORMAL", "FULL"])
def test_the_synchronous_setting_reaches_the_pragma_of_the_daemon_and_the_cli(
    db_url: str, tmp_path: Path, level: str
) -> None:
    """`sqlite_synchronous` for power-loss durability; PostgreSQL ignores it (it has no PRAGMA)."""
    from monitor.cli.context import Context
    from monitor.config import Settings
    from monitor.runtime.service import Service

    config = tmp_path / "dutywatch.yaml"
    config.write_text(
        f"database_url: '{db_url}'\nrules_dir: {Path(__file__).parents[2] / 'rules'}\n"
        f"sqlite_synchronous: {level}\n",
        encoding="utf-8",
    )
    context = Context(config_path=config, db_url=None)
    service = Service(context.settings)
    try:
        for engine in (service.engine, context.engine()):
            with engine.connect() as conn:
                if db_url.startswith("sqlite"):
                    # PRAGMA synchronous answers 1 for NORMAL, 2 for FULL
                    assert conn.scalar(text("PRAGMA synchronous")) == {"NORMAL": 1, "FULL": 2}[level]
                else:
                    assert conn.scalar(text("select 1")) == 1
    finally:
        service.close()
        context.close()
    with pytest.raises(ValueError, match="sqlite_synchronous"):
        Settings(sqlite_synchronous="OFF")  # type: ignore[arg-type]
