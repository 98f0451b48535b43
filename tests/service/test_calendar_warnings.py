"""The calendar warning in the running daemon, over real HTTP: /readyz stays ready but names the
year, the status page shows a banner in Chinese, /metrics says 0 for it; and the daemon logs it at
start. Each either side of 1 November 00:00 in Shanghai, and silent once the notice is loaded."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.api.app import create_app
from monitor.clock import parse_instant, utcnow
from monitor.runtime.service import Service
from monitor.store.db import session_factory
from monitor.tokens import create_token
from tests.service.conftest import serving, settings_for

BEFORE = parse_instant("2026-10-31T23:59:59+08:00")
FROM = parse_instant("2026-11-01T00:00:00+08:00")
NOTICE_2027 = """\
year: 2027
notice: 国务院办公厅关于2027年部分节假日安排的通知（测试用）
holidays: [2027-01-01]
"""
CASES = [(BEFORE, False, []), (FROM, False, [2027]), (FROM, True, [])]
IDS = ["31-october", "1-november", "1-november-notice-loaded"]


def overrides(tmp_path: Path, notice: bool) -> Path:
    folder = tmp_path / "calendar"
    folder.mkdir(exist_ok=True)
    if notice:
        (folder / "2027.yaml").write_text(NOTICE_2027, encoding="utf-8")
    return folder


@dataclass
class Server:
    url: str
    service: Service
    token: str
    now: list[datetime]  # what the app's clock says; a test sets now[0]

    def get(self, path: str, token: bool = False) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if token else {}
        return httpx.get(self.url + path, headers=headers, timeout=30)

    def tick_at(self, at: datetime) -> None:
        """Travel to `at` and tick there, on the evaluation thread as the daemon does."""
        self.now[0] = at
        self.service.executor.submit(self.service.tick, at).result()


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """The API on SQLite (coverage does not depend on the back end) with a clock a test moves."""
    notice: bool = request.param
    settings = settings_for(
        f"sqlite:///{tmp_path / 'dutywatch.db'}",
        tmp_path,
        calendar={"overrides_dir": overrides(tmp_path, notice)},
    )
    service = Service(settings)
    now = [utcnow()]
    app = create_app(service)
    app.state.clock = lambda: now[0]
    try:
        with session_factory(service.engine)() as session:
            token = create_token(session, "reader", ("read",), utcnow())
            session.commit()
        assert service.lead()
        with serving(app) as url:
            yield Server(url, service, token, now)
    finally:
        service.close()


def cases() -> pytest.MarkDecorator:
    return pytest.mark.parametrize(
        ("server", "at", "years"),
        [(notice, at, years) for at, notice, years in CASES],
        ids=IDS,
        indirect=["server"],
    )


@cases()
def test_readyz_stays_ready_and_names_the_year(server: Server, at: datetime, years: list[int]) -> None:
    server.tick_at(at)
    response = server.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ready"] is True and body["checks"]["calendar"] is True
    warnings = body["warnings"].get("calendar", [])
    assert [w["year"] for w in warnings] == years
    for w in warnings:
        assert w["mode"] == "provisional"
        assert f"for {w['year']}" in w["message"] and "import-notice" in w["message"]


@cases()
def test_the_status_page_shows_a_banner_naming_the_year(
    server: Server, at: datetime, years: list[int]
) -> None:
    server.tick_at(at)
    response = server.get("/", token=True)
    assert response.status_code == 200
    page = response.text
    if years:
        assert 'class="banner"' in page and 'data-calendar-year="2027"' in page
        assert "2027年的国务院节假日安排尚未导入：2027年的截止时间按法定节假日临时计算" in page
    else:
        assert 'class="banner"' not in page and "尚未导入" not in page


@cases()
def test_the_metric_is_0_exactly_for_the_years_warned_about(
    server: Server, at: datetime, years: list[int]
) -> None:
    server.tick_at(at)
    covered = {
        s.labels["year"]: s.value
        for family in text_string_to_metric_families(server.get("/metrics", token=True).text)
        if family.name == "dutywatch_calendar_covered"
        for s in family.samples
    }
    expected = {"2026": 1.0} | ({"2027": 0.0 if years else 1.0} if at == FROM else {})
    assert covered == expected
    assert [int(y) for y, v in covered.items() if v == 0.0] == years


@cases()
def test_the_daemon_logs_the_warning_at_start(
    server: Server, caplog: pytest.LogCaptureFixture, at: datetime, years: list[int]
) -> None:
    with caplog.at_level(logging.INFO, logger="dutywatch"):
        server.service.announce_calendar(at)  # what serve() does as it starts
    assert logged_years(caplog) == years
    for record in warned(caplog):
        assert "for 2027" in record.getMessage() and "import-notice" in record.getMessage()


@pytest.mark.parametrize("server", [False], indirect=True)
def test_a_running_daemon_says_it_once_as_1_november_begins(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="dutywatch"):
        server.service.announce_calendar(BEFORE)
        server.tick_at(BEFORE)
        assert logged_years(caplog) == []
        server.tick_at(FROM)
        assert logged_years(caplog) == [2027]
        server.tick_at(parse_instant("2026-11-01T00:05:00+08:00"))
        assert logged_years(caplog) == [2027]  # not again at every tick


def warned(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.levelno == logging.WARNING and r.getMessage().startswith("calendar:")
    ]


def logged_years(caplog: pytest.LogCaptureFixture) -> list[int]:
    return [r.fields["year"] for r in warned(caplog)]  # type: ignore[attr-defined]
