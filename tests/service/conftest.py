"""A real daemon API on a free loopback port, over a demo district, on each back end."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from monitor.api.app import create_app
from monitor.clock import SHANGHAI, utcnow
from monitor.config import Settings
from monitor.daemon import http_config
from monitor.demo.district import generate_district
from monitor.ingest.events import ingest_events
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.runtime.service import Service
from monitor.store.db import session_factory
from monitor.tokens import create_token, hash_token

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """The app on a free loopback port, in a thread, with the daemon's HTTP settings: its URL."""
    port = free_port()
    server = uvicorn.Server(http_config(app, f"127.0.0.1:{port}"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class Daemon:
    url: str
    service: Service
    tokens: dict[str, str]

    def tick(self) -> None:
        """One tick, on the evaluation thread as in the daemon (the matcher keeps to one thread)."""
        self.service.executor.submit(self.service.tick).result()

    def call(self, scopes: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request over real HTTP with a token of these scopes (None: no token)."""
        headers = {"Authorization": f"Bearer {self.tokens[scopes]}"} if scopes else {}
        headers.update(kwargs.pop("headers", {}))
        with httpx.Client(base_url=self.url, timeout=30) as client:
            return client.request(method, path, headers=headers, **kwargs)


def settings_for(db_url: str, tmp_path: Path, **extra: object) -> Settings:
    extra.setdefault("calendar", {"overrides_dir": ROOT / "config/calendar"})
    return Settings(
        database_url=db_url,
        rules_dir=ROOT / "rules",
        heartbeat_file=tmp_path / "heartbeat",
        **extra,  # type: ignore[arg-type]
    )


CONFIGURED_TOKEN = "dw_declared-in-the-config-file"


@pytest.fixture
def daemon_extra() -> dict[str, object]:
    """Settings a test adds to the `daemon` fixture's (parametrize `daemon_extra` to change them)."""
    return {}


@pytest.fixture
def daemon(db_url: str, tmp_path: Path, daemon_extra: dict[str, object]) -> Iterator[Daemon]:
    """The API over a demo district, without a scheduler: evaluations run when a test or an
    immediate rule asks. Tokens by scope, and `config`, a read token declared in the settings."""
    declared = {"name": "dashboard", "sha256": hash_token(CONFIGURED_TOKEN), "scopes": ["read"]}
    extra = {"ingest": {"max_batch": 50, "max_body_bytes": 64 * 1024}, **daemon_extra}
    more = daemon_extra.get("tokens", [])
    assert isinstance(more, list)
    extra["tokens"] = [declared, *more]
    settings = settings_for(db_url, tmp_path, **extra)
    service = Service(settings)
    # Test databases are schemas of one PostgreSQL database and share its advisory locks: each
    # gets a lock of its own, as each deployment has a database of its own.
    service.leadership.key = uuid.uuid4().int % 2**62
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    try:
        roster, events = generate_district(utcnow().astimezone(SHANGHAI).date())  # as `demo` does
        with session_factory(service.engine)() as session:
            parsed, _ = load_roster(roster, "demo")
            upsert_roster(session, parsed)
            ingest_events(session, [(e["id"], e) for e in events], now=utcnow(), settings=settings)
            tokens = {
                scopes: create_token(session, scopes, tuple(scopes.split(",")), utcnow())
                for scopes in ("read", "ingest", "admin", "ingest,read,admin", "metrics")
            }
            session.commit()
        tokens["config"] = CONFIGURED_TOKEN
        assert service.lead()  # alone on its database, it leads (as its scheduler would find)
        port = free_port()
        server = uvicorn.Server(
            http_config(create_app(service), f"127.0.0.1:{port}", settings.http, service.metrics.count_cut)
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        yield Daemon(f"http://127.0.0.1:{port}", service, tokens)
    finally:
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(10)
        service.close()


DUTYWATCH = [sys.executable, "-m", "monitor"]
ENTERPRISE = generate_district(utcnow().astimezone(SHANGHAI).date())[0]["enterprises"][0]["id"]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "rules", tmp_path / "rules", ignore=shutil.ignore_patterns("tests"))
    (tmp_path / "dutywatch.yaml").write_text(
        f"database_url: sqlite:///{tmp_path}/dw.db\nrules_dir: {tmp_path}/rules\ntick_seconds: 1\n"
        f"heartbeat_file: {tmp_path}/heartbeat\nheartbeat_max_age_seconds: 30\n"
        f"calendar: {{overrides_dir: {ROOT}/config/calendar}}\n",
        encoding="utf-8",
    )
    return tmp_path


def cli(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DUTYWATCH, "--config", str(workdir / "dutywatch.yaml"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=workdir,
        check=False,
    )
