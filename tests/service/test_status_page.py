"""The status page at `/`: its figures against the evaluation they come from, its sign-in, its
headers, and a real browser loading it from a running daemon (with a screenshot to look at)."""

from __future__ import annotations

import os
import re
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from monitor.alerts.lifecycle import commit_evaluation
from monitor.api.status import COOKIE
from monitor.calendar.working_days import WorkCalendar
from monitor.clock import SHANGHAI, parse_instant, past_due
from monitor.config import Settings
from monitor.evaluation.engine import DurableMatcher
from monitor.evaluation.evaluate import evaluate
from monitor.evaluation.obligations import Obligation
from monitor.reports.status_page import due_soon_end, status
from monitor.rulebook import load_rulebook
from monitor.store.db import session_factory
from monitor.store.models import Unit
from tests.demo.test_demo import _import_examples
from tests.service import browser
from tests.service.conftest import ROOT, Daemon

RULEBOOK = load_rulebook(ROOT / "rules")
CASE_RULES = {r.id for r in RULEBOOK if r.obligation in ("case_clock", "case_meeting", "case_ladder")}
OUTPUT = Path(os.environ.get("DUTYWATCH_TEST_OUTPUT", ROOT / "test-output"))


def _soon(at: str, calendar: WorkCalendar | None = None) -> tuple[datetime, bool]:
    return due_soon_end(calendar or WorkCalendar(), parse_instant(at))


def test_due_soon_looks_five_working_days_ahead_on_the_official_calendar() -> None:
    # a Sunday looks at the whole coming week, not at the few hours left of "this week"
    assert _soon("2026-11-29T10:00") == (datetime(2026, 12, 5, tzinfo=SHANGHAI), False)
    assert _soon("2024-12-22T23:30") == (datetime(2024, 12, 28, tzinfo=SHANGHAI), False)
    # a working day counts itself: Monday to Friday
    assert _soon("2024-12-23T00:00") == (datetime(2024, 12, 28, tzinfo=SHANGHAI), False)
    # across the year end (1 January a holiday)
    assert _soon("2024-12-31T09:00") == (datetime(2025, 1, 8, tzinfo=SHANGHAI), False)
    # the day before National Day: the seven days off are skipped, not counted
    assert _soon("2024-09-30T09:00") == (datetime(2024, 10, 12, tzinfo=SHANGHAI), False)
    # 2024-09-29, a Sunday, was a make-up working day: it counts as the first
    assert _soon("2024-09-29T09:00") == (datetime(2024, 10, 11, tzinfo=SHANGHAI), False)


def test_due_soon_falls_back_to_weekdays_where_the_calendar_has_no_year() -> None:
    strict = WorkCalendar(unannounced="strict")
    assert not strict.covers(2031)
    assert _soon("2031-03-01T10:00", strict) == (datetime(2031, 3, 8, tzinfo=SHANGHAI), True)


def _recount(
    obligations: list[Obligation], now: datetime, end: datetime
) -> tuple[Counter[str], Counter[str], dict[str, set[str]], Counter[str], Counter[str], Counter[str]]:
    """Per unit, from the evaluation's obligations: overdue, due soon (before `end`), open cases,
    and the month's on time, decided and pending duties."""
    local = now.astimezone(SHANGHAI)
    month_start = datetime(local.year, local.month, 1, tzinfo=SHANGHAI)
    month_end = datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=SHANGHAI)
    overdue: Counter[str] = Counter()
    soon: Counter[str] = Counter()
    cases: dict[str, set[str]] = {}
    on_time: Counter[str] = Counter()
    decided: Counter[str] = Counter()
    pending: Counter[str] = Counter()
    for o in obligations:
        unit = o.unit_id or ""
        if o.rule in CASE_RULES and o.status in ("pending", "overdue"):
            cases.setdefault(unit, set()).add(o.subject.removeprefix("case:"))
        elif o.status == "overdue":
            overdue[unit] += 1
        elif o.status == "pending" and not past_due(now, o.due_at) and o.due_at < end:
            soon[unit] += 1
        # the rate: duties due in the month but the ladder (it repeats a late clock)
        if month_start <= o.due_at < month_end and o.rule != "case-escalation":
            if o.status in ("met_on_time", "met_late", "overdue", "missed"):
                decided[unit] += 1
                on_time[unit] += o.status == "met_on_time"
            elif o.status in ("pending", "uncomputable"):
                pending[unit] += 1
    return overdue, soon, cases, on_time, decided, pending


