"""The monthly report's HTML in a real browser: on screen and printed to PDF, the trend keeps
its month and value labels (they are SVG text, not colours or tooltips)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from sqlalchemy import Engine

from monitor.calendar.working_days import WorkCalendar
from monitor.clock import parse_instant
from monitor.config import Settings
from monitor.evaluation.engine import DurableMatcher
from monitor.periods import parse_period
from monitor.reports.monthly import monthly_report
from monitor.reports.ontime import format_rate
from monitor.reports.render import to_html
from monitor.rulebook import load_rulebook
from monitor.store.db import session_factory
from tests.demo.test_demo import _import_examples
from tests.service import browser
from tests.service.conftest import ROOT

OUTPUT = Path(os.environ.get("DUTYWATCH_TEST_OUTPUT", ROOT / "test-output"))
RULEBOOK = load_rulebook(ROOT / "rules")


@pytest.mark.skipif(
    not browser.available() and os.environ.get("CI") != "true",
    reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them)",
)
def test_chromium_shows_and_prints_the_labelled_trend(engine: Engine, tmp_path: Path) -> None:
    _import_examples(engine)
    with session_factory(engine)() as session:
        report = monthly_report(
            session,
            RULEBOOK,
            WorkCalendar(),
            Settings(),
            parse_period("2024-12"),
            DurableMatcher(RULEBOOK),
            parse_instant("2024-12-30T10:00"),
        )
    page = tmp_path / "report.html"
    page.write_text(to_html(report), encoding="utf-8")
    with browser.chromium() as chrome:
        chrome.open(page.as_uri())
        chrome.wait_for("svg.trend")
        assert len(chrome.find_all("svg.trend")) == len(report.units)
        assert "月份未结束" in chrome.title + chrome.text(chrome.find("h1"))
        # what the browser lays out as text, bar by bar: a value and a month under each
        shown = [chrome.text(t) for t in chrome.find_all("svg.trend text")]
        expected = [
            label
            for f in report.units
            for month, rate in report.trend[f.unit_id].items()
            for label in (format_rate(rate), month.replace("-", "."))
        ]
        assert shown == expected
        png = chrome.screenshot()
        pdf = chrome.print_pdf()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
    pages = re.findall(rb"/Type\s*/Page(?!s)", pdf)
    assert pdf.startswith(b"%PDF-") and len(pages) >= 2  # the table and the trend
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "monthly-report.png").write_bytes(png)
    (OUTPUT / "monthly-report.pdf").write_bytes(pdf)
