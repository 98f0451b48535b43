"""The daemon's evaluation, a part at a time, with its baseline in the database.

A tick evaluates in **parts**: each part names, rule by rule, the subjects it re-derives — a
range of enterprises (pairing duties, repeated reports), a range of cases (case clocks,
meetings, ladders), or every subject of the few unit, review and project duties. A full tick
goes through parts that cover everything (`full_parts`), committing each before the next, so
the daemon holds one part's duties at a time, never a province's. The answer of each part is
compared with the stored rows of the same subjects (`ObligationRecord.scope`, `in_view`), which
are the baseline: nothing of the last evaluation is kept in memory but counts.

Between two ticks an answer of `evaluate` can change for two reasons only:

- **new data**: events (their subjects are named by `monitor/store/changes.py`), the roster, waivers,
  config and rules;
- **time**: a pending duty falls due (the second of its `due_at` ends: `clock.lapse`); a met
  case duty leaves the recent window (`met_at + RECENT`); and at the day's boundaries — local
  midnight (working days to due, periods coming into view) and the end of the cut-off's second
  (working days overdue, expiry) — everything may move.

So a tick that crosses no day boundary, and whose config, rules, roster and waivers did not
change, is one part (`Baseline.steady_part`): the enterprises and cases new events touched, the
subjects of the duties whose due second ended since the last tick and of the met ones that
left the window (indexed queries on the stored rows), and the small obligation kinds whole.

Anything else — a day boundary, too many changes, a calendar gap, someone else's commit, a
failure — means a full tick, as does the hourly safety net (`full_evaluation_seconds`).
`tests/evaluation/test_steady.py` checks the two paths commit the same alerts, obligations and
transitions over weeks of the example district, across holidays and make-up days.
"""

from __future__ import annotations

import time as _time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from monitor.calendar.working_days import WorkCalendar
from monitor.clock import ONE_SECOND, lapse, local_date, start_of_day
from monitor.config import Settings
from monitor.evaluation.evaluate import (
    CASE_KINDS,
    Continuation,
    Evaluation,
    Evaluator,
    Verdicts,
    alerts_for,
    collect,
    held_keys,
    inhibit,
    is_open,
    make_timing,
    settle,
    waivers,
)
from monitor.evaluation.obligations import Obligation, Range, Scope, View, within
from monitor.evaluation.obligations.cases import RECENT
from monitor.evaluation.obligations.timing import Timing
from monitor.evaluation.obligations.unchanged import Unchanged
from monitor.roster import RosterIndex
from monitor.rulebook import Rule, Rulebook
from monitor.store.batches import among, batches
from monitor.store.changes import Changes
from monitor.store.db import for_evaluation
from monitor.store.models import (
    ALERT_COLUMNS,
    OBLIGATION_FIELDS,
    OPEN_STATES,
    AlertRecord,
    Case,
    Enterprise,
    ObligationRecord,
    TickRecord,
)

Key = tuple[str, str, str]
Tallies = tuple[Counter[tuple[str, str, str]], Counter[tuple[str, str]], Counter[tuple[str, str, str]]]

# obligation kinds re-derived by subject; the others (units, reviews, project items) are small and
# re-derived whole at every tick
BY_ENTERPRISE = {"pairing_activity", "repeat_report"}
BY_CASE = set(CASE_KINDS)
SCOPED = BY_ENTERPRISE | BY_CASE
# obligation kinds whose met duties leave the evaluation RECENT after they were met
WINDOWED = {"case_clock", "case_meeting", "case_ladder", "repeat_report"}
# at most this many subjects re-derived by key; more is cheaper as one full evaluation
MOST_SUBJECTS = 5_000
# what a part reads of its stored rows: the key and what the commit compares
STORED_COLUMNS = ("rule", "subject", "period", *OBLIGATION_FIELDS, "in_view")
# a full tick's parts: this many enterprises (their pairings and repeated reports) or cases each
ENTERPRISES_A_PART = 5_000
CASES_A_PART = 50_000


def horizon(at: datetime, cutoff_day_end: datetime) -> datetime:
    """The next day boundary after `at`: the end-of-day cut-off if still ahead, else midnight."""
    midnight = start_of_day(local_date(at) + timedelta(days=1))
    return cutoff_day_end if at < cutoff_day_end < midnight else midnight


