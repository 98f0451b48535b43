"""PostgreSQL's statistics follow the tick's own bulk writes (monitor/store/statistics.py).

A table is analysed once the rows inserted since its statistics reach both the least
(`after_rows`) and the rows the statistics describe; each bound is held on both sides, to the row.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from monitor.clock import parse_instant
from monitor.runtime.service import Service
from monitor.store.db import make_engine
from monitor.store.statistics import PlannerStatistics
from tests.demo.test_demo import _import_examples
from tests.service.conftest import settings_for


def _described(engine: Engine, table: str) -> float:
    with engine.connect() as conn:
        return float(
            conn.execute(
                text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
            ).scalar_one()
        )


def _probe(engine: Engine, rows: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS probe (n integer)"))
        conn.execute(text("INSERT INTO probe SELECT generate_series(1, :rows)"), {"rows": rows})


def test_a_table_is_analysed_once_its_inserts_reach_the_least_and_what_its_statistics_describe(
    engine: Engine,
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite keeps no sampled statistics unless asked")
    statistics = PlannerStatistics(engine, after_rows=10)
    _probe(engine, 30)
    assert _described(engine, "probe") == -1  # never analysed
    statistics.inserted_into("probe", 9)
    assert statistics.refresh() == []  # a row below the least
    statistics.inserted_into("probe", 1)
    assert statistics.refresh() == ["probe"]  # at it: the statistics described nothing
    assert _described(engine, "probe") == 30
    _probe(engine, 30)
    statistics.inserted_into("probe", 29)
    assert statistics.refresh() == []  # past the least, a row short of what the statistics describe
    statistics.inserted_into("probe", 1)
    assert statistics.refresh() == ["probe"]  # the table doubled
    assert _described(engine, "probe") == 60
    assert statistics.refresh() == []  # counted afresh from there


def test_nothing_is_counted_or_analysed_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'statistics.db'}")
    try:
        statistics = PlannerStatistics(engine, after_rows=1)
        statistics.inserted_into("obligations", 1_000_000)
        assert not statistics.inserted and statistics.refresh() == []
    finally:
        engine.dispose()


def test_a_first_tick_leaves_the_tables_it_filled_analysed(
    db_url: str, tmp_path: Path, engine: Engine
) -> None:
    """The district's first tick inserts its duty rows and alerts part by part: with a least of a
    few rows, both tables carry statistics of what is there when it ends (none before it)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite keeps no sampled statistics unless asked")
    _import_examples(engine)
    service = Service(settings_for(db_url, tmp_path))
    try:
        ticker = service.ticker
        assert isinstance(ticker.statistics, PlannerStatistics)
        ticker.statistics.after_rows = 5
        assert _described(engine, "obligations") == _described(engine, "alerts") == -1
        service.tick(parse_instant("2024-12-18T10:00"))
        with engine.connect() as conn:
            stored = {
                t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("obligations", "alerts")
            }
        assert stored["obligations"] > 5 and stored["alerts"] > 5
        # the last analysis saw at least half of what is there (a table is analysed when it doubled)
        assert all(_described(engine, table) >= rows / 2 for table, rows in stored.items()), stored
    finally:
        service.close()


def test_a_table_held_by_other_maintenance_is_left_for_the_next_part(engine: Engine) -> None:
    """A VACUUM or ANALYZE elsewhere holds the table (SHARE UPDATE EXCLUSIVE): the refresh gives up
    after its lock timeout without failing and counts on; once the table is free it analyses."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite keeps no sampled statistics unless asked")
    _probe(engine, 20)
    statistics = PlannerStatistics(engine, after_rows=10)
    statistics.lock_timeout_ms = 50
    statistics.inserted_into("probe", 20)
    with engine.connect() as holder:
        holder.execute(text("LOCK TABLE probe IN SHARE UPDATE EXCLUSIVE MODE"))
        assert statistics.refresh() == []
        holder.rollback()
    assert statistics.inserted["probe"] == 20 and _described(engine, "probe") == -1
    assert statistics.refresh() == ["probe"] and _described(engine, "probe") == 20
