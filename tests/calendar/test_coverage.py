"""Which years people are warned about at an instant (monitor/calendar/coverage.py), and the metric
that must say the same: the boundary is 1 November 00:00 in Shanghai, not in UTC."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.calendar.coverage import coverage, coverage_warnings, watched_years
from monitor.calendar.working_days import WorkCalendar, load_calendar
from monitor.clock import parse_instant
from monitor.runtime.metrics import Metrics, Snapshot

BEFORE = parse_instant("2026-10-31T23:59:59+08:00")
FROM = parse_instant("2026-11-01T00:00:00+08:00")

NOTICE_2027 = """\
year: 2027
notice: 国务院办公厅关于2027年部分节假日安排的通知（测试用）
holidays: [2027-01-01]
workdays: []
"""


def with_notice(tmp_path: Path, year: int = 2027) -> WorkCalendar:
    """A calendar whose overrides folder holds a notice for `year`."""
    (tmp_path / f"{year}.yaml").write_text(NOTICE_2027.replace("2027", str(year)), encoding="utf-8")
    return load_calendar(tmp_path)


def test_the_next_year_is_watched_from_1_november_in_shanghai() -> None:
    assert watched_years(BEFORE) == [2026]
    assert watched_years(FROM) == [2026, 2027]
    # 1 November 00:00 in Shanghai is still 31 October in UTC: Shanghai decides
    assert FROM.day == 31
    assert watched_years(parse_instant("2026-12-31T23:59:59+08:00")) == [2026, 2027]
    assert watched_years(parse_instant("2027-01-01T00:00:00+08:00")) == [2027]


def test_an_unannounced_next_year_is_warned_about_from_1_november_only() -> None:
    calendar = WorkCalendar()
    assert coverage_warnings(calendar, BEFORE) == []
    [warning] = coverage_warnings(calendar, FROM)
    assert (warning.year, warning.mode) == (2027, "provisional")
    assert "2027" in warning.message and "provisionally" in warning.message
    assert "dutywatch calendar import-notice FILE" in warning.message
    assert "config/calendar/2027.yaml" in warning.message
    assert warning.message_zh.startswith(
        "2027年的国务院节假日安排尚未导入：2027年的截止时间按法定节假日临时计算"
    )


def test_strict_mode_says_deadlines_are_refused() -> None:
    [warning] = coverage_warnings(WorkCalendar(unannounced="strict"), FROM)
    assert warning.mode == "strict"
    assert "refused" in warning.message and "provisionally" not in warning.message
    assert "严格模式" in warning.message_zh and "临时计算" not in warning.message_zh


def test_an_unannounced_current_year_is_warned_about_all_year() -> None:
    calendar = WorkCalendar()
    for instant in ("2027-01-01T00:00:00+08:00", "2027-06-15T12:00", "2027-10-31T23:59:59+08:00"):
        assert [w.year for w in coverage_warnings(calendar, parse_instant(instant))] == [2027], instant
    # and from 1 November 2027 the year after as well, earliest first
    assert [w.year for w in coverage_warnings(calendar, parse_instant("2027-11-01"))] == [2027, 2028]


def test_a_loaded_notice_silences_the_warning(tmp_path: Path) -> None:
    calendar = with_notice(tmp_path)
    assert coverage_warnings(calendar, FROM) == []
    assert coverage(calendar, FROM) == {2026: True, 2027: True}


def scrape(calendar: WorkCalendar, instant_text: str) -> dict[str, float]:
    """dutywatch_calendar_covered by year, as a tick at the instant publishes it."""
    from monitor.evaluation.evaluate import Evaluation

    at = parse_instant(instant_text)
    metrics = Metrics()
    evaluation = Evaluation(at=at, alerts=[], inhibited=[], obligations=[])
    years = {str(y): ok for y, ok in coverage(calendar, at).items()}
    metrics.publish(Snapshot.of(evaluation, years))
    text = generate_latest(metrics.registry).decode()
    return {
        s.labels["year"]: s.value
        for family in text_string_to_metric_families(text)
        if family.name == "dutywatch_calendar_covered"
        for s in family.samples
    }


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        ("2026-10-31T23:59:59+08:00", {"2026": 1.0}),
        ("2026-11-01T00:00:00+08:00", {"2026": 1.0, "2027": 0.0}),
    ],
)
def test_the_metric_says_what_the_warnings_say(instant: str, expected: dict[str, float]) -> None:
    calendar = WorkCalendar()
    assert scrape(calendar, instant) == expected
    warned = {str(w.year) for w in coverage_warnings(calendar, parse_instant(instant))}
    assert warned == {year for year, value in expected.items() if value == 0.0}


def test_the_metric_counts_a_provisional_year_as_uncovered_and_a_loaded_one_as_covered(
    tmp_path: Path,
) -> None:
    # provisional mode can answer for 2027, but no notice covers it: the alert must fire
    assert scrape(WorkCalendar(unannounced="provisional"), "2026-11-01")["2027"] == 0.0
    assert scrape(with_notice(tmp_path), "2026-11-01") == {"2026": 1.0, "2027": 1.0}
