"""Packaging and deployment files: hadolint, promtool check and test rules, a dashboard that only
uses metrics the daemon exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.metrics import Metrics, Snapshot

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
