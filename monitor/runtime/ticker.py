"""The tick: the evaluation in parts, its commit, and the baseline the next tick continues
(monitor/evaluation/steady.py), apart from the daemon's metrics, heartbeat and logs.

`Ticker` holds what a tick keeps from one to the next and runs on its caller's thread; the daemon
runs one in a process of its own (monitor/runtime/evaluation_process.py) so that a full tick's
seconds of Python do not take the interpreter from the API (docs/scaling.md).
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.engine import Engine

from monitor.alerts.digest import make_digests
from monitor.alerts.enqueue import Run, enqueue
from monitor.alerts.lifecycle import (
    Plan,
    Transition,
    last_tick,
    month_record,
    plan_commit,
    record_tick,
    write_alerts,
    write_obligations,
)
from monitor.alerts.links import link_maker
from monitor.calendar.working_days import CalendarNotCovered
from monitor.clock import local_date
from monitor.config import Settings
from monitor.evaluation.evaluate import (
    Evaluation,
    Evaluator,
    gc_paused,
    uncomputable_counts,
    uncomputable_lines,
)
from monitor.evaluation.obligations.periodic import in_view_until_due
from monitor.evaluation.steady import (
    CASES_A_PART,
    ENTERPRISES_A_PART,
    Baseline,
    Part,
    Tallies,
    full_parts,
    strays,
)
from monitor.periods import period_of
from monitor.reports.mail import mail_monthly_report
from monitor.reports.monthly import duties_due
from monitor.reports.ontime import month_bounds
from monitor.roster import RosterIndex
from monitor.store.changes import consume, pending_changes
from monitor.store.db import checkpoint, session_factory
from monitor.store.models import AlertRecord, Notification, ObligationRecord
from monitor.store.statistics import PlannerStatistics

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
    kept: int = 0  # of those, quiet duties kept as their stored rows say, not built
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
    kept: int = 0
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
        self.kept += len(piece.continued.kept) if piece.continued is not None else 0
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
            kept=self.kept,
            problems=tuple(self.problems),
            uncomputable=tuple(uncomputable_lines(self.gaps)),
        )


@dataclass(frozen=True)
class Ticked:
    """A tick's answer to the daemon: its summary, the counts the metrics are made of, the
    notifications it queued (they wake the dispatcher) and its transitions (at most
    `LAST_CHANGES`)."""

    summary: TickSummary
    tallies: Tallies
    queued: int
    changes: list[Transition]


class Ticker:
    """What a tick keeps from one to the next, and the tick itself.

    The rules, calendar and settings come with each tick (`tick`): a reload takes effect at the
    next one. One tick at a time: the daemon calls it from its one evaluation thread, or from
    the process it runs it in."""

    def __init__(self, engine: Engine, worker: str, settings: Settings, loaded: Evaluator) -> None:
        self.engine = engine
        self.sessions = session_factory(engine)
        self.worker = worker  # recorded with each tick: who evaluated
        self.settings = settings
        self.loaded = loaded
        # the last committed evaluation, continued by the next tick (leader only; monitor/evaluation/steady.py)
        self.baseline: Baseline | None = None
        # enterprises and cases a full tick's part holds (monitor/evaluation/steady.py)
        self.part_sizes = (ENTERPRISES_A_PART, CASES_A_PART)
        self._strays_checked: object = None  # the rulebook the last look for stray alerts ran under
        self._tick_row: tuple[object, ...] | None = None  # the ticks row as the running tick found it
        # whether a part keeps the quiet duties its stored rows describe (monitor/evaluation/obligations/unchanged.py)
        # rather than build them: False builds every duty, the reference the tests compare with
        self.keep = True
        # the month whose duties this process has recorded whole, and the calendar as it was
        # known then (a notice entered since moves due times: the month is recorded again)
        self._recorded_month: tuple[str, object] = ("", None)
        # what the tick inserted since PostgreSQL last sampled each table (a first tick fills them)
        self.statistics = PlannerStatistics(engine)

    def close(self) -> None:
        """Nothing of its own to release: the engine is its caller's."""

    def forget(self) -> None:
        """Start the next tick afresh: a full one (a day boundary, the hourly safety net)."""
        self.baseline = None

    def tick(self, at: datetime, key: bytes, settings: Settings, loaded: Evaluator) -> Ticked:
        """Evaluate at `at` under these rules and settings and commit; `key` signs action links."""
        self.settings, self.loaded = settings, loaded
        try:
            return self._tick(at, key)
        except Exception:
            # a part may have written its duty rows and not its alerts: the next full tick
            # looks for alerts no row holds (`steady.strays`) again
            self._strays_checked = None
            raise

    def _tick(self, at: datetime, key: bytes) -> Ticked:
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
        loaded = self.loaded
        with gc_paused():
            base, parts, consumed = self._plan_parts(at)
            tally = _Tally(at, continued=isinstance(parts[0], Evaluation))
            self.baseline = None  # whatever fails below, start afresh next time
            for part in parts:
                with self.sessions() as session:
                    piece = (
                        part
                        if isinstance(part, Evaluation)
                        else base.derive(session, part, at, full=True, keep=self.keep)
                    )
                    plan = plan_commit(session, piece)
                tally.add(piece, plan)
                tally.queued += self._write(plan, at, key)
                del piece, plan  # one part's duties at a time
                self.statistics.refresh()  # the next part's reads planned on the rows written so far
                gc.collect(0)  # and its cycles (the collector is paused for the tick)
            if not tally.continued and self._strays_checked is not loaded.rulebook:
                with self.sessions() as session:
                    plan = plan_commit(session, strays(session, at, tally.incomplete))
                tally.add(plan.evaluation, plan)
                tally.queued += self._write(plan, at, key)
                self._strays_checked = loaded.rulebook
            month = self._record_month(at, base.roster, [p for p in parts if isinstance(p, Part)])
            queued = tally.queued + self._finish(base, tally, consumed, at, key)
        checkpoint(self.engine)  # SQLite's WAL into the database here, not in an ingest's commit
        if month[0]:
            self._recorded_month = month
        summary = tally.summary(base)
        if not summary.problems and not tally.overwritten:
            self.baseline = base
        return Ticked(summary, base.tallies, queued, tally.changes)

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
                    piece = base.derive(session, part, at, full=False, keep=self.keep)
                    if not piece.problems:
                        base.at = at
                        return base, [piece], changes.ids
            fresh = Baseline.start(session, at, loaded, settings, self.worker)
            return fresh, [*full_parts(session, loaded.rulebook, settings, self.part_sizes)], changes.ids

    def _write(self, plan: Plan, at: datetime, key: bytes) -> int:
        """A part's writes in short transactions (see `_tick`): its obligation rows, then its
        alerts, each chunk with the notifications of its transitions; returns the notifications
        queued."""
        self.statistics.inserted_into(ObligationRecord.__tablename__, len(plan.obligation_inserts))
        self.statistics.inserted_into(
            AlertRecord.__tablename__, sum(how == "insert" for how, _values in plan.alerts.values())
        )
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
                    settings,
                    loaded.rulebook,
                    at,
                    settings.channels(),
                    link_maker(settings.links, key, session),
                )
                queued += enqueue(session, run, told, renotify=False)
                session.commit()
        self.statistics.inserted_into(Notification.__tablename__, queued)
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
                self.worker,
            )
            consume(session, consumed)
            links = link_maker(settings.links, key, session)
            # reminders due, and alerts held back when they fired (silenced or inhibited then)
            queued = enqueue(
                session,
                Run.configured(settings, loaded.rulebook, at, settings.channels(), links),
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
            if "email" in settings.channels():
                queued += mail_monthly_report(
                    session, loaded.rulebook, loaded.calendar, settings, loaded.matcher, at
                )
            session.commit()
        return queued

    def _record_month(self, at: datetime, roster: RosterIndex, parts: list[Part]) -> tuple[str, object]:
        """Record this month's duties the tick's view no longer holds, once per month, process and
        calendar as known; returns the month's label and that calendar (the label empty when done
        already). Rows recorded before are amended where they say otherwise now (`month_record`):
        a notice entered since moved their due times, or late events their outcome.

        The status page counts the month from the recorded rows; the report collects every duty
        due in the month (monitor/reports/monthly.py). A duty met long before its due time leaves the
        tick's view after RECENT days, so a daemon started after that would never record it: the
        two would disagree. The duties the tick wrote keep their rows. It goes by the full tick's
        parts (a steady tick's: parts of its own), with the tick's roster.

        After a full tick, the rules whose duties stay in view until due (`in_view_until_due`:
        a province's pairings, most of its month) are left out: the tick has just written every
        one of their duties due in the month."""
        month = period_of("month", local_date(at))
        known = self.loaded.calendar.as_of(at)  # one object per state of knowledge
        if self._recorded_month == (month.label, known):
            return "", None
        start, after = month_bounds(month)
        loaded, settings = self.loaded, self.settings
        written = bool(parts)  # by this full tick: every duty in its view
        if not parts:  # a steady tick crossed into the month
            with self.sessions() as session:
                parts = full_parts(session, loaded.rulebook, settings, self.part_sizes)
        for part in parts:  # a province's month is a million duties: a part's at a time
            rules = {
                r: scope
                for r, scope in part.rules.items()
                if not (written and in_view_until_due(loaded.rulebook[r]))
            }
            if not rules:
                continue
            with self.sessions() as session:
                duties = duties_due(
                    session, loaded.rulebook, loaded.calendar, settings, start, after, at, rules, roster
                )
                rows, amended = month_record(session, duties, at, amend=True)
            del duties
            for slice_ in timed_chunks(rows, first=2000):
                with self.sessions() as session:
                    write_obligations(session, list(slice_), [])
                    session.commit()
            for slice_ in timed_chunks(amended, first=2000):
                with self.sessions() as session:
                    write_obligations(session, [], list(slice_))
                    session.commit()
            self.statistics.inserted_into(ObligationRecord.__tablename__, len(rows))
            self.statistics.refresh()
        return month.label, known
