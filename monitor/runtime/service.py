"""The daemon's state and operations, apart from HTTP and the event loop: load and reload
config, rules and calendar; tick (evaluate now and commit); ingest; the heartbeat.

Evaluation runs on one dedicated thread (`executor`): the durable-rules matcher is not
thread-safe, and the event loop must stay free for the API while a tick runs.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SATimeoutError

from monitor.alerts.digest import make_digests
from monitor.alerts.dispatch import Dispatcher, depth
from monitor.alerts.enqueue import Run, enqueue
from monitor.alerts.lifecycle import (
    Plan,
    Transition,
    last_tick,
    missing_obligations,
    plan_commit,
    record_tick,
    write_alerts,
    write_obligations,
)
from monitor.alerts.links import link_maker, signing_key
from monitor.calendar import coverage as calendar_coverage
from monitor.calendar.working_days import CalendarNotCovered, load_calendar
from monitor.clock import local_date, utcnow
from monitor.config import Settings, load_settings
from monitor.evaluation.evaluate import (
    Evaluation,
    Evaluator,
    gc_paused,
    uncomputable_counts,
    uncomputable_lines,
)
from monitor.evaluation.steady import (
    CASES_A_PART,
    ENTERPRISES_A_PART,
    Baseline,
    Part,
    full_parts,
    strays,
)
from monitor.ingest.commit import commit_retrying
from monitor.ingest.events import ingest_events
from monitor.ingest.outcome import RecordOutcome
from monitor.periods import period_of
from monitor.reports.mail import mail_monthly_report
from monitor.reports.monthly import duties_due
from monitor.reports.ontime import month_bounds
from monitor.roster import RosterIndex
from monitor.rulebook import load_rulebook
from monitor.runtime.heartbeat import write_heartbeat
from monitor.runtime.leader import Leadership
from monitor.runtime.metrics import Metrics, Snapshot
from monitor.store.changes import consume, pending_changes
from monitor.store.db import checkpoint, ensure_schema, make_engine, session_factory
from monitor.yamlsource import SourceError
from notifiers import build as build_channel
from notifiers.base import Notifier

log = logging.getLogger("dutywatch")
T = TypeVar("T")
# How long one of a tick's write transactions aims to last: on SQLite each holds the one write
# lock, and ingest waits for it (docs/scaling.md)
WRITE_SECONDS = 0.05


def timed_chunks(
    items: Sequence[T], seconds: float = WRITE_SECONDS, first: int = 200
) -> Iterator[Sequence[T]]:
    """Slices of items sized so that the caller's work on each (timed between yields) takes about
    `seconds`: each size follows from the last one's pace, at most doubling."""
    size, i = first, 0
    while i < len(items):
        part = items[i : i + size]
        started = time.perf_counter()
        yield part
        elapsed = max(time.perf_counter() - started, 1e-4)
        i += len(part)
        size = max(10, min(2 * size, int(len(part) * seconds / elapsed)))


# a tick keeps at most this many of its transitions for `last_changes` (a province's first tick
# makes a million)
LAST_CHANGES = 10_000


@dataclass(frozen=True)
class TickSummary:
    """What a tick did: when, how long its evaluation took (the parts' sum), how many alerts fire,
    its transitions, whether it continued the last one (and how many keys it re-derived then),
    and what it could not evaluate."""

    at: datetime
    seconds: float
    alerts: int  # firing, not inhibited, after the tick
    obligations: int  # in view after the tick
    transitions: int
    continued: bool
    keys: int  # the keys the tick's parts re-derived or compared
    parts: int
    problems: tuple[str, ...] = ()
    uncomputable: tuple[str, ...] = ()  # one line per rule with duties set aside (no calendar)


