"""The steady-state tick: evaluate only what changed since the last tick.

Between two ticks an answer of `evaluate` can change for two reasons only:

- **new data**: events (their subjects are named by `monitor/store/changes.py`), the roster, waivers,
  config and rules;
- **time**: a pending duty falls due (the second of its `due_at` ends: `clock.lapse`); a met
  case duty leaves the recent window (`met_at + RECENT`); and at the day's boundaries — local
  midnight (working days to due, periods coming into view) and the end of the cut-off's second
  (working days overdue, expiry) — everything may move.

So a tick that crosses no day boundary, and whose config, rules, roster and waivers did not
change, starts from the last evaluation (`Baseline`, kept in memory by the leader) and
re-derives: the pairing duties of the enterprises new events touched, the case duties of the
cases they touched, the repeated reports of those cases' enterprises, the unit, review and
project obligation kinds in full (they are few), the duties whose due time passed, minus the met ones
that left the window. Alerts are rebuilt for those keys alone, inhibition for their subjects.
The commit then reads and writes only those keys (`Evaluation.continued`, a `Continuation`).

Anything else — a day boundary, too many changes, a calendar gap, someone else's commit, a
failure — means a full evaluation, as does the hourly safety net (`full_evaluation_seconds`).
`tests/evaluation/test_steady.py` checks the two paths commit the same alerts, obligations and
transitions over weeks of the example district, across holidays and make-up days.
"""

from __future__ import annotations

