"""Action links end to end, over real HTTP, at fixed instants (the app's clock is set; the tick is
given its time): a real email captured by aiosmtpd, its button opened in headless Chromium at a
phone's 390×844, acknowledged and answered there; then every way a link is refused, double
submits, and the daily digest's link. The tokens themselves: tests/alerts/test_links.py."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import Message as MimeMessage
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from monitor.alerts.links import PATH, verify
from monitor.api.app import create_app
from monitor.api.status import HEADERS
from monitor.clock import parse_instant
from monitor.daemon import http_config
from monitor.demo.district import generate_district
from monitor.ingest.events import ingest_events
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.runtime.service import Service
from monitor.store.db import session_factory
from monitor.store.models import AlertRecord, AuditEntry, Event, Notification, Official
from monitor.tokens import create_token
from tests.conftest import MailServer
from tests.service import browser
from tests.service.conftest import free_port, settings_for

T0 = parse_instant("2024-12-18T10:00")  # a Wednesday: case C202412E03 is a day late, E04 due today
TTL = timedelta(hours=96)  # the default
PHONE = (390, 844)
OUTPUT = Path(os.environ.get("DUTYWATCH_TEST_OUTPUT", "var/test-output"))
LATE, DUE_TODAY = "case:C202412E03", "case:C202412E04"  # case-complex-5-workdays, in the demo


@dataclass
class Linked:
    """A daemon over the demo district as it stood at T0, mailing through aiosmtpd, with links."""

    url: str
    service: Service
    clock: list[datetime]
    admin: str
    mail: MailServer

    def tick(self, at: datetime) -> None:
        self.clock[0] = at
        self.service.executor.submit(self.service.tick, at).result()

    def dispatch(self) -> None:
        """Send everything due (the dispatcher takes a hundred a batch)."""
        while asyncio.run(self.service.dispatcher.run_once(self.clock[0])):
            pass

    def alert(self, rule: str, subject: str) -> AlertRecord:
        with self.service.sessions() as session:
            return session.scalars(
                select(AlertRecord).where(AlertRecord.rule == rule, AlertRecord.subject == subject)
            ).one()

    def mail_about(self, alert: AlertRecord, official: str) -> MimeMessage:
        with self.service.sessions() as session:
            address = session.get(Official, official)
            assert address is not None and address.email
        found = [
            m
            for m in self.mail.inbox.messages
            if m["To"] and address.email in m["To"] and alert.message[:20] in _part(m, "plain")
        ]
        assert len(found) == 1, [m["Subject"] for m in self.mail.inbox.messages]
        return found[0]

    def audit(self, action: str) -> list[AuditEntry]:
        with self.service.sessions() as session:
            return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _part(message: MimeMessage, subtype: str) -> str:
    for part in message.walk():
        if part.get_content_type() == f"text/{subtype}":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError(f"no text/{subtype} part")


def button(message: MimeMessage) -> str:
    """The address behind the email's button; the plain part carries the same one."""
    found = re.search(r'<a href="([^"]+)" id="act"', _part(message, "html"))
    assert found is not None
    assert f"办理：{found.group(1)}" in _part(message, "plain")
    return found.group(1)


@pytest.fixture
def linked(
    db_url: str, tmp_path: Path, mail_server: MailServer, request: pytest.FixtureRequest
) -> Iterator[Linked]:
    port = free_port()
    extra: dict[str, Any] = getattr(request, "param", {})
    settings = settings_for(
        db_url,
        tmp_path,
        links={"public_url": f"http://127.0.0.1:{port}{extra.get('prefix', '')}"},
        smtp={
            "url": f"smtp://dutywatch:s3cret@localhost:{mail_server.port}?starttls=true",
            "sender": "dutywatch@suyu.example.cn",
            "ca_file": str(mail_server.cert),
            "timeout_seconds": 10,
        },
        notify={"quiet_hours": {}, "digest_below_level": extra.get("digest_below_level", 0)},
    )
    service = Service(settings)
    service.leadership.key = uuid.uuid4().int % 2**62
    clock = [T0]
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    try:
        roster, events = generate_district(date(2024, 12, 18))
        with session_factory(service.engine)() as session:
            parsed, _ = load_roster(roster, "demo")
            upsert_roster(session, parsed)
            ingest_events(session, [(e["id"], e) for e in events], now=T0, settings=settings)
            admin = create_token(session, "admin", ("admin",), T0)
            session.commit()
        assert service.lead()
        app = create_app(service)
        app.state.clock = lambda: clock[0]
        server = uvicorn.Server(http_config(app, f"127.0.0.1:{port}", settings.http))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        daemon = Linked(f"http://127.0.0.1:{port}", service, clock, admin, mail_server)
        daemon.tick(T0)
        daemon.dispatch()
        yield daemon
    finally:
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(10)
        service.close()


