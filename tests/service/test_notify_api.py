"""POST /v1/notify/test over real HTTP: an `admin` token sends a test message through the daemon's
own outbox and dispatcher to a real SMTP server and the file channel; the answer is what the
outbox recorded; unknown officials and channels are refused with the field named."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from monitor.api.app import create_app
from monitor.clock import utcnow
from monitor.daemon import http_config
from monitor.runtime.service import Service
from monitor.store.models import Notification, Official
from monitor.tokens import create_token
from tests.conftest import MailServer
from tests.service.conftest import free_port, settings_for

# the HTTP route and the dispatcher decide here, not the back end (the CLI tests cover SQLite too)
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


class Api:
    def __init__(self, url: str, service: Service, tokens: dict[str, str]) -> None:
        self.url, self.service, self.tokens = url, service, tokens

    def test(self, scope: str, **body: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[scope]}"}
        return httpx.post(f"{self.url}/v1/notify/test", headers=headers, json=body, timeout=60)

    def outbox(self) -> list[Notification]:
        with self.service.sessions() as session:
            return list(session.scalars(select(Notification).order_by(Notification.id)))


@pytest.fixture
def api(db_url: str, tmp_path: Path, mail_server: MailServer) -> Iterator[Api]:
    settings = settings_for(
        db_url,
        tmp_path,
        smtp={
            "url": f"smtp://dutywatch:s3cret@localhost:{mail_server.port}?starttls=true",
            "sender": "dutywatch@suyu.example.cn",
            "ca_file": mail_server.cert,
            "timeout_seconds": 5,
        },
        notify={"channels": ["email", "file"], "file_path": tmp_path / "out.jsonl", "quiet_hours": {}},
    )
    service = Service(settings)
    with service.sessions() as session:
        session.add(Official(id="o-zhang", name="张伟", role="staff", email="zhang.wei@suyu.example.cn"))
        tokens = {s: create_token(session, s, (s,), utcnow()) for s in ("admin", "read")}
        session.commit()
    server = uvicorn.Server(http_config(create_app(service), f"127.0.0.1:{free_port()}"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield Api(f"http://127.0.0.1:{server.config.port}", service, tokens)
    finally:
        server.should_exit = True
        thread.join(10)
        service.close()


@SQLITE_ONLY
def test_an_admin_sends_a_test_email_and_file_line_and_reads_the_outcome(
    api: Api, mail_server: MailServer, tmp_path: Path
) -> None:
    answer = api.test("admin", official="o-zhang")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    rows = api.outbox()
    assert body["sent"] is True
    assert body["results"] == [
        {"id": r.id, "channel": r.channel, "status": "sent", "detail": r.provider_id} for r in rows
    ]
    assert [(r.channel, r.kind, r.status) for r in rows] == [
        ("email", "test", "sent"),
        ("file", "test", "sent"),
    ]
    [mail] = mail_server.inbox.messages
    assert mail["Message-ID"] == rows[0].provider_id
    assert json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8"))["to"] == "张伟"
    scrape = httpx.get(
        f"{api.url}/metrics", headers={"Authorization": f"Bearer {api.tokens['read']}"}, timeout=10
    ).text
    assert 'dutywatch_notifications_total{channel="email",outcome="sent"} 1.0' in scrape


@SQLITE_ONLY
def test_a_failure_is_answered_with_the_reason_the_outbox_stored(api: Api, mail_server: MailServer) -> None:
    mail_server.inbox.messages.clear()
    with api.service.sessions() as session:
        official = session.get(Official, "o-zhang")
        assert official is not None
        official.email = "not an address"
        session.commit()
    body = api.test("admin", official="o-zhang", channel="email").json()
    [row] = api.outbox()
    assert body == {
        "sent": False,
        "results": [{"id": row.id, "channel": "email", "status": "failed", "detail": row.last_error}],
    }
    assert row.status == "dead" and row.last_error and "invalid email address" in row.last_error
    assert not mail_server.inbox.messages


@SQLITE_ONLY
def test_unknown_officials_and_channels_are_refused_naming_the_field(api: Api) -> None:
    for body, field, words in (
        ({"official": "nobody"}, "official", "no official 'nobody'"),
        ({"official": "o-zhang", "channel": "pigeon"}, "channel", "unknown channel 'pigeon'"),
        ({"official": "o-zhang", "channel": "sms-aliyun"}, "channel", "'sms-aliyun' is not configured"),
    ):
        refused = api.test("admin", **body)
        assert refused.status_code == 422, body
        error = refused.json()["error"]
        assert (error["code"], error["field"]) == ("invalid_test", field) and words in error["message"]
    assert api.test("read", official="o-zhang").status_code == 403
    assert api.outbox() == []
