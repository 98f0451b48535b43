"""A met duty is kept as stored only when its stored row says exactly what it says now
(monitor/evaluation/obligations/unchanged.py): every field the row keeps, to the second."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from monitor.calendar.working_days import WorkCalendar
from monitor.clock import end_of_day
from monitor.evaluation.obligations.timing import Timing
from monitor.evaluation.obligations.unchanged import Unchanged

RULE, SUBJECT, PERIOD = "pairing-monthly-visit", "pairing:o-1:E1", "2024-12"
KEY = (RULE, SUBJECT, PERIOD)
DUE = end_of_day(date(2024, 12, 31), time(17, 30))
MET = DUE - timedelta(days=3)


def _timing() -> Timing:
    return Timing(WorkCalendar(), time(17, 30))


def _row(**changes: Any) -> SimpleNamespace:
    row = {"unit_id": "u-1", "due_at": DUE, "status": "met_on_time", "met_at": MET, "provisional": False}
    return SimpleNamespace(**{**row, **changes})


def _keeps(row: SimpleNamespace | None, *, met_at: datetime = MET, due_at: datetime = DUE,
           unit_id: str | None = "u-1", waived: set[tuple[str, str, str]] | None = None) -> bool:  # fmt: skip
    unchanged = Unchanged({KEY: row} if row is not None else {}, waived or set(), _timing())
    kept = unchanged.met(RULE, SUBJECT, PERIOD, unit_id, due_at, met_at)
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
    assert _keeps(_row(met_at=within), met_at=within)
    assert not _keeps(_row(met_at=within, status="met_late"), met_at=within)
    assert _keeps(_row(met_at=after, status="met_late"), met_at=after)
    assert not _keeps(_row(met_at=after), met_at=after)


def test_a_row_the_calendar_now_marks_otherwise_is_built() -> None:
    # 2030 has no notice: a due day in it is answered provisionally, and the row must say so
    due = end_of_day(date(2030, 1, 31), time(17, 30))
    met = due - timedelta(days=1)
    assert _keeps(_row(due_at=due, met_at=met, provisional=True), due_at=due, met_at=met)
    assert not _keeps(_row(due_at=due, met_at=met, provisional=False), due_at=due, met_at=met)
    assert not _keeps(_row(provisional=True))  # a notice entered since: official now


def test_a_waived_duty_is_never_kept() -> None:
    assert not _keeps(_row(), waived={KEY})
    assert not _keeps(_row(status="waived"), waived={KEY})
