"""The monthly report of an unfinished month, of a month not yet begun, and its printable trend."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from monitor.calendar.working_days import WorkCalendar
from monitor.cli import cli
from monitor.clock import parse_instant
from monitor.config import Settings
from monitor.evaluation.engine import DurableMatcher
from monitor.evaluation.evaluate import evaluate
from monitor.periods import parse_period
from monitor.reports.monthly import MonthlyReport, PeriodNotBegun, monthly_report
from monitor.reports.ontime import DEFINITION_ZH, format_rate
from monitor.reports.render import to_html
from monitor.reports.trend import trend_svg
from monitor.rulebook import load_rulebook
from monitor.store.db import session_factory
from monitor.store.models import Unit
from tests.demo.test_demo import _import_examples
from tests.service.conftest import ROOT

RULEBOOK = load_rulebook(ROOT / "rules")
CALENDAR = WorkCalendar()
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def district(engine: Engine) -> Engine:
    _import_examples(engine)
    return engine


def _report(engine: Engine, month: str, now: str) -> MonthlyReport:
    with session_factory(engine)() as session:
        return monthly_report(
            session,
            RULEBOOK,
            CALENDAR,
            Settings(),
            parse_period(month),
            DurableMatcher(RULEBOOK),
            parse_instant(now),
        )


def test_duties_not_yet_due_are_pending_not_failures(district: Engine) -> None:
    """On Monday 30 December the month's visits and contacts due on the 31st are still pending:
    they are counted apart and no unit is on a list for them."""
    now = parse_instant("2024-12-30T10:00")
    with session_factory(district)() as session:
        report = monthly_report(
            session, RULEBOOK, CALENDAR, Settings(), parse_period("2024-12"), DurableMatcher(RULEBOOK), now
        )
        evaluation = evaluate(session, RULEBOOK, CALENDAR, Settings(), now, DurableMatcher(RULEBOOK))
    assert (report.complete, report.as_of) == (False, now)
    month = parse_period("2024-12")
    start, after = parse_instant("2024-12-01"), parse_instant("2025-01-01")
    failed: Counter[str] = Counter()
    waiting: Counter[str] = Counter()
    for o in evaluation.obligations:
        if o.rule == "case-escalation" or not start <= o.due_at < after:
            continue
        if o.status in ("overdue", "missed"):
            assert o.due_at <= now
            failed[o.unit_id or ""] += 1
        elif o.status == "pending":
            waiting[o.unit_id or ""] += 1
    assert sum(waiting.values()) > 0  # the month's end is still ahead: a test worth its name
    for f in report.units:
        assert (f.missed, f.pending) == (failed[f.unit_id], waiting[f.unit_id]), f.name
        assert f.due == f.on_time + f.late + f.missed
    page = to_html(report)
    assert "月份未结束" in page and "截至 2024-12-30 10:00（北京时间）" in page
    assert "待办（未到期）" in page and DEFINITION_ZH in page
    assert month.label in page


def test_a_finished_month_says_so(district: Engine) -> None:
    report = _report(district, "2024-11", "2024-12-05T10:00")
    assert report.complete
    page = to_html(report)
    assert "本月已结束" in page and "月份未结束" not in page
    assert "截至 2024-12-05 10:00（北京时间）" in page


def test_a_month_not_begun_is_refused(district: Engine) -> None:
    with pytest.raises(PeriodNotBegun, match="2025-02 has not begun"):
        _report(district, "2025-02", "2025-01-31T23:59")
    # its first instant is enough
    assert not _report(district, "2025-02", "2025-02-01T00:00").complete


def test_the_cli_refuses_a_month_not_begun_with_exit_4(db_url: str) -> None:
    early = CliRunner().invoke(
        cli,
        ["--db", db_url, "report", "--period", "2027-01", "--now", "2026-11-29T10:00"],
        catch_exceptions=False,
    )
    assert early.exit_code == 4
    assert "2027-01 has not begun" in early.stderr and early.stdout == ""


def test_the_cli_reports_an_unfinished_month_as_of_now(district: Engine, db_url: str) -> None:
    result = CliRunner().invoke(
        cli,
        ["--db", db_url, "report", "--period", "2024-12", "--now", "2024-12-30T10:00"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "截至 2024-12-30 10:00（北京时间）" in result.stdout and "月份未结束" in result.stdout
    bad = CliRunner().invoke(cli, ["--db", db_url, "report", "--period", "2024-12", "--now", "soon"])
    assert bad.exit_code == 2 and "--now" in bad.output


def test_every_bar_carries_its_month_and_value_and_no_duties_reads_none() -> None:
    svg = ET.fromstring(
        trend_svg("区某局", {"2024-12": None, "2025-01": 0.0, "2025-02": 0.5, "2025-03": 1.0})
    )
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert texts == ["无", "2024.12", "0.0%", "2025.01", "50.0%", "2025.02", "100.0%", "2025.03"]
    heights = [int(r.get("height", "-1")) for r in svg.iter(f"{SVG}rect")]
    assert heights == [0, 30, 60]  # no bar at all for 无; 0 % is a bar of nothing, labelled
    assert all(r.get("stroke") == "#000" for r in svg.iter(f"{SVG}rect"))  # outlined: prints in grey


def test_the_html_trend_labels_every_unit_and_month(district: Engine) -> None:
    with session_factory(district)() as session:
        session.add(Unit(id="u-quiet", name="区无事局", kind="department"))  # no duties at all
        session.commit()
    report = _report(district, "2024-12", "2025-01-05T10:00")
    page = to_html(report)
    assert "<script" not in page
    svgs = re.findall(r"<svg .*?</svg>", page)
    assert len(svgs) == len(report.units)
    for f, svg in zip(report.units, svgs, strict=True):
        root = ET.fromstring(svg)
        assert root.get("aria-label") == f"{f.name} 按时率趋势"
        texts = [t.text for t in root.iter(f"{SVG}text")]
        series = report.trend[f.unit_id]
        assert (
            texts[1::2]
            == [m.replace("-", ".") for m in series]
            == [
                "2024.07",
                "2024.08",
                "2024.09",
                "2024.10",
                "2024.11",
                "2024.12",
            ]
        )
        assert texts[0::2] == [format_rate(r) for r in series.values()]
        if f.unit_id == "u-quiet":
            assert set(texts[0::2]) == {"无"}
    assert any(t != "无" for f in report.units for t in [format_rate(f.rate)])
