"""The working-day calendar on the official data: holidays, make-up working days (调休), year
ends, uncovered years, and operator overrides. Expected dates are from the State Council notices
(2024: 国办发明电〔2023〕7号; 2025: 国办发明电〔2024〕12号), not from the code."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest

from monitor.calendar import CalendarNotCovered, WorkCalendar, load_overrides
from monitor.yamlsource import SourceError

CAL = WorkCalendar()


@pytest.mark.parametrize(
    ("start", "n", "deadline"),
    [
        # Friday before National Day 2024: Sunday 09-29 is a make-up working day, 10-01..07 off
        ("2024-09-27", 5, "2024-10-10"),
        ("2024-09-27", 1, "2024-09-29"),
        # a start inside the holiday counts from the first working day after it
        ("2024-10-03", 1, "2024-10-08"),
        # a start on an ordinary Saturday
        ("2024-10-19", 1, "2024-10-21"),
        # the make-up Saturday 10-12 counts
        ("2024-10-09", 5, "2024-10-15"),
        # crossing the year: 2025-01-01 is a holiday
        ("2024-12-31", 3, "2025-01-06"),
        # Spring Festival 2025: 01-28..02-04 off; Sunday 01-26 and Saturday 02-08 are working days
        ("2025-01-24", 2, "2025-01-27"),
        ("2025-01-27", 1, "2025-02-05"),
        ("2025-02-07", 1, "2025-02-08"),
        # National Day 2025: 10-01..08 off; 09-28 (Sunday) and 10-11 (Saturday) are working days
        ("2025-09-26", 1, "2025-09-28"),
        ("2025-09-30", 1, "2025-10-09"),
        ("2025-10-10", 1, "2025-10-11"),
        # n = 0: the same working day, or the next one
        ("2024-10-12", 0, "2024-10-12"),
        ("2024-10-05", 0, "2024-10-08"),
    ],
)
def test_add_workdays_counts_from_the_day_after(start: str, n: int, deadline: str) -> None:
    assert CAL.add_workdays(date.fromisoformat(start), n) == date.fromisoformat(deadline)


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_every_day_agrees_with_the_package_and_counts_add_up(year: int) -> None:
    day = date(year, 1, 1)
    expected = 0
    while day.year == year:
        assert CAL.is_workday(day) == chinese_calendar.is_workday(day), day
        expected += CAL.is_workday(day)
        day += timedelta(days=1)
    assert CAL.count_workdays(date(year, 1, 1), date(year, 12, 31)) == expected


def test_count_workdays_spans_years_and_is_zero_for_an_empty_range() -> None:
    assert CAL.count_workdays(date(2024, 12, 30), date(2025, 1, 3)) == 4  # 30, 31, 2, 3
    assert CAL.count_workdays(date(2024, 10, 2), date(2024, 10, 1)) == 0


def test_an_uncovered_year_is_an_error_naming_it() -> None:
    assert not CAL.covers(2027)
    with pytest.raises(CalendarNotCovered) as err:
        CAL.is_workday(date(2027, 1, 4))
    assert err.value.year == 2027 and "2027" in str(err.value)
    with pytest.raises(CalendarNotCovered):
        CAL.add_workdays(date(2026, 12, 30), 5)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "calendar"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_an_override_file_covers_a_year_the_package_lacks(tmp_path: Path) -> None:
    folder = _write(
        tmp_path,
        "2027.yaml",
        "year: 2027\nnotice: 国务院办公厅关于2027年部分节假日安排的通知（测试）\n"
        "holidays: [2027-01-01]\nworkdays: [2027-01-09]\n",
    )
    overrides, errors = load_overrides(folder)
    assert errors == []
    cal = WorkCalendar(overrides)
    assert cal.covers(2027)
    assert not cal.is_workday(date(2027, 1, 1))  # a Friday made a holiday
    assert cal.is_workday(date(2027, 1, 9))  # a Saturday made a working day
    assert cal.add_workdays(date(2026, 12, 31), 1) == date(2027, 1, 4)


def test_an_override_wins_over_the_package_date_by_date(tmp_path: Path) -> None:
    folder = _write(
        tmp_path, "2024.yaml", "year: 2024\nnotice: 区政府临时调整（测试）\nholidays: [2024-10-08]\n"
    )
    cal = WorkCalendar(load_overrides(folder)[0])
    assert not cal.is_workday(date(2024, 10, 8))
    assert cal.is_workday(date(2024, 10, 12))  # the rest of the year still comes from the package


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("2027.yaml", "year: 2028\nnotice: x\n", "must hold the year 2027"),
        ("2027.yaml", "year: 2027\n", "name the State Council notice"),
        ("2027.yaml", "year: 2027\nnotice: x\nholidays: [2027-02-30]\n", "is not a date in 2027"),
        ("2027.yaml", "year: 2027\nnotice: x\nholidays: [2026-12-31]\n", "is not a date in 2027"),
        (
            "2027.yaml",
            "year: 2027\nnotice: x\nholidays: [2027-01-01]\nworkdays: [2027-01-01]\n",
            "both holiday and workday",
        ),
        ("2027.yaml", "year: 2027\nnotice: [unclosed\n", "invalid YAML"),
    ],
)
def test_a_broken_override_file_is_refused_with_file_and_line(
    tmp_path: Path, name: str, text: str, reason: str
) -> None:
    folder = _write(tmp_path, name, text)
    overrides, errors = load_overrides(folder)
    assert overrides == []
    assert len(errors) == 1 and isinstance(errors[0], SourceError)
    assert reason in errors[0].reason
    assert str(errors[0]).startswith(f"{folder / name}:")
