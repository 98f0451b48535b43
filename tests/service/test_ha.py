"""High availability on PostgreSQL, with real processes: two daemons serve the API, exactly one
leads (ticks and dispatches); SIGKILL the leader and the standby takes over within 15 s, and no
notification goes out twice across the switch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import DUTYWATCH, ROOT, free_port


def leader_of(url: str, token: str) -> bool | None:
    try:
        text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=2).text
    except httpx.HTTPError:
        return None
    return "dutywatch_leader 1.0" in text


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_standby_takes_over_within_15_seconds(db_url: str, tmp_path: Path) -> None:
    sent = tmp_path / "sent.jsonl"
    config = tmp_path / "dutywatch.yaml"
    config.write_text(
        f"database_url: '{db_url}'\nrules_dir: {ROOT}/rules\ntick_seconds: 1\nheartbeat_file: {tmp_path}/hb\n"
        f"calendar: {{overrides_dir: {ROOT}/config/calendar}}\n"
        f"notify: {{channels: [file], file_path: {sent}, dispatch_seconds: 1, lease_seconds: 5}}\n",
        encoding="utf-8",
    )
    run = subprocess.run(
        [*DUTYWATCH, "--config", str(config), "demo"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    made = subprocess.run(
        [
            *DUTYWATCH,
            "--config",
            str(config),
            "token",
            "create",
            "--name",
            "prometheus",
            "--scopes",
            "metrics",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    token = made.stdout.strip()
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [*DUTYWATCH, "--config", str(config), "run"],
            cwd=tmp_path,
            env={**os.environ, "DUTYWATCH_LISTEN": f"127.0.0.1:{port}"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        deadline = time.monotonic() + 30
        while True:
            states = [leader_of(u, token) for u in urls]
            if None not in states and sum(bool(s) for s in states) == 1:
                break
            assert time.monotonic() < deadline, f"no single leader: {states}"
            time.sleep(0.3)
        assert all(httpx.get(f"{u}/healthz", timeout=2).status_code == 200 for u in urls)  # both serve
        time.sleep(3)  # let the leader tick and send
        leader = states.index(True)
        standby = 1 - leader
        killed_at = time.monotonic()
        processes[leader].send_signal(signal.SIGKILL)
        processes[leader].wait(10)
        while not leader_of(urls[standby], token):
            assert time.monotonic() - killed_at < 15, "the standby did not take over within 15 s"
            time.sleep(0.2)
        takeover = time.monotonic() - killed_at
        time.sleep(8)  # past the lease of anything the dead leader had claimed
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(15)
    ids = Counter(json.loads(line)["id"] for line in sent.read_text(encoding="utf-8").splitlines())
    assert ids, "nothing was sent: the test proved nothing"
    duplicates = {k: n for k, n in ids.items() if n > 1}
    assert not duplicates, duplicates
    print(f"takeover after {takeover:.1f} s, {len(ids)} notifications, none twice")


@pytest.mark.postgres
def test_each_deployment_schema_elects_its_own_leader(pg_reachable: None) -> None:
    """Two deployments in two schemas of one database each have a leader; two replicas of one
    deployment share one lock, and the second takes the lead when the first lets go."""
    import uuid

    from sqlalchemy import create_engine, make_url, text

    from monitor.runtime.leader import Leadership, lock_key
    from monitor.store.db import make_engine, normalise_url
    from tests.conftest import PG_URL

    schemas = [f"t_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for schema in schemas:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    engines = [
        make_engine(f"{PG_URL}{sep}options=-csearch_path%3D{schema}") for schema in (schemas[0], *schemas)
    ]
    first, replica, other = (Leadership(e) for e in engines)
    try:
        assert first.poll() and other.poll()
        assert not replica.poll()
        assert first.key == replica.key != other.key
        assert first.key == lock_key(str(make_url(normalise_url(PG_URL)).database), schemas[0])
        first.release()
        assert replica.poll()
    finally:
        for leadership in (first, replica, other):
            leadership.release()
        for engine in engines:
            engine.dispose()
        with admin.connect() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_lock_keys_are_stable_signed_64_bit_numbers() -> None:
    from monitor.runtime.leader import lock_key

    key = lock_key("dutywatch", "public")
    assert key == lock_key("dutywatch", "public") and -(2**63) <= key < 2**63
    assert len({lock_key("dutywatch", s) for s in ("public", "city", "province")}) == 3
