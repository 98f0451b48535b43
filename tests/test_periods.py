"""Period labels of the alert contract (`2024-10`, `2024-B5`, `2024-H2`, `2024`) and their arithmetic."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from monitor.periods import Period, PeriodKind, parse_period, period_of, periods_between


@pytest.mark.parametrize(
    ("label", "start", "end"),
    [
        ("2024-10", "2024-10-01", "2024-10-31"),
        ("2024-01", "2024-01-01", "2024-01-31"),
        ("2024-02", "2024-02-01", "2024-02-29"),  # a leap year
        ("2025-02", "2025-02-01", "2025-02-28"),
        ("2024-12", "2024-12-01", "2024-12-31"),
        ("2024-B1", "2024-01-01", "2024-02-29"),
        ("2025-B1", "2025-01-01", "2025-02-28"),
        ("2024-B5", "2024-09-01", "2024-10-31"),
        ("2024-B6", "2024-11-01", "2024-12-31"),
        ("2024-H1", "2024-01-01", "2024-06-30"),
        ("2024-H2", "2024-07-01", "2024-12-31"),
        ("2024", "2024-01-01", "2024-12-31"),
    ],
)
def test_a_label_parses_to_its_first_and_last_day(label: str, start: str, end: str) -> None:
    period = parse_period(label)
    assert (period.start.isoformat(), period.end.isoformat()) == (start, end)


@pytest.mark.parametrize("label", ["2024-10", "2024-01", "2024-B5", "2024-H2", "2024"])
def test_a_label_round_trips(label: str) -> None:
    assert parse_period(label).label == label
    assert str(parse_period(label)) == label


def test_a_label_may_carry_surrounding_blanks() -> None:
    assert parse_period(" 2024-B5\n") == Period("bimonth", 2024, 5)


@pytest.mark.parametrize(
    ("kind", "day", "label"),
    [
        ("month", "2024-10-31", "2024-10"),
        ("bimonth", "2024-01-01", "2024-B1"),
        ("bimonth", "2024-02-29", "2024-B1"),
        ("bimonth", "2024-03-01", "2024-B2"),
        ("bimonth", "2024-09-01", "2024-B5"),
        ("bimonth", "2024-10-31", "2024-B5"),
        ("bimonth", "2024-12-05", "2024-B6"),
        ("half", "2024-06-30", "2024-H1"),
        ("half", "2024-07-01", "2024-H2"),
        ("year", "2024-12-31", "2024"),
    ],
)
def test_period_of_a_day(kind: PeriodKind, day: str, label: str) -> None:
    assert period_of(kind, date.fromisoformat(day)).label == label


@pytest.mark.parametrize(
    ("label", "following"),
    [
        ("2024-11", "2024-12"),
        ("2024-12", "2025-01"),
        ("2024-B5", "2024-B6"),
        ("2024-B6", "2025-B1"),
        ("2024-H1", "2024-H2"),
        ("2024-H2", "2025-H1"),
        ("2024", "2025"),
    ],
)
def test_next_and_previous_step_across_the_year(label: str, following: str) -> None:
    assert parse_period(label).next() == parse_period(following)
    assert parse_period(following).previous() == parse_period(label)


@pytest.mark.parametrize("kind", ["month", "bimonth", "half", "year"])
def test_consecutive_periods_tile_the_days_without_gap_or_overlap(kind: PeriodKind) -> None:
    period = period_of(kind, date(2023, 1, 1))
    while period.start.year < 2026:
        following = period.next()
        assert following.start == period.end + timedelta(days=1)
        assert period.contains(period.start) and period.contains(period.end)
        assert not period.contains(following.start)
        period = following


def test_periods_order_by_time_within_a_kind() -> None:
    labels = ["2025-B1", "2024-B6", "2024-B5"]
    assert [str(p) for p in sorted(map(parse_period, labels))] == ["2024-B5", "2024-B6", "2025-B1"]


def test_periods_between_lists_every_period_that_overlaps() -> None:
    halves = periods_between("half", date(2024, 5, 1), date(2025, 1, 1))
    assert [p.label for p in halves] == ["2024-H1", "2024-H2", "2025-H1"]
    blocks = periods_between("bimonth", date(2024, 10, 31), date(2024, 11, 1))
    assert [p.label for p in blocks] == ["2024-B5", "2024-B6"]


def test_periods_between_a_single_day_is_its_period() -> None:
    assert periods_between("month", date(2024, 2, 29), date(2024, 2, 29)) == [Period("month", 2024, 2)]


def test_periods_between_is_empty_when_the_range_is() -> None:
    assert periods_between("month", date(2024, 3, 1), date(2024, 2, 1)) == []


@pytest.mark.parametrize(
    "label",
    [
        "2024-13",
        "2024-00",
        "2024-B0",
        "2024-B7",
        "2024-H0",
        "2024-H3",
        "2024-1",
        "24-10",
        "2024/10",
        "2024-b5",
        "",
    ],
)
def test_a_bad_label_is_refused_naming_it(label: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(label))):
        parse_period(label)


@pytest.mark.parametrize(
    ("label", "ok"),
    [
        ("0000", False),
        ("0001-01", True),
        ("2200-12", True),
        ("2200-H2", True),
        ("2201", False),
        ("2201-01", False),
        ("9999-B6", False),
    ],
)
def test_a_period_lies_in_the_years_dutywatch_counts_in(label: str, ok: bool) -> None:
    """From the year 1 to LAST_YEAR (2200), the last the working-day calendar answers: a report
    for 0000-12 once failed its whole batch with a 500."""
    if ok:
        assert parse_period(label).label == label
    else:
        with pytest.raises(ValueError, match=f"no year {int(label[:4])} in"):
            parse_period(label)
