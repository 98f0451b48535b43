"""Period labels of the alert contract and their arithmetic."""

from __future__ import annotations

from datetime import date

import pytest

from monitor.periods import Period, parse_period, period_of, periods_between


@pytest.mark.parametrize(
    ("label", "start", "end"),
    [
        ("2024-10", "2024-10-01", "2024-10-31"),
        ("2024-02", "2024-02-01", "2024-02-29"),
        ("2024-B5", "2024-09-01", "2024-10-31"),
        ("2024-B1", "2024-01-01", "2024-02-29"),
        ("2024-H2", "2024-07-01", "2024-12-31"),
        ("2024", "2024-01-01", "2024-12-31"),
    ],
)
def test_labels_parse_to_their_days(label: str, start: str, end: str) -> None:
    period = parse_period(label)
    assert (period.start.isoformat(), period.end.isoformat(), period.label) == (start, end, label)


def test_next_and_previous_cross_the_year() -> None:
    assert Period("bimonth", 2024, 6).next() == Period("bimonth", 2025, 1)
    assert Period("month", 2025, 1).previous().label == "2024-12"
    assert Period("half", 2025, 1).previous().label == "2024-H2"


def test_period_of_a_day_and_periods_between() -> None:
    assert period_of("bimonth", date(2024, 12, 5)).label == "2024-B6"
    assert [p.label for p in periods_between("half", date(2024, 5, 1), date(2025, 1, 1))] == [
        "2024-H1",
        "2024-H2",
        "2025-H1",
    ]


@pytest.mark.parametrize("label", ["2024-13", "2024-B7", "2024-H3", "24-10", "2024/10", ""])
def test_bad_labels_are_refused(label: str) -> None:
    with pytest.raises(ValueError):
        parse_period(label)