# the last: pairing duties of December are due at 23:59:59 and still owed in its last second
@pytest.mark.parametrize(
    "instant", ["2024-12-18T10:00", "2024-12-29T10:00", "2024-12-31T18:00", "2024-12-31T23:59:59.6"]
)
def test_the_page_shows_what_the_evaluation_found(engine: Engine, instant: str) -> None:
    """Each unit's overdue duties, duties due soon, open cases and on-time rate on the page
    are those of the evaluation the tick committed, recounted here from its obligations."""
    _import_examples(engine)
    now = parse_instant(instant)
    calendar = WorkCalendar()
    with session_factory(engine)() as session:
        evaluation = evaluate(session, RULEBOOK, calendar, Settings(), now, DurableMatcher(RULEBOOK))
        commit_evaluation(session, evaluation)
        session.commit()
        page = status(session, RULEBOOK, calendar, now)
        units = {u.unit_id: u for u in page.units}
        assert set(units) == {u.id for u in session.query(Unit)}

    end, _ = due_soon_end(calendar, now)
    overdue, soon, cases, on_time, decided, pending = _recount(evaluation.obligations, now, end)

    assert sum(overdue.values()) > 0 and sum(len(c) for c in cases.values()) > 0  # a page worth testing
    if instant == "2024-12-29T10:00":  # a Sunday: the month's visits due on Tuesday are due soon
        assert sum(soon.values()) > 0
    if instant.endswith("23:59:59.6"):
        assert sum(soon.values()) > 0  # the duties due at 23:59:59 are still due, not gone
    for unit_id, figure in units.items():
        assert len(figure.overdue) == overdue[unit_id], unit_id
        assert len(figure.due_soon) == soon[unit_id], unit_id
        assert {c.case_id for c in figure.cases} == cases.get(unit_id, set()), unit_id
        assert (figure.duties.on_time, figure.duties.decided) == (on_time[unit_id], decided[unit_id]), unit_id
        assert figure.duties.pending == pending[unit_id], unit_id
        assert all(not past_due(now, d.due_at) and d.due_at < end for d in figure.due_soon)
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
        whole = {u.unit_id: u for u in status(session, RULEBOOK, calendar, now).units}
        one = status(session, RULEBOOK, calendar, now, unit="u-spj").units
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


CREDIT_CODE = re.compile(r"\b[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}\b")
RAW_SUBJECT = re.compile(r"<td>(?:pairing|unit|project|review|enterprise|case|official):")


def test_the_page_is_one_summary_and_each_unit_has_its_own_page(daemon: Daemon) -> None:
    daemon.tick()
    whole = daemon.call("read", "GET", "/")
    assert whole.status_code == 200
    rows = re.findall(r'<tr data-unit="([^"]+)">(.*?)</tr>', whole.text, re.S)
    with daemon.service.sessions() as session:
        assert {u for u, _ in rows} == {u.id for u in session.query(Unit)}
    assert "overdue-list" not in whole.text and "case-list" not in whole.text and "<section" not in whole.text
    assert "近期到期" in whole.text and "个工作日内" in whole.text and "按时率 = 按时办结" in whole.text
    listed = {"overdue": 0, "soon": 0, "cases": 0}
    for unit_id, row in rows:
        assert f'href="/?unit={unit_id}"' in row
        overdue, soon, cases = (int(n) for n in re.findall(r'<td class="n[^"]*">(\d+)</td>', row)[:3])
        page = daemon.call("read", "GET", "/", params={"unit": unit_id}).text
        assert page.count("<section") == 1 and 'href="/"' in page
        # each list's heading counts what the summary counted
        assert (f"逾期（{overdue}）" in page) == (overdue > 0), unit_id
        assert (f"，{soon}）" in page) == (soon > 0), unit_id
        assert (f"在办诉求（{cases}）" in page) == (cases > 0), unit_id
        # people's words: names, never a raw subject key or an enterprise's credit code
        assert not RAW_SUBJECT.search(page), unit_id
        assert not CREDIT_CODE.search(page), (unit_id, CREDIT_CODE.search(page))
        if cases:
            assert re.search(r'<ul class="clocks">(<li>[^<]+</li>)+</ul>', page), unit_id
        listed["overdue"] += overdue
        listed["soon"] += soon
        listed["cases"] += cases
    assert min(listed.values()) > 0, listed  # a district with something in every column


