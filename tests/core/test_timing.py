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


# --- years not yet announced: provisional marks and, in strict mode, duties set aside ------------


def duty(due: datetime, met: datetime | None = None) -> Obligation:
    return Obligation("r", "case:x", None, "unit:u", "u", due, met)


@pytest.mark.parametrize(
    ("now", "provisional"),
    [
        ("2026-12-31T23:59:58", False),  # due in 2026, counted in 2026: official
        ("2027-01-01T00:00:01", True),  # its overdue days now run into 2027
    ],
)
def test_an_overdue_duty_turns_provisional_when_its_count_enters_an_unannounced_year(
    timing: Timing, now: str, provisional: bool
) -> None:
    o = duty(end_of_day(date(2026, 12, 8)))
    timing.settle(o, at(now), None)
    assert (o.status, o.provisional) == ("overdue", provisional)


@pytest.mark.parametrize(("due", "provisional"), [(date(2026, 12, 31), False), (date(2027, 1, 4), True)])
def test_a_pending_duty_is_provisional_when_due_in_an_unannounced_year(
    timing: Timing, due: date, provisional: bool
) -> None:
    o = duty(end_of_day(due))
    timing.settle(o, at("2026-12-28T10:00"), None)
    assert (o.status, o.provisional) == ("pending", provisional)


def test_a_duty_met_on_a_provisional_due_day_keeps_the_mark(timing: Timing) -> None:
    o = duty(end_of_day(date(2027, 1, 5)), at("2027-01-05T10:00"))
    timing.settle(o, at("2027-01-06T10:00"), None)
    assert (o.status, o.provisional) == ("met_on_time", True)


STRICT = Timing(WorkCalendar(unannounced="strict"), time(23, 59, 59))


def test_a_deadline_into_a_missing_year_gives_its_earliest_and_the_year() -> None:
    assert STRICT.deadline_or_gap(at("2026-12-28T10:00"), 5) == (end_of_day(date(2026, 12, 31)), 2027)
    assert STRICT.deadline_or_gap(at("2026-12-01T10:00"), 5) == (end_of_day(date(2026, 12, 8)), None)
    # received in the missing year itself: not due before the end of that day
    assert STRICT.deadline_or_gap(at("2027-01-05T10:00"), 5) == (end_of_day(date(2027, 1, 5)), 2027)


@pytest.mark.parametrize(
    ("met", "status"),
    [
        ("2026-12-31T23:59:59", "met_on_time"),  # before the earliest the deadline can be: surely on time
        ("2027-01-01T00:00:00", "uncomputable"),  # after it: on time or late, nobody can say
        (None, "uncomputable"),
    ],
)
def test_a_duty_whose_deadline_cannot_be_told_is_uncomputable_unless_surely_met(
    met: str | None, status: str
) -> None:
    due, gap = STRICT.deadline_or_gap(at("2026-12-28T10:00"), 5)
    o = duty(due, at(met) if met else None)
    o.calendar_gap = gap
    STRICT.settle(o, at("2027-01-06T10:00"), None)
    assert o.status == status


def test_an_overdue_duty_stays_overdue_with_the_days_that_can_be_counted() -> None:
    # due 8 December; 9-31 December hold 17 working days; 2027 cannot be counted in strict mode
    o = duty(end_of_day(date(2026, 12, 8)))
    STRICT.settle(o, at("2027-01-06T10:00"), None)
    assert (o.status, o.working_days_overdue, o.provisional) == ("overdue", 17, False)
    assert STRICT.overdue_known(at("2027-01-06T10:00"), end_of_day(date(2026, 12, 8))) == (17, 2027)
    assert STRICT.overdue_known(at("2026-12-31T10:00"), end_of_day(date(2026, 12, 8))) == (16, None)
