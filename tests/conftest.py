"""Shared fixtures: a database per test on SQLite and on PostgreSQL, the calendar, the rules.

The `db_url` fixture is parametrised over both back ends. PostgreSQL tests use a schema of their
own per test (search_path), so they are isolated and fast. With CI=true an unreachable
PostgreSQL fails the run instead of skipping it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("DUTYWATCH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_available() -> str | None:
    from monitor.store.db import normalise_url

    try:
        engine = create_engine(normalise_url(PG_URL))
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # any connection problem means "not available"
        return str(exc).splitlines()[0]
    return None


@pytest.fixture(scope="session")
def pg_reachable() -> None:
    problem = _pg_available()
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL must be reachable in CI ({PG_URL}): {problem}")
    pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {problem}")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL on each back end."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dutywatch.db'}"
        return
    request.getfixturevalue("pg_reachable")
    from monitor.store.db import normalise_url

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh database, migrated to the current schema."""
    from monitor.store.db import ensure_schema, make_engine

    eng = make_engine(db_url)
    ensure_schema(eng)
    try:
        yield eng
    finally:
        eng.dispose()
