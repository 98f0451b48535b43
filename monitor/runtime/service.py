"""The daemon's state and operations, apart from HTTP and the event loop: load and reload
config, rules and calendar; tick (evaluate now and commit); ingest; the heartbeat.

Ticks are asked for on one dedicated thread (`executor`), which keeps the event loop free for
the API while one runs; the tick itself (monitor/runtime/ticker.py) runs on that thread or, in
the daemon, in a process of its own (monitor/runtime/evaluation_process.py), so that its Python
does not take the interpreter from the API's requests.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from sqlalchemy import text

from monitor.alerts.dispatch import Dispatcher, Outcome, depth
from monitor.alerts.lifecycle import Transition
from monitor.alerts.links import signing_key
from monitor.calendar import coverage as calendar_coverage
from monitor.calendar.working_days import load_calendar
from monitor.clock import utcnow
from monitor.config import Settings, load_settings
from monitor.evaluation.evaluate import Evaluator
from monitor.ingest.commit import commit_retrying
from monitor.ingest.events import ingest_events
from monitor.ingest.outcome import RecordOutcome
from monitor.rulebook import load_rulebook
from monitor.runtime.evaluation_process import EvaluationProcess, database_failed
from monitor.runtime.heartbeat import write_heartbeat
from monitor.runtime.leader import Leadership
from monitor.runtime.metrics import Metrics, Snapshot
from monitor.runtime.ticker import Ticked, Ticker, TickSummary
from monitor.store.db import WalCopier, engine_for, ensure_schema, in_memory, session_factory
from monitor.yamlsource import SourceError
from notifiers import build as build_channel
from notifiers.base import Notifier

log = logging.getLogger("dutywatch")


def _load(settings: Settings) -> Evaluator:
    """The rules and calendar the settings name, with their matcher: replaced whole on reload."""
    rulebook = load_rulebook(settings.rules_dir)
    calendar = load_calendar(settings.calendar.overrides_dir, settings.calendar.unannounced)
    return Evaluator.of(rulebook, calendar)


def worker_name() -> str:
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def build_notifiers(settings: Settings, channels: tuple[str, ...]) -> dict[str, Notifier]:
    """Instances of the channels in use, each built by its class in the registry (notifiers/) from
    its own settings; a channel whose settings are missing is left out, and the dispatcher
    dead-letters its rows with that reason."""
    built: dict[str, Notifier] = {}
    for channel in channels:
        notifier = build_channel(channel, settings.channel_values(channel))
        if notifier is not None:
            built[channel] = notifier
    return built


class Service:
    def __init__(
        self, settings: Settings, config_path: Path | None = None, *, evaluate_apart: bool = False
    ) -> None:
        self.settings = settings
        self.config_path = config_path
        self.engine = engine_for(settings)
        ensure_schema(self.engine)
        self.sessions = session_factory(self.engine)
        self.metrics = Metrics()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dutywatch-eval")
        self.wal = WalCopier(self.engine)  # SQLite's log copied as ingest fills it, off its commits
        self.loaded = _load(settings)
        self.reload_ok = True
        self.last_tick: datetime | None = None
        self.last_queued = 0  # notifications, digests, reports the last tick queued: wake-ups
        self.last_changes: list[Transition] = []  # the alert transitions of the last tick
        self._tick_lock = threading.Lock()
        self._calendar_warned: frozenset[int] = frozenset()  # years the log has named (no repeats)
        self.leadership = Leadership(self.engine)
        self.channels = settings.channels()
        self.dispatcher = Dispatcher(
            self.sessions,
            build_notifiers(settings, self.channels),
            settings.notify,
            worker_name(),
            signatures=settings.sms_signatures(),
        )
        self.dispatcher.on_lane_end = self._lane_ended
        self.after_lane: Callable[[], None] | None = None  # set by the daemon: the next batch
        self._link_key: tuple[object, bytes] | None = None
        # the tick's state and work: here, or in a process of its own (`evaluate_apart`; not for an
        # in-memory database, which another process cannot see)
        self.ticker: Ticker | EvaluationProcess = (
            EvaluationProcess(settings, self.dispatcher.worker, self.loaded)
            if evaluate_apart and not in_memory(settings.database_url)
            else Ticker(self.engine, self.dispatcher.worker, settings, self.loaded)
        )

    def link_key(self) -> bytes:
        """The key action links are signed with (monitor/alerts/links.py), read once per configured
        secret: a reload that changes it takes effect, and old links stop working."""
        configured = self.settings.links.secret
        if self._link_key is None or self._link_key[0] != configured:
            self._link_key = (configured, signing_key(self.settings.links, self.sessions, utcnow()))
        return self._link_key[1]

    async def dispatch(self) -> bool:
        """Start sending what is due on the channels no lane is sending on, and refresh the
        outbox gauges; whether the batch was full (more may be due now). The lanes go on after
        it returns (a mail server may take ten minutes to answer), their outcomes counted as
        each ends (`_lane_ended`)."""

        now = utcnow()
        batch = await self.dispatcher.start(now)

        def measure() -> tuple[int, float]:
            with self.sessions() as session:
                return depth(session, now)

        self.metrics.outbox_depth, self.metrics.outbox_oldest_seconds = await asyncio.to_thread(measure)
        return batch.full

    def _lane_ended(self, lane: asyncio.Task[list[Outcome]]) -> None:
        """Count a lane's outcomes (every lane of this service's dispatcher: the daemon's batches
        and test messages alike), then tell `after_lane` (the daemon asks for the next batch:
        what waited behind the lane's channel)."""
        failure = lane.exception()
        if failure is not None:  # the database away: its rows stay claimed, retried after the lease
            log.error("sending notifications failed: %s: %s", type(failure).__name__, failure)
        else:
            for outcome in lane.result():
                self.metrics.notifications.labels(outcome.channel, outcome.status).inc()
        if self.after_lane is not None:
            self.after_lane()

    def reload(self) -> tuple[bool, str]:
        """Reload config, rules and calendar; a broken file keeps the last good ones running.

        Settings that need a restart (database, listen address) keep their running values.
        """
        try:
            fresh = load_settings(self.config_path, db_url=self.settings.database_url)
            loaded = _load(fresh)
        except Exception as exc:  # whatever broke (a located SourceError, or worse), keep running
            self.reload_ok = self.metrics.reload_ok = False
            reason = str(exc) if isinstance(exc, SourceError) else f"{type(exc).__name__}: {exc}"
            log.error("reload failed, keeping the last good config and rules: %s", reason)
            return False, reason
        self.settings = fresh.model_copy(
            update={"database_url": self.settings.database_url, "listen": self.settings.listen}
        )
        self.loaded = loaded
        # the channels and their settings (an SMTP server fixed, a password changed, quiet hours,
        # retries): the dispatcher's next batch sends through them; the tick enqueues for the
        # channels its settings name (a lane under way ends with the channel it began with)
        self.channels = self.settings.channels()
        self.dispatcher.notifiers = build_notifiers(self.settings, self.channels)
        self.dispatcher.settings = self.settings.notify
        self.dispatcher.signatures = dict(self.settings.sms_signatures())
        self.reload_ok = self.metrics.reload_ok = True
        log.info("config and rules reloaded: %d rules", len(loaded.rulebook.rules))
        return True, "reloaded"

    def tick(self, now: datetime | None = None) -> TickSummary:
        """Evaluate at now and commit (`Ticker`); refresh the metrics, the heartbeat and the log.

        Call on `executor` (one thread); the lock also guards direct callers such as tests.
        """
        with self._tick_lock:
            at = now or utcnow()
            try:
                key = self.link_key()  # before the tick's writes: a first start writes the key
                ticked = self.ticker.tick(at, key, self.settings, self.loaded)
            except Exception as exc:
                unreachable = database_failed(exc)
                if unreachable:
                    self.metrics.database_up = False
                self.metrics.tick_failures.labels("database" if unreachable else "error").inc()
                raise
            self.metrics.database_up = True
            self._publish(at, ticked)
        return ticked.summary

    def _publish(self, at: datetime, ticked: Ticked) -> None:
        """A tick's figures into the metrics, the heartbeat, `last_*` and the log."""
        summary = ticked.summary
        self.metrics.evaluation_seconds.observe(summary.seconds)
        self.metrics.publish(Snapshot.counted(at, ticked.tallies, self.coverage(at)))
        self.announce_calendar(at)
        write_heartbeat(self.settings.heartbeat_file, at)
        self.last_tick = at
        self.last_queued = ticked.queued
        self.last_changes = ticked.changes
        for problem in [*summary.problems, *summary.uncomputable]:
            log.warning("evaluation problem: %s", problem)
        log.info(
            "tick: %d alerts, %d transitions, %d notifications queued in %.3f s",
            summary.alerts,
            summary.transitions,
            ticked.queued,
            summary.seconds,
            extra={"fields": {"alerts": summary.alerts, "seconds": round(summary.seconds, 3)}},
        )

    def coverage(self, now: datetime) -> dict[str, bool]:
        """Whether a notice covers this year and, from 1 November, the next (for the metric)."""
        # the same decision as every warning's (monitor/calendar/coverage.py): a provisional year
        # counts as uncovered, so the alert fires exactly when the words do
        return {
            str(y): official for y, official in calendar_coverage.coverage(self.loaded.calendar, now).items()
        }

    def announce_calendar(self, now: datetime) -> None:
        """Log at WARNING each year that lacks a State Council notice at `now`, once.

        The daemon calls it at start and every tick calls it, so a daemon running through
        1 November, or a reload that drops a notice, says it too; a year stays unsaid while it
        stays warned about, and is said again if its notice goes and comes back.
        """
        warnings = calendar_coverage.coverage_warnings(self.loaded.calendar, now)
        for warning in warnings:
            if warning.year not in self._calendar_warned:
                log.warning(
                    "calendar: %s",
                    warning.message,
                    extra={"fields": {"year": warning.year, "mode": warning.mode}},
                )
        self._calendar_warned = frozenset(w.year for w in warnings)

    def ingest(self, records: list[tuple[str, object]]) -> list[RecordOutcome]:
        """Validate and commit events; counts each outcome in the metrics."""
        now = utcnow()
        outcomes = commit_retrying(
            self.sessions, lambda session: ingest_events(session, records, now=now, settings=self.settings)
        )
        self.metrics.count_ingested([r for _, r in records], outcomes)
        self.wal.wrote(sum(1 for o in outcomes if o.status == "accepted"))
        return outcomes

    def database_ok(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:  # any failure means "not reachable"
            self.metrics.database_up = False
            return False
        self.metrics.database_up = True
        return True

    def lead(self) -> bool:
        """Poll the leadership; only the leader ticks and dispatches."""
        leader = self.leadership.poll()
        self.metrics.leader = leader
        return leader

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.ticker.close()
        self.wal.close()
        self.leadership.release()
        self.engine.dispose()
