"""The working-day ordinal table answers as the calendar does, day by day.

Across the package's official years (holidays and make-up working days), year ends, the
provisional years after the package's last one (the law alone), an override year with its own
holidays and make-up days, and the same override not yet entered at an earlier instant.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from monitor.calendar.ordinals import Ordinals
from monitor.calendar.working_days import CalendarNotCovered, WorkCalendar, YearOverride, _package_last_year

LAST_OFFICIAL = _package_last_year()
OVERRIDE = YearOverride(
    year=LAST_OFFICIAL + 2,
    notice="test notice",
    holidays=frozenset({date(LAST_OFFICIAL + 2, 1, 4), date(LAST_OFFICIAL + 2, 6, 7)}),
    workdays=frozenset({date(LAST_OFFICIAL + 2, 1, 9), date(LAST_OFFICIAL + 2, 12, 26)}),
    entered=datetime(LAST_OFFICIAL + 1, 12, 1, tzinfo=UTC),
)
FIRST, LAST = date(2023, 1, 1), date(LAST_OFFICIAL + 3, 12, 31)


def _calendars() -> list[tuple[str, WorkCalendar]]:
    calendar = WorkCalendar([OVERRIDE])
    return [
        ("plain", WorkCalendar()),
        ("override", calendar),
        ("override not yet entered", calendar.as_of(datetime(LAST_OFFICIAL + 1, 6, 1, tzinfo=UTC))),
    ]


@pytest.mark.parametrize(("name", "calendar"), _calendars(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_table_answers_as_the_calendar_day_by_day(name: str, calendar: WorkCalendar) -> None:
    table = Ordinals(calendar, FIRST, LAST)
    day = FIRST
    made_up = holidays = 0
    while day <= LAST:
        assert table.is_workday(day) == calendar.is_workday(day), day
        assert table[day].provisional == calendar.is_provisional(day.year), day
        made_up += calendar.is_workday(day) and day.weekday() >= 5
        holidays += not calendar.is_workday(day) and day.weekday() < 5
        for n in (0, 1, 2, 5, 10, 15):
            expected = calendar.add_workdays(day, n)
            if expected <= LAST:
                assert table.add_workdays(day, n) == expected, (day, n)
        for span in (0, 1, 6, 30, 400):
            end = day + timedelta(days=span)
            if end <= LAST:
                assert table.count_workdays(day, end) == calendar.count_workdays(day, end), (day, span)
                assert table.provisional_between(day, end) == calendar.provisional_between(day, end)
        day += timedelta(days=1)
    assert made_up > 10 and holidays > 30  # the package's years hold both kinds of exception
    provisional = {d.day.year for d in table.days if d.provisional}
    if name == "override":
        assert provisional == {LAST_OFFICIAL + 1, LAST_OFFICIAL + 3}
        assert table.is_workday(date(LAST_OFFICIAL + 2, 1, 9)) and not table.is_workday(
            date(LAST_OFFICIAL + 2, 1, 4)
        )
    else:
        assert provisional == {LAST_OFFICIAL + 1, LAST_OFFICIAL + 2, LAST_OFFICIAL + 3}


def test_year_ends_count_across() -> None:
    calendar = WorkCalendar()
    table = Ordinals(calendar, FIRST, LAST)
    for year in range(2023, LAST_OFFICIAL + 3):
        end = date(year, 12, 31)
        assert table.count_workdays(end, end + timedelta(days=1)) == calendar.count_workdays(
            end, end + timedelta(days=1)
        )
        assert table.add_workdays(end, 3) == calendar.add_workdays(end, 3)


def test_strict_mode_refuses_an_unannounced_year_as_the_calendar_does() -> None:
    strict = WorkCalendar(unannounced="strict")
    Ordinals(strict, date(2024, 1, 1), date(LAST_OFFICIAL, 12, 31))
    with pytest.raises(CalendarNotCovered):
        Ordinals(strict, date(2024, 1, 1), date(LAST_OFFICIAL + 1, 1, 1))
