"""Which cases a month's report reads: those received from the first day whose clock can fall due
in the month (`clocks_received_from`), to the second, across holidays, make-up working days, cut-offs
and year ends; and the longest clock the rules count from receipt (`longest_clock`)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from monitor.calendar.working_days import WorkCalendar, YearOverride
from monitor.clock import SHANGHAI, end_of_day, lapse, start_of_day
from monitor.config import CaseSettings
from monitor.evaluation.obligations.cases import clocks_received_from, longest_clock
from monitor.evaluation.obligations.timing import Timing
from monitor.rulebook import load_rulebook
from tests.conftest import ROOT

RULEBOOK = load_rulebook(ROOT / "rules")
SECOND = timedelta(seconds=1)


def _local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


# strict about the year after an operator's notice for 2090 (no holidays in it): deadlines
# counted into 2091 are due at their lower bound, the end of 2090 (`Timing.deadline_or_gap`)
GAP = WorkCalendar([YearOverride(year=2090, notice="test")], unannounced="strict")


def _due(timing: Timing, received: datetime, days: int) -> datetime:
    return timing.deadline_or_gap(received, days)[0]


@pytest.mark.parametrize(
    ("calendar", "first", "last"),
    [(WorkCalendar(), date(2024, 1, 20), date(2026, 12, 20)), (GAP, date(2090, 11, 20), date(2091, 2, 10))],
    ids=["official", "strict-gap"],
)
@pytest.mark.parametrize("cutoff", [time(23, 59, 59), time(17, 30)])
@pytest.mark.parametrize("days", [0, 1, 5, 10, 15])
def test_the_first_receipt_is_due_from_the_instant_and_the_second_before_it_is_not(
    calendar: WorkCalendar, first: date, last: date, cutoff: time, days: int
) -> None:
    """Every day from `first` to `last` as the instant, at its first second, at its cut-off second
    (a deadline itself) and the second after: the floor's due time is at or after the instant,
    the due time of a case received one second earlier is before it; across a year no notice
    covers too, where a clock is due at its deadline's lower bound."""
    timing = Timing(calendar, cutoff)
    day, checked, after_cut_off = first, 0, 0
    while day <= last:
        for instant in (start_of_day(day), end_of_day(day, cutoff), end_of_day(day, cutoff) + SECOND):
            floor = clocks_received_from(timing, instant, days)
            floor_day = floor.astimezone(SHANGHAI).date()
            # a day's first second; for a same-day clock, also the second after a day's cut-off
            # (a case received after it is due the next working day)
            starts = {start_of_day(floor_day)}
            if days == 0:
                starts.add(lapse(end_of_day(floor_day, cutoff)))
            assert floor in starts, (instant, floor)
            after_cut_off += floor != start_of_day(floor_day)
            assert _due(timing, floor, days) >= instant, (instant, floor)
            assert _due(timing, floor - SECOND, days) < instant, (instant, floor)
            checked += 1
        day += timedelta(days=1)
    assert checked == 3 * ((last - first).days + 1)
    # a same-day clock with a cut-off before midnight: the floor of an instant at a working day's
    # first second is the previous working day's cut-off, passed (received then, due that morning)
    assert (after_cut_off > 0) == (days == 0 and cutoff != time(23, 59, 59))


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
    # a same-day clock: received on the make-up Saturday 28 February 2026 up to its 17:30:00 (or
    # after Friday's), it is due at 17:30 that Saturday; received after it, on Sunday 1 March or on
    # Monday 2 March up to 17:30:00, at 17:30 on the Monday; after that, on Tuesday
    assert clocks_received_from(timing, _local("2026-03-02T17:30:00"), 0) == _local("2026-02-28T17:30:01")
    assert clocks_received_from(timing, _local("2026-02-28T17:30:00"), 0) == _local("2026-02-27T17:30:01")
    assert clocks_received_from(timing, _local("2026-02-28T17:30:01"), 0) == _local("2026-02-28T17:30:01")
    assert clocks_received_from(timing, _local("2026-03-02T17:30:01"), 0) == _local("2026-03-02T17:30:01")
    # the day's cut-off does not move a clock of working days after the day of receipt: received
    # on Friday 27 February at 17:30 or at 18:00, one working day is the Saturday
    assert clocks_received_from(timing, _local("2026-02-28T17:30:00"), 1) == _local("2026-02-27T00:00")


def test_a_same_day_clock_received_after_the_cut_off_is_due_the_next_working_day() -> None:
    """With a 17:30 cut-off, the working day of a case received at 17:30:00 is still running; at
    17:30:01 it is over, and the next one counts (over a weekend and a make-up Saturday)."""
    timing = Timing(WorkCalendar(), time(17, 30))
    assert timing.deadline(_local("2026-12-30T17:30:00.900"), 0) == _local("2026-12-30T17:30")
    assert timing.deadline(_local("2026-12-30T17:30:01"), 0) == _local("2026-12-31T17:30")
    # Thursday 31 December 2026 after the cut-off: New Year rests 1-3 January 2027 (provisional)
    assert timing.deadline(_local("2026-12-31T18:00"), 0) == _local("2027-01-04T17:30")
    # Friday 27 February 2026 after the cut-off: Saturday the 28th is a make-up working day
    assert timing.deadline(_local("2026-02-27T18:00"), 0) == _local("2026-02-28T17:30")
    # a rest day's receipt, before or after the cut-off, is due the next working day either way
    assert timing.deadline(_local("2026-03-01T09:00"), 0) == _local("2026-03-02T17:30")
    assert timing.deadline(_local("2026-03-01T18:00"), 0) == _local("2026-03-02T17:30")
    # the cut-off moves no count of working days after the day of receipt (that day is not counted)
    assert timing.deadline(_local("2026-12-28T18:00"), 1) == timing.deadline(_local("2026-12-28T09:00"), 1)
    assert timing.deadline(_local("2026-12-28T18:00"), 1) == _local("2026-12-29T17:30")
    # at the default cut-off (23:59:59) the day's last instant is still within it
    default = Timing(WorkCalendar(), time(23, 59, 59))
    assert default.deadline(_local("2026-12-30T23:59:59.999999"), 0) == _local("2026-12-30T23:59:59")


def test_a_floor_counts_to_a_year_no_notice_covers() -> None:
    """Strict about 2091: a clock counted into it is due at the end of 2090, its lower bound, and
    one received in it at the end of its own day (the calendar cannot say more)."""
    timing = Timing(GAP, time(23, 59, 59))
    # 31 December 2090 is a Sunday: five working days from Monday 25 December run into 2091 (due
    # at the end of the 31st), from Sunday 24 December they end on Friday the 29th
    assert clocks_received_from(timing, start_of_day(date(2090, 12, 31)), 5) == _local("2090-12-25T00:00")
    assert clocks_received_from(timing, start_of_day(date(2090, 12, 29)), 5) == _local("2090-12-22T00:00")
    # from 2091's first second: only a case received in 2091 can be due
    assert clocks_received_from(timing, start_of_day(date(2091, 1, 1)), 5) == _local("2091-01-01T00:00")
    assert clocks_received_from(timing, start_of_day(date(2091, 2, 1)), 5) == _local("2091-02-01T00:00")


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