@dataclass
class Scopes:
    """What a continued evaluation re-derives by subject: enterprises (pairings), cases (their
    clocks, meetings and ladders) and the enterprises of repeated reports."""

    enterprises: set[str] = field(default_factory=set)
    case_ids: set[str] = field(default_factory=set)
    case_enterprises: set[str] = field(default_factory=set)

    def part(self, rulebook: Rulebook) -> Part:
        """The part re-deriving these subjects, and the small kinds (units, reviews, project
        items) whole."""
        chosen = {"pairing_activity": self.enterprises, "repeat_report": self.case_enterprises}
        rules: dict[str, Scope] = {}
        for rule in rulebook:
            if rule.obligation not in SCOPED:
                rules[rule.id] = None
            elif ids := chosen.get(rule.obligation, self.case_ids):
                rules[rule.id] = frozenset(ids)
        return Part(rules)

    def add(self, kind: str, scope: str) -> None:
        """The subject of a stored duty of this obligation kind (its `scope` column)."""
        if kind == "pairing_activity":
            self.enterprises.add(scope)
        elif kind == "repeat_report":
            self.case_enterprises.add(scope)
        elif kind in BY_CASE:
            self.case_ids.add(scope)


@dataclass(frozen=True)
class Part:
    """One part of an evaluation: the subjects each rule re-derives (a rule absent: none), and
    whether the stored rows of rules no longer in the rulebook are part of it."""

    rules: dict[str, Scope]
    orphans: bool = False

    @classmethod
    def of(cls, rulebook: Rulebook, kinds: Iterable[str], scope: Scope, orphans: bool = False) -> Part:
        wanted = set(kinds)
        return cls({rule.id: scope for rule in rulebook if rule.obligation in wanted}, orphans)


def full_parts(
    session: Session,
    rulebook: Rulebook,
    settings: Settings,
    sizes: tuple[int, int] = (ENTERPRISES_A_PART, CASES_A_PART),
) -> list[Part]:
    """Parts covering every subject: the small kinds whole, then enterprises and cases by ranges
    of `sizes` ids (`ENTERPRISES_A_PART`, `CASES_A_PART`), bounds taken in the database's order.

    Inhibition pairs alerts of one subject, which one part holds whole; an inhibit rule that
    does not ask for the same subject makes the evaluation one part (every duty at once)."""
    if not all("subject" in r.equal for r in settings.inhibit):
        return [Part({rule.id: None for rule in rulebook}, orphans=True)]
    whole = {rule.obligation for rule in rulebook} - SCOPED
    parts = [Part.of(rulebook, whole, None, orphans=True)]
    enterprises = _ranges(session, Enterprise.id, sizes[0])
    parts += [Part.of(rulebook, BY_ENTERPRISE, r) for r in enterprises]
    cases = _ranges(session, Case.id, sizes[1])
    parts += [Part.of(rulebook, BY_CASE, r) for r in cases]
    return parts


def collect_part(
    view: View, rules: list[Rule], scopes: Mapping[str, Scope], problems: list[str], incomplete: set[str]
) -> list[Obligation]:
    """The duties of these rules held to each rule's scope, in the rules' order; the rules of one
    kind family and scope share a view (the clock rules share their query through it)."""
    groups: dict[tuple[str, Scope], list[Rule]] = {}
    for rule in rules:
        family = "case" if rule.obligation in BY_CASE else "enterprise"
        groups.setdefault((family, scopes.get(rule.id)), []).append(rule)
    by_rule: dict[str, list[Obligation]] = {}
    for (family, scope), members in groups.items():
        held = replace(view, case_ids=scope) if family == "case" else replace(view, enterprises=scope)
        by_rule.update(collect(held, members, problems, incomplete))
    return [o for rule in rules for o in by_rule.get(rule.id, [])]


def _ranges(session: Session, column: Any, size: int) -> list[Range]:
    """Contiguous ranges of `size` ids each, open at both ends: every id (even one the table does
    not list, such as a pairing's enterprise not in the roster) falls in exactly one. The database
    numbers the ids in its own order and returns every `size`-th (a province's two million case
    ids were streamed to Python for that: 6.5 s of a full tick)."""
    numbered = select(column.label("id"), func.row_number().over(order_by=column).label("n")).subquery()
    bounds = session.scalars(
        select(numbered.c.id).where(numbered.c.n > 1, (numbered.c.n - 1) % size == 0).order_by(numbered.c.n)
    )
    edges: list[str | None] = [None, *bounds, None]
    return [Range(lo, hi) for lo, hi in pairwise(edges)]


