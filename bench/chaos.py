"""Chaos: run the daemon on a demo district with a real SMTP server, feed events over HTTP, and
SIGKILL it at random moments — during ingest, mid-tick, mid-dispatch — then restart it, many
times. Afterwards count: accepted events stored, notifications due and delivered, duplicates.

    python -m bench.chaos --kills 300 --backend sqlite
    python -m bench.chaos --kills 300 --backend postgresql   # DUTYWATCH_TEST_PG_URL or local `test`

The test suite runs a short version (tests/service/test_crash.py); the figures of a long run go in
docs/reliability.md.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from sqlalchemy import Connection, Engine, create_engine, text

from monitor.clock import SHANGHAI, utcnow
from monitor.demo.district import generate_district
from monitor.store.db import make_engine, normalise_url
from notifiers.email import message_id_domain

ROOT = Path(__file__).resolve().parent.parent
DUTYWATCH = [sys.executable, "-m", "monitor"]
SENDER = "dutywatch@suyu.example.cn"
PG_URL = os.environ.get("DUTYWATCH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass
class Result:
    backend: str
    kills: int
    events_posted: int = 0
    events_accepted: int = (
        0  # answered "accepted" (or "duplicate": accepted by an earlier answer lost in a kill)
    )
    events_lost: int = 0  # accepted but not stored: must be 0
    notifications: int = 0  # outbox rows made
    notifications_sent: int = 0
    notifications_undelivered: int = 0  # sent by our books but never received: must be 0
    notifications_pending: int = 0  # still queued, sending or dead at the end: must be 0
    messages_received: int = 0
    duplicates: int = 0  # messages received more than once (the window between SMTP accept and our commit)
    seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)


class _Inbox:
    def __init__(self) -> None:
        self.ids: Counter[str] = Counter()
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.ids[str(message["Message-ID"])] += 1
        return "250 OK"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _database(backend: str, folder: Path) -> tuple[str, str | None]:
    if backend == "sqlite":
        return f"sqlite:///{folder / 'dw.db'}", None
    schema = f"chaos_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}", schema


def _utc(value: object) -> datetime:
    """A stored instant read raw: SQLite gives text or a naive UTC datetime, PostgreSQL an aware one."""
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(instant, datetime)
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def _drop(schema: str | None) -> None:
    if schema is None:
        return
    admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DUTYWATCH, "--config", str(folder / "dutywatch.yaml"), *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _start(folder: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DUTYWATCH_LISTEN": f"127.0.0.1:{port}"}
    with (folder / "daemon.log").open("ab") as log:
        return subprocess.Popen(
            [*DUTYWATCH, "--config", str(folder / "dutywatch.yaml"), "run"],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _wait_until_serving(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)


def _reminding(rules: Path, hours: float | None) -> None:
    """Every rule re-notifies its open alerts this often (None: as the rule files say): a steady
    stream of mail for the killer to interrupt, however few alerts fire."""
    import yaml

    for path in sorted((ROOT / "rules").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for rule in doc.get("rules", []):
            if hours is not None:
                rule["renotify_hours"] = hours
        (rules / path.name).write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")


def run_chaos(
    kills: int, backend: str, seed: int = 1, folder: Path | None = None, remind_seconds: float = 5.0
) -> Result:
    """Kill the daemon `kills` times at random moments, then let it finish; count what happened."""
    rng = random.Random(seed)
    own = folder is None
    folder = Path(tempfile.mkdtemp(prefix="dutywatch-chaos-")) if folder is None else folder
    url, schema = _database(backend, folder)
    inbox = _Inbox()
    smtp_port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    result = Result(backend, kills)
    started = time.monotonic()
    try:
        _configure(folder, url, smtp_port, remind_seconds)
        token = _demo_district(folder)
        roster = generate_district(utcnow().astimezone(SHANGHAI).date())[0]
        pairs = [(p["official"], p["enterprise"]) for p in roster["pairings"] if p.get("official")]
        today = utcnow().astimezone(SHANGHAI).date().isoformat()
        port = _free_port()
        feeder = _Feeder(port, token, pairs, today)
        feeder.start()
        try:
            _kill_repeatedly(folder, port, kills, rng)
        finally:
            feeder.stop()
        _reminding(folder / "rules", None)
        engine = _last_life(folder, port, url)
        with engine.connect() as conn:
            stored = {r[0] for r in conn.execute(text("SELECT id FROM events WHERE id LIKE 'chaos-%'"))}
            rows = conn.execute(text("SELECT key, status FROM outbox")).all()
        engine.dispose()
        _count(result, feeder, stored, [(key, status) for key, status in rows], inbox)
    finally:
        controller.stop()
        _drop(schema)
        if own:
            shutil.rmtree(folder, ignore_errors=True)
    result.seconds = round(time.monotonic() - started, 1)
    return result


def _configure(folder: Path, url: str, smtp_port: int, remind_seconds: float) -> None:
    """The rules (re-notifying every `remind_seconds`) and a config that ticks every second and
    sends everything at once by mail to the test's SMTP server, retrying forever."""
    (folder / "rules").mkdir()
    _reminding(folder / "rules", remind_seconds / 3600)
    config = {
        "database_url": url,
        "rules_dir": str(folder / "rules"),
        "tick_seconds": 1,
        "heartbeat_file": str(folder / "heartbeat"),
        "calendar": {"overrides_dir": str(ROOT / "config/calendar")},
        "smtp": {"url": f"smtp://127.0.0.1:{smtp_port}", "sender": SENDER},
        "notify": {
            "channels": ["email"],
            "dispatch_seconds": 0.3,
            "backoff_seconds": 0.5,
            "max_backoff_seconds": 2,
            "max_attempts": 1000,
            "lease_seconds": 3,
            "digest_below_level": 0,  # everything at once: no digest holds messages back
            "quiet_hours": {},
        },
    }
    (folder / "dutywatch.yaml").write_text(json.dumps(config), encoding="utf-8")


