"""The status page at `/`: its figures against the evaluation they come from, its sign-in, its
headers, and a real browser loading it from a running daemon (with a screenshot to look at)."""

from __future__ import annotations

import os
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from monitor.alerting import commit_evaluation
from monitor.api.status import COOKIE
from monitor.calendar import WorkCalendar
from monitor.clock import SHANGHAI, parse_instant
from monitor.config import Settings
from monitor.engine import DurableMatcher
from monitor.evaluation import evaluate
from monitor.rulebook import load_rulebook
from monitor.status_page import status, week_end
from monitor.store.db import session_factory
from monitor.store.models import Unit
from tests.service import browser
from tests.service.conftest import ROOT, Daemon
from tests.test_demo import _import_examples

RULEBOOK = load_rulebook(ROOT / "rules")
CASE_RULES = {r.id for r in RULEBOOK if r.obligation in ("case_clock", "case_meeting", "case_ladder")}
OUTPUT = Path(os.environ.get("DUTYWATCH_TEST_OUTPUT", ROOT / "test-output"))


def test_week_ends_on_the_next_monday_in_shanghai() -> None:
    # Sunday 23:30 in Shanghai is still that week; Monday 00:00 starts the next
    assert week_end(parse_instant("2024-12-22T23:30")) == datetime(2024, 12, 23, tzinfo=SHANGHAI)
    assert week_end(parse_instant("2024-12-23T00:00")) == datetime(2024, 12, 30, tzinfo=SHANGHAI)
    # across the year end
    assert week_end(parse_instant("2024-12-31T09:00")) == datetime(2025, 1, 6, tzinfo=SHANGHAI)


@pytest.mark.parametrize("instant", ["2024-12-18T10:00", "2024-12-31T18:00"])
def test_the_page_shows_what_the_evaluation_found(engine: Engine, instant: str) -> None:
    """Each unit's overdue duties, duties due this week, open cases and on-time rate on the page
    are those of the evaluation the tick committed, recounted here from its obligations."""
    _import_examples(engine)
    now = parse_instant(instant)
    calendar = WorkCalendar()
    with session_factory(engine)() as session:
        evaluation = evaluate(session, RULEBOOK, calendar, Settings(), now, DurableMatcher(RULEBOOK))
        commit_evaluation(session, evaluation)
        session.commit()
        page = status(session, RULEBOOK, now)
        units = {u.unit_id: u for u in page.units}
        assert set(units) == {u.id for u in session.query(Unit)}

    end = week_end(now)
    month_start = datetime(now.astimezone(SHANGHAI).year, now.astimezone(SHANGHAI).month, 1, tzinfo=SHANGHAI)
    overdue: Counter[str] = Counter()
    this_week: Counter[str] = Counter()
    cases: dict[str, set[str]] = {}
    on_time: Counter[str] = Counter()
    decided: Counter[str] = Counter()
    for o in evaluation.obligations:
        unit = o.unit_id or ""
        if o.rule in CASE_RULES and o.status in ("pending", "overdue"):
            cases.setdefault(unit, set()).add(o.subject.removeprefix("case:"))
        elif o.status == "overdue":
            overdue[unit] += 1
        elif o.status == "pending" and now <= o.due_at < end:
            this_week[unit] += 1
        if o.due_at >= month_start and (
            o.status in ("met_on_time", "met_late") or (o.status in ("overdue", "missed") and o.due_at <= now)
        ):
            decided[unit] += 1
            on_time[unit] += o.status == "met_on_time"

    assert sum(overdue.values()) > 0 and sum(len(c) for c in cases.values()) > 0  # a page worth testing
    for unit_id, figure in units.items():
        assert len(figure.overdue) == overdue[unit_id], unit_id
        assert len(figure.due_this_week) == this_week[unit_id], unit_id
        assert {c.case_id for c in figure.cases} == cases.get(unit_id, set()), unit_id
        assert (figure.on_time, figure.decided) == (on_time[unit_id], decided[unit_id]), unit_id
        assert all(now <= d.due_at < end for d in figure.due_this_week)
        # most urgent first: overdue cases before running ones, higher levels first
        assert [c.overdue for c in figure.cases] == sorted((c.overdue for c in figure.cases), reverse=True)
    # the units with the most overdue duties lead the page
    counts = [len(u.overdue) for u in page.units]
    assert counts == sorted(counts, reverse=True)


def test_one_unit_only(engine: Engine) -> None:
    _import_examples(engine)
    now = parse_instant("2024-12-31T18:00")
    calendar = WorkCalendar()
    with session_factory(engine)() as session:
        evaluation = evaluate(session, RULEBOOK, calendar, Settings(), now, DurableMatcher(RULEBOOK))
        commit_evaluation(session, evaluation)
        session.commit()
        whole = {u.unit_id: u for u in status(session, RULEBOOK, now).units}
        one = status(session, RULEBOOK, now, unit="u-spj").units
    assert [u.unit_id for u in one] == ["u-spj"]
    assert len(one[0].overdue) == len(whole["u-spj"].overdue)
    assert [c.case_id for c in one[0].cases] == [c.case_id for c in whole["u-spj"].cases]


# --- over HTTP -----------------------------------------------------------------------------------


