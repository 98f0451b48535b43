"""Working days between an instant and a due time, across holidays and make-up working days."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from monitor.calendar.working_days import CalendarNotCovered, WorkCalendar
from monitor.clock import SHANGHAI, due_passed_before, end_of_day, lapse, on_time, past_due
from monitor.evaluation.obligations import Obligation
from monitor.evaluation.obligations.timing import Timing


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


# --- the due second counts whole (monitor/clock.py: lapse, on_time, past_due) -----------------


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_an_answer_in_the_last_second_of_the_due_day_is_on_time() -> None:
    due = end_of_day(date(2026, 3, 31))  # shown as 2026-03-31T23:59:59+08:00
    assert lapse(due) == utc("2026-03-31T16:00:00Z")
    assert on_time(utc("2026-03-31T15:59:59Z"), due)
    assert on_time(utc("2026-03-31T15:59:59.6Z"), due)  # 23:59:59.6 in Shanghai
    assert on_time(utc("2026-03-31T15:59:59.999999Z"), due)
    assert not on_time(utc("2026-03-31T16:00:00Z"), due)
    assert not on_time(datetime.fromisoformat("2026-04-01T00:00:00.000001+08:00"), due)


def test_a_duty_is_overdue_only_once_its_due_second_has_ended() -> None:
    due = end_of_day(date(2026, 3, 31))
    assert not past_due(utc("2026-03-31T15:59:59Z"), due)  # 23:59:59 itself
    assert not past_due(utc("2026-03-31T15:59:59.999999Z"), due)
    assert past_due(utc("2026-03-31T16:00:00Z"), due)
    # the same instant written in another offset is the same instant
    assert past_due(datetime.fromisoformat("2026-04-01T01:00:00+09:00"), due)
    assert not past_due(datetime.fromisoformat("2026-04-01T00:59:59.6+09:00"), due)


def test_a_due_time_with_a_fraction_owes_its_whole_second() -> None:
    due = at("2026-03-31T18:00:00.250")  # a hotline order's own due time
    assert on_time(at("2026-03-31T18:00:00.900"), due)
    assert not on_time(at("2026-03-31T18:00:01"), due)
    assert not past_due(at("2026-03-31T18:00:00.999"), due)
    assert past_due(at("2026-03-31T18:00:01"), due)


def test_sql_bound_agrees_with_past_due() -> None:
    """`due < due_passed_before(now)` is how SQL asks past_due: the two must never disagree."""
    dues = [at("2026-03-31T23:59:59"), at("2026-03-31T23:59:59.5"), at("2026-04-01T00:00")]
    nows = [at("2026-03-31T23:59:59.4"), at("2026-03-31T23:59:59.9"), at("2026-04-01T00:00")]
    nows += [at("2026-04-01T00:00:00.7"), at("2026-04-01T00:00:01")]
    for due in dues:
        for now in nows:
            assert (due < due_passed_before(now)) == past_due(now, due), (due, now)


@pytest.mark.parametrize(
    ("met", "status"),
    [
        ("2026-03-31T15:59:59Z", "met_on_time"),
        ("2026-03-31T15:59:59.6Z", "met_on_time"),
        ("2026-03-31T16:00:00Z", "met_late"),
    ],
)
def test_settle_counts_the_due_second_as_on_time(timing: Timing, met: str, status: str) -> None:
    ob = Obligation("r", "s", None, "unit:u", "u", due_at=end_of_day(date(2026, 3, 31)), met_at=utc(met))
    timing.settle(ob, utc("2026-04-02T00:00:00Z"), None)
    assert ob.status == status


@pytest.mark.parametrize(
    ("now", "status", "to_due", "overdue"),
    [
        ("2026-03-31T15:59:59Z", "pending", 1, 0),  # 23:59:59: the day is still owed
        ("2026-03-31T15:59:59.6Z", "pending", 1, 0),
        ("2026-03-31T16:00:00Z", "overdue", 0, 0),  # 00:00:00 of 04-01: overdue, no day ended yet
        ("2026-04-01T15:59:59.6Z", "overdue", 0, 0),  # 04-01 still running at 23:59:59.6
        ("2026-04-01T16:00:00Z", "overdue", 0, 1),  # 04-01 has ended
    ],
)
def test_settle_an_unmet_duty_on_both_sides_of_the_due_second(
    timing: Timing, now: str, status: str, to_due: int, overdue: int
) -> None:
    ob = Obligation("r", "s", None, "unit:u", "u", due_at=end_of_day(date(2026, 3, 31)))
    timing.settle(ob, utc(now), None)
    assert (ob.status, ob.working_days_to_due, ob.working_days_overdue) == (status, to_due, overdue)


@pytest.mark.parametrize(
    ("instant", "met_status", "unmet_status", "overdue_days"),
    [
        ("2026-03-31T17:29:59.9", "met_on_time", "pending", 0),
        ("2026-03-31T17:30:00", "met_on_time", "pending", 0),
        ("2026-03-31T17:30:00.999", "met_on_time", "pending", 0),
        ("2026-03-31T17:30:01", "met_late", "overdue", 0),
        ("2026-04-01T17:30:00.5", "met_late", "overdue", 0),  # 04-01 has not ended at its cut-off second
        ("2026-04-01T17:30:01", "met_late", "overdue", 1),
    ],
)
def test_with_a_cutoff_the_cutoff_second_is_still_the_due_day(
    instant: str, met_status: str, unmet_status: str, overdue_days: int
) -> None:
    office = Timing(WorkCalendar(), time(17, 30))
    due = office.end_of(date(2026, 3, 31))
    met = Obligation("r", "s", None, "unit:u", "u", due_at=due, met_at=at(instant))
    office.settle(met, at(instant), None)
    unmet = Obligation("r", "s", None, "unit:u", "u", due_at=due)
    office.settle(unmet, at(instant), None)
    assert (met.status, unmet.status, unmet.working_days_overdue) == (met_status, unmet_status, overdue_days)


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
