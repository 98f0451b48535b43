"""Working days between an instant and a due time, across holidays and make-up working days."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from monitor.calendar import CalendarNotCovered, WorkCalendar
from monitor.clock import SHANGHAI, end_of_day
from monitor.obligations import Obligation
from monitor.obligations.timing import Timing


@pytest.fixture(scope="module")
def timing() -> Timing:
    return Timing(WorkCalendar(), time(23, 59, 59))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def test_deadline_skips_national_day_and_counts_the_makeup_sunday(timing: Timing) -> None:
    # received Friday 2024-09-27; Sunday 09-29 is a make-up working day; 10-01..07 are holidays
    assert timing.deadline(at("2024-09-27T10:00"), 5) == end_of_day(date(2024, 10, 10))


def test_same_day_deadline_on_a_rest_day_moves_to_the_next_working_day(timing: Timing) -> None:
    assert timing.deadline(at("2024-10-03T10:00"), 0) == end_of_day(date(2024, 10, 8))
    assert timing.deadline(at("2024-10-12T10:00"), 0) == end_of_day(date(2024, 10, 12))  # make-up Saturday


def test_closing_time_cutoff_is_configurable() -> None:
    office = Timing(WorkCalendar(), time(17, 30))
    assert office.deadline(at("2024-03-04T09:00"), 1) == at("2024-03-05T17:30")


def test_working_days_to_due_count_today_until_it_ends(timing: Timing) -> None:
    due = end_of_day(date(2024, 10, 31))  # Thursday
    assert timing.to_due(at("2024-10-31T09:00"), due) == 1
    assert timing.to_due(at("2024-10-28T09:00"), due) == 4  # Mon..Thu
    assert timing.to_due(at("2024-11-01T00:00"), due) == 0


def test_working_days_overdue_count_only_ended_working_days(timing: Timing) -> None:
    due = end_of_day(date(2024, 9, 30))  # the last working day before National Day
    assert timing.overdue(at("2024-10-07T12:00"), due) == 0  # the holiday week ends no working day
    assert timing.overdue(at("2024-10-08T12:00"), due) == 0  # 10-08 has not ended yet
    assert timing.overdue(at("2024-10-09T00:30"), due) == 1
    # 10-08..10-11 and the make-up Saturday 10-12 have all ended by Sunday morning
    assert timing.overdue(at("2024-10-13T09:00"), due) == 5


def test_overdue_crosses_the_new_year(timing: Timing) -> None:
    due = end_of_day(date(2024, 12, 31))
    assert timing.overdue(at("2025-01-03T08:00"), due) == 1  # 01-01 holiday, 01-02 ended


def test_settle_marks_late_fulfilment_as_late(timing: Timing) -> None:
    ob = Obligation(
        "r", "s", None, "unit:u", "u", due_at=end_of_day(date(2024, 3, 4)), met_at=at("2024-03-06T10:00")
    )
    timing.settle(ob, at("2024-03-10T10:00"), None)
    assert ob.status == "met_late"


def test_settle_expires_a_period_duty_into_missed(timing: Timing) -> None:
    ob = Obligation("r", "s", "2024-01", "unit:u", "u", due_at=end_of_day(date(2024, 1, 31)))
    timing.settle(ob, at("2024-04-01T10:00"), 22)
    assert ob.status == "missed"
    ob2 = Obligation("r", "s", "2024-03", "unit:u", "u", due_at=end_of_day(date(2024, 3, 31)))
    timing.settle(ob2, at("2024-04-01T10:00"), 22)
    assert ob2.status == "overdue"


def test_a_deadline_in_an_uncovered_year_is_an_error_not_a_guess() -> None:
    timing = Timing(WorkCalendar(unannounced="strict"), time(23, 59, 59))
    with pytest.raises(CalendarNotCovered) as err:
        timing.deadline(at("2026-12-30T10:00"), 5)
    assert err.value.year == 2027


def test_days_left_into_an_uncovered_year_are_a_lower_bound_when_no_warning_depends_on_them() -> None:
    timing = Timing(WorkCalendar(unannounced="strict"), time(23, 59, 59), max_warn=20)
    due = end_of_day(date(2027, 2, 28))
    assert timing.to_due(at("2026-11-25T10:00"), due) == WorkCalendar().count_workdays(
        date(2026, 11, 25), date(2026, 12, 31)
    )
    with pytest.raises(CalendarNotCovered):
        timing.to_due(at("2026-12-10T10:00"), due)  # fewer than 20 known: a warning may depend on it