def test_without_a_token_the_page_is_a_sign_in_form(daemon: Daemon) -> None:
    response = daemon.call(None, "GET", "/")
    assert response.status_code == 401
    assert 'name="token"' in response.text and 'action="/login"' in response.text
    assert "宿豫区" in response.text
    for header in ("content-security-policy", "x-frame-options", "x-content-type-options"):
        assert header in response.headers
    assert response.headers["cache-control"] == "no-store"
    assert daemon.call(None, "GET", "/", headers={"Authorization": "Bearer dw_nonsense"}).status_code == 401


def test_only_a_read_token_opens_the_page(daemon: Daemon) -> None:
    daemon.tick()
    for scopes in ("read", "config", "ingest,read,admin"):
        response = daemon.call(scopes, "GET", "/")
        assert response.status_code == 200, scopes
        assert response.headers["content-type"].startswith("text/html")
        assert 'id="summary"' in response.text and "本月按时率" in response.text
    for scopes in ("ingest", "admin"):
        response = daemon.call(scopes, "GET", "/")
        assert response.status_code == 403, scopes
        assert "read" in response.text


def test_signing_in_sets_a_strict_http_only_cookie(daemon: Daemon) -> None:
    import httpx

    with httpx.Client(base_url=daemon.url, timeout=30) as client:
        refused = client.post("/login", data={"token": "dw_wrong"})
        assert refused.status_code == 401 and "令牌无效" in refused.text
        assert COOKIE not in refused.cookies
        too_weak = client.post("/login", data={"token": daemon.tokens["ingest"]})
        assert too_weak.status_code == 403 and COOKIE not in too_weak.cookies

        signed_in = client.post("/login", data={"token": daemon.tokens["read"]})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
        cookie = signed_in.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain HTTP on loopback; set behind TLS
        page = client.get("/")
        assert page.status_code == 200 and 'id="summary"' in page.text

        client.post("/logout")
        assert client.get("/").status_code == 401


def test_a_revoked_token_in_the_cookie_no_longer_opens_the_page(daemon: Daemon) -> None:
    import httpx
    from sqlalchemy import update

    from monitor.clock import utcnow
    from monitor.store.models import ApiToken

    with httpx.Client(base_url=daemon.url, timeout=30) as client:
        assert client.post("/login", data={"token": daemon.tokens["read"]}).status_code == 303
        assert client.get("/").status_code == 200
        with daemon.service.sessions() as session:
            session.execute(update(ApiToken).where(ApiToken.name == "read").values(revoked_at=utcnow()))
            session.commit()
        assert client.get("/").status_code == 401


def test_names_from_the_roster_are_escaped(daemon: Daemon) -> None:
    hostile = "<script>alert(1)</script>局"
    with daemon.service.sessions() as session:
        session.add(Unit(id="u-evil", name=hostile, kind="department"))
        session.commit()
    daemon.tick()
    response = daemon.call("read", "GET", "/")
    assert response.status_code == 200
    assert "<script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;局" in response.text


def test_a_unit_filter_of_a_hostile_string_is_harmless(daemon: Daemon) -> None:
    response = daemon.call("read", "GET", "/", params={"unit": "'; DROP TABLE units; --<b>"})
    assert response.status_code == 200
    assert "<b>" not in response.text
    assert daemon.call("read", "GET", "/", params={"unit": "u-spj"}).status_code == 200


# --- in a real browser ---------------------------------------------------------------------------


@pytest.mark.skipif(
    not browser.available() and os.environ.get("CI") != "true",
    reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them)",
)
def test_chromium_signs_in_and_renders_the_page(daemon: Daemon) -> None:
    daemon.tick()
    with browser.chromium() as chrome:
        chrome.open(daemon.url + "/")
        field = chrome.wait_for("input#token")
        assert "登录" in chrome.title
        chrome.type(field, daemon.tokens["read"])
        chrome.click(chrome.find("button#login"))
        summary = chrome.wait_for("table#summary")
        assert "状态" in chrome.title
        rows = chrome.find_all("table#summary tr[data-unit]")
        with daemon.service.sessions() as session:
            assert len(rows) == session.query(Unit).count()
        assert "本月按时率" in chrome.text(summary)
        # the cookie is there, and out of the page's reach
        cookie = next(c for c in chrome.cookies() if c["name"] == COOKIE)
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
        assert chrome.find_all("table.overdue-list") and chrome.find_all("table.case-list")
        png = chrome.screenshot()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "status-page.png").write_bytes(png)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_sign_in_form_with_too_many_fields_is_a_clear_400(daemon: Daemon) -> None:
    """parse_qs raised ValueError past five fields: a 500 and a traceback in the log."""
    import httpx

    fields = {"token": daemon.tokens["read"], **{f"f{i}": "x" for i in range(6)}}
    with httpx.Client(base_url=daemon.url, timeout=30) as client:
        refused = client.post("/login", data=fields)
        assert refused.status_code == 400
        assert "表单字段过多" in refused.text and "token" in refused.text
        assert COOKIE not in refused.cookies


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("daemon_extra", "secure"), [({}, False), ({"http": {"trusted_proxies": ["127.0.0.1"]}}, True)]
)
def test_the_cookie_is_secure_when_a_trusted_proxy_says_https(daemon: Daemon, secure: bool) -> None:
    import httpx

    with httpx.Client(base_url=daemon.url, timeout=30) as client:
        signed_in = client.post(
            "/login", data={"token": daemon.tokens["read"]}, headers={"X-Forwarded-Proto": "https"}
        )
        assert signed_in.status_code == 303
        assert ("Secure" in signed_in.headers["set-cookie"]) is secure