@dataclass
class _Tally:
    """A tick's figures, summed over its parts."""

    at: datetime
    seconds: float = 0.0
    transitions: int = 0
    queued: int = 0
    keys: int = 0
    parts: int = 0
    continued: bool = False
    overwritten: bool = False  # another process recorded a tick meanwhile
    problems: list[str] = field(default_factory=list)
    incomplete: set[str] = field(default_factory=set)
    gaps: Counter[tuple[str, int | None]] = field(default_factory=Counter)
    changes: list[Transition] = field(default_factory=list)

    def add(self, piece: Evaluation, plan: Plan) -> None:
        self.seconds += piece.seconds
        self.transitions += len(plan.changes)
        self.keys += len(piece.delta or ())
        self.parts += 1
        self.problems += piece.problems
        self.incomplete |= piece.incomplete_rules
        self.gaps += uncomputable_counts(piece.obligations)
        room = LAST_CHANGES - len(self.changes)
        if room > 0:
            self.changes += plan.changes[:room]

    def summary(self, base: Baseline) -> TickSummary:
        self.changes.sort(key=lambda t: (t.rule, t.subject, t.period or "", t.change))
        return TickSummary(
            at=self.at,
            seconds=self.seconds,
            alerts=sum(base.firing.values()),
            obligations=sum(base.tally.values()),
            transitions=self.transitions,
            continued=self.continued,
            keys=self.keys,
            parts=self.parts,
            problems=tuple(self.problems),
            uncomputable=tuple(uncomputable_lines(self.gaps)),
        )


def _load(settings: Settings) -> Evaluator:
    """The rules and calendar the settings name, with their matcher: replaced whole on reload."""
    rulebook = load_rulebook(settings.rules_dir)
    calendar = load_calendar(settings.calendar.overrides_dir, settings.calendar.unannounced)
    return Evaluator.of(rulebook, calendar)