def test_subjects_are_named_from_the_roster(engine: Engine) -> None:
    """Enterprise, project item and review subjects in words; an id only where there is no name."""
    from monitor.reports.status_page import _Names
    from monitor.store.models import Enterprise, Project, ProjectItem, Review

    _import_examples(engine)
    with session_factory(engine)() as session:
        enterprise = session.query(Enterprise).first()
        item = session.query(ProjectItem).first()
        review = session.query(Review).first()
        assert enterprise is not None and item is not None and review is not None
        project = session.get(Project, item.project_id)
        assert project is not None
        subjects = [
            f"enterprise:{enterprise.id}",
            f"project:{item.project_id}:{item.id}",
            f"review:{review.id}",
            "review:R-unknown",
            "pairing:o-x:" + enterprise.id,
        ]
        names = _Names(session)
        names.load(subjects)
        shown = [names.subject(s) for s in subjects]
    assert shown[0] == enterprise.name
    assert shown[1] == f"{project.name} · {item.name}"
    local = review.at.astimezone(SHANGHAI).strftime("%Y-%m-%d")
    assert shown[2] == f"{local} {review.rating}星差评（编号 {review.id}）"
    assert shown[3] == "差评（编号 R-unknown）"
    assert shown[4] == f"o-x → {enterprise.name}"


def test_on_a_sunday_the_page_shows_the_coming_working_days(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    """Sunday 29 December 2024, over HTTP: the month's visits due on Tuesday are due soon, and
    the header says the window runs to the fifth working day, Monday 6 January (1 January off)."""
    import uuid

    import httpx

    from monitor.runtime.service import Service
    from tests.calendar.test_continuity import serving_at
    from tests.service.conftest import settings_for

    _import_examples(engine)
    service = Service(settings_for(db_url, tmp_path))
    service.leadership.key = uuid.uuid4().int % 2**62
    try:
        assert service.lead()
        now = "2024-12-29T10:00"
        service.tick(parse_instant(now))
        with serving_at(service, now) as (url, headers):
            page = httpx.get(f"{url}/", headers=headers, timeout=30).text
        with session_factory(engine)() as session:
            expected = status(session, RULEBOOK, service.loaded.calendar, parse_instant(now))
    finally:
        service.close()
    assert "现在 2024-12-29 10:00（周日）" in page
    assert "今天起 5 个工作日内" in page and "至 2025-01-06 23:59 周一" in page
    total = re.search(r"<tr><th>合计</th>(?:<th[^>]*>\d+</th>){1}<th[^>]*>(\d+)</th>", page)
    assert total is not None and int(total.group(1)) == expected.totals["due_soon"] > 0


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
        # one summary table, no unit's lists: the page fits a screen, not 3,000 px
        assert not chrome.find_all("table.overdue-list") and not chrome.find_all("table.case-list")
        assert "按时率 = 按时办结" in chrome.text(chrome.find("p#definition"))
        png = chrome.screenshot()
        # the unit with the most overdue duties leads; its name opens its details
        chrome.click(chrome.find("table#summary tr[data-unit] a"))
        chrome.wait_for("section table.overdue-list")
        assert "unit=" in chrome.url and chrome.find_all("ul.clocks li")
        detail = chrome.screenshot()
    for name, shot in (("status-page.png", png), ("status-page-unit.png", detail)):
        assert shot.startswith(b"\x89PNG\r\n\x1a\n") and len(shot) > 20_000
        OUTPUT.mkdir(parents=True, exist_ok=True)
        (OUTPUT / name).write_bytes(shot)


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
