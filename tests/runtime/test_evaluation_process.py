"""The tick in a process of its own (monitor/runtime/evaluation_process.py), as the daemon runs it:
it commits what the tick on the daemon's thread commits, takes a reload at the next tick, says
why it failed, starts again when its process died, and dies with the daemon."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from monitor.clock import parse_instant
from monitor.runtime.evaluation_process import EvaluationProcess, TickFailed
from monitor.runtime.service import Service
from monitor.store.models import AlertRecord, ObligationRecord
from tests.evaluation.test_steady import (
    ALERT_COLUMNS,
    OBLIGATION_COLUMNS,
    TIMES,
    _arrived,
    _days,
    _events,
    _ingest,
    _roster,
    _second_database,
    _table,
)
from tests.service.conftest import ROOT, settings_for


def _apart(service: Service) -> EvaluationProcess:
    assert isinstance(service.ticker, EvaluationProcess)
    return service.ticker


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (dead, not yet reaped by its parent) counts as gone
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "State:\tZ" not in status.read_text()


@pytest.mark.timeout(600)
def test_a_tick_in_its_own_process_commits_what_one_on_the_daemons_thread_commits(
    db_url: str, tmp_path: Path
) -> None:
    """Over the year end, steady ticks and full ones, and a reload halfway (the inhibit rules
    dropped): the same transitions every tick, the same rows and metrics at the end."""
    other_url, drop = _second_database(db_url)
    apart = Service(settings_for(db_url, tmp_path, full_evaluation_seconds=86_400), evaluate_apart=True)
    here = Service(settings_for(other_url, tmp_path, full_evaluation_seconds=86_400))
    services = (apart, here)
    try:
        _roster(services)
        events = _events()
        instants = [
            parse_instant(f"{day}T{t}") for day in _days("2024-12-30", "2025-01-02") for t in TIMES[::2]
        ]
        fed = continued = 0
        for n, at in enumerate(instants):
            batch, fed = _arrived(events, fed, at)
            if batch:
                for service in services:
                    _ingest(service, batch, at)
            if n == len(instants) // 2:
                for service in services:  # what a reload does: new settings, the next tick takes them
                    service.settings = service.settings.model_copy(update={"inhibit": ()})
            if n % 5 == 4:
                apart.ticker.forget()
                here.ticker.forget()
            done, same = apart.tick(at), here.tick(at)
            continued += done.continued
            assert (done.alerts, done.obligations, done.continued) == (
                same.alerts,
                same.obligations,
                same.continued,
            )
            assert [t.record() for t in apart.last_changes] == [t.record() for t in here.last_changes], at
            assert apart.last_queued == here.last_queued
        assert continued > len(instants) // 2
        for model, columns in ((AlertRecord, ALERT_COLUMNS), (ObligationRecord, OBLIGATION_COLUMNS)):
            assert _table(apart, model, columns) == _table(here, model, columns), model
        assert apart.metrics.snapshot == here.metrics.snapshot
        # the reload reached the process: without the inhibit rule contact alerts fire beside visits
        inhibited = "pairing-monthly-visit"
        with apart.sessions() as session:
            assert session.scalar(
                text("SELECT count(*) FROM alerts WHERE inhibited_by = :r AND state != 'resolved'"),
                {"r": inhibited},
            ) == 0  # fmt: skip
    finally:
        for service in services:
            service.close()
        drop()


def test_a_process_that_died_fails_its_tick_and_the_next_starts_a_new_one(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service = Service(settings_for(db_url, tmp_path), evaluate_apart=True)
    try:
        _roster((service,))
        at = parse_instant("2024-12-18T10:00")
        assert service.tick(at).parts >= 1
        assert service.tick(at.replace(minute=5)).continued
        process = _apart(service)
        pid = process.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(TickFailed, match=r"the evaluation process ended \(exit code -9\)"):
            service.tick(at.replace(minute=10))
        assert service.metrics.tick_failures.labels("error")._value.get() == 1
        with caplog.at_level(logging.WARNING, logger="dutywatch"):
            again = service.tick(at.replace(minute=15))
        assert not again.continued  # the baseline died with the process: a full tick
        assert process.pid not in (None, pid)
        assert "starting a new one" in caplog.text
    finally:
        service.close()


def test_a_database_failure_in_the_process_counts_as_the_databases(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite's write lock held by another writer past the busy timeout: the tick fails as the
    database's (the metric), with the process's own log of it in the daemon's log."""
    url = f"sqlite:///{tmp_path / 'dutywatch.db'}"
    service = Service(settings_for(url, tmp_path, sqlite_busy_timeout_seconds=0.2), evaluate_apart=True)
    try:
        _roster((service,))
        at = parse_instant("2024-12-18T10:00")
        service.tick(at)  # the daemon's own first writes (the link key) before the lock is taken
        with service.engine.connect() as holder:
            holder.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                with caplog.at_level(logging.ERROR, logger="dutywatch"), pytest.raises(TickFailed) as failed:
                    service.tick(at)
            finally:
                holder.exec_driver_sql("ROLLBACK")
        assert failed.value.database and "database is locked" in str(failed.value)
        assert service.metrics.tick_failures.labels("database")._value.get() == 1
        assert service.metrics.database_up is False
        deadline = time.monotonic() + 5  # the relay hands records over on its own thread
        while "the tick failed" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "the tick failed" in caplog.text and "OperationalError" in caplog.text
        assert service.tick(at).parts >= 1
        assert service.metrics.database_up is True
    finally:
        service.close()


def test_the_process_dies_with_the_daemon_even_in_the_middle_of_a_tick(tmp_path: Path) -> None:
    """A SIGKILL to the daemon while its evaluation process waits inside a tick (here for SQLite's
    write lock, which the daemon held): the process dies too, and no tick of it is written
    beside the standby that takes over."""
    db = tmp_path / "d.db"
    script = f"""
import sys, threading, time
sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from monitor.clock import parse_instant
from monitor.runtime.service import Service
from tests.service.conftest import settings_for
settings = settings_for("sqlite:///{db}", Path({str(tmp_path)!r}), sqlite_busy_timeout_seconds=120)
service = Service(settings, evaluate_apart=True)
service.tick(parse_instant("2024-12-18T10:00"))
holder = service.engine.connect()
holder.exec_driver_sql("BEGIN IMMEDIATE")
threading.Thread(target=service.tick, args=(parse_instant("2024-12-18T10:05"),), daemon=True).start()
time.sleep(1.5)
print(service.ticker.pid, flush=True)
time.sleep(600)
"""
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT
    ) as daemon:
        try:
            assert daemon.stdout is not None
            child = int(daemon.stdout.readline())
            assert _alive(child)
            daemon.kill()  # the lock goes with it: a surviving process would finish its tick
            daemon.wait(10)
            deadline = time.monotonic() + 10
            while _alive(child) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _alive(child)
        finally:
            daemon.kill()
    time.sleep(1)
    with sqlite3.connect(db) as conn:
        (last,) = conn.execute("SELECT at FROM ticks").fetchone()
    assert str(last).startswith("2024-12-18 02:00:00"), last  # the first tick's, 10:00 Shanghai
