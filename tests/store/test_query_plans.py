"""The queries a tick issues can use indexes on the tables that grow with the years.

Every SELECT the evaluation, the commit and the outbox send during a tick of the example district
is captured as executed and explained again. On PostgreSQL, with `enable_seqscan = off`: a
planner that still scans a table sequentially has no index it could use for that query, whatever
the table's size (a test database is too small for the planner's own preference to mean
anything). On SQLite, whose planner takes an index whenever one fits, a plain `SCAN` of such a
table is the same failure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from monitor.alerts.enqueue import Run, enqueue
from monitor.alerts.lifecycle import commit_evaluation
from monitor.calendar.working_days import WorkCalendar
from monitor.clock import parse_instant
from monitor.config import Settings
from monitor.evaluation.engine import DurableMatcher
from monitor.evaluation.evaluate import evaluate
from monitor.rulebook import load_rulebook
from monitor.runtime.service import Service
from monitor.store.db import make_engine, session_factory
from tests.conftest import ROOT
from tests.demo.test_demo import _import_examples
from tests.service.conftest import settings_for

# the tables that grow with every month of history; the roster and the small state tables are
# read whole by design
GROWING = {"events", "activities", "cases", "case_events", "reviews", "obligations", "alerts", "outbox"}


def _capture(seen: list[tuple[str, Any]]) -> Any:
    """A `before_cursor_execute` listener keeping each SELECT issued (not executemany's)."""

    def capture(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")) and not executemany:
            seen.append((statement, parameters))

    return capture


def _tick_statements(engine: Engine) -> list[tuple[str, Any]]:
    _import_examples(engine)
    rulebook = load_rulebook(ROOT / "rules")
    seen: list[tuple[str, Any]] = []
    capture = _capture(seen)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with session_factory(engine)() as session:
            for instant in ("2024-12-18T10:00", "2024-12-31T18:00"):
                now = parse_instant(instant)
                result = evaluate(
                    session, rulebook, WorkCalendar(), Settings(), now, DurableMatcher(rulebook)
                )
                changes = commit_evaluation(session, result)
                enqueue(session, Run(rulebook, now, ("email",)), changes)
                session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert len(seen) > 20
    return seen


def _daemon_statements(db_url: str, tmp_path: Path) -> list[tuple[str, Any]]:
    """What the daemon's ticks issue over the example district: a full tick in parts, a steady
    one after new events (duties falling due, met ones leaving the window, by the stored rows),
    and a full one again."""
    service = Service(settings_for(db_url, tmp_path, full_evaluation_seconds=86_400))
    seen: list[tuple[str, Any]] = []
    capture = _capture(seen)

    try:
        _import_examples(service.engine)
        event.listen(service.engine, "before_cursor_execute", capture)
        service.tick(parse_instant("2024-12-18T10:00"))
        service.ingest([("plan-visit", _VISIT)])
        steady = service.tick(parse_instant("2024-12-18T10:05"))
        assert steady.continued
        service.ticker.forget()
        service.tick(parse_instant("2024-12-18T10:10"))
    finally:
        event.remove(service.engine, "before_cursor_execute", capture)
        service.close()
    return seen


_VISIT = {
    "id": "plan-visit", "type": "visit", "at": "2024-12-18T10:01:00+08:00", "official": "o-ysb-2",
    "enterprise": "91321311MA037K6DU7", "talked_with_head": True,
}  # fmt: skip


def _sequential_scans(plan: dict[str, Any]) -> list[str]:
    found = [plan["Relation Name"]] if plan.get("Node Type") == "Seq Scan" else []
    for child in plan.get("Plans", []):
        found += _sequential_scans(child)
    return found


def test_every_query_of_a_tick_can_use_an_index(engine: Engine) -> None:
    _assert_indexed(engine, _tick_statements(engine))


def test_every_query_of_the_daemons_ticks_can_use_an_index(db_url: str, tmp_path: Path) -> None:
    statements = _daemon_statements(db_url, tmp_path)
    engine = make_engine(db_url)
    try:
        _assert_indexed(engine, statements)
    finally:
        engine.dispose()


def _assert_indexed(engine: Engine, statements: list[tuple[str, Any]]) -> None:
    problems: list[str] = []
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in statements:
            if engine.dialect.name == "postgresql":
                plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar_one()
                plan = json.loads(plan) if isinstance(plan, str) else plan
                scans = _sequential_scans(plan[0]["Plan"])
            else:
                rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
                scans = [
                    detail.split()[1]
                    for *_, detail in rows
                    if detail.startswith("SCAN ") and " USING " not in detail
                ]
            for table in sorted(set(scans) & GROWING):
                problems.append(f"{table}: {' '.join(statement.split())[:300]}")
    assert not problems, "sequential scans of growing tables:\n" + "\n".join(problems)