def _form(page: str, form_id: str) -> dict[str, str]:
    """The hidden and prefilled fields of a form on the page, as the browser would send them."""
    found = re.search(rf'<form method="post" action="[^"]+" id="{form_id}">(.*?)</form>', page, re.S)
    assert found is not None, form_id
    fields = dict(
        re.findall(
            r'<input type="(?:hidden|text|datetime-local)"[^>]*?name="(\w+)" value="([^"]*)"', found.group(1)
        )
    )
    fields.update(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', found.group(1)))
    return fields


# --- the whole path, in a browser the size of a phone --------------------------------------------


@pytest.mark.skipif(
    not browser.available() and os.environ.get("CI") != "true",
    reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them)",
)
def test_from_the_email_to_done_in_two_taps_on_a_phone(linked: Linked, tmp_path: Path) -> None:
    late, due_today = (
        linked.alert("case-complex-5-workdays", LATE),
        linked.alert("case-complex-5-workdays", DUE_TODAY),
    )
    assert (late.state, late.level, due_today.state) == ("overdue", 1, "warning")
    # the emails as the mail server received them, each button for its official and alert
    late_mail = linked.mail_about(late, "o-fgj-head")
    answer_mail = linked.mail_about(due_today, "o-zs-head")
    page_file = tmp_path / "mail.html"
    page_file.write_text(_part(late_mail, "html"), encoding="utf-8")
    linked.clock[0] = T0 + timedelta(minutes=7)
    with browser.chromium(phone=PHONE) as chrome:
        # tap 1: the button in the email
        chrome.open(page_file.as_uri())
        chrome.click(chrome.wait_for("a#act"))
        ack = chrome.wait_for("button#ack")
        assert chrome.url == button(late_mail)
        assert "复杂问题5个工作日内处理反馈" in chrome.title
        assert chrome.script("return window.innerWidth") == PHONE[0]
        # a phone's page: nothing wider than the screen, no script, the clause and the ladder
        assert chrome.script("return document.documentElement.scrollWidth") <= PHONE[0]
        assert chrome.script("return document.scripts.length") == 0
        assert "逾期 · 第1级" in chrome.text(chrome.find("p#state"))
        assert "C202412E03" in chrome.text(chrome.find("dd#message"))
        assert "2024-12-17 23:59" in chrome.text(chrome.find("dd#due"))
        ladder = chrome.text(chrome.find("ol#ladder"))
        assert "第1级：到期后0个工作日，通知责任人、单位负责人（已到）" in ladder and "分管区领导" in ladder
        assert "首次通知" in chrome.text(chrome.find("ul#told"))
        before = chrome.screenshot()
        # tap 2: acknowledge
        chrome.click(ack)
        done = chrome.wait_for("p#done")
        assert "已确认收到" in chrome.text(done) and "已确认" in chrome.text(chrome.find("p#state"))
        assert not chrome.find_all("button#ack")  # nothing left to press twice
        after = chrome.screenshot()

        # the other email: feedback given to the enterprise, recorded from the page
        chrome.open(button(answer_mail))
        chrome.type(chrome.wait_for("input#fb-who"), "王经理")
        chrome.type(chrome.find("textarea#fb-note"), "已协调供电公司，本周内完成增容")
        chrome.click(chrome.find("button#feedback"))
        assert "已登记向企业的反馈" in chrome.text(chrome.wait_for("p#done"))
        answered = chrome.screenshot()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for name, shot in (("link-page.png", before), ("link-acked.png", after), ("link-feedback.png", answered)):
        assert shot.startswith(b"\x89PNG\r\n\x1a\n")
        (OUTPUT / name).write_bytes(shot)

    # acknowledged through the normal path, by that official, and the audit log says by link
    late = linked.alert("case-complex-5-workdays", LATE)
    assert late.acked_by == "o-fgj-head" and late.acked_at == T0 + timedelta(minutes=7)
    (entry,) = [e for e in linked.audit("alert.ack") if e.target == f"alert {late.id}"]
    with linked.service.sessions() as session:
        head = session.get(Official, "o-fgj-head")
        assert head is not None
    assert (
        entry.actor == f"by link of {head.name} (o-fgj-head)"
        and entry.detail["reason"] == "经通知链接确认收到"
    )

    # the feedback is a case_feedback event like a ledger's; the next tick stops the clock
    with linked.service.sessions() as session:
        (event,) = session.scalars(
            select(Event).where(Event.type == "case_feedback", Event.id.like("link-%"))
        )
        assert (
            event.payload["case"] == "C202412E04" and "向王经理反馈：已协调供电公司" in event.payload["note"]
        )
    assert [e.detail["type"] for e in linked.audit("link.record")] == ["case_feedback"]
    linked.tick(T0 + timedelta(minutes=10))
    assert linked.alert("case-complex-5-workdays", DUE_TODAY).state == "resolved"

    # two working days on, the acknowledged case reaches level 2: nobody new is told of it, while
    # the ladder goes on climbing for what nobody acknowledged
    linked.tick(parse_instant("2024-12-20T10:00"))
    late = linked.alert("case-complex-5-workdays", LATE)
    assert late.level == 2 and late.state == "overdue"
    with linked.service.sessions() as session:
        told = list(
            session.scalars(select(Notification).where(Notification.created_at > T0 + timedelta(minutes=10)))
        )
    assert not [n for n in told if n.alert_id == late.id]
    assert [n for n in told if n.kind == "escalated"]  # others did climb, and were told


