"""Email through aiosmtplib: STARTTLS or implicit TLS, authentication, timeouts; multipart text
and HTML; Chinese subjects and display names encoded (RFC 2047); one Message-ID per notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from pydantic import Field, SecretStr

from notifiers.base import Channel, ChannelSettings, Message, Receipt, TransportError

# How long to wait for the server's reply to the end of a message (RFC 5321 §4.5.3.2.6: ten
# minutes). Until it comes nobody knows whether the server took the message: a client that gives
# up sooner and sends again delivers it twice (§6.1). Everything else waits `timeout`.
DATA_TIMEOUT = 600.0


class _Client(aiosmtplib.SMTP):
    """aiosmtplib's client, waiting `data_timeout` for the DATA exchange (the reply to the end of
    the message above all) and its own timeout for every other command."""

    def __init__(self, *, data_timeout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_timeout = data_timeout

    async def data(self, message: str | bytes, /, *, timeout: Any = None) -> aiosmtplib.SMTPResponse:
        return await super().data(message, timeout=self.data_timeout)


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    implicit_tls: bool = False
    starttls: bool = False
    timeout: float = 30.0
    ca_file: Path | None = None  # trust this CA (a private mail server's own certificate)
    data_timeout: float = DATA_TIMEOUT

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        timeout: float = 30.0,
        ca_file: Path | None = None,
        data_timeout: float = DATA_TIMEOUT,
    ) -> SmtpServer:
        """`smtp://user:password@host:port?starttls=true` or `smtps://…` for implicit TLS."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("the SMTP URL must look like smtp://user:password@host:port (or smtps://)")
        try:
            port = parts.port
        except ValueError:  # urllib's message quotes the URL, password and all
            raise ValueError("the SMTP URL's port must be a number from 1 to 65535") from None
        query = parse_qs(parts.query)
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=port or (465 if implicit else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit,
            starttls=not implicit and query.get("starttls", ["false"])[0].lower() in ("true", "1", "yes"),
            timeout=timeout,
            ca_file=ca_file,
            data_timeout=data_timeout,
        )


def message_id_domain(sender: str) -> str:
    """The right side of our Message-IDs: the sender's domain, as RFC 5322 §3.6.4 suggests (spam
    filters score one that is not a domain name, e.g. rspamd's MID_RHS_NOT_FQDN); `dutywatch`
    when the sender's is no dotted name (`dutywatch@localhost`). The left side, a notification's
    key, is the same on every attempt, so a message sent twice carries one Message-ID."""
    domain = sender.rpartition("@")[2].strip().lower()
    dotted = "." in domain and all(part.isascii() and part for part in domain.split("."))
    return domain if dotted and not domain.startswith("[") else "dutywatch"


def compose(message: Message, sender: str, sender_name: str) -> EmailMessage:
    """The MIME message: text, and HTML as an alternative when given."""
    if not message.recipient.email:
        raise TransportError(f"{message.recipient.name} has no email address", permanent=True)
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = Address(sender_name, addr_spec=sender)
    try:
        mail["To"] = Address(message.recipient.name, addr_spec=message.recipient.email)
    except (ValueError, IndexError) as exc:
        raise TransportError(
            f"invalid email address for {message.recipient.name}: {exc}", permanent=True
        ) from None
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = f"<{message.idempotency_key}@{message_id_domain(sender)}>"
    mail.set_content(message.text)
    if message.html:
        mail.add_alternative(message.html, subtype="html")
    return mail


class EmailSettings(ChannelSettings):
    url: SecretStr  # smtp://user:password@host:port (or smtps://), its password and all
    sender: str = "dutywatch@localhost"
    sender_name: str = "宿豫区营商环境督办"
    timeout_seconds: float = 30.0
    ca_file: Path | None = None  # trust a private mail server's certificate
    data_timeout_seconds: float = Field(DATA_TIMEOUT, gt=0)  # the reply to a message's end


class EmailNotifier(Channel):
    """Sends each message on its own connection, or, inside `session()` (the dispatcher opens one
    per batch), on one connection kept for the batch: a login and a TLS handshake per batch, not
    per message. A kept connection the server closed meanwhile is replaced once, at once."""

    settings_model = EmailSettings
    address = "email"
    html = True

    def __init__(self, server: SmtpServer, sender: str, sender_name: str = "宿豫区营商环境督办") -> None:
        self.server = server
        self.sender = sender
        self.sender_name = sender_name
        self._client: aiosmtplib.SMTP | None = None
        self._in_session = False

    @classmethod
    def from_settings(cls, settings: EmailSettings) -> EmailNotifier:
        server = SmtpServer.from_url(
            settings.url.get_secret_value(),
            timeout=settings.timeout_seconds,
            ca_file=settings.ca_file,
            data_timeout=settings.data_timeout_seconds,
        )
        return cls(server, settings.sender, settings.sender_name)

    def _tls(self) -> ssl.SSLContext | None:
        if not (self.server.implicit_tls or self.server.starttls):
            return None
        context = ssl.create_default_context(cafile=str(self.server.ca_file) if self.server.ca_file else None)
        return context

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        self._in_session = True
        try:
            yield
        finally:
            self._in_session = False
            await self._disconnect()

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        await self._disconnect()
        server = self.server
        client = _Client(
            data_timeout=server.data_timeout,
            hostname=server.host,
            port=server.port,
            use_tls=server.implicit_tls,
            start_tls=server.starttls if not server.implicit_tls else False,
            tls_context=self._tls(),
            timeout=server.timeout,
        )
        self._client = client
        await client.connect()
        if server.username:
            await client.login(server.username, server.password or "")
        return client

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        sock = None
        with contextlib.suppress(Exception):  # not connected: no socket to wait for
            sock = client.get_transport_info("socket")
        # say goodbye also after a failure (aiosmtplib leaves the connection open otherwise),
        # and let the transport finish closing before the caller's loop may end; but not when
        # cut off (a daemon stopping): a server that did not answer the message will not answer
        # QUIT either, and the wait would outlast the stop
        task = asyncio.current_task()
        if client.is_connected and not (task is not None and task.cancelling()):
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await client.quit()
        client.close()
        await asyncio.sleep(0)
        # after STARTTLS the socket closes some loop turns later, once the TLS goodbye is done: a
        # loop ended before then leaves it to be collected unclosed (a ResourceWarning in whatever
        # test runs next). Wait for it, a second at most.
        for _ in range(100):
            if sock is None or sock.fileno() == -1:
                break
            await asyncio.sleep(0.01)

    async def send(self, message: Message) -> Receipt:
        mail = compose(message, self.sender, self.sender_name)
        failed = True
        try:
            kept = self._client is not None and self._client.is_connected
            try:
                await (await self._connected()).send_message(mail)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                if not kept:
                    raise
                await self._disconnect()  # the server closed a kept connection: once more, fresh
                await (await self._connected()).send_message(mail)
            failed = False
        except aiosmtplib.SMTPAuthenticationError as exc:
            # 454 is a temporary failure (RFC 4954 §6: the directory away a moment), 535 a bad password
            raise TransportError(
                f"SMTP authentication rejected ({exc.code})", permanent=exc.code >= 500
            ) from None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise TransportError(
                f"recipient refused ({codes})", permanent=all(c >= 500 for c in codes)
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise TransportError(f"SMTP error {exc.code}: {exc.message}", permanent=exc.code >= 500) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransportError(f"SMTP server unreachable: {type(exc).__name__}", unreachable=True) from None
        finally:
            if failed or not self._in_session:
                await self._disconnect()
        return Receipt(str(mail["Message-ID"]))
