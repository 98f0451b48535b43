"""Outages of the database, with the real API over HTTP: PostgreSQL unreachable for a while (every
connection cut by a proxy, new ones refused) and SQLite locked by another writer. The daemon keeps
answering, says 503 with Retry-After instead of accepting what it cannot store, shows the trouble
in /readyz and the metrics while it lasts, and recovers by itself. Mail and SMS outages are
tested on the dispatcher (tests/alerts/test_dispatch.py and test_delivery_outages.py)."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, func, make_url, select, text

from monitor.api.app import create_app
from monitor.clock import SHANGHAI, utcnow
from monitor.demo.district import generate_district
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.runtime.service import Service
from monitor.store.db import normalise_url
from monitor.store.models import Event
from monitor.tokens import create_token, hash_token
from tests.conftest import PG_URL
from tests.service.conftest import free_port, settings_for
from tests.service.proxy import Proxy


@contextmanager
def serving(service: Service) -> Iterator[tuple[str, str]]:
    """The API of `service` on a free port, and an all-scopes token."""
    with service.sessions() as session:
        roster, _ = load_roster(generate_district(utcnow().astimezone(SHANGHAI).date())[0], "demo")
        upsert_roster(session, roster)
        token = create_token(session, "ops", ("ingest", "read", "admin"), utcnow())
        session.commit()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.should_exit = True
        thread.join(10)


def review(n: int) -> dict[str, Any]:
    today = utcnow().astimezone(SHANGHAI).date().isoformat()
    return {
        "id": f"outage-{n}",
        "type": "review",
        "at": f"{today}T00:10:00+08:00",
        "review": f"r{n}",
        "unit": "u-spj",
        "rating": 4,
    }


def post(url: str, token: str, event: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/events", json=[event], headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


# Prometheus's token, declared in the config by hash: checked without the database, so that the
# scrapes below still answer while it is away
SCRAPER = "dw_prometheus-token-from-a-file"
SCRAPER_TOKENS = [{"name": "prometheus", "sha256": hash_token(SCRAPER), "scopes": ["metrics"]}]


def metric(url: str, name: str) -> float:
    scrape = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {SCRAPER}"}, timeout=10)
    assert scrape.status_code == 200, scrape.text
    for line in scrape.text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name}")


def stored(service: Service) -> set[str]:
    with service.sessions() as session:
        return set(session.scalars(select(Event.id)))


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_postgresql_unreachable_then_back(pg_reachable: None, tmp_path: Path) -> None:
    target = make_url(normalise_url(PG_URL))
    proxy = Proxy((target.host or "127.0.0.1", target.port or 5432))
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    behind = target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    sep = "&" if "?" in behind else "?"
    service = Service(
        settings_for(f"{behind}{sep}options=-csearch_path%3D{schema}", tmp_path, tokens=SCRAPER_TOKENS)
    )
    try:
        with serving(service) as (url, token):
            assert post(url, token, review(1)).json()["accepted"] == 1
            service.tick()

            proxy.cut()
            assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
            ready = httpx.get(f"{url}/readyz", timeout=30)
            assert ready.status_code == 503 and ready.json()["checks"]["database"] is False
            refused = post(url, token, review(2))
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "unavailable" and refused.headers["retry-after"] == "5"
            with pytest.raises(Exception):  # noqa: B017 - whichever DBAPI error the driver raises
                service.tick()
            assert metric(url, "dutywatch_database_up") == 0
            assert metric(url, 'dutywatch_tick_failures_total{reason="database"}') == 1

            proxy.restore()
            deadline = time.monotonic() + 60
            while True:  # a client retrying as Retry-After says: the first call may meet a dead connection
                again = post(url, token, review(2))
                if again.status_code == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert again.status_code == 200 and again.json()["accepted"] == 1
            service.tick()
            assert httpx.get(f"{url}/readyz", timeout=30).status_code == 200
            assert metric(url, "dutywatch_database_up") == 1
            assert {"outage-1", "outage-2"} <= stored(service)
    finally:
        service.close()
        proxy.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def writer_holding_the_lock(path: Path, seconds: float) -> Iterator[threading.Thread]:
    """Another process's writer (a backup, a sqlite3 shell) holding the write lock for a while."""
    locked = threading.Event()

    def hold() -> None:
        other = sqlite3.connect(path, timeout=1, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        locked.set()
        time.sleep(seconds)
        other.execute("COMMIT")
        other.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert locked.wait(10)
    try:
        yield thread
    finally:
        thread.join()


@pytest.mark.timeout(120)
def test_sqlite_locked_by_another_writer(tmp_path: Path) -> None:
    path = tmp_path / "dw.db"
    service = Service(
        settings_for(f"sqlite:///{path}", tmp_path, sqlite_busy_timeout_seconds=1, tokens=SCRAPER_TOKENS)
    )
    try:
        with serving(service) as (url, token):
            # a lock shorter than the busy timeout: the write waits its turn and lands
            with writer_holding_the_lock(path, 0.3):
                assert post(url, token, review(1)).json()["accepted"] == 1
            # longer: refused with 503, nothing half-stored, the trouble visible
            with writer_holding_the_lock(path, 4):
                refused = post(url, token, review(2))
                assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
                assert metric(url, "dutywatch_database_up") == 0
            again = post(url, token, review(2))
            assert again.status_code == 200 and again.json()["accepted"] == 1
            service.tick()
            assert metric(url, "dutywatch_database_up") == 1
            with service.sessions() as session:
                assert session.scalar(select(func.count()).select_from(Event)) == 2
            assert stored(service) == {"outage-1", "outage-2"}
    finally:
        service.close()
