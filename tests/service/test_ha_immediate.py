"""Immediate across replicas on PostgreSQL: an immediate event posted to the standby is mailed
by the leader without waiting for its tick (LISTEN/NOTIFY), and a new leader evaluates as soon
as it takes the lock. Ticks and the dispatcher's poll are set to 300 s and each wait gives up
after 60 s, however slow the machine: what happens at all happened because of a wake-up. The
tests assert causality, not speed (bench/immediate.py measures the speed)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from monitor.runtime.leader import Leadership
from monitor.runtime.pgwake import Listener, channel, tell_leader
from monitor.store.db import make_engine
from tests.conftest import MailServer
from tests.service.conftest import DUTYWATCH, ROOT, free_port
from tests.service.test_immediate import mails_naming, major_case


def readyz(url: str) -> dict[str, object] | None:
    try:
        body: dict[str, object] = httpx.get(f"{url}/readyz", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return None
    return body


def wait_for(what: str, condition: object, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not callable(condition) or not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_notify_reaches_the_listener_of_its_deployment_only(db_url: str) -> None:
    engine: Engine = make_engine(db_url)
    ours, theirs = Leadership(engine, key=uuid.uuid4().int % 2**62), Leadership(engine, key=7)
    heard: list[str] = []
    woken = threading.Event()

    def hear(name: str) -> None:
        heard.append(name)
        woken.set()

    listeners = [
        Listener(engine, ours, lambda: hear("ours")),
        Listener(engine, theirs, lambda: hear("theirs")),
    ]
    try:
        for listener in listeners:
            listener.start()
        for listener in listeners:
            assert listener.listening.wait(10)
        # each heard once as its LISTEN was in place (what was sent before is lost)
        assert sorted(heard) == ["ours", "theirs"]
        heard.clear()
        woken.clear()
        tell_leader(engine, Leadership(engine, key=ours.key))
        assert woken.wait(10)
        time.sleep(0.3)  # a NOTIFY on the other channel would have arrived by now
        assert heard == ["ours"]
        assert channel(-1) == "dutywatch_ffffffffffffffff" and channel(-1) != channel(1)
    finally:
        for listener in listeners:
            listener.stop()
        engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_listener_whose_connection_broke_listens_again_and_says_so(db_url: str) -> None:
    # a NOTIFY sent while the connection was down is lost: hearing "listening again" lets the
    # leader evaluate what it may have missed, rather than leave it to the tick
    engine: Engine = make_engine(db_url)
    ours = Leadership(engine, key=uuid.uuid4().int % 2**62)
    heard = threading.Semaphore(0)
    listener = Listener(engine, ours, heard.release)
    try:
        listener.start()
        assert listener.listening.wait(10) and heard.acquire(timeout=10)
        with engine.connect() as connection:
            killed = connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = :q"),
                {"q": f"LISTEN {channel(ours.key or 0)}"},
            ).all()
        assert killed == [(True,)]
        assert heard.acquire(timeout=30)  # reconnected, LISTEN in place again
        assert listener.listening.wait(10)
        tell_leader(engine, Leadership(engine, key=ours.key))
        assert heard.acquire(timeout=10)  # and NOTIFYs arrive on the new connection
    finally:
        listener.stop()
        engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_standby_wakes_the_leader_and_a_new_leader_evaluates_at_once(
    db_url: str, tmp_path: Path, mail_server: MailServer
) -> None:
    config = tmp_path / "dutywatch.yaml"
    config.write_text(
        f"database_url: '{db_url}'\nrules_dir: {ROOT}/rules\ntick_seconds: 300\nheartbeat_file: {tmp_path}/hb\n"
        f"calendar: {{overrides_dir: {ROOT}/config/calendar}}\n"
        f"smtp: {{sender: dutywatch@suyu.example.cn, ca_file: {mail_server.cert}, timeout_seconds: 5}}\n"
        "notify: {channels: [email], dispatch_seconds: 300, lease_seconds: 5}\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "DUTYWATCH_SMTP_URL": f"smtp://dutywatch:s3cret@localhost:{mail_server.port}?starttls=true",
    }

    def cli(*args: str) -> str:
        run = subprocess.run(
            [*DUTYWATCH, "--config", str(config), *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            check=False,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        return run.stdout.strip()

    cli("demo")
    token = cli("token", "create", "--name", "feeder", "--scopes", "ingest")
    auth = {"Authorization": f"Bearer {token}"}
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    processes = [
        subprocess.Popen(
            [*DUTYWATCH, "--config", str(config), "run"],
            cwd=tmp_path,
            env={**env, "DUTYWATCH_LISTEN": f"127.0.0.1:{port}"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        states: list[dict[str, object] | None] = []

        def elected() -> bool:
            states[:] = [readyz(u) for u in urls]
            roles = sorted(str(s["role"]) for s in states if s is not None)
            leader = next((s["leader"] for s in states if s is not None and s["role"] == "leader"), None)
            return (
                roles == ["leader", "standby"]
                and isinstance(leader, dict)
                and leader["last_tick"] is not None
            )

        wait_for("one leader, one standby, a first tick", elected)
        standby = next(i for i, s in enumerate(states) if s is not None and s["role"] == "standby")
        leader = 1 - standby
        first = states[leader]
        assert first is not None and isinstance(first["leader"], dict)

        posted = httpx.post(f"{urls[standby]}/v1/events", headers=auth, json=major_case("HA-1"), timeout=30)
        assert posted.json()["accepted"] == 1, posted.text
        wait_for("the leader heard the standby's event", lambda: mails_naming(mail_server, "HA-1（"))

        processes[leader].send_signal(signal.SIGKILL)
        processes[leader].wait(10)

        def took_over() -> bool:
            state = readyz(urls[standby])
            if state is None or state["role"] != "leader" or not isinstance(state["leader"], dict):
                return False
            return state["leader"]["worker"] != first["leader"]["worker"]  # type: ignore[index]

        # its scheduled tick is minutes away: only the takeover itself evaluated
        wait_for("the new leader evaluated on taking the lock", took_over)
        posted = httpx.post(f"{urls[standby]}/v1/events", headers=auth, json=major_case("HA-2"), timeout=30)
        assert posted.json()["accepted"] == 1, posted.text
        wait_for("the new leader mailed at once", lambda: mails_naming(mail_server, "HA-2（"))
        for case in ("HA-1", "HA-2"):
            recipients = [m["To"] for m in mails_naming(mail_server, f"{case}（")]
            assert len(recipients) == len(set(recipients)), f"{case} was mailed twice to one official"
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(10)
