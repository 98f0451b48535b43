"""Evaluate(now): the alerts the policy calls for at an instant.

A pure function of (store contents, rules, calendar, now): SQL and the calendar derive each
obligation's due time and status set-wise; the matcher decides, for the unmet ones, whether to
warn or at which escalation level the alert stands; recipients and messages come from the
roster and the rule. The same call serves the daemon's tick, `evaluate --at`, the backtest and
the rule tests. Nothing here reads the wall clock.
"""

from __future__ import annotations

import gc
import time as _time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.calendar.working_days import CalendarNotCovered, WorkCalendar
from monitor.clock import iso_shanghai
from monitor.config import InhibitRule, Settings
from monitor.evaluation.engine import Decision, Fact, FactStatus, Matcher, compile_matcher
from monitor.evaluation.message import RuleMessage, Wording
from monitor.evaluation.obligations import Obligation, View
from monitor.evaluation.obligations.cases import (
    case_clock_obligations,
    case_ladder_obligations,
    case_meeting_obligations,
    repeat_report_obligations,
)
from monitor.evaluation.obligations.pairings import pairing_obligations
from monitor.evaluation.obligations.projects import project_item_obligations
from monitor.evaluation.obligations.reviews import review_obligations
from monitor.evaluation.obligations.timing import Timing
from monitor.evaluation.obligations.units import unit_obligations
from monitor.roster import RosterIndex
from monitor.rulebook import Rule, Rulebook
from monitor.store.db import for_evaluation
from monitor.store.models import Waiver

AlertState = Literal["warning", "overdue"]

# the obligation kinds whose subjects are cases (`case:<id>`), which `View.case_ids` scopes
CASE_KINDS = frozenset({"case_clock", "case_meeting", "case_ladder"})

