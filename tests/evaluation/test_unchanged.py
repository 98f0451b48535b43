"""A duty is kept as stored only when its stored row says exactly what it says now and it is quiet
(monitor/evaluation/obligations/unchanged.py): every field the row keeps, to the second; no alert
to raise."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from monitor.calendar.working_days import WorkCalendar
from monitor.clock import SHANGHAI, end_of_day
from monitor.evaluation.obligations.timing import Timing
from monitor.evaluation.obligations.unchanged import Unchanged
from monitor.rulebook import Rule, load_rulebook

RULES = load_rulebook(Path(__file__).resolve().parents[2] / "rules")
VISIT: Rule = RULES["pairing-monthly-visit"]  # expires 22 working days after its due day
SUBJECT, PERIOD = "pairing:o-1:E1", "2024-11"
KEY = (VISIT.id, SUBJECT, PERIOD)
DUE = end_of_day(date(2024, 11, 30), time(17, 30))  # a Saturday
MET = DUE - timedelta(days=3)
NOW = datetime(2024, 11, 28, 10, tzinfo=SHANGHAI)  # met the day before; else 2 working days to due


def _row(**changes: Any) -> SimpleNamespace:
    row = {"unit_id": "u-1", "due_at": DUE, "status": "met_on_time", "met_at": MET, "provisional": False}
    return SimpleNamespace(**{**row, **changes})


def _keeps(
    row: SimpleNamespace | None,
    *,
    met_at: datetime | None = MET,
    due_at: datetime = DUE,
    unit_id: str | None = "u-1",
    now: datetime = NOW,
    waived: set[tuple[str, str, str]] | None = None,
    alerting_shapes: frozenset[tuple[str, str, int, int, int]] = frozenset(),
) -> bool:
    def alerts(shape: tuple[str, str, int, int, int]) -> bool:
        return shape in alerting_shapes

    timing = Timing(WorkCalendar(), time(17, 30))
    stored = {KEY: row} if row is not None else {}
    unchanged = Unchanged(stored, waived or set(), timing, now, alerts)
    kept = unchanged.keeps(VISIT, SUBJECT, PERIOD, unit_id, due_at, met_at)
    assert unchanged.keys == ([KEY] if kept else [])
    return kept


def test_a_met_duty_its_row_describes_is_kept() -> None:
    assert _keeps(_row())


def test_a_duty_with_no_stored_row_is_built() -> None:
    assert not _keeps(None)


@pytest.mark.parametrize(
    ("field", "now_reads"),
    [
        ("met_at", {"met_at": MET + timedelta(seconds=1)}),
        ("met_at", {"met_at": MET - timedelta(seconds=1)}),
        ("met_at", {"met_at": None}),
        ("due_at", {"due_at": DUE + timedelta(seconds=1)}),
        ("due_at", {"due_at": DUE - timedelta(seconds=1)}),
        ("unit_id", {"unit_id": "u-2"}),
        ("unit_id", {"unit_id": None}),
    ],
)
def test_a_duty_whose_query_reads_otherwise_than_its_row_is_built(
    field: str, now_reads: dict[str, Any]
) -> None:
    assert not _keeps(_row(), **now_reads), field


def test_the_status_is_compared_on_both_sides_of_the_due_second() -> None:
    # met within the due second: on time; at its end: late (monitor/clock.py, `on_time`)
    within, after = DUE + timedelta(microseconds=999_999), DUE + timedelta(seconds=1)
    now = DUE + timedelta(seconds=2)
    assert _keeps(_row(met_at=within), met_at=within, now=now)
    assert not _keeps(_row(met_at=within, status="met_late"), met_at=within, now=now)
    assert _keeps(_row(met_at=after, status="met_late"), met_at=after, now=now)
    assert not _keeps(_row(met_at=after), met_at=after, now=now)


def test_a_pending_duty_is_kept_only_while_no_alert_is_due_for_it() -> None:
    pending = _row(status="pending", met_at=None)
    assert _keeps(pending, met_at=None)
    shape = (VISIT.id, "pending", 2, 0, 0)
    assert not _keeps(pending, met_at=None, alerting_shapes=frozenset({shape}))


def test_a_pending_row_is_built_once_its_due_second_has_ended() -> None:
    pending = _row(status="pending", met_at=None)
    assert _keeps(pending, met_at=None, now=DUE + timedelta(microseconds=999_999))
    assert not _keeps(pending, met_at=None, now=DUE + timedelta(seconds=1))  # overdue now


def test_an_overdue_duty_is_kept_as_missed_once_it_expires() -> None:
    # due Saturday 30 November: December has 22 working days, and the 23rd after the due day (1
    # January is a holiday) ends with 2 January's cut-off second; more than 22 expire the duty
    expiry = datetime(2025, 1, 2, 17, 30, tzinfo=SHANGHAI)
    missed = _row(status="missed", met_at=None)
    assert not _keeps(missed, met_at=None, now=expiry)  # 22 days ended: overdue still
    assert _keeps(missed, met_at=None, now=expiry + timedelta(seconds=1))
    overdue = _row(status="overdue", met_at=None)
    assert _keeps(overdue, met_at=None, now=expiry)  # an overdue duty no alert is decided for
    assert not _keeps(
        overdue, met_at=None, now=expiry, alerting_shapes=frozenset({(VISIT.id, "overdue", 0, 22, 0)})
    )


def test_a_row_the_calendar_now_marks_otherwise_is_built() -> None:
    # 2030 has no notice: a due day in it is answered provisionally, and the row must say so
    due = end_of_day(date(2030, 1, 31), time(17, 30))
    met, now = due - timedelta(days=1), due + timedelta(days=1)
    assert _keeps(_row(due_at=due, met_at=met, provisional=True), due_at=due, met_at=met, now=now)
    assert not _keeps(_row(due_at=due, met_at=met, provisional=False), due_at=due, met_at=met, now=now)
    assert not _keeps(_row(provisional=True))  # a notice entered since: official now


def test_a_waived_duty_is_never_kept() -> None:
    assert not _keeps(_row(), waived={KEY})
    assert not _keeps(_row(status="waived"), waived={KEY})
