"""The province benchmark's COPY loader (bench/large.py) stores what ingest would have stored."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from bench.generate import Size, events, roster
from bench.large import END, FIRST, load
from monitor.clock import parse_instant
from monitor.config import Settings
from monitor.ingest.events import ingest_events
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.store.db import ensure_schema, make_engine, normalise_url, session_factory
from tests.conftest import PG_URL

TINY = Size("T", 60, 8, 400)
RECEIVED = parse_instant("2024-12-21T00:00")
TABLES = {
    "units": "id, name, kind, head_id, leader_id, parent_id, indicator_lead",
    "officials": "id, name, unit_id, role, email, phone",
    "enterprises": "id, name, town, above_scale",
    "pairings": 'owner, official_id, unit_id, enterprise_id, start, "end"',
    "events": "id, type, at, payload::text, digest, received_at",
    "activities": "event_id, type, at, official_id, unit_id, enterprise_id, talked_with_head, report_kind",
    "cases": "id, enterprise_id, unit_id, channel, complexity, category, received_at, own_due_at, summary, event_id",
    "case_events": "event_id, case_id, type, at, unit_id, level, satisfaction",
}


@pytest.fixture
def schemas(pg_reachable: None) -> Iterator[tuple[str, str]]:
    admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    names = [f"t_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield tuple(f"{PG_URL}{sep}options=-csearch_path%3D{n}" for n in names)  # type: ignore[misc]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


def _rows(url: str, table: str) -> list[tuple[Any, ...]]:
    engine = create_engine(normalise_url(url))
    with engine.connect() as conn:
        if table == "events":  # JSON text differs in spacing: compare it parsed
            rows = conn.execute(text("SELECT id, type, at, payload::jsonb, digest, received_at FROM events"))
        else:
            rows = conn.execute(text(f"SELECT {TABLES[table]} FROM {table}"))
        out = sorted((tuple(r) for r in rows), key=repr)
    engine.dispose()
    return out


@pytest.mark.postgres
def test_the_copy_loader_stores_what_ingest_stores(schemas: tuple[str, str]) -> None:
    copied, ingested = schemas
    load(TINY, copied, RECEIVED)

    engine = make_engine(ingested)
    ensure_schema(engine)
    data = roster(TINY, date(2023, 1, 1))
    history = events(TINY, data, FIRST, END)
    with session_factory(engine)() as session:
        upsert_roster(session, load_roster(data, "bench")[0])
        outcomes = ingest_events(session, [(e["id"], e) for e in history], now=RECEIVED, settings=Settings())
        session.commit()
    engine.dispose()
    assert {o.status for o in outcomes} == {"accepted"}
    for table in TABLES:
        assert _rows(copied, table) == _rows(ingested, table), table
    assert len(_rows(copied, "cases")) > 300 and len(_rows(copied, "activities")) > 500
