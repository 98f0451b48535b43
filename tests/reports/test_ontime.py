"""One on-time rate: its definition, and the status page and the monthly report agreeing on it
for every unit of the example district at several instants of a month."""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from monitor.alerts.lifecycle import commit_evaluation
from monitor.calendar.working_days import WorkCalendar
from monitor.clock import SHANGHAI, parse_instant
from monitor.config import Settings
from monitor.evaluation.engine import DurableMatcher
from monitor.evaluation.evaluate import evaluate
from monitor.evaluation.obligations import STATUSES
from monitor.periods import period_of
from monitor.reports.monthly import duties_due, monthly_report
from monitor.reports.ontime import Tally, counted_rules, format_rate, month_bounds, outcome
from monitor.reports.render import to_html
from monitor.reports.status_page import status
from monitor.rulebook import load_rulebook
from monitor.store.db import session_factory
from tests.demo.test_demo import _import_examples, _ingest
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


def _unrecorded(engine: Engine, settings: Settings, now: datetime) -> set[tuple[str, str, str]]:
    """The keys of duties due in `now`'s month that have no row (duties of a pairing's and of a
    monthly notice's kind among those due)."""
    from monitor.store.models import ObligationRecord

    rulebook = load_rulebook(settings.rules_dir)
    start, after = month_bounds(period_of("month", now.astimezone(SHANGHAI).date()))
    with session_factory(engine)() as session:
        due = duties_due(session, rulebook, CALENDAR, settings, start, after, now)
        stored = set(
            session.execute(select(ObligationRecord.rule, ObligationRecord.subject, ObligationRecord.period))
        )
    kinds = {rulebook[o.rule].obligation for o in due}
    assert {"pairing_activity", "unit_report"} <= kinds, kinds  # one left to the tick, one not
    return {o.key for o in due} - stored


def _first_tick(engine: Engine, settings: Settings, instant: str) -> datetime:
    from monitor.runtime.service import Service

    _import_examples(engine)
    service = Service(settings)
    now = parse_instant(instant)
    try:
        service.tick(now)
    finally:
        service.close()
    return now


@pytest.mark.parametrize(
    "instant",
    [
        "2024-12-01T00:00:00+08:00",
        "2024-12-20T09:00",
        "2024-12-31T23:59:59+08:00",
        "2025-01-01T00:00:00+08:00",
    ],
)
def test_a_daemons_first_tick_leaves_no_duty_of_its_month_unrecorded(
    db_url: str, tmp_path: Path, engine: Engine, instant: str
) -> None:
    """Every duty due in the month of a daemon's first tick has a row afterwards: those in the
    tick's view written by the tick, the rest by the month's record, which leaves the pairings'
    and units' activities to the tick (due at their period's end, in view until then); at the
    month's first and last seconds and the next month's first, where periods fall due and expire."""
    from tests.service.conftest import settings_for

    settings = settings_for(db_url, tmp_path)
    now = _first_tick(engine, settings, instant)
    assert _unrecorded(engine, settings, now) == set()


def test_a_monthly_notice_expired_within_its_month_is_recorded(
    db_url: str, tmp_path: Path, engine: Engine
) -> None:
    """A monthly notice is due days into the next month (the 10th working day): with a short
    expiry it leaves the tick's view before that month ends, and the month's record keeps it.
    November 2024's notices fall due on 13 December; two working days later they have expired."""
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules, ignore=shutil.ignore_patterns("tests"))
    units = yaml.safe_load((rules / "units.yaml").read_text(encoding="utf-8"))
    notices = [r for r in units["rules"] if r["obligation"] == "unit_report"]
    assert notices
    for rule in notices:
        rule["expire_working_days"] = 2
    (rules / "units.yaml").write_text(yaml.safe_dump(units, allow_unicode=True), encoding="utf-8")
    settings = Settings(
        database_url=db_url,
        rules_dir=rules,
        heartbeat_file=tmp_path / "heartbeat",
        calendar={"overrides_dir": ROOT / "config/calendar"},  # type: ignore[arg-type]
    )
    now = _first_tick(engine, settings, "2024-12-31T23:59:59+08:00")
    assert _unrecorded(engine, settings, now) == set()