# --- refusals: one plain page, a 4xx, and nothing said about why --------------------------------


def _payload(token: str) -> str:
    import base64

    text = token.split(".")[0]
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


def _with_payload(token: str, payload: str) -> str:
    import base64

    encoded = base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()
    return f"{encoded}.{token.split('.')[1]}"


def _altered(token: str) -> str:
    """The token with its signature's last character changed (always changed: never the same)."""
    return token[:-1] + ("x" if token[-1] != "x" else "y")


def test_tampered_expired_revoked_and_others_links_are_refused_alike(linked: Linked) -> None:
    late = linked.alert("case-complex-5-workdays", LATE)
    url = button(linked.mail_about(late, "o-fgj-head"))
    token = unquote(url.rpartition(PATH)[2])
    alert_hex, minutes, official = _payload(token).split(".", 2)
    with httpx.Client(base_url=linked.url, timeout=30) as client:
        with linked.service.sessions() as session:
            head = session.get(Official, "o-fgj-head")
            assert head is not None
        opened = client.get(f"{PATH}{token}")
        assert opened.status_code == 200 and head.name in opened.text
        refused_pages: dict[str, httpx.Response] = {
            "signature": client.get(f"{PATH}{_altered(token)}"),
            "other official": client.get(f"{PATH}{_with_payload(token, f'{alert_hex}.{minutes}.o-zs-head')}"),
            "other alert": client.get(
                f"{PATH}{_with_payload(token, f'{int(alert_hex, 16) + 1:x}.{minutes}.{official}')}"
            ),
            "longer life": client.get(
                f"{PATH}{_with_payload(token, f'{alert_hex}.{int(minutes, 16) + 1440:x}.{official}')}"
            ),
            "garbage": client.get(f"{PATH}not-a-token"),
            "post tampered": client.post("/l", data={"token": _altered(token), "action": "ack"}),
            "post unknown action": client.post("/l", data={"token": token, "action": "delete"}),
            # a case clock offers no visit: a forged form for one is refused, not recorded
            "post action not offered": client.post("/l", data={"token": token, "action": "visit"}),
        }
        # expiry, to the second: open the last second, refused from the expiry on
        expires = T0 + TTL
        linked.clock[0] = expires - timedelta(seconds=1)
        assert client.get(f"{PATH}{token}").status_code == 200
        linked.clock[0] = expires
        refused_pages["expired"] = client.get(f"{PATH}{token}")
        refused_pages["post expired"] = client.post("/l", data={"token": token, "action": "ack"})
        linked.clock[0] = T0 + timedelta(hours=1)
        # revoked: every link sent to that official, by an admin (audited), and only theirs
        other = button(linked.mail_about(linked.alert("case-complex-5-workdays", DUE_TODAY), "o-zs-head"))
        revoked = client.post(
            "/v1/officials/o-fgj-head/links/revoke", headers={"Authorization": f"Bearer {linked.admin}"}
        )
        assert revoked.status_code == 200 and revoked.json() == {"official": "o-fgj-head", "generation": 1}
        refused_pages["revoked"] = client.get(f"{PATH}{token}")
        refused_pages["post revoked"] = client.post("/l", data={"token": token, "action": "ack"})
        assert client.get(other.replace(linked.url, "")).status_code == 200
    for why, page in refused_pages.items():
        assert page.status_code == 403, why
        assert page.text == refused_pages["garbage"].text, why  # one page for every reason
        assert page.headers["content-security-policy"] == HEADERS["Content-Security-Policy"], why
        assert "C202412E03" not in page.text and head.name not in page.text, why
    assert "此链接无法使用" in refused_pages["garbage"].text
    (audit,) = linked.audit("links.revoke")
    assert audit.target == "official o-fgj-head" and audit.actor == "admin"
    assert linked.alert("case-complex-5-workdays", LATE).acked_at is None  # nothing went through
    # links sent after the revocation carry the new generation and open
    linked.tick(T0 + timedelta(days=1, hours=1))
    with linked.service.sessions() as session:
        fresh = session.scalars(
            select(Notification)
            .where(Notification.alert_id == late.id, Notification.recipient == "o-fgj-head")
            .order_by(Notification.id.desc())
        ).first()
        assert fresh is not None and fresh.created_at > T0
        new_token = fresh.text.rpartition(PATH)[2]
        link = verify(linked.service.link_key(), new_token, session, linked.clock[0])
        assert link is not None and link.alert_id == late.id


