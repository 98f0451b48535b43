"""The steady-state tick (monitor/steady.py) commits what a full evaluation would.

Two daemons' Services, one continuing its last evaluation where it may and one evaluating
everything at every tick, live through the same weeks of the example district under a simulated
clock: events arrive between ticks (some ahead of their time), ticks fall at irregular instants
around midnight and the end-of-day cut-off, across the National Day holiday and its make-up
working days and across the year end, a waiver and a roster change arrive midway. After every
tick both made the same transitions; at checkpoints their alerts and obligations tables agree
row for row.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, select, text

from monitor.clock import parse_instant
from monitor.ingest.events import ingest_events
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.metrics import Snapshot
from monitor.service import Service
from monitor.store.db import normalise_url
from monitor.store.models import AlertRecord, ChangeRecord, ObligationRecord
from monitor.waivers import add_waiver
from tests.conftest import PG_URL
from tests.service.conftest import ROOT, settings_for

EXAMPLES = ROOT / "config/examples"
# instants of each day, Shanghai time: around midnight, office hours, the 17:30 cut-off, day end
TIMES = ("00:00:00", "00:20", "08:10", "11:45", "14:20", "17:29:59", "17:30", "17:31", "21:05", "23:59:59")


def _events() -> list[dict[str, Any]]:
    lines = (EXAMPLES / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return sorted((json.loads(line) for line in lines), key=lambda e: parse_instant(e["at"]))


def _second_database(db_url: str) -> tuple[str, Any]:
    """Another empty database on the same back end; returns its URL and a cleanup."""
    if db_url.startswith("sqlite"):
        return db_url.replace(".db", "-full.db"), lambda: None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}", drop


def _table(service: Service, model: type[Any], columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    with service.sessions() as session:
        rows = session.execute(select(*(getattr(model, c) for c in columns)))
        return sorted((tuple(r) for r in rows), key=repr)


ALERT_COLUMNS = (
    "rule", "subject", "period", "state", "level", "due_at", "unit_id", "recipients",
    "message", "inhibited_by", "fired_at", "changed_at", "resolved_at",
)  # fmt: skip
OBLIGATION_COLUMNS = ("rule", "subject", "period", "unit_id", "due_at", "status", "met_at", "changed_at")


def _ingest(service: Service, batch: list[dict[str, Any]], now: datetime) -> None:
    with service.sessions() as session:
        outcomes = ingest_events(session, [(e["id"], e) for e in batch], now=now, settings=service.settings)
        session.commit()
    assert {o.status for o in outcomes} == {"accepted"}, [o for o in outcomes if o.status != "accepted"]


def _days(first: str, last: str) -> list[str]:
    start, end = parse_instant(first).date(), parse_instant(last).date()
    return [(start + timedelta(days=d)).isoformat() for d in range((end - start).days + 1)]


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    ("cutoff", "window"),
    [
        ("17:30", ("2024-09-26", "2024-10-14")),  # National Day: holidays, make-up Sunday and Saturday
        ("23:59:59", ("2024-12-27", "2025-01-03")),  # the year end
        ("23:59:59", ("2024-08-20", "2024-08-24")),  # a coordination meeting while a major case waits
    ],
)
def test_steady_ticks_commit_what_full_evaluations_commit(
    db_url: str, tmp_path: Path, cutoff: str, window: tuple[str, str]
) -> None:
    other_url, drop = _second_database(db_url)
    calendar = {"overrides_dir": ROOT / "config/calendar", "end_of_day": time.fromisoformat(cutoff)}
    # the hourly full evaluation of a real daemon would hide the steady path between sparse ticks
    steady = Service(settings_for(db_url, tmp_path, calendar=calendar, full_evaluation_seconds=86_400))
    full = Service(settings_for(other_url, tmp_path, calendar=calendar, full_evaluation_seconds=0))
    services = (steady, full)
    try:
        roster = yaml.safe_load((EXAMPLES / "roster.yaml").read_text(encoding="utf-8"))
        for service in services:
            with service.sessions() as session:
                upsert_roster(session, load_roster(roster, "roster.yaml")[0])
                session.commit()
        events = _events()
        instants = [parse_instant(f"{day}T{t}") for day in _days(*window) for t in TIMES]
        fed = 0
        continued = 0
        for n, at in enumerate(instants):
            # what has happened by now arrives, and now and then events of the next hours ahead
            ahead = at + (timedelta(hours=3) if n % 4 == 0 else timedelta(0))
            batch = []
            while fed < len(events) and parse_instant(events[fed]["at"]) <= ahead:
                batch.append(events[fed])
                fed += 1
            if batch:
                for service in services:
                    _ingest(service, batch, at)
            if n == len(instants) // 2:
                # a waiver and a roster change midway: the next tick starts afresh
                for service in services:
                    with service.sessions() as session:
                        add_waiver(
                            session, rule="pairing-monthly-visit", subject="pairing:o-ysb-2:91321311MA037K6DU7",
                            period=at.strftime("%Y-%m"), reason="企业停产", approver="区营商办", actor="t", source="t",
                        )  # fmt: skip
                        session.commit()
            evaluation = steady.tick(at)
            full.tick(at)
            continued += evaluation.delta is not None
            assert [t.record() for t in steady.last_changes] == [t.record() for t in full.last_changes], at
            if n % 7 == 6 or n == len(instants) - 1:  # checkpoints at every time of day in turn
                for model, columns in ((AlertRecord, ALERT_COLUMNS), (ObligationRecord, OBLIGATION_COLUMNS)):
                    assert _table(steady, model, columns) == _table(full, model, columns), (at, model)
                again = full.tick(at)
                assert sorted(map(repr, evaluation.alerts)) == sorted(map(repr, again.alerts))
                # the metrics count the same (a continued evaluation keeps its counts as it goes)
                assert Snapshot.of(evaluation, {}) == Snapshot.of(again, {})
                # the obligations in view too: met case duties leave it
                assert sorted((o.key, o.status) for o in evaluation.obligations) == sorted(
                    (o.key, o.status) for o in again.obligations
                )
        # the steady path carried most ticks, and every change record was consumed by one
        assert continued > len(instants) // 2, continued
        with steady.sessions() as session:
            assert session.scalars(select(ChangeRecord).where(ChangeRecord.at <= instants[-1])).all() == []
    finally:
        for service in services:
            service.close()
        drop()
