"""Packaging and deployment files: hadolint, promtool check and test rules, a dashboard that only
uses metrics the daemon exports."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.runtime.metrics import Metrics, Snapshot
from tests.service.conftest import Daemon, free_port

ROOT = Path(__file__).resolve().parents[2]


def tool(name: str) -> str:
    beside = Path(sys.executable).parent / name  # tools installed into the virtualenv
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} must be installed in CI")
        pytest.skip(f"{name} is not installed")
    return found


def test_dockerfile_is_clean_under_hadolint() -> None:
    result = subprocess.run(
        [tool("hadolint"), str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_rules_check_and_their_unit_tests_pass() -> None:
    promtool = tool("promtool")
    folder = ROOT / "deploy" / "prometheus"
    for args in (["check", "rules", "dutywatch-rules.yml"], ["test", "rules", "dutywatch-rules.test.yml"]):
        result = subprocess.run([promtool, *args], cwd=folder, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


def exported_names() -> set[str]:
    from prometheus_client import generate_latest

    metrics = Metrics()
    metrics.publish(Snapshot(calendar={"2026": True}))
    metrics.events_ingested.labels("visit", "accepted").inc()
    text = generate_latest(metrics.registry).decode()
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}


def test_the_dashboard_and_rules_use_only_exported_metrics() -> None:
    names = exported_names()
    series = set()
    for path in (ROOT / "deploy/grafana/dutywatch.json", ROOT / "deploy/prometheus/dutywatch-rules.yml"):
        series |= set(re.findall(r"dutywatch_[a-z_]+", path.read_text(encoding="utf-8")))
    known = {n for n in names} | {f"{n}_total" for n in names} | {f"{n}_bucket" for n in names}
    assert series <= known, series - known
    dashboard = json.loads((ROOT / "deploy/grafana/dutywatch.json").read_text(encoding="utf-8"))
    assert len(dashboard["panels"]) >= 8


def test_the_shipped_scrape_job_checks(tmp_path: Path) -> None:
    promtool = tool("promtool")
    folder = ROOT / "deploy" / "prometheus"
    result = subprocess.run(
        [promtool, "check", "config", "--syntax-only", "prometheus.yml"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_token_recipe_in_the_scrape_example_gives_the_hash_the_daemon_compares() -> None:
    from monitor.tokens import hash_token

    token = "dw_an-example-token"
    digest = subprocess.run(
        ["bash", "-c", 'printf %s "$TOKEN" | sha256sum'],
        env={**os.environ, "TOKEN": token},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    assert digest == hash_token(token)
    assert 'printf %s "$TOKEN" | sha256sum' in (ROOT / "deploy/prometheus/prometheus.yml").read_text()


SCRAPER = "dw_prometheus-reads-this-from-a-file"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "daemon_extra",
    [
        {
            "tokens": [
                {
                    "name": "prometheus",
                    "sha256": hashlib.sha256(SCRAPER.encode()).hexdigest(),
                    "scopes": ["metrics"],
                }
            ]
        }
    ],
)
def test_prometheus_scrapes_the_daemon_with_the_shipped_job(daemon: Daemon, tmp_path: Path) -> None:
    """A real Prometheus, with the shipped job (only the target, the token file and the interval
    changed), reaches the daemon: `up` is 1. Without the token file it is refused (401)."""
    import time

    import httpx
    import yaml

    prometheus = tool("prometheus")
    job = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text(encoding="utf-8"))
    token_file = tmp_path / "dutywatch.token"
    token_file.write_text(SCRAPER + "\n", encoding="utf-8")  # Prometheus trims the newline
    [scrape] = job["scrape_configs"]
    assert scrape["authorization"]["type"] == "Bearer"
    scrape["authorization"]["credentials_file"] = str(token_file)
    scrape["static_configs"] = [{"targets": [daemon.url.removeprefix("http://")]}]
    scrape["scrape_interval"] = "1s"
    job["rule_files"] = [str(ROOT / "deploy/prometheus/dutywatch-rules.yml")]
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(job), encoding="utf-8")
    port = free_port()
    process = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        health = None
        while time.monotonic() < deadline:
            try:
                targets = httpx.get(f"http://127.0.0.1:{port}/api/v1/targets", timeout=2).json()
                [target] = targets["data"]["activeTargets"]
                health = target["health"], target["lastError"]
                if health[0] != "unknown":
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.3)
        assert health == ("up", ""), health
    finally:
        process.terminate()
        process.wait(10)
    assert daemon.call(None, "GET", "/metrics").status_code == 401
