"""One on-time rate: its definition, and the status page and the monthly report agreeing on it
for every unit of the example district at several instants of a month."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.alerts.lifecycle import commit_evaluation
from monitor.calendar.working_days import WorkCalendar
from monitor.clock import SHANGHAI, parse_instant
from monitor.config import Settings
from monitor.evaluation.engine import DurableMatcher
from monitor.evaluation.evaluate import evaluate
from monitor.evaluation.obligations import STATUSES
from monitor.periods import period_of
from monitor.reports.monthly import monthly_report
from monitor.reports.ontime import Tally, counted_rules, format_rate, outcome
from monitor.reports.render import to_html
from monitor.reports.status_page import status
from monitor.rulebook import load_rulebook
from monitor.store.db import session_factory
from tests.demo.test_demo import _import_examples
from tests.service.conftest import ROOT

RULEBOOK = load_rulebook(ROOT / "rules")
CALENDAR = WorkCalendar()


def test_every_status_has_one_outcome() -> None:
    assert {s: outcome(s) for s in STATUSES} == {
        "pending": "pending",
        "overdue": "missed",
        "met_on_time": "on_time",
        "met_late": "late",
        "missed": "missed",
        "waived": "waived",
        "uncomputable": "pending",
    }
    with pytest.raises(ValueError, match="resolved"):
        outcome("resolved")


def test_pending_and_waived_duties_are_neither_met_nor_failed() -> None:
    tally = Tally()
    for kind, n in (("met_on_time", 3), ("met_late", 1), ("overdue", 1), ("pending", 14), ("waived", 2)):
        tally.add(kind, n)
    assert (tally.decided, tally.rate) == (5, 0.6)
    waiting = Tally()
    waiting.add("pending", 14)
    # nothing decided is no rate (无), not 0 %
    assert (waiting.rate, format_rate(waiting.rate), format_rate(0.0)) == (None, "无", "0.0%")


def test_the_ladder_is_not_counted_twice() -> None:
    counted = counted_rules(RULEBOOK)
    assert "case-escalation" not in counted
    assert {"case-complex-5-workdays", "project-item-deadline", "pairing-monthly-visit"} <= counted
    assert len(counted) == len(RULEBOOK.rules) - 1


# Instants across a month and its end: mid-month, a Friday before the month's last weekend,
# the first Sunday of the next month, a Sunday two days before the year's end, its last evening
INSTANTS = [
    "2024-11-15T10:00",
    "2024-11-29T16:00",
    "2024-12-01T09:00",
    "2024-12-29T10:00",
    "2024-12-31T18:00",
]


def test_the_page_and_the_report_give_every_unit_the_same_rate(engine: Engine) -> None:
    """A daemon that has watched the district since its history began (a tick a week: a met duty
    stays in the tick's view for RECENT = 7 days, so every one is recorded) shows on its page the
    rate the report computes from scratch, for every unit, at instants across two months."""
    _import_examples(engine)
    matcher = DurableMatcher(RULEBOOK)
    rated = 0
    rates: set[float | None] = set()
    instants = [parse_instant(i) for i in INSTANTS]
    with session_factory(engine)() as session:
        at = parse_instant("2023-12-01T09:00")
        while instants:
            now = min(at, instants[0])
            commit_evaluation(session, evaluate(session, RULEBOOK, CALENDAR, Settings(), now, matcher))
            session.commit()
            if now == instants[0]:
                instants.pop(0)
                rated, rates = _compare(session, matcher, now, rated, rates)
            else:
                at += timedelta(days=7)
    assert rated > 10 and len(rates) > 3  # rates worth comparing, not all None or 100 %


def _compare(
    session: Session, matcher: DurableMatcher, now: datetime, rated: int, rates: set[float | None]
) -> tuple[int, set[float | None]]:
    page = {u.unit_id: u for u in status(session, RULEBOOK, CALENDAR, now).units}
    month = period_of("month", now.astimezone(SHANGHAI).date())
    report = monthly_report(session, RULEBOOK, CALENDAR, Settings(), month, matcher, now)
    session.rollback()
    assert not report.complete
    html = to_html(report)
    assert set(page) == {f.unit_id for f in report.units}
    for f in report.units:
        shown = page[f.unit_id]
        assert (shown.duties, shown.rate) == (f.duties, f.rate), (now, f.unit_id)
        # and the printed report says the same as the page for that unit
        row = re.search(rf"<tr><td>{re.escape(f.name)}</td>.*?</tr>", html)
        assert row is not None and row.group(0).endswith(f"<td>{format_rate(shown.rate)}</td></tr>")
        rated += f.rate is not None
        rates.add(f.rate)
    return rated, rates


@pytest.mark.parametrize("part_sizes", [None, (2, 3)])
def test_a_daemon_started_today_shows_the_rate_the_report_computes(
    db_url: str, tmp_path: Path, engine: Engine, part_sizes: tuple[int, int] | None
) -> None:
    """A matchmaking done in April counts, on time, among December's duties: a daemon whose first
    tick is in December records it (Ticker._record_month), so its page agrees with the report;
    also when it records the month a few enterprises and cases at a time (a province's parts)."""
    from monitor.runtime.service import Service
    from monitor.runtime.ticker import Ticker
    from tests.service.conftest import settings_for

    _import_examples(engine)
    service = Service(settings_for(db_url, tmp_path))
    if part_sizes is not None:
        assert isinstance(service.ticker, Ticker)
        service.ticker.part_sizes = part_sizes
    now = parse_instant("2024-12-20T09:00")
    try:
        service.tick(now)
        with session_factory(engine)() as session:
            page = {u.unit_id: u.duties for u in status(session, RULEBOOK, CALENDAR, now).units}
            month = period_of("month", now.astimezone(SHANGHAI).date())
            report = monthly_report(
                session, RULEBOOK, CALENDAR, Settings(), month, DurableMatcher(RULEBOOK), now
            )
    finally:
        service.close()
    assert {f.unit_id: f.duties for f in report.units} == page
    assert sum(t.on_time for t in page.values()) > 0