_BY_KIND: dict[str, Callable[[View, Rule], list[Obligation]]] = {
    "pairing_activity": pairing_obligations,
    "unit_activity": unit_obligations,
    "unit_report": unit_obligations,
    "case_clock": case_clock_obligations,
    "case_meeting": case_meeting_obligations,
    "repeat_report": repeat_report_obligations,
    "review_rectification": review_obligations,
    "project_item": project_item_obligations,
}


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert record of the public contract (docs/api.md), plus what the daemon needs."""

    rule: str
    subject: str
    period: str | None
    state: AlertState
    level: int
    due_at: datetime
    recipients: tuple[str, ...]
    clause: str
    wording: Wording  # what it says, rendered when first read (monitor/evaluation/message.py)
    unit_id: str | None = None
    immediate: bool = False
    inhibited_by: str | None = None
    provisional: bool = False  # the due time or the days counted rest on an unannounced year

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.rule, self.subject, self.period or "")

    @property
    def message(self) -> str:
        return self.wording.text()

    @property
    def message_key(self) -> str:
        """What its message is made of (a stored alert keeps it: equal keys, equal messages)."""
        return self.wording.key()

    def record(self) -> dict[str, Any]:
        """The JSON shape of `evaluate --format json` and `GET /v1/alerts`."""
        return {
            "rule": self.rule,
            "subject": self.subject,
            "period": self.period,
            "state": self.state,
            "level": self.level,
            "due": iso_shanghai(self.due_at),
            "recipients": list(self.recipients),
            "clause": self.clause,
            "message": self.message,
            "provisional": self.provisional,
        }


Key = tuple[str, str, str]  # (rule, subject, period or "")


@dataclass(frozen=True)
class Continuation:
    """What an evaluation that continues an earlier one (monitor/evaluation/steady.py) adds to it: the keys
    whose obligation or alert may differ from the earlier one, its alerts (firing and inhibited)
    and obligations by key, so that its commit looks up those keys instead of indexing a
    province's million anew, and its counts for the metrics: obligations by (rule, unit, status),
    open cases by (rule, status), firing alerts by (rule, state, level)."""

    delta: frozenset[Key]
    alerts_by_key: Mapping[Key, Alert] = field(repr=False)
    obligations_by_key: Mapping[Key, Obligation] = field(repr=False)
    tallies: tuple[Counter[Key], Counter[tuple[str, str]], Counter[Key]] = field(repr=False)
    # the stored obligation rows of the delta already read by the evaluation (plain columns), which
    # the commit's planning need not read again
    stored_obligations: Mapping[Key, Any] = field(default_factory=dict, repr=False)
    # every open alert of the stored duties' keys (plain columns, `ALERT_COLUMNS`), read with them:
    # the commit reads by key only the alert rows of the other keys (monitor/alerts/lifecycle.py)
    stored_alerts: Mapping[Key, Any] = field(default_factory=dict, repr=False)
    # keys of the delta whose duty is as its stored row says and quiet (monitor/evaluation/obligations/unchanged.py):
    # no object was built for them and their row stays; an alert of theirs still open resolves
    kept: frozenset[Key] = frozenset()


@dataclass
class Evaluation:
    """What evaluate(now) found."""

    at: datetime
    alerts: list[Alert]  # firing, not inhibited, in a stable order (a continued one's: unordered)
    inhibited: list[Alert]
    obligations: list[Obligation]
    problems: list[str] = field(default_factory=list)  # e.g. a calendar year that is not covered
    incomplete_rules: set[str] = field(default_factory=set)  # rules whose view is partial: resolve nothing
    # keys of duties whose due time cannot be told (strict mode, a year with no calendar): their
    # alerts are neither raised nor resolved until it can
    held: frozenset[tuple[str, str, str]] = frozenset()
    facts: int = 0  # distinct facts the matcher decided
    matcher_seconds: float = 0.0
    seconds: float = 0.0
    # an evaluation continuing an earlier one (monitor/evaluation/steady.py); None for a full one, whose
    # commit compares everything
    continued: Continuation | None = field(default=None, repr=False, compare=False)
    # what a continuing evaluation reuses: the roster it read and the matcher's verdicts by shape
    roster: RosterIndex | None = field(default=None, repr=False, compare=False)
    verdicts: Verdicts | None = field(default=None, repr=False, compare=False)

    @property
    def delta(self) -> frozenset[Key] | None:
        """The keys whose obligation or alert may differ from the evaluation this one continues;
        None for a full evaluation ("anything may have")."""
        return self.continued.delta if self.continued is not None else None


Shape = tuple[str, FactStatus, int, int, int]


class Verdicts:
    """The matcher's decision for each distinct fact shape, decided once and remembered.

    A decision depends on the fact's fields alone (the matcher keeps no state), and a city's
    fifty thousand unmet duties come in a few hundred shapes of (rule, status, working days to
    due, working days overdue, level reached): each is asserted once per matcher.
    """

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher
        self.known: dict[Shape, Decision | None] = {}
        self.seconds = 0.0

    def decide(self, open_ones: list[Obligation]) -> list[Decision | None]:
        shapes = [_shape(o) for o in open_ones]
        self._learn([s for s in shapes if s not in self.known])
        return [self.known[s] for s in shapes]

    def alerts(self, shape: Shape) -> bool:
        """Whether a duty of this shape raises an alert (a warning or an escalation level)."""
        if shape not in self.known:
            self._learn([shape])
        return self.known[shape] is not None

    def _learn(self, shapes: list[Shape]) -> None:
        fresh = list(dict.fromkeys(shapes))
        if fresh:
            started = _time.perf_counter()
            decided = {d.key: d for d in self.matcher.decide([Fact(i, *s) for i, s in enumerate(fresh)])}
            self.seconds += _time.perf_counter() - started
            for i, shape in enumerate(fresh):
                self.known[shape] = decided.get(i)


def _shape(o: Obligation) -> Shape:
    status: FactStatus = "overdue" if o.status == "overdue" else "pending"
    return (o.rule, status, o.working_days_to_due, o.working_days_overdue, o.escalated_level)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector while an evaluation builds its objects.

    An evaluation allocates a million small acyclic objects at a province's size (obligations,
    alerts, their tuples); every allocation burst triggers collections that walk everything
    alive, the last tick's baseline included: 12-15% of an evaluation at M. Reference counting
    still frees what is dropped; cycles wait until the tick ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def make_timing(calendar: WorkCalendar, settings: Settings, rulebook: Rulebook) -> Timing:
    return Timing(calendar, settings.calendar.end_of_day, max(r.warn_working_days for r in rulebook))


def waivers(session: Session) -> set[tuple[str, str, str]]:
    """The keys of waived obligations: a waiver says the duty is not owed at all."""
    return {(r, s, p) for r, s, p in session.execute(select(Waiver.rule, Waiver.subject, Waiver.period))}


def collect(
    view: View, rules: list[Rule], problems: list[str], incomplete: set[str]
) -> dict[str, list[Obligation]]:
    """The obligations of the given rules in view, by rule (ladders from the clocks they watch)."""
    by_rule: dict[str, list[Obligation]] = {}
    for rule in rules:
        if rule.obligation == "case_ladder":
            continue
        try:
            by_rule[rule.id] = _BY_KIND[rule.obligation](view, rule)
        except CalendarNotCovered as exc:
            problems.append(f"{rule.id}: {exc}")
            incomplete.add(rule.id)
    for rule in rules:
        if rule.obligation == "case_ladder":
            clocks = [o for r in rule.ladder_of for o in by_rule.get(r, [])]
            by_rule[rule.id] = case_ladder_obligations(rule, clocks)
    return by_rule


def settle(
    obligation: Obligation,
    rule: Rule,
    timing: Timing,
    now: datetime,
    waived: set[tuple[str, str, str]],
) -> None:
    """The obligation's status at now: waived, met, pending, overdue or uncomputable.

    A ladder step is waived with the clock it climbs: a waiver says the duty is not owed at all,
    so nobody is to be escalated to for it either.
    """
    if obligation.key in waived or (
        rule.obligation == "case_ladder"
        and any((clock, obligation.subject, "") in waived for clock in rule.ladder_of)
    ):
        obligation.status = "waived"
        return
    try:
        timing.settle(obligation, now, rule.expire_working_days)
    except CalendarNotCovered as missing:  # a count no lower bound answers: set this duty aside
        obligation.calendar_gap = missing.year
        obligation.status = "uncomputable"


def is_open(obligation: Obligation) -> bool:
    return obligation.status in ("pending", "overdue")


@dataclass(frozen=True)
class Evaluator:
    """What every evaluation of a deployment shares: the rules, the calendar, and the matcher
    compiled from the rules. Built once from what is loaded (`Evaluator.of`), replaced whole on
    reload; the daemon, the API, the CLI and the benchmarks evaluate through it."""

    rulebook: Rulebook
    calendar: WorkCalendar
    matcher: Matcher

    @classmethod
    def of(cls, rulebook: Rulebook, calendar: WorkCalendar) -> Evaluator:
        return cls(rulebook, calendar, compile_matcher(rulebook))

    def evaluate(
        self,
        session: Session,
        settings: Settings,
        now: datetime,
        *,
        language: str | None = None,
        case_ids: frozenset[str] | None = None,
    ) -> Evaluation:
        """`evaluate` with what this evaluator holds."""
        return evaluate(
            session,
            self.rulebook,
            self.calendar,
            settings,
            now,
            self.matcher,
            language=language,
            case_ids=case_ids,
        )


@gc_paused()
def evaluate(
    session: Session,
    rulebook: Rulebook,
    calendar: WorkCalendar,
    settings: Settings,
    now: datetime,
    matcher: Matcher,
    *,
    language: str | None = None,
    case_ids: frozenset[str] | None = None,
) -> Evaluation:
    """Every obligation in view at `now`, and the alerts it calls for.

    With `case_ids`, only the duties of those cases (their clocks, meeting and ladder): the same
    answers for them as a whole evaluation, at the cost of their own rows (the steady tick relies
    on the same scoping). Inhibition then sees only their alerts.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    started = _time.perf_counter()
    for_evaluation(session)
    roster = RosterIndex.load(session)
    # the calendar as known at `now`: a notice entered later is not yet in force there
    timing = make_timing(calendar.as_of(now), settings, rulebook)
    view = View(session, now, timing, roster, settings.cases, case_ids=case_ids)
    problems: list[str] = []
    incomplete: set[str] = set()
    rules = list(rulebook)
    if case_ids is not None:
        rules = [rule for rule in rules if rule.obligation in CASE_KINDS]
    by_rule = collect(view, rules, problems, incomplete)
    waived = waivers(session)
    obligations: list[Obligation] = []
    for rule in rulebook:
        for obligation in by_rule.get(rule.id, []):
            settle(obligation, rule, timing, now, waived)
            obligations.append(obligation)
    verdicts = Verdicts(matcher)
    candidates = alerts_for(
        [o for o in obligations if is_open(o)], verdicts, rulebook, roster, language or settings.language
    )
    firing, inhibited = inhibit(candidates, settings.inhibit)
    return Evaluation(
        at=now,
        alerts=in_order(firing, rulebook),
        inhibited=inhibited,
        obligations=obligations,
        problems=problems,
        incomplete_rules=incomplete,
        held=held_keys(obligations),
        facts=len(verdicts.known),
        matcher_seconds=verdicts.seconds,
        seconds=_time.perf_counter() - started,
        roster=roster,
        verdicts=verdicts,
    )