def test_a_month_recorded_without_a_full_ticks_parts_records_every_rule(
    db_url: str, tmp_path: Path, engine: Engine
) -> None:
    """Recorded without the parts of a full tick that has just written its view (a steady tick's
    way in), the month's record leaves no rule to the tick: a pairing duty missing is written."""
    from monitor.roster import RosterIndex
    from monitor.runtime.service import Service
    from monitor.runtime.ticker import Ticker
    from monitor.store.models import ObligationRecord
    from tests.service.conftest import settings_for

    _import_examples(engine)
    settings = settings_for(db_url, tmp_path)
    service = Service(settings)
    now = parse_instant("2024-12-20T09:00")
    try:
        service.tick(now)
        ticker = service.ticker
        assert isinstance(ticker, Ticker)
        with session_factory(engine)() as session:
            visits = ObligationRecord.rule == "pairing-monthly-visit"
            session.execute(delete(ObligationRecord).where(visits, ObligationRecord.period == "2024-12"))
            session.commit()
            roster = RosterIndex.load(session)
        assert _unrecorded(engine, settings, now) != set()
        ticker._recorded_month = ("", None)
        assert ticker._record_month(now, roster, [])[0] == "2024-12"
    finally:
        service.close()
    assert _unrecorded(engine, settings, now) == set()


def test_a_notice_entered_later_amends_the_months_recorded_duties(
    db_url: str, tmp_path: Path, engine: Engine
) -> None:
    """2027 is answered from the law until its notice is entered on 20 January 2027, which makes
    4 January a rest day and Saturday 9 January a working day. A complex case received at the
    last second of 2026 is due on 8 January provisionally, on the 9th under the notice; answered
    at 10:00 on the 9th, it was late, and is on time. Met more than RECENT before the next tick, it
    is out of the tick's view: the month's record amends its row, so the page says what the report
    says."""
    from monitor.runtime.service import Service
    from monitor.store.models import ObligationRecord
    from tests.reports.test_case_columns import ROSTER, _case, _feedback
    from tests.service.conftest import settings_for

    overrides = tmp_path / "calendar"
    overrides.mkdir()
    (overrides / "2027.yaml").write_text(
        "year: 2027\nnotice: 国务院办公厅关于2027年部分节假日安排的通知（测试）\n"
        "holidays: [2027-01-01, 2027-01-04]\nworkdays: [2027-01-09]\n"
        "entered: 2027-01-20T10:00:00+08:00\n",
        encoding="utf-8",
    )
    events = [*_case("k1", "2026-12-31T23:59:59+08:00"), _feedback("k1", "2027-01-09T10:00+08:00")]
    assert {o.status for o in _ingest(engine, ROSTER, events, "2027-01-10T00:00")} == {"accepted"}
    settings = settings_for(db_url, tmp_path, calendar={"overrides_dir": overrides})
    service = Service(settings)
    key = (ObligationRecord.rule == "case-complex-5-workdays", ObligationRecord.subject == "case:k1")

    def stored() -> tuple[str, str, bool]:
        with session_factory(engine)() as session:
            row = session.execute(select(ObligationRecord).where(*key)).scalar_one()
            return row.due_at.astimezone(SHANGHAI).isoformat(), row.status, row.provisional

    try:
        service.tick(parse_instant("2027-01-10T12:00+08:00"))
        assert stored() == ("2027-01-08T23:59:59+08:00", "met_late", True)
        service.tick(parse_instant("2027-01-20T09:59:59+08:00"))  # out of view, the notice not yet in
        assert stored() == ("2027-01-08T23:59:59+08:00", "met_late", True)
        now = parse_instant("2027-01-21T12:00+08:00")
        service.tick(now)
        assert stored() == ("2027-01-09T23:59:59+08:00", "met_on_time", False)
        calendar = service.loaded.calendar
        with session_factory(engine)() as session:
            page = {u.unit_id: u.duties for u in status(session, RULEBOOK, calendar, now).units}
            report = monthly_report(
                session, RULEBOOK, calendar, Settings(calendar={"overrides_dir": overrides}),
                period_of("month", now.astimezone(SHANGHAI).date()), DurableMatcher(RULEBOOK), now,
            )  # fmt: skip
    finally:
        service.close()
    assert page["u-spj"].on_time == 1 and page["u-spj"].late == 0
    assert {f.unit_id: f.duties for f in report.units} == page
