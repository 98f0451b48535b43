"""The benchmark's floor (bench/floor.py) answers what the evaluation answers, key by key.

bench/run.py reports the evaluation's time against the floor's, one SQL statement per obligation kind;
the ratio means something only if both compute the same thing. Here both run over the example
district (every kind but repeated reports, which the floor leaves out) at instants around a
month's end, a year's end and the cut-off second, with the default end of day and with a 17:30
cut-off, on SQLite and PostgreSQL: status, due time, state, level, inhibition and the
provisional mark must agree for every key.
"""

from __future__ import annotations

from datetime import date, time

import pytest
from sqlalchemy import Engine

from bench.floor import Floor, build_days, compare, run
from monitor.calendar.working_days import WorkCalendar
from monitor.clock import parse_instant
from monitor.config import Settings
from monitor.evaluation.engine import DurableMatcher
from monitor.evaluation.evaluate import evaluate
from monitor.ingest.events import ingest_events
from monitor.roster import RosterIndex
from monitor.rulebook import load_rulebook
from monitor.store.db import session_factory
from tests.conftest import ROOT
from tests.demo.test_demo import _import_examples

RULEBOOK = load_rulebook(ROOT / "rules")
NOT_COVERED = frozenset(r.id for r in RULEBOOK if r.obligation == "repeat_report")
INSTANTS = (
    "2024-11-05T17:30:00",
    "2024-11-05T17:30:01",
    "2024-12-18T10:00",
    "2024-12-31T18:00",
    "2025-01-02T00:00:00",
)


@pytest.mark.parametrize("cutoff", [time(23, 59, 59), time(17, 30)])
def test_the_floor_equals_the_evaluation_key_by_key(engine: Engine, cutoff: time) -> None:
    _import_examples(engine)
    # same-day cases received on a working day just after a 17:30 cut-off (due the next working
    # day) and in its second (due that day), and one the day before the instants below
    late = [
        {"id": f"late-{i}", "type": "case_opened", "at": at, "case": f"LATE{i}", "enterprise": "91321311MA00B10J7H",
         "channel": "window", "complexity": "simple", "category": "用工", "unit": "u-kfq"}
        for i, at in enumerate(("2024-12-17T17:30:01+08:00", "2024-12-17T17:30:00.500+08:00",
                                "2024-11-04T18:00+08:00", "2024-12-30T19:00+08:00",
                                "2024-12-15T18:00+08:00"))  # a Sunday: due Monday either way
    ]  # fmt: skip
    with session_factory(engine)() as session:
        outcomes = ingest_events(
            session, [(e["id"], e) for e in late], now=parse_instant("2025-01-01"), settings=Settings()
        )
        assert {o.status for o in outcomes} == {"accepted"}
        session.commit()
    settings = Settings(calendar={"end_of_day": cutoff})
    calendar = WorkCalendar()
    floor = Floor(RULEBOOK, settings, engine.dialect.name)
    matcher = DurableMatcher(RULEBOOK)
    compared = inhibited = 0
    for instant in INSTANTS:
        now = parse_instant(instant)
        with engine.begin() as conn:
            build_days(conn, calendar.as_of(now), cutoff, date(2023, 1, 1), date(2026, 12, 31))
        with session_factory(engine)() as session:
            evaluation = evaluate(session, RULEBOOK, calendar, settings, now, matcher)
            roster = RosterIndex.load(session)
        with engine.begin() as conn:
            rows = run(conn, floor, calendar.as_of(now), roster, now)
        assert compare(evaluation, rows, NOT_COVERED) == []
        compared += len(rows)
        inhibited += sum(bool(r[8]) for r in rows)
        states = {(r[3], r[5]) for r in rows}
        assert {("pending", "warning"), ("overdue", "overdue"), ("met_on_time", None)} <= states
    assert compared > 1000 and inhibited > 0