def test_the_page_sends_the_status_pages_headers_and_no_script(linked: Linked) -> None:
    late = linked.alert("case-complex-5-workdays", LATE)
    url = button(linked.mail_about(late, "o-fgj-head"))
    page = httpx.get(url, timeout=30)
    assert page.status_code == 200
    for name, value in HEADERS.items():
        assert page.headers[name] == value
    assert "<script" not in page.text.lower() and 'lang="zh-CN"' in page.text


# --- double submits ------------------------------------------------------------------------------


def test_a_double_submit_does_nothing_twice(linked: Linked) -> None:
    """Acknowledging, and recording a visit, each posted twice (a double tap, a resent form)."""
    visit = linked.alert("pairing-monthly-visit", "pairing:o-jt-2:91321311MA275HJ3K1")
    url = button(linked.mail_about(visit, "o-jt-2"))
    linked.clock[0] = T0 + timedelta(minutes=30)
    with httpx.Client(timeout=30) as client:
        page = client.get(url).text
        # the duty is a visit (a contact would not meet it): the page offers the visit only
        assert 'id="visit-form"' in page and 'id="contact-form"' not in page
        assert "计入2024-11" in page  # the period the visit must fall in to count
        ack = _form(page, "ack-form")
        record = _form(page, "visit-form") | {"talked_with_head": "yes", "note": "与总经理座谈"}
        assert record["at"] == "2024-12-18T10:30"  # prefilled: now, Shanghai time
        answers = [client.post(f"{linked.url}/l", data=form) for form in (ack, ack, record, record)]
        assert [a.status_code for a in answers] == [303] * 4
        assert answers[0].headers["location"].endswith("?done=ack")
        # a second visit through the same link with other words is not a second record either
        other = client.post(f"{linked.url}/l", data=record | {"note": "又去了一次"})
        assert other.status_code == 303
    assert len([e for e in linked.audit("alert.ack") if e.target == f"alert {visit.id}"]) == 1
    assert [e.detail["type"] for e in linked.audit("link.record")] == ["visit"]
    with linked.service.sessions() as session:
        (event,) = session.scalars(select(Event).where(Event.type == "visit", Event.id.like("link-%")))
        assert event.payload["official"] == "o-jt-2" and event.payload["talked_with_head"] is True
        assert event.payload["enterprise"] == "91321311MA275HJ3K1"
    # the unit head told of the same missed visit acknowledges; a visit by them would not count
    head = httpx.get(button(linked.mail_about(visit, "o-jt-head")), timeout=30).text
    assert 'id="ack-form"' in head and 'id="visit-form"' not in head and 'id="contact-form"' not in head


