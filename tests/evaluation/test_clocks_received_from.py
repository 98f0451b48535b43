"""Which cases a month's report reads: those received from the first day whose clock can fall due
in the month (`clocks_received_from`), to the second, across holidays, make-up working days, cut-offs
and year ends; and the longest clock the rules count from receipt (`longest_clock`)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from monitor.calendar.working_days import WorkCalendar
from monitor.clock import SHANGHAI, end_of_day, start_of_day
from monitor.config import CaseSettings
from monitor.evaluation.obligations.cases import clocks_received_from, longest_clock
from monitor.evaluation.obligations.timing import Timing
from monitor.rulebook import load_rulebook
from tests.conftest import ROOT

RULEBOOK = load_rulebook(ROOT / "rules")
SECOND = timedelta(seconds=1)


def _local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.mark.parametrize("cutoff", [time(23, 59, 59), time(17, 30)])
@pytest.mark.parametrize("days", [0, 1, 5, 10, 15])
def test_the_first_receipt_is_due_from_the_instant_and_the_second_before_it_is_not(
    cutoff: time, days: int
) -> None:
    """Every day of the covered years as the instant, at its first second, at its cut-off second
    (a deadline itself) and the second after: the floor's deadline is at or after the instant,
    the deadline of a case received one second earlier is before it."""
    timing = Timing(WorkCalendar(), cutoff)
    day, checked = date(2024, 1, 20), 0
    while day <= date(2026, 12, 20):
        for instant in (start_of_day(day), end_of_day(day, cutoff), end_of_day(day, cutoff) + SECOND):
            floor = clocks_received_from(timing, instant, days)
            assert floor is not None, instant
            assert floor == start_of_day(floor.astimezone(SHANGHAI).date())  # a day's first second
            assert timing.deadline(floor, days) >= instant, (instant, floor)
            assert timing.deadline(floor - SECOND, days) < instant, (instant, floor)
            checked += 1
        day += timedelta(days=1)
    assert checked == 3 * 1066


def test_a_floor_counts_back_over_holidays_and_make_up_days() -> None:
    timing = Timing(WorkCalendar(), time(23, 59, 59))
    october = start_of_day(date(2026, 10, 1))
    # five working days from 23 September: 24, 28, 29, 30 September (Mid-Autumn on the 25th), then
    # 8 October after National Day; from 22 September they end on the 30th
    assert clocks_received_from(timing, october, 5) == _local("2026-09-23T00:00")
    # the same day's clock: a case received on 30 September is due that day
    assert clocks_received_from(timing, october, 0) == _local("2026-10-01T00:00")
    # Spring Festival 2026 rests from 15 to 23 February, with make-up working days on Saturday
    # 14 and 28 February: five working days from 10 February are 11, 12, 13, 14 and 24 February;
    # from 9 February they end on the 14th
    assert clocks_received_from(timing, start_of_day(date(2026, 2, 15)), 5) == _local("2026-02-10T00:00")
    # across a year's end: New Year's Day 2026 rests 1-3 January and Sunday 4 January is worked, so
    # two working days from 30 December end on 4 January, from 29 December on 31 December
    assert clocks_received_from(timing, start_of_day(date(2026, 1, 1)), 2) == _local("2025-12-30T00:00")


def test_an_instant_after_its_days_cut_off_moves_the_floor_to_the_next_day() -> None:
    timing = Timing(WorkCalendar(), time(17, 30))
    # a same-day clock: received on the make-up Saturday 28 February 2026 it is due at 17:30 that
    # day; on Sunday 1 March, at 17:30 on Monday 2 March, as one received on the Monday is
    assert clocks_received_from(timing, _local("2026-03-02T17:30:00"), 0) == _local("2026-03-01T00:00")
    assert clocks_received_from(timing, _local("2026-03-02T17:30:01"), 0) == _local("2026-03-03T00:00")


def test_no_floor_where_the_calendar_does_not_reach() -> None:
    """Strict about a year no notice covers: counting back into it (or forward) gives no floor,
    so the report reads every case as it did."""
    timing = Timing(WorkCalendar(unannounced="strict"), time(23, 59, 59))
    assert clocks_received_from(timing, start_of_day(date(2027, 2, 1)), 5) is None
    assert clocks_received_from(timing, start_of_day(date(2026, 12, 31)), 5) is None  # due in 2027
    assert clocks_received_from(timing, start_of_day(date(2026, 12, 20)), 5) is not None


def test_the_longest_clock_counts_a_hotline_orders_days_only_where_a_rule_takes_them() -> None:
    clocks = [r for r in RULEBOOK if r.obligation == "case_clock"]
    own = [r for r in clocks if r.due_working_days is not None]
    assert sorted(r.due_working_days or 0 for r in own) == [0, 5]
    hotline = [r for r in clocks if r.due_working_days is None]
    assert longest_clock(own, CaseSettings(hotline_default_working_days=9)) == 5
    assert longest_clock(clocks, CaseSettings(hotline_default_working_days=9)) == 9
    by_category = CaseSettings(hotline_default_working_days=2, hotline_working_days_by_category={"用地": 12})
    assert longest_clock(hotline, by_category) == 12
    assert longest_clock(clocks, CaseSettings(hotline_default_working_days=3)) == 5
    not_clocks = [r for r in RULEBOOK if r.obligation != "case_clock"]
    assert longest_clock(not_clocks, CaseSettings(hotline_default_working_days=9)) == 0