def held_keys(obligations: Iterable[Obligation]) -> frozenset[tuple[str, str, str]]:
    """The keys of the duties set aside because their due time cannot be told."""
    return frozenset(o.key for o in obligations if o.status == "uncomputable")


def uncomputable_counts(obligations: Iterable[Obligation]) -> Counter[tuple[str, int | None]]:
    """How many duties each (rule, missing calendar year) set aside."""
    return Counter((o.rule, o.calendar_gap) for o in obligations if o.status == "uncomputable")


def uncomputable_lines(counts: Mapping[tuple[str, int | None], int]) -> list[str]:
    """One line per rule with duties set aside for a missing calendar year (for logs and stderr)."""
    return [
        f"{rule}: {count} duties uncomputable: no working-day calendar for {year} "
        f"(add config/calendar/{year}.yaml, or `calendar.unannounced: provisional`)"
        for (rule, year), count in sorted(counts.items(), key=lambda item: (item[0][0], item[0][1] or 0))
    ]


def uncomputable_summary(obligations: Iterable[Obligation]) -> list[str]:
    """`uncomputable_lines` of these duties."""
    return uncomputable_lines(uncomputable_counts(obligations))


def in_order(alerts: list[Alert], rulebook: Rulebook) -> list[Alert]:
    order = {rule_id: i for i, rule_id in enumerate(rulebook.rules)}
    return sorted(alerts, key=lambda a: (order[a.rule], a.subject, a.period or ""))


