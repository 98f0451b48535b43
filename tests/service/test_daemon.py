"""`dutywatch run` as a real process: ticks, heartbeat and `check`, metrics that promtool accepts,
reload that keeps the last good rules, and a clean drain on SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor.clock import SHANGHAI, utcnow
from tests.service.conftest import DUTYWATCH, ENTERPRISE, cli, free_port


@pytest.fixture
def running(workdir: Path) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    assert cli(workdir, "demo").returncode == 0
    token = cli(workdir, "token", "create", "--name", "ops", "--scopes", "read,admin,ingest").stdout.strip()
    port = free_port()
    env = {**os.environ, "DUTYWATCH_LISTEN": f"127.0.0.1:{port}"}
    process = subprocess.Popen(
        [*DUTYWATCH, "--config", str(workdir / "dutywatch.yaml"), "run"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if (
                httpx.get(
                    f"{url}/readyz", headers={"Authorization": f"Bearer {token}"}, timeout=2
                ).status_code
                == 200
            ):
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    try:
        yield process, url, token
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        assert process.stdout is not None
        process.stdout.close()


def test_check_fails_without_a_heartbeat(workdir: Path) -> None:
    result = cli(workdir, "check")
    assert result.returncode == 1 and "no heartbeat" in result.stderr


def test_the_daemon_ticks_serves_metrics_reloads_and_drains(
    running: tuple[subprocess.Popen[str], str, str], workdir: Path
) -> None:
    process, url, token = running
    auth = {"Authorization": f"Bearer {token}"}
    assert cli(workdir, "check").returncode == 0

    today = utcnow().astimezone(SHANGHAI).date().isoformat()
    event = {
        "id": "http-1",
        "type": "case_opened",
        "at": f"{today}T00:05:00+08:00",
        "case": "HTTP-1",
        "enterprise": ENTERPRISE,
        "channel": "forum",
        "complexity": "major",
        "category": "用地",
        "unit": "u-spj",
    }
    posted = httpx.post(f"{url}/v1/events", headers=auth, json=[event], timeout=30).json()
    assert posted["accepted"] == 1, posted
    deadline = time.monotonic() + 10
    while not [
        a
        for a in httpx.get(
            f"{url}/v1/alerts", headers=auth, params={"rule": "case-major-to-meeting"}, timeout=10
        ).json()
        if a["subject"] == "case:HTTP-1"
    ]:
        assert time.monotonic() < deadline, "the major case was not alerted"
        time.sleep(0.1)

    scrape = httpx.get(f"{url}/metrics", headers=auth, timeout=5).text
    assert "dutywatch_alerts_firing{" in scrape and "dutywatch_config_last_reload_successful 1.0" in scrape
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool must be installed in CI (.ci/run installs Debian's prometheus)")
    else:
        checked = subprocess.run(
            [promtool, "check", "metrics"], input=scrape, capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr

    rules = workdir / "rules" / "reviews.yaml"
    rules.write_text(
        rules.read_text(encoding="utf-8").replace("due_working_days: 15", "due_working_days: soon"),
        encoding="utf-8",
    )
    bad = httpx.post(f"{url}/-/reload", headers=auth, timeout=30)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "reload_failed"
    assert "reviews.yaml" in bad.json()["error"]["message"]
    assert (
        "dutywatch_config_last_reload_successful 0.0"
        in httpx.get(f"{url}/metrics", headers=auth, timeout=5).text
    )
    time.sleep(1.5)  # ticks go on with the last good rules
    assert httpx.get(f"{url}/v1/alerts", headers=auth, timeout=10).status_code == 200

    rules.write_text(
        rules.read_text(encoding="utf-8").replace("due_working_days: soon", "due_working_days: 15"),
        encoding="utf-8",
    )
    process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while (
        "dutywatch_config_last_reload_successful 1.0"
        not in httpx.get(f"{url}/metrics", headers=auth, timeout=5).text
    ):
        assert time.monotonic() < deadline, "SIGHUP did not reload"
        time.sleep(0.2)
    # both reloads are in the audit log, the failed one by its token, the signal's as such
    deadline = time.monotonic() + 10
    while True:
        audit = httpx.get(f"{url}/v1/audit", headers=auth, params={"action": "reload"}, timeout=10).json()
        if len(audit) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (audit[0]["actor"], audit[0]["source"], audit[0]["detail"]["ok"]) == ("signal", "SIGHUP", True)
    assert audit[1]["detail"]["ok"] is False and audit[1]["source"] == "127.0.0.1"

    process.send_signal(signal.SIGTERM)
    assert process.wait(15) == 0  # the daemon exits 1 when its drain overruns 10 s
    assert process.stdout is not None
    log = process.stdout.read()
    assert '"message": "stopped"' in log
    assert token not in log
