"""Delivery outages against real servers on loopback: a mail server answering 4xx for a while or
hanging, an SMS gateway answering 5xx or hanging. Each message is retried, never lost, never
dead-lettered for a passing trouble, and delivered exactly once when the server is back."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select

from monitor.store.db import session_factory
from monitor.store.models import Notification, Official
from notifiers.email import EmailNotifier, SmtpServer
from notifiers.sms import HttpSmsNotifier
from tests.alerts.test_dispatch import NOW, dispatcher, queue, statuses
from tests.service.conftest import free_port


class Flaky:
    """An SMTP handler that answers 451 (try again later) to the first `failures` messages."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.failures > 0:
            self.failures -= 1
            return "451 4.3.0 mailbox busy, try again later"
        self.received.append(envelope.content)
        return "250 OK"


def drain(d: Any, rounds: int = 10) -> list[str]:
    """Run the dispatcher at successive instants far enough apart for every backoff."""
    seen: list[str] = []
    at = NOW
    for _ in range(rounds):
        seen += [o.status for o in asyncio.run(d.run_once(at))]
        at += timedelta(hours=2)
    return seen


def test_a_mail_server_answering_try_again_later(engine: Engine) -> None:
    queue(engine, 3, channel="email")
    handler = Flaky(failures=4)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mail = EmailNotifier(
            SmtpServer.from_url(f"smtp://127.0.0.1:{port}", timeout=10), "dw@suyu.example.cn"
        )
        outcomes = drain(dispatcher(engine, mail, backoff_seconds=60))
    finally:
        controller.stop()
    assert outcomes.count("retry") == 4 and outcomes.count("sent") == 3 and "dead" not in outcomes
    assert len(handler.received) == 3  # each once
    assert {s for _, s, _ in statuses(engine)} == {"sent"}


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A server that accepts connections and never says a word (a hung mail server)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except (TimeoutError, OSError):
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        for s in held:
            s.close()
        listener.close()


def test_a_hung_mail_server_times_out_into_a_retry(engine: Engine, silent_port: int) -> None:
    queue(engine, 1, channel="email")
    mail = EmailNotifier(
        SmtpServer.from_url(f"smtp://127.0.0.1:{silent_port}", timeout=1), "dw@suyu.example.cn"
    )
    outcomes = asyncio.run(dispatcher(engine, mail).run_once(NOW))
    assert [(o.status, o.error) for o in outcomes] == [
        ("retry", "SMTP server unreachable: SMTPConnectTimeoutError")
    ]
    assert statuses(engine) == [("k0", "queued", 1)]


class Gateway(BaseHTTPRequestHandler):
    """An SMS gateway that answers 503 to the first requests, or hangs, then accepts."""

    failures = 0
    hang_seconds = 0.0
    accepted: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if Gateway.hang_seconds:
            time.sleep(Gateway.hang_seconds)
        if Gateway.failures > 0:
            Gateway.failures -= 1
            self.send_response(503)
            self.end_headers()
            return
        Gateway.accepted.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"code": "OK"}')

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    Gateway.failures, Gateway.hang_seconds, Gateway.accepted = 0, 0.0, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/send"
    finally:
        Gateway.hang_seconds = 0
        server.shutdown()
        server.server_close()


def _sms(url: str) -> HttpSmsNotifier:
    return HttpSmsNotifier(
        url, '{"to": "{{ phone }}", "text": {{ text | json }}}', success_field="code", success_value="OK"
    )


def _with_phone(engine: Engine) -> None:
    with session_factory(engine)() as session:
        official = session.get(Official, "o1")
        assert official is not None
        official.phone = "13912345678"
        session.commit()


def test_an_sms_gateway_answering_503_for_a_while(engine: Engine, gateway: str) -> None:
    queue(engine, 2, channel="test")
    _with_phone(engine)
    Gateway.failures = 3
    outcomes = drain(dispatcher(engine, _sms(gateway), backoff_seconds=60))
    assert outcomes.count("retry") == 3 and outcomes.count("sent") == 2 and "dead" not in outcomes
    assert len(Gateway.accepted) == 2


def test_a_hung_sms_gateway_times_out_into_a_retry_and_then_delivers(engine: Engine, gateway: str) -> None:
    queue(engine, 1, channel="test")
    _with_phone(engine)
    Gateway.hang_seconds = 12  # past the channel's 10-second read timeout
    d = dispatcher(engine, _sms(gateway), backoff_seconds=60)
    assert [(o.status, o.error) for o in asyncio.run(d.run_once(NOW))] == [("retry", "timed out")]
    Gateway.hang_seconds = 0
    assert drain(d) == ["sent"]
    # the hung request may still have reached the gateway after we gave up: the one unavoidable
    # duplicate window of an HTTP channel without an idempotency key
    assert 1 <= len(Gateway.accepted) <= 2


class SlowToAnswer:
    """An SMTP handler that takes `seconds` to answer the end of each message, and takes it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.received: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(envelope.content)
        await asyncio.sleep(self.seconds)
        return "250 OK"


@pytest.fixture
def slow_server() -> Iterator[tuple[SlowToAnswer, int]]:
    handler = SlowToAnswer(1.5)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def test_a_mail_server_slow_to_answer_a_message_gets_it_once(
    engine: Engine, slow_server: tuple[SlowToAnswer, int]
) -> None:
    """The reply to a message's end is waited for `data_timeout` (RFC 5321: ten minutes), not the
    commands' timeout: a server that takes 1.5 s to say it took a message, with commands given
    0.5 s, gets each message once (before, the client gave up and sent it again)."""
    handler, port = slow_server
    queue(engine, 2, channel="email")
    server = SmtpServer.from_url(f"smtp://127.0.0.1:{port}", timeout=0.5, data_timeout=5)
    outcomes = drain(dispatcher(engine, EmailNotifier(server, "dw@suyu.example.cn")), rounds=2)
    assert outcomes == ["sent", "sent"]
    assert len(handler.received) == 2
    assert statuses(engine) == [("k0", "sent", 1), ("k1", "sent", 1)]


def test_a_reply_later_than_the_data_timeout_is_retried_and_the_rest_left_for_the_retry(
    engine: Engine, slow_server: tuple[SlowToAnswer, int]
) -> None:
    """Past `data_timeout` nobody can tell whether the server took the message: it is retried
    (a duplicate beats a lost alert; the Message-ID is the same). The server did not answer in
    time, so the batch's other message for it goes back to the queue for the retry's time,
    without an attempt counted, instead of waiting as long again."""
    handler, port = slow_server
    queue(engine, 2, channel="email")
    server = SmtpServer.from_url(f"smtp://127.0.0.1:{port}", timeout=0.5, data_timeout=0.5)
    d = dispatcher(engine, EmailNotifier(server, "dw@suyu.example.cn"), backoff_seconds=60)
    outcomes = asyncio.run(d.run_once(NOW))
    assert [(o.status, o.error) for o in outcomes] == [
        ("retry", "SMTP server unreachable: SMTPReadTimeoutError"),
        ("deferred", None),
    ]
    assert statuses(engine) == [("k0", "queued", 1), ("k1", "queued", 0)]
    with session_factory(engine)() as session:
        waiting = session.scalars(select(Notification).where(Notification.key == "k1")).one()
        # from the moment the reply was given up on, half a second into the batch at least
        assert NOW + timedelta(seconds=60.5) <= waiting.next_attempt_at < NOW + timedelta(seconds=90)
    assert len(handler.received) == 1
