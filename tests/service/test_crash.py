"""Crash safety, short version: SIGKILL the daemon while clients post events, restart it, and
every event whose POST was answered "accepted" is stored; nothing accepted is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx

from monitor.clock import SHANGHAI, utcnow
from monitor.store.db import make_engine
from tests.service.conftest import DUTYWATCH, ENTERPRISE, cli, free_port


def start(folder: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DUTYWATCH_LISTEN": f"127.0.0.1:{port}"}
    return subprocess.Popen(
        [*DUTYWATCH, "--config", str(folder / "dutywatch.yaml"), "run"],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_kills_during_ingest_lose_no_accepted_event(workdir: Path) -> None:
    assert cli(workdir, "demo").returncode == 0
    token = cli(workdir, "token", "create", "--name", "chaos", "--scopes", "ingest").stdout.strip()
    today = utcnow().astimezone(SHANGHAI).date().isoformat()
    accepted: set[str] = set()
    stop = threading.Event()
    port = free_port()

    def client() -> None:
        n = 0
        while not stop.is_set():
            batch = [
                {
                    "id": f"chaos-{n}-{k}",
                    "type": "contact",
                    "at": f"{today}T00:01:00+08:00",
                    "official": "o-gxj-1",
                    "enterprise": ENTERPRISE,
                    "channel": "phone",
                }
                for k in range(20)
            ]
            n += 1
            try:
                reply = httpx.post(
                    f"http://127.0.0.1:{port}/v1/events",
                    json=batch,
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=5,
                )
            except httpx.HTTPError:
                time.sleep(0.05)
                continue
            if reply.status_code == 200:
                accepted.update(r["id"] for r in reply.json()["results"] if r["status"] == "accepted")

    worker = threading.Thread(target=client)
    worker.start()
    kills = 0
    try:
        for _ in range(4):
            process = start(workdir, port)
            time.sleep(2.5)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            kills += 1
    finally:
        stop.set()
        worker.join(10)
    assert kills == 4 and accepted, "no POST was answered: the test proved nothing"
    engine = make_engine(f"sqlite:///{workdir}/dw.db")
    with engine.connect() as conn:
        from sqlalchemy import text

        stored = {row[0] for row in conn.execute(text("SELECT id FROM events WHERE id LIKE 'chaos-%'"))}
    engine.dispose()
    assert accepted <= stored
