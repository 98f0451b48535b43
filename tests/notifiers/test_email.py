"""Email against a real SMTP server (aiosmtpd) with STARTTLS and authentication."""

from __future__ import annotations

import asyncio
import email

import pytest

from notifiers.base import Message, Recipient, TransportError
from notifiers.email import EmailNotifier, SmtpServer
from tests.conftest import MailServer


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
    assert receipt.provider_id == "<n-1@dutywatch>"
    (received,) = mail_server.inbox.messages
    assert str(email.header.make_header(email.header.decode_header(received["Subject"]))) == message().subject
    assert "=?utf-8?" in received["Subject"].lower() or received["Subject"].isascii()
    assert "张伟" in str(email.header.make_header(email.header.decode_header(received["To"])))
    assert received["Message-ID"] == "<n-1@dutywatch>"
    assert received.is_multipart() and {p.get_content_type() for p in received.walk()} >= {
        "text/plain",
        "text/html",
    }


def test_a_wrong_password_is_permanent(mail_server: MailServer) -> None:
    with pytest.raises(TransportError) as err:
        asyncio.run(notifier(mail_server, password="wrong").send(message()))
    assert err.value.permanent and "authentication" in str(err.value)
    assert "wrong" not in str(err.value)


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
