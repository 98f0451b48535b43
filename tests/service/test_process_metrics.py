"""/metrics carries the standard process_* and python_info series operators expect, on the
daemon's private registry, and promtool still accepts the whole scrape."""

from __future__ import annotations

import os
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.service.conftest import Daemon
from tests.service.test_packaging import tool

HTTP_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@HTTP_ONLY
def test_metrics_include_this_process_and_promtool_accepts_them(daemon: Daemon) -> None:
    scrape = daemon.call("metrics", "GET", "/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(scrape)}
    for name in (
        "process_cpu_seconds",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
        "process_open_fds",
        "python_info",
    ):
        assert name in families, name
    # the process is this one (the test runs the server in its own process), not some default
    start = families["process_start_time_seconds"].samples[0].value
    assert abs(start - _start_time_of(os.getpid())) < 2
    assert "dutywatch_database_up" in families  # the daemon's own series are still there
    checked = subprocess.run(
        [tool("promtool"), "check", "metrics"], input=scrape, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _start_time_of(pid: int) -> float:
    """When the process started (Unix time), from /proc as the collector reads it."""
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat", encoding="ascii") as stat:
        boot = next(float(line.split()[1]) for line in stat if line.startswith("btime "))
    with open(f"/proc/{pid}/stat", encoding="ascii") as proc:
        fields = proc.read().rpartition(")")[2].split()
    return boot + float(fields[19]) / ticks