@dataclass
class Baseline:
    """What a tick's parts share, and what the last committed evaluation counted.

    The duties themselves are in the database (the obligation rows, `in_view`); this holds the
    roster, the calendar as known, the waivers and the matcher's verdicts read by the last full
    tick, and the counts the metrics show, kept as each part replaces its subjects' rows.
    """

    at: datetime
    worker: str
    rulebook: Rulebook
    settings: Settings
    timing: Timing
    roster: RosterIndex
    verdicts: Verdicts
    waived: set[Key]
    horizon: datetime
    full_at: datetime  # the instant of the last full evaluation
    calendar: WorkCalendar | None = None  # the whole calendar (timing's is as known at `at`)
    tally: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (rule, unit, status)
    open_cases: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, status)
    firing: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (rule, state, level)

    @classmethod
    def start(
        cls, session: Session, at: datetime, evaluator: Evaluator, settings: Settings, worker: str
    ) -> Baseline:
        """A full tick's baseline: everything read afresh, nothing counted yet."""
        timing = make_timing(evaluator.calendar.as_of(at), settings, evaluator.rulebook)
        return cls(
            at=at,
            worker=worker,
            rulebook=evaluator.rulebook,
            settings=settings,
            timing=timing,
            roster=RosterIndex.load(session),
            verdicts=Verdicts(evaluator.matcher),
            waived=waivers(session),
            # the day's working-day counts move when its cut-off second has ended
            horizon=horizon(at, lapse(timing.end_of(local_date(at)))),
            full_at=at,
            calendar=evaluator.calendar,
        )

    @property
    def tallies(self) -> Tallies:
        return (+self.tally, +self.open_cases, +self.firing)

    # --- continuing -----------------------------------------------------------------------------

    def usable(self, session: Session, now: datetime, rulebook: Rulebook, settings: Settings) -> bool:
        """Whether `now` can be evaluated from this baseline (else: a full evaluation)."""
        if rulebook is not self.rulebook or settings is not self.settings:
            return False  # reloaded
        if not self.at <= now < self.horizon:
            return False
        every = settings.full_evaluation_seconds
        if every <= 0 or (now - self.full_at).total_seconds() >= every:
            return False
        if not all("subject" in r.equal for r in settings.inhibit):
            return False  # inhibition across subjects: only a whole evaluation sees both sides
        last = session.execute(
            select(TickRecord.at, TickRecord.worker).where(TickRecord.name == "last")
        ).first()
        # someone else committed since (another process, `evaluate --commit`): start afresh
        return last is not None and last.at == self.at and last.worker == self.worker[:80]

    def steady_part(self, session: Session, now: datetime, changes: Changes) -> Part | None:
        """The one part a continued tick re-derives, or None when only a full tick will do: too
        many subjects, other waivers, a calendar notice taking effect in between (every due
        time may move), or a coordination meeting (it may move every waiting case's meeting:
        a full tick goes through the cases a part at a time, where one part would hold them all)."""
        if changes.everything or changes.keys > MOST_SUBJECTS or "coordination_meeting" in changes.types:
            return None
        if waivers(session) != self.waived:
            return None
        if self.calendar is not None and self.calendar.entered_between(self.at, now):
            return None
        scopes = Scopes(set(changes.enterprises), set(changes.cases))
        for chunk in batches(sorted(changes.cases)):
            query = select(Case.enterprise_id).where(Case.id.in_(chunk)).distinct()
            scopes.case_enterprises.update(session.scalars(query))
        self._by_time(session, now, scopes)
        if len(scopes.enterprises) + len(scopes.case_ids) + len(scopes.case_enterprises) > MOST_SUBJECTS:
            return None
        return scopes.part(self.rulebook)

    def _by_time(self, session: Session, now: datetime, scopes: Scopes) -> None:
        """The subjects time moved since the last tick: pending duties whose due second ended
        (`lapse(due_at)` in (at, now]) and met duties that left the window (`met_at + RECENT`
        in (at, now]), read from the stored rows; a few more are harmless (re-derived alike)."""
        kinds = {rule.id: rule.obligation for rule in self.rulebook}
        lapsed = select(ObligationRecord.rule, ObligationRecord.scope).where(
            ObligationRecord.status == "pending",
            ObligationRecord.due_at > self.at - ONE_SECOND,
            ObligationRecord.due_at < now,
            ObligationRecord.in_view.is_(True),
        )
        windowed = sorted(rule_id for rule_id, kind in kinds.items() if kind in WINDOWED)
        leaving = select(ObligationRecord.rule, ObligationRecord.scope).where(
            ObligationRecord.met_at > self.at - RECENT - ONE_SECOND,
            ObligationRecord.met_at <= now - RECENT,
            ObligationRecord.rule.in_(windowed),
            ObligationRecord.in_view.is_(True),
        )
        for query in (lapsed, leaving):
            for rule_id, scope in session.execute(query):
                scopes.add(kinds.get(rule_id, ""), scope)

    # --- a part ---------------------------------------------------------------------------------

    def derive(
        self, session: Session, part: Part, now: datetime, *, full: bool, keep: bool = True
    ) -> Evaluation:
        """The part's duties and alerts at `now`, as an evaluation continuing the stored one: its
        delta holds the keys it re-derived and the stored in-view keys of the same subjects (those
        no longer derived leave view; their alerts resolve). The counts follow: a full tick's
        parts add up; a continued tick's part replaces what the stored rows counted.

        With `keep`, quiet duties whose stored row says the same are kept as stored, not built
        (monitor/evaluation/obligations/unchanged.py)."""
        started = _time.perf_counter()
        for_evaluation(session)
        self.timing.forget()  # one part's due times at a time
        problems: list[str] = []
        incomplete: set[str] = set()
        stored, opened = self._stored(session, part)
        unchanged = Unchanged(stored, self.waived, self.timing, now, self.verdicts.alerts) if keep else None
        view = View(session, now, self.timing, self.roster, self.settings.cases, unchanged=unchanged)
        fresh = collect_part(
            view, [r for r in self.rulebook if r.id in part.rules], part.rules, problems, incomplete
        )
        for obligation in fresh:
            settle(obligation, self.rulebook[obligation.rule], self.timing, now, self.waived)
        candidates = alerts_for(
            [o for o in fresh if is_open(o)],
            self.verdicts,
            self.rulebook,
            self.roster,
            self.settings.language,
        )
        firing, inhibited = inhibit(candidates, self.settings.inhibit)
        if not full:
            self._count_stored(stored, opened, -1)
        self._count(fresh, firing, 1)
        kept = frozenset(unchanged.keys) if unchanged is not None else frozenset()
        self._count_rows({key: stored[key] for key in kept}, 1)  # none of them alerts
        delta = frozenset(stored) | {o.key for o in fresh}
        return Evaluation(
            at=now,
            alerts=firing,
            inhibited=inhibited,
            obligations=fresh,
            problems=problems,
            incomplete_rules=incomplete,
            held=held_keys(fresh),
            facts=len(self.verdicts.known),
            matcher_seconds=self.verdicts.seconds,
            seconds=_time.perf_counter() - started,
            continued=Continuation(
                delta=delta,
                alerts_by_key={a.key: a for a in [*firing, *inhibited]},
                obligations_by_key={o.key: o for o in fresh},
                tallies=self.tallies,
                stored_obligations=stored,
                stored_alerts=opened,
                kept=kept,
            ),
            roster=self.roster,
            verdicts=self.verdicts,
        )

    def _stored(self, session: Session, part: Part) -> tuple[dict[Key, Any], dict[Key, Any]]:
        """The stored in-view rows of the part's subjects (plain columns, those the commit
        compares), and the open alerts of their keys (`ALERT_COLUMNS`), each by key. The alerts are
        read joined to the rows, by the rows' own conditions: a subject's alerts have no scope."""
        rows: dict[Key, Any] = {}
        alerts: dict[Key, Any] = {}
        columns = [getattr(ObligationRecord, name) for name in STORED_COLUMNS]
        alert_columns = [getattr(AlertRecord, name) for name in ALERT_COLUMNS]
        its_row = and_(
            ObligationRecord.rule == AlertRecord.rule,
            ObligationRecord.subject == AlertRecord.subject,
            ObligationRecord.period == AlertRecord.period,
        )
        shown = ObligationRecord.in_view.is_(True)
        conditions: list[ColumnElement[bool]] = []
        for rule_id, scope in part.rules.items():
            if isinstance(scope, frozenset):
                for among_them in among(session, ObligationRecord.scope, sorted(scope)):
                    conditions.append(and_(ObligationRecord.rule == rule_id, among_them))
            else:
                conditions.append(
                    and_(ObligationRecord.rule == rule_id, *within(ObligationRecord.scope, scope))
                )
        if part.orphans:  # rows of rules no longer in the rulebook: they leave view
            orphans = [rule for rule in stored_rules(session) if rule not in self.rulebook.rules]
            conditions += [ObligationRecord.rule == rule for rule in orphans]
        for condition in conditions:
            for row in session.execute(select(*columns).where(shown, condition)):
                rows[(row.rule, row.subject, row.period)] = row
            opened = select(*alert_columns).join(ObligationRecord, its_row)
            for alert in session.execute(opened.where(shown, condition, AlertRecord.state.in_(OPEN_STATES))):
                alerts[(alert.rule, alert.subject, alert.period)] = alert
        return rows, alerts

    def _count(self, fresh: list[Obligation], firing: list[Any], sign: int) -> None:
        for o in fresh:
            self.tally[(o.rule, o.unit_id or "", o.status)] += sign
            if o.subject.startswith("case:") and is_open(o):
                self.open_cases[(o.rule, o.status)] += sign
        for alert in firing:
            self.firing[(alert.rule, alert.state, str(alert.level))] += sign

    def _count_rows(self, rows: Mapping[Key, Any], sign: int) -> None:
        """Count stored duty rows with `sign`, as `_count` counts the duties built."""
        for (rule, subject, _period), row in rows.items():
            self.tally[(rule, row.unit_id or "", row.status)] += sign
            if subject.startswith("case:") and row.status in ("pending", "overdue"):
                self.open_cases[(rule, row.status)] += sign

    def _count_stored(self, stored: dict[Key, Any], opened: dict[Key, Any], sign: int) -> None:
        """Count the stored rows and their open alerts (those not inhibited) with `sign`, as a
        full tick counted them: the alert a held duty (`uncomputable`) keeps open is not among its
        firing ones."""
        self._count_rows(stored, sign)
        for key, alert in opened.items():
            row = stored.get(key)  # read by another statement: a row written since may be missing
            if alert.inhibited_by is None and row is not None and row.status != "uncomputable":
                self.firing[(key[0], alert.state, str(alert.level))] += sign