def alerts_for(
    open_ones: list[Obligation], verdicts: Verdicts, rulebook: Rulebook, roster: RosterIndex, lang: str
) -> list[Alert]:
    """The alerts the unmet obligations call for, before inhibition."""
    alerts: list[Alert] = []
    for obligation, decision in zip(open_ones, verdicts.decide(open_ones), strict=True):
        if decision is not None:
            alerts.append(_alert(obligation, decision, rulebook[obligation.rule], rulebook, roster, lang))
    return alerts


def _alert(
    obligation: Obligation, decision: Decision, rule: Rule, rulebook: Rulebook, roster: RosterIndex, lang: str
) -> Alert:
    step_roles = _roles_for(rule, decision.state, decision.level)
    return Alert(
        rule=rule.id,
        subject=obligation.subject,
        period=obligation.period,
        state=decision.state,
        level=decision.level,
        due_at=obligation.due_at,
        recipients=tuple(roster.recipients(step_roles, obligation.owner, obligation.project_id)),
        clause=rule.clause,
        wording=RuleMessage(rulebook, rule, lang, obligation, decision, roster.owner_name(obligation.owner)),
        unit_id=obligation.unit_id,
        immediate=rule.immediate,
        provisional=obligation.provisional,
    )


def _roles_for(rule: Rule, state: AlertState, level: int) -> tuple[str, ...]:
    """Who hears of it: the ladder step reached; a warning goes to those of the first step."""
    if state == "warning":
        return rule.escalation[0].notify
    return rule.step_for(level).notify


def inhibit(alerts: list[Alert], rules: tuple[InhibitRule, ...]) -> tuple[list[Alert], list[Alert]]:
    """Hold back an alert while an inhibiting alert (config `inhibit`) fires for the same subject
    (and period) at a state at least as severe (an overdue visit says all an overdue contact would)."""
    severity = {"warning": 0, "overdue": 1}

    def projection(rule: InhibitRule, alert: Alert) -> tuple[str | None, ...]:
        return tuple(alert.subject if field == "subject" else alert.period for field in rule.equal)

    # per inhibit rule: the most severe state of its source alerts, by the fields that must be equal
    strongest: list[dict[tuple[str | None, ...], int]] = []
    for rule in rules:
        index: dict[tuple[str | None, ...], int] = {}
        for alert in alerts:
            if alert.rule == rule.source:
                key = projection(rule, alert)
                index[key] = max(index.get(key, -1), severity[alert.state])
        strongest.append(index)
    firing: list[Alert] = []
    inhibited: list[Alert] = []
    for alert in alerts:
        by = next(
            (
                rule.source
                for rule, index in zip(rules, strongest, strict=True)
                if alert.rule in rule.targets
                and index.get(projection(rule, alert), -1) >= severity[alert.state]
            ),
            None,
        )
        if by is None:
            firing.append(alert)
        else:
            inhibited.append(replace(alert, inhibited_by=by))
    return firing, inhibited
