"""Email against a real SMTP server (aiosmtpd) with STARTTLS and authentication."""

from __future__ import annotations

import asyncio
import email
from typing import Any

import pytest

from notifiers.base import Message, Recipient, TransportError
from notifiers.email import EmailNotifier, SmtpServer, message_id_domain
from tests.conftest import MailServer
from tests.service.conftest import free_port


def message(key: str = "n-1") -> Message:
    return Message(
        recipient=Recipient(name="张伟", email="zhang.wei@suyu.example.cn"),
        subject="【逾期·第2级】复杂问题5个工作日内处理反馈",
        text="企业诉求C1已逾期2个工作日。",
        html="<p>企业诉求C1已逾期2个工作日。</p>",
        idempotency_key=key,
    )


def notifier(server: MailServer, password: str = "s3cret", port: int | None = None) -> EmailNotifier:
    url = f"smtp://dutywatch:{password}@localhost:{port or server.port}?starttls=true"
    return EmailNotifier(
        SmtpServer.from_url(url, timeout=5, ca_file=server.cert), "dutywatch@suyu.example.cn"
    )


def test_delivery_with_starttls_and_auth_encodes_chinese_headers(mail_server: MailServer) -> None:
    receipt = asyncio.run(notifier(mail_server).send(message()))
    assert receipt.provider_id == "<n-1@suyu.example.cn>"
    (received,) = mail_server.inbox.messages
    assert str(email.header.make_header(email.header.decode_header(received["Subject"]))) == message().subject
    assert "=?utf-8?" in received["Subject"].lower() or received["Subject"].isascii()
    assert "张伟" in str(email.header.make_header(email.header.decode_header(received["To"])))
    assert received["Message-ID"] == "<n-1@suyu.example.cn>"
    assert received.is_multipart() and {p.get_content_type() for p in received.walk()} >= {
        "text/plain",
        "text/html",
    }


def test_a_wrong_password_is_permanent(mail_server: MailServer) -> None:
    with pytest.raises(TransportError) as err:
        asyncio.run(notifier(mail_server, password="wrong").send(message()))
    assert err.value.permanent and "authentication" in str(err.value)
    assert "wrong" not in str(err.value)


def test_a_temporary_authentication_failure_is_retried(certificate: Any) -> None:
    """454 4.7.0 (RFC 4954 §6: the server's directory away a moment) is tried again, not
    dead-lettered with every message behind it; 535 stays permanent (the test above)."""
    import socket
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from tests.conftest import Inbox

    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])

    def away(*_: Any) -> AuthResult:
        return AuthResult(success=False, handled=False, message="454 4.7.0 Temporary authentication failure")

    inbox = Inbox()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
        authenticator=away, auth_require_tls=True,
    )  # fmt: skip
    controller.start()
    try:
        with pytest.raises(TransportError) as err:
            asyncio.run(notifier(MailServer(inbox, port, cert)).send(message()))
    finally:
        controller.stop()
    assert not err.value.permanent and "454" in str(err.value)


def test_a_server_that_is_down_is_transient(mail_server: MailServer, closed_port: int) -> None:
    with pytest.raises(TransportError) as err:
        asyncio.run(notifier(mail_server, port=closed_port).send(message()))
    assert not err.value.permanent


def test_a_recipient_without_email_is_permanent(mail_server: MailServer) -> None:
    with pytest.raises(TransportError) as err:
        asyncio.run(notifier(mail_server).send(Message(Recipient("无邮箱"), "s", "t", "k")))
    assert err.value.permanent


def test_smtp_urls() -> None:
    plain = SmtpServer.from_url("smtp://a%40b:p%3Ass@mail.example.cn:587?starttls=true")
    assert (plain.username, plain.password, plain.port, plain.starttls, plain.implicit_tls) == (
        "a@b",
        "p:ss",
        587,
        True,
        False,
    )
    tls = SmtpServer.from_url("smtps://mail.example.cn")
    assert (tls.port, tls.implicit_tls, tls.starttls) == (465, True, False)
    with pytest.raises(ValueError):
        SmtpServer.from_url("http://mail")


class Counting:
    """A plain SMTP handler that counts connections (one EHLO each) and messages."""

    def __init__(self) -> None:
        self.connections = 0
        self.messages: list[bytes] = []

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


def _message(n: int) -> Message:
    return Message(Recipient("张伟", email="zhang.wei@suyu.example.cn"), f"提醒{n}", "正文", f"k{n}")


def test_a_session_sends_a_batch_on_one_connection() -> None:
    from aiosmtpd.controller import Controller

    handler = Counting()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mail = EmailNotifier(
            SmtpServer.from_url(f"smtp://127.0.0.1:{port}", timeout=10), "dw@suyu.example.cn"
        )

        async def batch() -> None:
            async with mail.session():
                for n in range(5):
                    await mail.send(_message(n))

        asyncio.run(batch())
        assert (handler.connections, len(handler.messages)) == (1, 5)
        asyncio.run(mail.send(_message(9)))  # outside a session: a connection of its own
        assert (handler.connections, len(handler.messages)) == (2, 6)
    finally:
        controller.stop()


def test_a_kept_connection_the_server_dropped_is_replaced_at_once() -> None:
    from aiosmtpd.controller import Controller

    handler = Counting()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    mail = EmailNotifier(SmtpServer.from_url(f"smtp://127.0.0.1:{port}", timeout=10), "dw@suyu.example.cn")

    async def batch() -> None:
        nonlocal controller
        async with mail.session():
            await mail.send(_message(1))
            controller.stop()  # the server goes away (a restart, an idle timeout) ...
            controller = Controller(handler, hostname="127.0.0.1", port=port)
            controller.start()  # ... and is back: the next send reconnects by itself
            await mail.send(_message(2))

    try:
        asyncio.run(batch())
    finally:
        controller.stop()
    assert len(handler.messages) == 2 and handler.connections == 2


@pytest.mark.parametrize(
    ("sender", "domain"),
    [
        ("dutywatch@suyu.example.cn", "suyu.example.cn"),
        ("DutyWatch@Suyu.Example.CN", "suyu.example.cn"),
        ("dutywatch@localhost", "dutywatch"),  # no dotted name: not a domain to vouch for
        ("dutywatch@[127.0.0.1]", "dutywatch"),  # an address literal
        ("dutywatch@例子.中国", "dutywatch"),  # not ASCII: a header would have to encode it
        ("dutywatch@suyu..cn", "dutywatch"),
    ],
)
def test_the_message_id_names_the_senders_domain(sender: str, domain: str) -> None:
    assert message_id_domain(sender) == domain
