"""Email through aiosmtplib: STARTTLS or implicit TLS, authentication, timeouts; multipart text
and HTML; Chinese subjects and display names encoded (RFC 2047); one Message-ID per notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from notifiers.base import Message, Receipt, TransportError


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

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 30.0, ca_file: Path | None = None) -> SmtpServer:
        """`smtp://user:password@host:port?starttls=true` or `smtps://…` for implicit TLS."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("the SMTP URL must look like smtp://user:password@host:port (or smtps://)")
        query = parse_qs(parts.query)
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit,
            starttls=not implicit and query.get("starttls", ["false"])[0].lower() in ("true", "1", "yes"),
            timeout=timeout,
            ca_file=ca_file,
        )


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
    mail["Message-ID"] = f"<{message.idempotency_key}@dutywatch>"
    mail.set_content(message.text)
    if message.html:
        mail.add_alternative(message.html, subtype="html")
    return mail


class EmailNotifier:
    def __init__(self, server: SmtpServer, sender: str, sender_name: str = "宿豫区营商环境督办") -> None:
        self.server = server
        self.sender = sender
        self.sender_name = sender_name

    def _tls(self) -> ssl.SSLContext | None:
        if not (self.server.implicit_tls or self.server.starttls):
            return None
        context = ssl.create_default_context(cafile=str(self.server.ca_file) if self.server.ca_file else None)
        return context

    async def send(self, message: Message) -> Receipt:
        mail = compose(message, self.sender, self.sender_name)
        server = self.server
        client = aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            use_tls=server.implicit_tls,
            start_tls=server.starttls if not server.implicit_tls else False,
            tls_context=self._tls(),
            timeout=server.timeout,
        )
        try:
            await client.connect()
            if server.username:
                await client.login(server.username, server.password or "")
            await client.send_message(mail)
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise TransportError(f"SMTP authentication rejected ({exc.code})", permanent=True) from None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise TransportError(
                f"recipient refused ({codes})", permanent=all(c >= 500 for c in codes)
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise TransportError(f"SMTP error {exc.code}: {exc.message}", permanent=exc.code >= 500) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransportError(f"SMTP server unreachable: {type(exc).__name__}") from None
        finally:
            # say goodbye also after a failure (aiosmtplib leaves the connection open otherwise),
            # and let the transport finish closing before the caller's loop may end
            if client.is_connected:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                    await client.quit()
            client.close()
            await asyncio.sleep(0)
        return Receipt(str(mail["Message-ID"]))
