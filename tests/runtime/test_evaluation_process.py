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
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from monitor.clock import parse_instant
from monitor.runtime.evaluation_process import EvaluationProcess, TickFailed
from monitor.runtime.service import Service
from monitor.runtime.ticker import Ticker
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


def test_the_process_starts_with_the_first_tick_and_again_after_it_died(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A standby that never leads starts none; one killed between ticks is replaced by the next
    tick, which succeeds (a full one: the baseline died with it); one killed inside a tick fails
    that tick with its exit code, and the next starts anew."""
    service = Service(settings_for(db_url, tmp_path), evaluate_apart=True)
    try:
        process = _apart(service)
        assert process.pid is None
        _roster((service,))
        at = parse_instant("2024-12-18T10:00")
        assert service.tick(at).parts >= 1
        assert service.tick(at.replace(minute=5)).continued
        first = process.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        while _alive(first):
            time.sleep(0.02)
        with caplog.at_level(logging.WARNING, logger="dutywatch"):
            again = service.tick(at.replace(minute=10))
        assert not again.continued and process.pid not in (None, first)
        assert "it ended (exit code -9); starting a new one" in caplog.text
        assert service.metrics.tick_failures.labels("error")._value.get() == 0

        second = process.pid
        assert second is not None
        real = process._ask

        def killed_inside(conn: Any, message: tuple[object, ...]) -> Any:
            if message[0] == "tick":
                os.kill(second, signal.SIGKILL)
            return real(conn, message)

        process._ask = killed_inside  # type: ignore[method-assign]
        with pytest.raises(TickFailed, match=r"the evaluation process ended \(exit code -9\)"):
            service.tick(at.replace(minute=15))
        process._ask = real  # type: ignore[method-assign]
        assert service.metrics.tick_failures.labels("error")._value.get() == 1
        assert not service.tick(at.replace(minute=20)).continued
    finally:
        service.close()


def test_a_process_started_from_a_thread_that_ended_lives_on(db_url: str, tmp_path: Path) -> None:
    """Linux's death signal follows the thread that started the child: a tick on a short-lived
    thread (a test's, a benchmark's) must not leave a process that dies with that thread."""
    service = Service(settings_for(db_url, tmp_path), evaluate_apart=True)
    try:
        _roster((service,))
        at = parse_instant("2024-12-18T10:00")
        first = threading.Thread(target=service.tick, args=(at,))
        first.start()
        first.join()
        pid = service.ticker.pid if isinstance(service.ticker, EvaluationProcess) else None
        assert pid is not None
        time.sleep(0.3)
        assert _alive(pid)
        assert service.tick(at.replace(minute=5)).continued
    finally:
        service.close()


def test_an_in_memory_database_is_evaluated_on_the_daemons_thread(tmp_path: Path) -> None:
    """Another process cannot see a SQLite database in memory."""
    service = Service(settings_for("sqlite://", tmp_path), evaluate_apart=True)
    try:
        assert isinstance(service.ticker, Ticker)
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
        # the process's own record, sent before its answer
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
from monitor.runtime.ticker import Ticker
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


def test_the_process_runs_the_daemons_code_whatever_the_working_directory_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service started in a directory holding another `monitor` package (a checkout, a
    writable state directory): the evaluation process imports the daemon's own."""
    other = tmp_path / "elsewhere" / "monitor"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("raise ImportError('the wrong monitor')\n")
    monkeypatch.chdir(other.parent)
    service = Service(settings_for(f"sqlite:///{tmp_path / 'd.db'}", tmp_path), evaluate_apart=True)
    try:
        assert service.tick(parse_instant("2024-12-18T10:00")).parts >= 1
    finally:
        service.close()
