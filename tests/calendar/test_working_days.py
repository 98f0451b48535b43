"""The working-day calendar on the official data: holidays, make-up working days (调休), year
ends, uncovered years, and operator overrides.

Expected dates come from the State Council notices, typed in below from the notices themselves,
not from the code or the package:
2024: 国办发明电〔2023〕7号; 2025: 国办发明电〔2024〕12号; 2026: the notice of November 2025 as
the pinned chinesecalendar 1.11.0 carries it (checked date by date against that package and,
independently, against the `holidays` package).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest

from monitor.calendar.working_days import CalendarNotCovered, WorkCalendar, load_calendar, load_overrides
from monitor.yamlsource import SourceError

CAL = WorkCalendar()
ROOT = Path(__file__).resolve().parents[2]


def d(text: str) -> date:
    return date.fromisoformat(text)


def _span(first: str, last: str) -> set[date]:
    start, end = d(first), d(last)
    return {start + timedelta(days=i) for i in range((end - start).days + 1)}


# Each notice as it reads: the rest periods (放假) and the weekend days worked instead (上班).
NOTICES: dict[int, tuple[set[date], set[date]]] = {
    2024: (
        _span("2024-01-01", "2024-01-01")  # 元旦
        | _span("2024-02-10", "2024-02-17")  # 春节
        | _span("2024-04-04", "2024-04-06")  # 清明节
        | _span("2024-05-01", "2024-05-05")  # 劳动节
        | _span("2024-06-10", "2024-06-10")  # 端午节
        | _span("2024-09-15", "2024-09-17")  # 中秋节
        | _span("2024-10-01", "2024-10-07"),  # 国庆节
        {
            d("2024-02-04"),
            d("2024-02-18"),
            d("2024-04-07"),
            d("2024-04-28"),
            d("2024-05-11"),
            d("2024-09-14"),
            d("2024-09-29"),
            d("2024-10-12"),
        },
    ),
    2025: (
        _span("2025-01-01", "2025-01-01")  # 元旦, no make-up day
        | _span("2025-01-28", "2025-02-04")  # 春节, from 除夕
        | _span("2025-04-04", "2025-04-06")  # 清明节
        | _span("2025-05-01", "2025-05-05")  # 劳动节
        | _span("2025-05-31", "2025-06-02")  # 端午节
        | _span("2025-10-01", "2025-10-08"),  # 国庆节、中秋节
        {d("2025-01-26"), d("2025-02-08"), d("2025-04-27"), d("2025-09-28"), d("2025-10-11")},
    ),
    2026: (
        _span("2026-01-01", "2026-01-03")  # 元旦
        | _span("2026-02-15", "2026-02-23")  # 春节, nine days
        | _span("2026-04-04", "2026-04-06")  # 清明节
        | _span("2026-05-01", "2026-05-05")  # 劳动节
        | _span("2026-06-19", "2026-06-21")  # 端午节
        | _span("2026-09-25", "2026-09-27")  # 中秋节
        | _span("2026-10-01", "2026-10-07"),  # 国庆节
        {
            d("2026-01-04"),
            d("2026-02-14"),
            d("2026-02-28"),
            d("2026-05-09"),
            d("2026-09-20"),
            d("2026-10-10"),
        },
    ),
}

# Working days per year, counted by hand from the notices: days - weekend days - weekday rest
# days + make-up days. 2024: 366 - 104 - 19 + 8; 2025: 365 - 104 - 18 + 5; 2026: 365 - 104 - 19 + 6.
WORKING_DAYS_IN = {2024: 251, 2025: 248, 2026: 248}


def _days_of(year: int) -> list[date]:
    return sorted(_span(f"{year}-01-01", f"{year}-12-31"))


# --- add_workdays: the day of receipt is not counted; the deadline is the Nth working day -----


@pytest.mark.parametrize(
    ("start", "n", "deadline"),
    [
        # Friday before National Day 2024: Sunday 09-29 is a make-up day, 10-01..07 off
        ("2024-09-27", 5, "2024-10-10"),
        ("2024-09-27", 1, "2024-09-29"),
        ("2024-09-27", 2, "2024-09-30"),
        ("2024-09-27", 3, "2024-10-08"),
        # the make-up Saturday 10-12 counts
        ("2024-10-09", 5, "2024-10-15"),
        # Mid-Autumn 2024: Saturday 09-14 worked, 09-15..17 off
        ("2024-09-13", 1, "2024-09-14"),
        ("2024-09-14", 1, "2024-09-18"),
        # 除夕 2024 (02-09, a Friday) was a working day; Sundays 02-04 and 02-18 were worked
        ("2024-02-08", 1, "2024-02-09"),
        ("2024-02-09", 1, "2024-02-18"),
        ("2024-02-03", 1, "2024-02-04"),
    ],
)
def test_a_deadline_across_a_2024_holiday_counts_make_up_days(start: str, n: int, deadline: str) -> None:
    assert CAL.add_workdays(d(start), n) == d(deadline)


@pytest.mark.parametrize(
    ("start", "deadline"),
    [
        ("2024-10-01", "2024-10-08"),
        ("2024-10-03", "2024-10-08"),
        ("2024-10-07", "2024-10-08"),
        ("2025-02-01", "2025-02-05"),
    ],
)
def test_a_start_inside_a_holiday_counts_from_the_first_working_day_after_it(
    start: str, deadline: str
) -> None:
    assert CAL.add_workdays(d(start), 1) == d(deadline)


@pytest.mark.parametrize(
    ("start", "n", "deadline"),
    [
        ("2024-10-19", 1, "2024-10-21"),  # an ordinary Saturday
        ("2024-10-20", 1, "2024-10-21"),  # an ordinary Sunday
        ("2024-10-19", 5, "2024-10-25"),
        ("2024-10-12", 1, "2024-10-14"),  # a make-up Saturday is a working day, not counted either
    ],
)
def test_a_start_on_a_weekend_counts_from_the_next_working_day(start: str, n: int, deadline: str) -> None:
    assert CAL.add_workdays(d(start), n) == d(deadline)


@pytest.mark.parametrize(
    ("start", "deadline"),
    [
        ("2024-10-08", "2024-10-08"),  # an ordinary working day
        ("2024-10-12", "2024-10-12"),  # a make-up Saturday
        ("2024-10-05", "2024-10-08"),  # inside National Day
        ("2024-10-13", "2024-10-14"),  # an ordinary Sunday
    ],
)
def test_zero_working_days_is_the_same_working_day_or_the_next(start: str, deadline: str) -> None:
    assert CAL.add_workdays(d(start), 0) == d(deadline)


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError):
        CAL.add_workdays(d("2024-10-08"), -1)


@pytest.mark.parametrize(
    ("start", "n", "deadline"),
    [
        # 2025-01-01 is a holiday with no make-up day
        ("2024-12-31", 1, "2025-01-02"),
        ("2024-12-31", 3, "2025-01-06"),
        ("2024-12-27", 4, "2025-01-03"),  # 12-30, 12-31, 01-02, 01-03
        # 2026-01-01..03 off, Sunday 2026-01-04 worked
        ("2025-12-31", 1, "2026-01-04"),
        ("2025-12-31", 2, "2026-01-05"),
    ],
)
def test_a_deadline_crosses_the_new_year(start: str, n: int, deadline: str) -> None:
    assert CAL.add_workdays(d(start), n) == d(deadline)


def test_a_whole_year_of_working_days_ends_on_its_last_working_day() -> None:
    # 2024-01-01 is a holiday, so the 251 working days after it are all of 2024's
    assert CAL.add_workdays(d("2024-01-01"), 251) == d("2024-12-31")
    assert CAL.add_workdays(d("2024-01-01"), 252) == d("2025-01-02")
    assert CAL.add_workdays(d("2024-01-01"), 251 + 248) == d("2025-12-31")


@pytest.mark.parametrize(
    ("start", "n", "deadline"),
    [
        # 2025: 01-28..02-04 off; Sunday 01-26 and Saturday 02-08 worked
        ("2025-01-24", 1, "2025-01-26"),
        ("2025-01-24", 2, "2025-01-27"),
        ("2025-01-27", 1, "2025-02-05"),
        ("2025-02-07", 1, "2025-02-08"),
        ("2025-02-08", 1, "2025-02-10"),
        # 2026: 02-15..23 off (nine days); Saturdays 02-14 and 02-28 worked
        ("2026-02-13", 1, "2026-02-14"),
        ("2026-02-13", 2, "2026-02-24"),
        ("2026-02-14", 1, "2026-02-24"),
        ("2026-02-27", 1, "2026-02-28"),
        ("2026-02-27", 2, "2026-03-02"),
    ],
)
def test_a_deadline_across_the_spring_festival(start: str, n: int, deadline: str) -> None:
    assert CAL.add_workdays(d(start), n) == d(deadline)


@pytest.mark.parametrize(
    ("start", "n", "deadline"),
    [
        # 2025: 10-01..08 off (National Day with Mid-Autumn); Sunday 09-28 and Saturday 10-11 worked
        ("2025-09-26", 1, "2025-09-28"),
        ("2025-09-26", 5, "2025-10-10"),
        ("2025-09-30", 1, "2025-10-09"),
        ("2025-10-10", 1, "2025-10-11"),
        ("2025-10-11", 1, "2025-10-13"),
    ],
)
def test_a_deadline_across_national_day_2025(start: str, n: int, deadline: str) -> None:
    assert CAL.add_workdays(d(start), n) == d(deadline)


def test_next_workday_skips_to_the_first_working_day_after() -> None:
    assert CAL.next_workday(d("2024-09-30")) == d("2024-10-08")
    assert CAL.next_workday(d("2024-09-30"), include=True) == d("2024-09-30")
    assert CAL.next_workday(d("2024-10-06"), include=True) == d("2024-10-08")


# --- whole years, day by day ------------------------------------------------------------------


@pytest.mark.parametrize("year", sorted(NOTICES))
def test_every_day_of_the_year_is_as_the_notice_says(year: int) -> None:
    rest, worked = NOTICES[year]
    wrong = [
        day
        for day in _days_of(year)
        if CAL.is_workday(day) != (day in worked or (day.weekday() < 5 and day not in rest))
    ]
    assert wrong == []


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_every_day_of_the_year_agrees_with_chinese_calendar(year: int) -> None:
    wrong = [day for day in _days_of(year) if CAL.is_workday(day) != chinese_calendar.is_workday(day)]
    assert wrong == []


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_every_day_of_the_year_agrees_with_the_holidays_package(year: int) -> None:
    holidays = pytest.importorskip("holidays")
    china = holidays.country_holidays("CN", years=year)
    wrong = [day for day in _days_of(year) if CAL.is_workday(day) != china.is_working_day(day)]
    assert wrong == []


@pytest.mark.parametrize(("year", "expected"), sorted(WORKING_DAYS_IN.items()))
def test_count_workdays_over_a_year_matches_the_notice(year: int, expected: int) -> None:
    assert CAL.count_workdays(date(year, 1, 1), date(year, 12, 31)) == expected


def test_count_workdays_includes_both_ends_and_spans_years() -> None:
    assert CAL.count_workdays(d("2024-12-30"), d("2025-01-03")) == 4  # 30, 31, 2, 3
    assert CAL.count_workdays(d("2024-09-29"), d("2024-10-12")) == 7  # 09-29, 09-30, 10-08..12
    assert CAL.count_workdays(d("2024-01-01"), d("2025-12-31")) == 251 + 248


def test_count_workdays_is_zero_for_an_empty_range_or_a_holiday() -> None:
    assert CAL.count_workdays(d("2024-10-02"), d("2024-10-01")) == 0
    assert CAL.count_workdays(d("2024-10-01"), d("2024-10-07")) == 0


# --- years nobody covers: strict mode refuses them -----------------------------------------------

STRICT = WorkCalendar(unannounced="strict")


def test_the_package_covers_2004_to_2026() -> None:
    assert STRICT.covers(2004) and STRICT.covers(2026)
    assert STRICT.missing_years(range(2003, 2029)) == [2003, 2027, 2028]
    assert CAL.unofficial_years(range(2003, 2029)) == [2003, 2027, 2028]


def test_a_date_in_an_uncovered_year_is_an_error_naming_it() -> None:
    with pytest.raises(CalendarNotCovered) as err:
        STRICT.is_workday(d("2027-01-04"))
    assert err.value.year == 2027
    assert "2027" in str(err.value)


def test_a_deadline_running_into_an_uncovered_year_is_an_error_naming_it() -> None:
    with pytest.raises(CalendarNotCovered) as err:
        STRICT.add_workdays(d("2026-12-30"), 5)
    assert err.value.year == 2027


def test_counting_into_an_uncovered_year_is_an_error_naming_it() -> None:
    with pytest.raises(CalendarNotCovered) as err:
        STRICT.count_workdays(d("2026-12-01"), d("2027-01-10"))
    assert err.value.year == 2027


@pytest.mark.parametrize("cal", [CAL, STRICT], ids=["provisional", "strict"])
def test_a_year_before_the_package_is_not_covered_in_either_mode(cal: WorkCalendar) -> None:
    # history before the package had a notice we do not hold: provisional is for the future only
    assert not cal.is_provisional(2003)
    with pytest.raises(CalendarNotCovered) as err:
        cal.add_workdays(d("2003-12-31"), 1)
    assert err.value.year == 2003


# --- years not yet announced: provisional from the law -------------------------------------------


def test_an_unannounced_year_is_provisional_and_not_official() -> None:
    assert CAL.is_official(2026) and not CAL.is_provisional(2026)
    assert not CAL.is_official(2027) and CAL.is_provisional(2027) and CAL.covers(2027)
    assert not STRICT.is_provisional(2027) and not STRICT.covers(2027)
    assert CAL.provisional_between(d("2026-12-28"), d("2027-01-05"))
    assert CAL.provisional_between(d("2027-01-05"), d("2026-12-28"))  # either order
    assert not CAL.provisional_between(d("2026-01-01"), d("2026-12-31"))
    assert not STRICT.provisional_between(d("2026-12-28"), d("2027-01-05"))


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2027-01-01", False),  # 元旦, a Friday
        ("2027-01-04", True),
        ("2027-02-05", False),  # 除夕 (statutory since the 2024 amendment), a Friday
        ("2027-02-08", False),  # 正月初三, a Monday
        ("2027-02-09", False),  # 初一 and 初二 fell on the weekend: made up on the next weekdays
        ("2027-02-10", False),
        ("2027-02-11", True),
        ("2027-02-07", False),  # a Sunday: no make-up working day is known before the notice
        ("2027-04-05", False),  # 清明
        ("2027-05-03", False),  # 劳动节 1-2 May fell on the weekend: made up Monday and Tuesday
        ("2027-05-04", False),
        ("2027-05-05", True),
        ("2027-06-09", False),  # 端午
        ("2027-09-15", False),  # 中秋
        ("2027-10-01", False),  # 国庆 1-3 October; 2 and 3 on the weekend: made up 4 and 5
        ("2027-10-05", False),
        ("2027-10-06", True),
        ("2027-12-31", True),
    ],
)
def test_a_provisional_year_rests_on_the_statutory_holidays_and_their_substitute_days(
    day: str, working: bool
) -> None:
    assert CAL.is_workday(d(day)) is working


def test_a_provisional_deadline_crosses_the_year_on_the_law() -> None:
    # 2026-12-28 (Mon): 29, 30, 31 are days 1-3, 1 January is off, 4 and 5 January days 4 and 5
    assert CAL.add_workdays(d("2026-12-28"), 5) == d("2027-01-05")
    assert CAL.count_workdays(d("2026-12-29"), d("2027-01-05")) == 5


def test_the_provisional_calendar_agrees_with_the_official_one_on_the_statutory_days() -> None:
    """Cross-check of the law's days against years the package holds: every statutory rest day
    the law gives (substitute days included) is a rest day in the official calendar, except the
    few a notice moved (none in 2025-2026: the amended law's years)."""
    from monitor.calendar.statutory import statutory_rest_days

    for year in (2025, 2026):
        by_law = statutory_rest_days(year)
        assert by_law, year
        worked = [day for day in by_law if STRICT.is_workday(day)]
        assert worked == [], (year, worked)


# --- override files -------------------------------------------------------------------------------


def _folder(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "calendar"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


YEAR_2027 = (
    "year: 2027\n"
    "notice: 测试用通知（非真实安排）\n"
    "holidays: [2027-01-01]\n"  # a Friday
    "workdays:\n"
    "  - 2027-01-09\n"  # a Saturday
)


def test_an_override_file_covers_a_year_the_package_lacks(tmp_path: Path) -> None:
    overrides, errors = load_overrides(_folder(tmp_path, "2027.yaml", YEAR_2027))
    assert errors == []
    cal = WorkCalendar(overrides)
    assert cal.covers(2027)
    assert not cal.is_workday(d("2027-01-01"))
    assert cal.is_workday(d("2027-01-09"))
    assert cal.is_workday(d("2027-01-04"))  # other days of the year: Monday to Friday
    assert not cal.is_workday(d("2027-01-10"))


def test_an_override_year_lets_a_deadline_cross_into_it(tmp_path: Path) -> None:
    cal = load_calendar(_folder(tmp_path, "2027.yaml", YEAR_2027))
    # 2026-12-31 (Thursday) is day 0; 2027-01-01 is off; 01-04 is day 1; Saturday 01-09 is day 6
    assert cal.add_workdays(d("2026-12-31"), 1) == d("2027-01-04")
    assert cal.add_workdays(d("2026-12-31"), 6) == d("2027-01-09")
    assert cal.count_workdays(d("2026-12-31"), d("2027-01-10")) == 1 + 6


def test_an_override_records_its_notice_and_source_file(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "2027.yaml", YEAR_2027)
    (override,) = load_overrides(folder)[0]
    assert override.notice == "测试用通知（非真实安排）"
    assert override.source == str(folder / "2027.yaml")


def test_an_override_wins_over_the_package_date_by_date(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        "2024.yaml",
        "year: 2024\nnotice: 区政府临时调整（测试）\nholidays: [2024-10-08]\nworkdays: [2024-10-13]\n",
    )
    cal = load_calendar(folder)
    assert not cal.is_workday(d("2024-10-08"))  # a Tuesday made a rest day
    assert cal.is_workday(d("2024-10-13"))  # a Sunday made a working day
    assert cal.is_workday(d("2024-10-12"))  # the rest of the year still comes from the package
    assert not cal.is_workday(d("2024-10-07"))
    assert cal.add_workdays(d("2024-09-30"), 1) == d("2024-10-09")


def test_a_missing_override_folder_means_no_overrides(tmp_path: Path) -> None:
    assert load_overrides(tmp_path / "nowhere") == ([], [])


def test_the_shipped_folder_loads_and_invents_no_year() -> None:
    overrides, errors = load_overrides(ROOT / "config" / "calendar")
    assert errors == []
    assert overrides == []  # no notice for 2027 is known here; a year file must copy one


def test_the_sample_is_refused_until_its_notice_is_named(tmp_path: Path) -> None:
    sample = (ROOT / "config" / "calendar" / "example-2027.yaml.sample").read_text(encoding="utf-8")
    _, errors = load_overrides(_folder(tmp_path, "2027.yaml", sample))
    assert [e.reason for e in errors] == ["name the State Council notice this year copies"]


def test_the_sample_loads_once_its_notice_is_named(tmp_path: Path) -> None:
    sample = (ROOT / "config" / "calendar" / "example-2027.yaml.sample").read_text(encoding="utf-8")
    filled = sample.replace('notice: ""', "notice: 国务院办公厅关于2027年部分节假日安排的通知（测试）")
    overrides, errors = load_overrides(_folder(tmp_path, "2027.yaml", filled))
    assert errors == []
    assert [o.year for o in overrides] == [2027]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("year: 2028\nnotice: x\n", 1, "must hold the year 2027"),
        ("year: '2027'\nnotice: x\n", 1, "year must be a four-digit integer"),
        ("notice: x\n", 1, "year must be a four-digit integer"),
        ("year: 2027\n", 1, "name the State Council notice"),
        ("year: 2027\nnotice: '  '\n", 2, "name the State Council notice"),
        ("year: 2027\nnotice: x\nholidays:\n  - 2027-01-01\n  - 2027-02-30\n", 5, "is not a date in 2027"),
        ("year: 2027\nnotice: x\nholidays: [next monday]\n", 3, "is not a date in 2027"),
        ("year: 2027\nnotice: x\nworkdays:\n  - 2026-12-31\n", 4, "is not a date in 2027"),
        ("year: 2027\nnotice: x\nholidays: 2027-01-01\n", 3, "must be a list of dates"),
        ("year: 2027\nnotice: x\nholidays:\n  a: 2027-01-01\n", 3, "must be a list of dates"),
        (
            "year: 2027\nnotice: x\nholidays: [2027-01-01]\nworkdays: [2027-01-01]\n",
            4,
            "both holiday and workday",
        ),
        ("year: 2027\nnotice: x\nholiday: [2027-01-01]\n", 3, "unknown key 'holiday'"),
        ("year: 2027\nnotice: [unclosed\n", 3, "invalid YAML"),
        ("- 2027-01-01\n", 1, "mapping at the top level"),
    ],
)
def test_a_broken_override_file_is_refused_with_file_and_line(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    folder = _folder(tmp_path, "2027.yaml", text)
    overrides, errors = load_overrides(folder)
    assert overrides == []
    assert len(errors) == 1
    assert reason in errors[0].reason
    assert str(errors[0]).startswith(f"{folder / '2027.yaml'}:{line}: ")


def test_one_broken_file_does_not_hide_a_good_one(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "2027.yaml", YEAR_2027)
    _folder(tmp_path, "2028.yaml", "year: 2028\n")
    overrides, errors = load_overrides(folder)
    assert [o.year for o in overrides] == [2027]
    assert [Path(e.file).name for e in errors] == ["2028.yaml"]


def test_load_calendar_raises_the_first_problem(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "2027.yaml", "year: 2027\n")
    with pytest.raises(SourceError, match=r"2027\.yaml:1: name the State Council notice"):
        load_calendar(folder)


# --- a notice takes effect when it was entered ------------------------------------------------------


ENTERED_2027 = YEAR_2027 + "entered: 2027-01-07T11:00:00+08:00\n"


def test_a_notice_is_in_force_from_the_instant_it_was_entered(tmp_path: Path) -> None:
    from monitor.clock import parse_instant

    cal = load_calendar(_folder(tmp_path, "2027.yaml", ENTERED_2027))
    before = cal.as_of(parse_instant("2027-01-07T10:59:59+08:00"))
    at = cal.as_of(parse_instant("2027-01-07T11:00:00+08:00"))
    assert at is cal and not at.is_provisional(2027)
    assert before.is_provisional(2027) and not before.is_official(2027)
    assert before.is_workday(d("2027-01-09")) is False  # the notice's make-up Saturday: not yet
    assert at.is_workday(d("2027-01-09")) is True
    assert before is cal.as_of(parse_instant("2027-01-01T00:00:00+08:00"))  # built once
    assert cal.entered_between(
        parse_instant("2027-01-07T10:00+08:00"), parse_instant("2027-01-07T11:00+08:00")
    )
    assert not cal.entered_between(
        parse_instant("2027-01-07T11:00+08:00"), parse_instant("2027-01-08T11:00+08:00")
    )


def test_a_file_without_entered_is_in_force_at_every_instant(tmp_path: Path) -> None:
    from monitor.clock import parse_instant

    cal = load_calendar(_folder(tmp_path, "2027.yaml", YEAR_2027))
    assert cal.as_of(parse_instant("2020-01-01")) is cal


def test_an_entered_that_is_no_instant_is_a_located_error(tmp_path: Path) -> None:
    _, errors = load_overrides(_folder(tmp_path, "2027.yaml", YEAR_2027 + "entered: next week\n"))
    assert len(errors) == 1 and "entered must be an ISO 8601 instant" in str(errors[0])


def test_the_calendar_ends_with_its_last_year_as_a_gap_not_an_overflow() -> None:
    """A count running past 2200 (a stored due date from before intake refused them) is a calendar
    gap for that duty alone, never a walk to date.max that stops every evaluation."""
    from monitor.periods import LAST_YEAR

    calendar = WorkCalendar()
    assert calendar.is_provisional(LAST_YEAR) and calendar.add_workdays(date(LAST_YEAR, 12, 1), 5)
    assert not calendar.is_provisional(LAST_YEAR + 1) and not calendar.covers(LAST_YEAR + 1)
    with pytest.raises(CalendarNotCovered) as missing:
        calendar.add_workdays(date(LAST_YEAR, 12, 30), 5)
    assert missing.value.year == LAST_YEAR + 1
    with pytest.raises(CalendarNotCovered):
        calendar.count_workdays(date(2026, 1, 1), date(9999, 12, 31))