def worker_name() -> str:
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def channels_of(settings: Settings) -> tuple[str, ...]:
    """The configured channels; by default email when SMTP is configured, else the console."""
    if settings.notify.channels is not None:
        return settings.notify.channels
    return ("email",) if settings.smtp.url is not None else ("console",)


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
    def __init__(self, settings: Settings, config_path: Path | None = None) -> None:
        self.settings = settings
        self.config_path = config_path
        self.engine = make_engine(
            settings.database_url,
            busy_timeout=settings.sqlite_busy_timeout_seconds,
            synchronous=settings.sqlite_synchronous,
        )
        ensure_schema(self.engine)
        self.sessions = session_factory(self.engine)
        self.metrics = Metrics()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dutywatch-eval")
        self.loaded = _load(settings)
        self.reload_ok = True
        self.last_tick: datetime | None = None
        self.last_queued = 0  # notifications, digests, reports the last tick queued: wake-ups
        self.last_changes: list[Transition] = []  # the alert transitions of the last tick
        # the last committed evaluation, continued by the next tick (leader only; monitor/evaluation/steady.py)
        self.baseline: Baseline | None = None
        # enterprises and cases a full tick's part holds (monitor/evaluation/steady.py)
        self.part_sizes = (ENTERPRISES_A_PART, CASES_A_PART)
        self._strays_checked: object = None  # the rulebook the last look for stray alerts ran under
        self._tick_row: tuple[object, ...] | None = None  # the ticks row as the running tick found it
        self._tick_lock = threading.Lock()
        self._recorded_month = ""  # the month whose duties this process has recorded whole
        self._calendar_warned: frozenset[int] = frozenset()  # years the log has named (no repeats)
        self.leadership = Leadership(self.engine)
        self.channels = channels_of(settings)
        self.dispatcher = Dispatcher(
            self.sessions,
            build_notifiers(settings, self.channels),
            settings.notify,
            worker_name(),
            signatures=settings.sms_signatures(),
        )
        self._link_key: tuple[object, bytes] | None = None

    def link_key(self) -> bytes:
        """The key action links are signed with (monitor/alerts/links.py), read once per configured
        secret: a reload that changes it takes effect, and old links stop working."""
        configured = self.settings.links.secret
        if self._link_key is None or self._link_key[0] != configured:
            self._link_key = (configured, signing_key(self.settings.links, self.sessions, utcnow()))
        return self._link_key[1]

    async def dispatch(self) -> bool:
        """Send what is due, count the outcomes, refresh the outbox gauges; whether the batch was
        full (more may be due now)."""
        import asyncio

        now = utcnow()
        outcomes = await self.dispatcher.run_once(now)
        for outcome in outcomes:
            self.metrics.notifications.labels(outcome.channel, outcome.status).inc()

        def measure() -> tuple[int, float]:
            with self.sessions() as session:
                return depth(session, now)

        self.metrics.outbox_depth, self.metrics.outbox_oldest_seconds = await asyncio.to_thread(measure)
        return len(outcomes) >= self.dispatcher.BATCH

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
        self.reload_ok = self.metrics.reload_ok = True
        log.info("config and rules reloaded: %d rules", len(loaded.rulebook.rules))
        return True, "reloaded"

    def tick(self, now: datetime | None = None) -> TickSummary:
        """Evaluate at now and commit; refresh the metrics snapshot and the heartbeat.

        Call on `executor` (one thread); the lock also guards direct callers such as tests.
        """
        with self._tick_lock:
            try:
                summary = self._tick(now)
            except Exception as exc:
                # a part may have written its duty rows and not its alerts: the next full tick
                # looks for alerts no row holds (`steady.strays`) again
                self._strays_checked = None
                unreachable = isinstance(exc, DBAPIError | SATimeoutError)
                if unreachable:
                    self.metrics.database_up = False
                self.metrics.tick_failures.labels("database" if unreachable else "error").inc()
                raise
            self.metrics.database_up = True
            return summary

    def _tick(self, now: datetime | None) -> TickSummary:
        """Evaluate in parts, each read and then written in short transactions.

        A part's answer and what differs from the stored rows are worked out by reads first;
        then its writes go in transactions of about `WRITE_SECONDS` each, so that on SQLite
        ingest never waits long for the write lock: the obligation rows first, then each alert
        chunk with the notifications of its transitions. A crash between them leaves some
        subjects in their new state with their messages queued and the rest as they were, so the
        next tick (a full one: the baseline's counts live in memory) finds transitions for the
        rest only, and nothing is told twice or never. The change records read are consumed by the
        last transaction, with the tick record, the reminders, the digests and the monthly mail.
        """
        at = now or utcnow()
        key = self.link_key()  # before the tick's writes: a first start writes the key
        with gc_paused():
            base, parts, consumed = self._plan_parts(at)
            tally = _Tally(at, continued=isinstance(parts[0], Evaluation))
            self.baseline = None  # whatever fails below, start afresh next time
            for part in parts:
                with self.sessions() as session:
                    piece = (
                        part if isinstance(part, Evaluation) else base.derive(session, part, at, full=True)
                    )
                    plan = plan_commit(session, piece)
                tally.add(piece, plan)
                tally.queued += self._write(plan, at, key)
                del piece, plan  # one part's duties at a time
                gc.collect(0)  # and its cycles (the collector is paused for the tick)
            if not tally.continued and self._strays_checked is not self.loaded.rulebook:
                with self.sessions() as session:
                    plan = plan_commit(session, strays(session, at, tally.incomplete))
                tally.add(plan.evaluation, plan)
                tally.queued += self._write(plan, at, key)
                self._strays_checked = self.loaded.rulebook
            month = self._record_month(at, base.roster, [p for p in parts if isinstance(p, Part)])
            queued = tally.queued + self._finish(base, tally, consumed, at, key)
        checkpoint(self.engine)  # SQLite's WAL into the database here, not in an ingest's commit
        if month:
            self._recorded_month = month
        summary = tally.summary(base)
        if not summary.problems and not tally.overwritten:
            self.baseline = base
        self.metrics.evaluation_seconds.observe(summary.seconds)
        self.metrics.publish(Snapshot.counted(at, base.tallies, self.coverage(at)))
        self.announce_calendar(at)
        write_heartbeat(self.settings.heartbeat_file, at)
        self.last_tick = at
        self.last_queued = queued
        self.last_changes = tally.changes
        for problem in [*summary.problems, *summary.uncomputable]:
            log.warning("evaluation problem: %s", problem)
        log.info(
            "tick: %d alerts, %d transitions, %d notifications queued in %.3f s",
            summary.alerts,
            summary.transitions,
            queued,
            summary.seconds,
            extra={"fields": {"alerts": summary.alerts, "seconds": round(summary.seconds, 3)}},
        )
        return summary

    def _plan_parts(self, at: datetime) -> tuple[Baseline, list[Part | Evaluation], list[int]]:
        """The baseline and the parts of this tick: the last baseline and the one part a steady
        tick re-derives (already evaluated: it may turn out to need a full tick), or a fresh
        baseline and parts covering everything; and the change records read."""
        loaded, settings = self.loaded, self.settings
        with self.sessions() as session:
            self._tick_row = last_tick(session)
            changes = pending_changes(session, at)
            base = self.baseline
            if base is not None and base.usable(session, at, loaded.rulebook, settings):
                part = base.steady_part(session, at, changes)
                if part is not None:
                    # the part's answer counts at once: if it cannot be used, the baseline goes
                    piece = base.derive(session, part, at, full=False)
                    if not piece.problems:
                        base.at = at
                        return base, [piece], changes.ids
            fresh = Baseline.start(session, at, loaded, settings, self.dispatcher.worker)
            return fresh, [*full_parts(session, loaded.rulebook, settings, self.part_sizes)], changes.ids

    def _write(self, plan: Plan, at: datetime, key: bytes) -> int:
        """A part's writes in short transactions (see `_tick`): its obligation rows, then its
        alerts, each chunk with the notifications of its transitions; returns the notifications
        queued."""
        rows: list[tuple[bool, dict[str, Any]]] = [(True, r) for r in plan.obligation_inserts]
        rows += [(False, r) for r in plan.obligation_updates]
        for slice_ in timed_chunks(rows, first=2000):
            with self.sessions() as session:
                write_obligations(
                    session, [r for new, r in slice_ if new], [r for new, r in slice_ if not new]
                )
                session.commit()
        loaded, settings = self.loaded, self.settings
        by_key: dict[tuple[str, str, str], list[Transition]] = {}
        for change in plan.changes:
            by_key.setdefault((change.rule, change.subject, change.period or ""), []).append(change)
        keys = sorted(set(plan.alerts) | set(by_key))
        queued = 0
        for part in timed_chunks(keys):
            with self.sessions() as session:
                write_alerts(session, [plan.alerts[k] for k in part if k in plan.alerts])
                told = [change for k in part for change in by_key.get(k, ())]
                run = Run.configured(
                    settings, loaded.rulebook, at, self.channels, link_maker(settings.links, key, session)
                )
                queued += enqueue(session, run, told, renotify=False)
                session.commit()
        return queued

    def _finish(self, base: Baseline, tally: _Tally, consumed: list[int], at: datetime, key: bytes) -> int:
        """The tick's last transaction: its record, the change records consumed, the reminders,
        the digests and the monthly mail; returns the notifications queued."""
        loaded, settings = self.loaded, self.settings
        with self.sessions() as session:
            # another process committed an evaluation while the parts went (`evaluate --commit`):
            # some subjects hold its answer, so the next tick starts afresh
            tally.overwritten = last_tick(session) != self._tick_row
            record_tick(
                session,
                at,
                tally.seconds,
                sum(base.firing.values()),
                tally.transitions,
                self.dispatcher.worker,
            )
            consume(session, consumed)
            links = link_maker(settings.links, key, session)
            # reminders due, and alerts held back when they fired (silenced or inhibited then)
            queued = enqueue(
                session,
                Run.configured(settings, loaded.rulebook, at, self.channels, links),
                [],
                renotify=True,
            )
            try:
                workday = loaded.calendar.is_workday(local_date(at))
            except CalendarNotCovered:
                workday = True  # no calendar for the year: send the digest rather than hold it
            # digests and the monthly report are notifications too: they wake the dispatcher
            queued += make_digests(
                session, at, workday, settings.notify.digest_time, links, settings.sms_signatures()
            )
            if "email" in self.channels:
                queued += mail_monthly_report(
                    session, loaded.rulebook, loaded.calendar, settings, loaded.matcher, at
                )
            session.commit()
        return queued

    def _record_month(self, at: datetime, roster: RosterIndex, parts: list[Part]) -> str:
        """Record this month's duties the tick's view no longer holds, once per month and
        process; returns the month's label (empty when done already).

        The status page counts the month from the recorded rows; the report collects every duty
        due in the month (monitor/reports/monthly.py). A duty met long before its due time leaves the
        tick's view after RECENT days, so a daemon started after that would never record it: the
        two would disagree. The duties the tick wrote keep their rows. It goes by the full tick's
        parts (a steady tick's: parts of its own), with the tick's roster."""
        month = period_of("month", local_date(at))
        if self._recorded_month == month.label:
            return ""
        start, after = month_bounds(month)
        loaded, settings = self.loaded, self.settings
        if not parts:  # a steady tick crossed into the month
            with self.sessions() as session:
                parts = full_parts(session, loaded.rulebook, settings, self.part_sizes)
        for part in parts:  # a province's month is a million duties: a part's at a time
            with self.sessions() as session:
                duties = duties_due(
                    session, loaded.rulebook, loaded.calendar, settings, start, after, at, part.rules, roster
                )
                rows = missing_obligations(session, duties, at)
            del duties
            for slice_ in timed_chunks(rows, first=2000):
                with self.sessions() as session:
                    write_obligations(session, list(slice_), [])
                    session.commit()
        return month.label

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
        self.leadership.release()
        self.engine.dispose()
