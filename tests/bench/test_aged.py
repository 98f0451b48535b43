"""The benchmarks' aged database (bench/ticks.py `age_alerts`): a year of resolved pairing alerts,
one a subject, pairing rule and period that ended in the year, which a daemon started anew
reads past without a change, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select

from bench.ticks import age_alerts
from monitor.clock import parse_instant
from monitor.config import Settings
from monitor.runtime.service import Service
from monitor.store.models import AlertRecord
from tests.conftest import ROOT
from tests.demo.test_demo import _import_examples

AT = parse_instant("2024-12-18T10:00")


def test_a_year_of_resolved_pairing_alerts_changes_nothing_a_restart_finds(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    _import_examples(engine)
    settings = Settings(database_url=db_url, rules_dir=ROOT / "rules", heartbeat_file=tmp_path / "heartbeat")

    def stored() -> dict[tuple[str, str, str], tuple[str, int]]:
        with engine.connect() as conn:
            rows = conn.execute(select(AlertRecord.rule, AlertRecord.subject, AlertRecord.period,
                                       AlertRecord.state, AlertRecord.level))  # fmt: skip
            return {(r, s, p): (st, lv) for r, s, p, st, lv in rows}

    service = Service(settings)
    try:
        service.tick(AT)
        before = stored()
        added = age_alerts(service, AT)
    finally:
        service.close()
    after = stored()
    new = {key: value for key, value in after.items() if key not in before}
    assert len(new) == added > 0
    assert {value for value in new.values()} == {("resolved", 1)}
    subjects = {s for (r, s, _), _v in before.items() if r.startswith("pairing-")}
    # each subject of a pairing alert, every pairing rule, each period that ended in the 12 months
    # before December 2024: the months December 2023 through November 2024 (less those whose row
    # is kept), the half-years 2023-H2 and 2024-H1, the year 2023
    months = {p for (r, _, p) in new if r == "pairing-monthly-visit"}
    assert months <= {f"2024-{m:02d}" for m in range(1, 12)} | {"2023-12"}
    assert "2023-12" in months and "2024-12" not in months
    assert {p for (r, _, p) in new if r == "pairing-semiannual-briefing"} == {"2024-H1", "2023-H2"}
    assert {p for (r, _, p) in new if r == "pairing-annual-matchmaking"} == {"2023"}
    assert {s for (_, s, _) in new} == subjects
    assert all(after[key] == value for key, value in before.items())  # nothing kept was touched

    restarted = Service(settings)
    try:
        summary = restarted.tick(AT + timedelta(minutes=5))
        with restarted.sessions() as session:
            resolved = session.scalar(
                select(func.count()).select_from(AlertRecord).where(AlertRecord.state == "resolved")
            )
    finally:
        restarted.close()
    assert summary.transitions == 0
    assert stored() == after and resolved >= added
