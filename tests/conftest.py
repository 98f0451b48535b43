"""Shared fixtures: a database per test on SQLite and on PostgreSQL, the calendar, the rules.

The `db_url` fixture is parametrised over both back ends. PostgreSQL tests use a schema of their
own per test (search_path), so they are isolated and fast. With CI=true an unreachable
PostgreSQL fails the run instead of skipping it.
"""

from __future__ import annotations

import email
import os
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message as MimeMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from sqlalchemy import Engine, create_engine, text

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("DUTYWATCH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_available() -> str | None:
    from monitor.store.db import normalise_url

    try:
        engine = create_engine(normalise_url(PG_URL))
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # any connection problem means "not available"
        return str(exc).splitlines()[0]
    return None


@pytest.fixture(scope="session")
def pg_reachable() -> None:
    problem = _pg_available()
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL must be reachable in CI ({PG_URL}): {problem}")
    pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {problem}")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL on each back end."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dutywatch.db'}"
        return
    request.getfixturevalue("pg_reachable")
    from bench.schemas import scratch_schema

    with scratch_schema(PG_URL, "t") as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh database, migrated to the current schema."""
    from monitor.store.db import ensure_schema, make_engine

    eng = make_engine(db_url)
    ensure_schema(eng)
    try:
        yield eng
    finally:
        eng.dispose()


# --- a real SMTP server (aiosmtpd) with STARTTLS and authentication -----------------------


@dataclass
class Inbox:
    messages: list[MimeMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def authenticator(server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == b"dutywatch" and data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass
class MailServer:
    inbox: Inbox
    port: int
    cert: Path


@pytest.fixture
def mail_server(certificate: tuple[Path, Path]) -> Iterator[MailServer]:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield MailServer(inbox, port, cert)
    finally:
        controller.stop()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nothing else takes it), never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