def stored_rules(session: Session) -> list[str]:
    """The rules that have obligation rows (those of a rule since removed among them)."""
    return list(session.scalars(select(ObligationRecord.rule).distinct().order_by(ObligationRecord.rule)))


def strays(session: Session, at: datetime, incomplete: set[str]) -> Evaluation:
    """Open alerts whose duty no row holds in view resolve: an evaluation whose delta is those
    keys and which derives nothing. A tick writes a part's duty rows before its alerts, so these
    are left only by a crash of an earlier version, or a rule whose obligation kind changed on a
    reload; the daemon looks once per process and rulebook (`Service`).

    Rule by rule, the open alerts' keys less the in-view rows' (two index reads): a NOT EXISTS
    over the two tables was planned as a loop over the wrong index right after a bulk load
    (33 s at M on PostgreSQL, statistics not yet gathered)."""
    rules = session.scalars(select(AlertRecord.rule).where(AlertRecord.state.in_(OPEN_STATES)).distinct())
    keys: set[Key] = set()
    for rule in sorted(rules):
        opened = select(AlertRecord.subject, AlertRecord.period).where(
            AlertRecord.rule == rule, AlertRecord.state.in_(OPEN_STATES)
        )
        shown = select(ObligationRecord.subject, ObligationRecord.period).where(
            ObligationRecord.rule == rule, ObligationRecord.in_view.is_(True)
        )
        held = {(s, p) for s, p in session.execute(shown)}
        keys.update((rule, s, p) for s, p in session.execute(opened) if (s, p) not in held)
    return Evaluation(
        at=at,
        alerts=[],
        inhibited=[],
        obligations=[],
        incomplete_rules=incomplete,
        continued=Continuation(
            delta=frozenset(keys), alerts_by_key={}, obligations_by_key={}, tallies=_EMPTY
        ),
    )


_EMPTY: Tallies = (Counter(), Counter(), Counter())