def _demo_district(folder: Path) -> str:
    """The demo district loaded; a token to post events with."""
    if _cli(folder, "demo").returncode != 0:
        raise RuntimeError(f"demo failed: {_cli(folder, 'demo').stderr}")
    return _cli(folder, "token", "create", "--name", "chaos", "--scopes", "ingest").stdout.strip()


class _Feeder:
    """A thread posting batches of ten contacts, whether the daemon is up or not, until stopped:
    how many it posted, and the ids the daemon answered accepted (or duplicate)."""

    def __init__(self, port: int, token: str, pairs: list[tuple[str, str]], today: str) -> None:
        self.port = port
        self.token = token
        self.pairs = pairs
        self.today = today
        self.posted = 0
        self.accepted: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._feed)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _feed(self) -> None:
        n = 0
        while not self._stop.is_set():
            batch = self._batch(n)
            n += 1
            self.posted += len(batch)
            try:
                reply = httpx.post(
                    f"http://127.0.0.1:{self.port}/v1/events",
                    json=batch,
                    headers={"Authorization": f"Bearer {self.token}"},
                    timeout=5,
                )
            except httpx.HTTPError:
                time.sleep(0.05)
                continue
            if reply.status_code == 200:
                self.accepted.update(
                    r["id"] for r in reply.json()["results"] if r["status"] in ("accepted", "duplicate")
                )

    def _batch(self, n: int) -> list[dict[str, Any]]:
        official, enterprise = self.pairs[n % len(self.pairs)]
        return [
            {
                "id": f"chaos-{n}-{k}",
                "type": "contact",
                "at": f"{self.today}T00:01:00+08:00",
                "official": official,
                "enterprise": enterprise,
                "channel": "phone",
            }
            for k in range(10)
        ]


def _kill_repeatedly(folder: Path, port: int, kills: int, rng: random.Random) -> None:
    for _ in range(kills):
        process = _start(folder, port)
        if rng.random() < 0.9:  # most kills once it serves; some while it starts
            _wait_until_serving(port, process)
        time.sleep(rng.uniform(0.2, 2.5))
        process.send_signal(signal.SIGKILL)
        process.wait(30)


def _last_life(folder: Path, port: int, url: str) -> Engine:
    """A last life, with the rules as written (no more reminders), long enough to send whatever
    is due, then a clean stop; the engine to count with."""
    last_life = utcnow()
    process = _start(folder, port)
    engine = make_engine(url)
    try:
        _wait_until_sent(engine, last_life)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    return engine


def _unsent(conn: Connection) -> int:
    """Notifications still queued or being sent."""
    return int(
        conn.execute(text("SELECT count(*) FROM outbox WHERE status IN ('queued', 'sending')")).scalar_one()
    )


def _wait_until_sent(engine: Engine, last_life: datetime, timeout: float = 180) -> None:
    """Until the outbox stays empty after this life has ticked, or the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1)
        with engine.connect() as conn:
            waiting = _unsent(conn)
            ticked = conn.execute(text("SELECT at FROM ticks WHERE name = 'last'")).scalar()
        # an empty outbox means nothing until this life has ticked once: a first tick over
        # the whole history can outlast every short life before it
        if ticked is None or _utc(ticked) < last_life:
            continue
        if waiting == 0:
            time.sleep(2)  # one more tick and dispatch for what the last tick queued
            with engine.connect() as conn:
                if _unsent(conn) == 0:
                    return


def _count(
    result: Result, feeder: _Feeder, stored: set[str], rows: list[tuple[str, str]], inbox: _Inbox
) -> None:
    """What was accepted and stored, queued and sent, and received, into the result."""
    result.events_posted = feeder.posted
    result.events_accepted = len(feeder.accepted)
    result.events_lost = len(feeder.accepted - stored)
    result.notifications = len(rows)
    result.statuses = dict(Counter(status for _, status in rows))
    sent = {f"<{key}@{message_id_domain(SENDER)}>" for key, status in rows if status == "sent"}
    result.notifications_sent = len(sent)
    result.notifications_pending = sum(1 for _, status in rows if status in ("queued", "sending", "dead"))
    result.notifications_undelivered = len(sent - set(inbox.ids))
    result.messages_received = sum(inbox.ids.values())
    result.duplicates = sum(count - 1 for count in inbox.ids.values() if count > 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--remind-seconds", type=float, default=5.0, help="re-notify open alerts this often")
    args = parser.parse_args()
    result = run_chaos(args.kills, args.backend, args.seed, remind_seconds=args.remind_seconds)
    print(json.dumps(asdict(result), indent=2))
    ok = (
        result.events_lost == 0
        and result.notifications_undelivered == 0
        and result.notifications_pending == 0
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