import heapq
import time as _time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.calendar.working_days import CalendarNotCovered, WorkCalendar
from monitor.clock import lapse, local_date, start_of_day
from monitor.config import Settings
from monitor.evaluation.evaluate import (
    Alert,
    Continuation,
    Evaluation,
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
from monitor.evaluation.obligations import Obligation, View
from monitor.evaluation.obligations.cases import RECENT, case_ladder_obligations
from monitor.evaluation.obligations.timing import Timing
from monitor.roster import RosterIndex
from monitor.rulebook import Rulebook
from monitor.store.batches import batches
from monitor.store.changes import Changes
from monitor.store.db import for_evaluation
from monitor.store.models import Case, TickRecord
from monitor.subjects import scope_id

Key = tuple[str, str, str]

# obligation kinds re-derived by subject; the others (units, reviews, project items) are small and
# re-derived whole at every tick
BY_ENTERPRISE = {"pairing_activity", "repeat_report"}
BY_CASE = {"case_clock", "case_meeting", "case_ladder"}
SCOPED = BY_ENTERPRISE | BY_CASE
# obligation kinds whose met duties leave the evaluation RECENT after they were met
WINDOWED = {"case_clock", "case_meeting", "case_ladder", "repeat_report"}
# at most this many subjects re-derived by key; more is cheaper as one full evaluation
MOST_SUBJECTS = 5_000


def horizon(at: datetime, cutoff_day_end: datetime) -> datetime:
    """The next day boundary after `at`: the end-of-day cut-off if still ahead, else midnight."""
    midnight = start_of_day(local_date(at) + timedelta(days=1))
    return cutoff_day_end if at < cutoff_day_end < midnight else midnight


@dataclass
class Scopes:
    """What a continued evaluation re-derives by subject: enterprises (pairings), cases (their
    clocks and meetings) and the enterprises of those cases (repeated reports)."""

    enterprises: set[str]
    case_ids: set[str]
    case_enterprises: set[str]

    def of(self, kind: str, meetings: bool) -> set[str] | None:
        """The subjects of this obligation kind to re-derive; None: the kind is re-derived whole
        (units, reviews, project items; and case meetings once a coordination meeting arrived)."""
        if kind == "pairing_activity":
            return self.enterprises
        if kind == "repeat_report":
            return self.case_enterprises
        if kind in BY_CASE and not (kind == "case_meeting" and meetings):
            return self.case_ids
        return None

    def narrow(self, view: View, kind: str) -> View:
        """The view limited to this kind's subjects."""
        if kind == "pairing_activity":
            return replace(view, enterprises=frozenset(self.enterprises))
        if kind == "repeat_report":
            return replace(view, enterprises=frozenset(self.case_enterprises))
        return replace(view, case_ids=frozenset(self.case_ids))


@dataclass
class Baseline:
    """The last committed evaluation, indexed for continuing it."""

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
    obligations: dict[Key, Obligation] = field(default_factory=dict)
    # rule -> enterprise or case -> keys ("" for the obligation kinds re-derived whole)
    scopes: dict[str, dict[str, set[Key]]] = field(default_factory=dict)
    candidates: dict[Key, Alert] = field(default_factory=dict)  # before inhibition
    alerts: dict[Key, Alert] = field(default_factory=dict)  # after it (inhibited_by set)
    by_subject: dict[str, set[Key]] = field(default_factory=dict)  # candidates by subject
    # what the metrics count, kept as the indexes change (counting a province anew takes seconds)
    tally: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (rule, unit, status)
    open_cases: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, status)
    firing: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (rule, state, level)
    # heap of the instants pending duties turn overdue (`lapse`: the due second counts whole)
    due: list[tuple[datetime, Key]] = field(default_factory=list)
    leaving: list[tuple[datetime, Key]] = field(default_factory=list)  # heap of window ends

    @classmethod
    def of(
        cls,
        evaluation: Evaluation,
        rulebook: Rulebook,
        settings: Settings,
        calendar: WorkCalendar,
        worker: str,
        waived: set[Key],
    ) -> Baseline | None:
        """A baseline from a full evaluation, or None when it cannot be continued."""
        if evaluation.problems or evaluation.roster is None or evaluation.verdicts is None:
            return None
        at = evaluation.at
        timing = make_timing(calendar.as_of(at), settings, rulebook)
        base = cls(
            at=at,
            worker=worker,
            rulebook=rulebook,
            settings=settings,
            timing=timing,
            roster=evaluation.roster,
            verdicts=evaluation.verdicts,
            waived=waived,
            # the day's working-day counts move when its cut-off second has ended
            horizon=horizon(at, lapse(timing.end_of(local_date(at)))),
            full_at=at,
            calendar=calendar,
        )
        for obligation in evaluation.obligations:
            base._add(obligation)
        for alert in evaluation.alerts:
            base._set_alert(alert)
        for alert in evaluation.inhibited:
            base._set_alert(alert)
        return base

    # --- the indexes --------------------------------------------------------------------------

    def _kind_of(self, rule: str) -> str:
        return self.rulebook[rule].obligation

    def _count(self, obligation: Obligation, sign: int) -> None:
        self.tally[(obligation.rule, obligation.unit_id or "", obligation.status)] += sign
        if obligation.subject.startswith("case:") and is_open(obligation):
            self.open_cases[(obligation.rule, obligation.status)] += sign

    def _add(self, obligation: Obligation) -> None:
        key = obligation.key
        self.obligations[key] = obligation
        self._count(obligation, 1)
        kind = self._kind_of(obligation.rule)
        scope = scope_id(obligation.subject) if kind in SCOPED else ""
        self.scopes.setdefault(obligation.rule, {}).setdefault(scope, set()).add(key)
        if obligation.status == "pending":
            heapq.heappush(self.due, (lapse(obligation.due_at), key))
        if kind in WINDOWED and obligation.met_at is not None:
            heapq.heappush(self.leaving, (obligation.met_at + RECENT, key))

    def _remove(self, key: Key) -> None:
        obligation = self.obligations.pop(key, None)
        if obligation is None:
            return
        self._count(obligation, -1)
        kind = self._kind_of(obligation.rule)
        scope = scope_id(obligation.subject) if kind in SCOPED else ""
        keys = self.scopes.get(obligation.rule, {}).get(scope)
        if keys is not None:
            keys.discard(key)

    def _set_alert(self, alert: Alert) -> None:
        plain = alert if alert.inhibited_by is None else replace(alert, inhibited_by=None)
        self.candidates[alert.key] = plain
        self._put_alert(alert)
        self.by_subject.setdefault(alert.subject, set()).add(alert.key)

    def _put_alert(self, alert: Alert) -> None:
        """Set the alert as it stands after inhibition."""
        before = self.alerts.get(alert.key)
        if before is not None and before.inhibited_by is None:
            self.firing[(before.rule, before.state, str(before.level))] -= 1
        self.alerts[alert.key] = alert
        if alert.inhibited_by is None:
            self.firing[(alert.rule, alert.state, str(alert.level))] += 1

    def _drop_alert(self, key: Key) -> None:
        if self.candidates.pop(key, None) is not None:
            before = self.alerts.pop(key, None)
            if before is not None and before.inhibited_by is None:
                self.firing[(before.rule, before.state, str(before.level))] -= 1
            keys = self.by_subject.get(key[1])
            if keys is not None:
                keys.discard(key)

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
        last = session.execute(
            select(TickRecord.at, TickRecord.worker).where(TickRecord.name == "last")
        ).first()
        # someone else committed since (another process, `evaluate --commit`): start afresh
        return last is not None and last.at == self.at and last.worker == self.worker[:80]

    def advance(self, session: Session, now: datetime, changes: Changes) -> Evaluation | None:
        """The evaluation at `now` continued from this one, or None when only a full one will do.

        Mutates the baseline: on failure (None or an exception) it must be discarded.
        """
        started = _time.perf_counter()
        for_evaluation(session)
        if not self._continuable(session, now, changes):
            return None
        scopes = Scopes(set(changes.enterprises), set(changes.cases), set())
        leaving = self._leaving_window(now, scopes)
        for chunk in batches(sorted(changes.cases)):
            query = select(Case.enterprise_id).where(Case.id.in_(chunk)).distinct()
            scopes.case_enterprises.update(session.scalars(query))
        view = View(session, now, self.timing, self.roster, self.settings.cases)
        rederived = self._rederive(view, scopes, meetings="coordination_meeting" in changes.types)
        if rederived is None:
            return None
        touched, fresh = rederived
        self._follow_ladders(touched, fresh)
        for key in touched:
            self._remove(key)
        try:
            self._settle_fresh(fresh, touched, now)
            self._settle_lapsed(touched, now)
        except CalendarNotCovered:
            return None
        touched |= leaving
        self._realert(touched)
        self.at = now
        return self._evaluation(now, touched, started)

    def _continuable(self, session: Session, now: datetime, changes: Changes) -> bool:
        """Whether what changed can be continued from here: few enough subjects, the same
        waivers, and no calendar notice taking effect in between (every due time may move)."""
        if changes.everything or changes.keys > MOST_SUBJECTS:
            return False
        if waivers(session) != self.waived:
            return False
        return self.calendar is None or not self.calendar.entered_between(self.at, now)

    def _leaving_window(self, now: datetime, scopes: Scopes) -> set[Key]:
        """Met case duties whose window ended by `now`: their subjects join the scopes to be
        re-derived (a repeated report of the same month may take the key of one that left)."""
        leaving: set[Key] = set()
        while self.leaving and self.leaving[0][0] <= now:
            until, key = heapq.heappop(self.leaving)
            obligation = self.obligations.get(key)
            if obligation is None or obligation.met_at is None or obligation.met_at + RECENT != until:
                continue  # re-derived since: this entry is stale
            if self._kind_of(key[0]) == "repeat_report":
                scopes.case_enterprises.add(scope_id(key[1]))
            else:
                scopes.case_ids.add(scope_id(key[1]))
            leaving.add(key)
        return leaving

    def _rederive(
        self, view: View, scopes: Scopes, meetings: bool
    ) -> tuple[set[Key], list[Obligation]] | None:
        """The keys to replace and the duties that replace them, rule by rule (ladders apart);
        None if a rule could not be evaluated."""
        touched: set[Key] = set()
        fresh: list[Obligation] = []
        problems: list[str] = []
        incomplete: set[str] = set()
        for rule in self.rulebook:
            if rule.obligation == "case_ladder":
                continue
            scoped = scopes.of(rule.obligation, meetings)
            if scoped is None:  # re-derived whole: every subject's keys, scoped or not
                for keys in self.scopes.get(rule.id, {}).values():
                    touched.update(keys)
                found = collect(view, [rule], problems, incomplete)
            elif not scoped:
                continue
            else:
                index = self.scopes.get(rule.id, {})
                for item in scoped:
                    touched.update(index.get(item, ()))
                found = collect(scopes.narrow(view, rule.obligation), [rule], problems, incomplete)
            fresh += found.get(rule.id, [])
        return None if problems else (touched, fresh)

    def _follow_ladders(self, touched: set[Key], fresh: list[Obligation]) -> None:
        """Ladders follow the clocks they watch: re-derive them for the clocks re-derived."""
        for rule in self.rulebook:
            if rule.obligation != "case_ladder":
                continue
            subjects = {o.subject for o in fresh if o.rule in rule.ladder_of}
            subjects |= {k[1] for k in touched if k[0] in rule.ladder_of}
            index = self.scopes.get(rule.id, {})
            for subject in subjects:
                touched.update(index.get(scope_id(subject), ()))
            clocks = [o for o in fresh if o.rule in rule.ladder_of]
            fresh += case_ladder_obligations(rule, clocks)

    def _settle_fresh(self, fresh: list[Obligation], touched: set[Key], now: datetime) -> None:
        for obligation in fresh:
            settle(obligation, self.rulebook[obligation.rule], self.timing, now, self.waived)
            touched.add(obligation.key)
            self._add(obligation)

    def _settle_lapsed(self, touched: set[Key], now: datetime) -> None:
        """Time: the pending duties whose due second ended by `now` are settled again."""
        while self.due and self.due[0][0] <= now:
            lapses, key = heapq.heappop(self.due)
            obligation = self.obligations.get(key)
            if obligation is None or obligation.status != "pending" or lapse(obligation.due_at) != lapses:
                continue  # met, re-derived or moved since: this entry is stale
            self._count(obligation, -1)
            settle(obligation, self.rulebook[obligation.rule], self.timing, now, self.waived)
            self._count(obligation, 1)
            touched.add(key)

    def _evaluation(self, now: datetime, touched: set[Key], started: float) -> Evaluation:
        firing = [a for a in self.alerts.values() if a.inhibited_by is None]
        return Evaluation(
            at=now,
            alerts=firing,  # unordered: the tick needs none, and sorting a province's takes seconds
            inhibited=[a for a in self.alerts.values() if a.inhibited_by is not None],
            obligations=list(self.obligations.values()),
            facts=len(self.verdicts.known),
            matcher_seconds=self.verdicts.seconds,
            seconds=_time.perf_counter() - started,
            held=held_keys(o for k in touched if (o := self.obligations.get(k)) is not None),
            continued=Continuation(
                delta=frozenset(touched),
                alerts_by_key=self.alerts,
                obligations_by_key=self.obligations,
                tallies=(+self.tally, +self.open_cases, +self.firing),
            ),
            roster=self.roster,
            verdicts=self.verdicts,
        )

    def _realert(self, touched: set[Key]) -> None:
        """Rebuild the alerts of the touched keys, then inhibition for their subjects."""
        for key in touched:
            self._drop_alert(key)
        open_ones = [self.obligations[k] for k in touched if k in self.obligations]
        open_ones = [o for o in open_ones if is_open(o)]
        lang = self.settings.language
        for alert in alerts_for(open_ones, self.verdicts, self.rulebook, self.roster, lang):
            self._set_alert(alert)
        rules = self.settings.inhibit
        if all("subject" in r.equal for r in rules):
            # inhibition pairs alerts of one subject: only the touched subjects can change
            subjects = {k[1] for k in touched}
            keys = {k for s in subjects for k in self.by_subject.get(s, ())}
        else:
            keys = set(self.candidates)
        firing, inhibited = inhibit([self.candidates[k] for k in keys], rules)
        for alert in [*firing, *inhibited]:
            if self.alerts.get(alert.key) != alert:
                touched.add(alert.key)
            self._put_alert(alert)