def test_a_record_the_ledger_would_refuse_is_refused_on_the_page_too(linked: Linked) -> None:
    visit = linked.alert("pairing-monthly-visit", "pairing:o-jt-2:91321311MA275HJ3K1")
    url = button(linked.mail_about(visit, "o-jt-2"))
    with httpx.Client(timeout=30) as client:
        record = _form(client.get(url).text, "visit-form")
        too_late = client.post(f"{linked.url}/l", data=record | {"at": "2025-03-01T09:00"})
        assert too_late.status_code == 400 and 'id="error"' in too_late.text and "未能登记" in too_late.text
        garbled = client.post(f"{linked.url}/l", data=record | {"at": "昨天"})
        assert garbled.status_code == 400 and "时间格式不正确" in garbled.text
    assert linked.audit("link.record") == []


def test_a_note_with_control_characters_is_refused_as_the_api_refuses_it(linked: Linked) -> None:
    """A NUL (PostgreSQL refuses it) or another control character in the note: refused on the
    page, for an acknowledgement as for a record; a line break is text."""
    visit = linked.alert("pairing-monthly-visit", "pairing:o-jt-2:91321311MA275HJ3K1")
    url = button(linked.mail_about(visit, "o-jt-2"))
    with httpx.Client(timeout=30) as client:
        page = client.get(url).text
        ack, record = _form(page, "ack-form"), _form(page, "visit-form") | {"talked_with_head": "yes"}
        for form in (ack, record):
            for note in ("\x00\x01", "已读\x1b[2J"):
                refused = client.post(f"{linked.url}/l", data=form | {"note": note})
                assert refused.status_code == 400 and "控制字符" in refused.text
        assert linked.audit("alert.ack") == [] and linked.audit("link.record") == []
        kept = client.post(f"{linked.url}/l", data=ack | {"note": "已读\n明天去"})
        assert kept.status_code == 303 and kept.headers["location"].endswith("?done=ack")
    with linked.service.sessions() as session:
        assert session.get(AlertRecord, visit.id).ack_reason == "已读\n明天去"  # type: ignore[union-attr]


# --- the daily digest ----------------------------------------------------------------------------


@pytest.mark.parametrize("linked", [{"digest_below_level": 2}], indirect=True)
def test_a_digest_email_opens_the_list_and_each_item_its_page(linked: Linked) -> None:
    # held at T0 (after the 08:30 digest time): gathered the next working morning
    linked.tick(parse_instant("2024-12-19T08:45"))
    linked.dispatch()
    with linked.service.sessions() as session:
        digest = session.scalars(
            select(Notification).where(Notification.kind == "digest", Notification.recipient == "o-fgj-head")
        ).one()
        address = session.get(Official, "o-fgj-head")
        assert address is not None and address.email
    (mail,) = [
        m
        for m in linked.mail.inbox.messages
        if address.email in str(m["To"]) and "逐项确认" in _part(m, "html")
    ]
    assert "C202412E03" in _part(mail, "plain")
    url = button(mail)
    with httpx.Client(timeout=30) as client:
        page = client.get(url)
        assert page.status_code == 200 and digest.subject in page.text
        items = re.findall(r'<li><a href="(/l/[^"]+)">', page.text)
        assert items
        opened = client.get(f"{linked.url}{items[0]}")
        assert opened.status_code == 200 and 'id="ack-form"' in opened.text
        # the digest's link acts on nothing itself
        refused = client.post(
            f"{linked.url}/l", data={"token": unquote(url.rpartition(PATH)[2]), "action": "ack"}
        )
        assert refused.status_code == 403
        # an item's link lives no longer than the digest's
        linked.clock[0] = parse_instant("2024-12-19T08:45") + TTL
        assert client.get(f"{linked.url}{items[0]}").status_code == 403


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("linked", [{"prefix": "/dutywatch"}], indirect=True)
def test_behind_a_proxy_under_a_path_the_pages_stay_under_it(linked: Linked) -> None:
    """public_url https://host/dutywatch: the proxy strips the prefix on the way in, the pages
    put it back on every form, link and redirect on the way out."""
    late = linked.alert("case-complex-5-workdays", LATE)
    url = button(linked.mail_about(late, "o-fgj-head"))
    assert url.startswith(f"{linked.url}/dutywatch/l/")
    forwarded = url.replace("/dutywatch", "")  # what the proxy passes on
    with httpx.Client(timeout=30) as client:
        page = client.get(forwarded).text
        assert 'action="/dutywatch/l"' in page and 'action="/l"' not in page
        answer = client.post(f"{linked.url}/l", data=_form(page, "ack-form"))
        assert answer.status_code == 303 and answer.headers["location"].startswith("/dutywatch/l/")
