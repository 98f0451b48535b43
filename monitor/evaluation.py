"""Evaluate(now): the alerts the policy calls for at an instant.

A pure function of (store contents, rules, calendar, now): SQL and the calendar derive each
obligation's due time and status set-wise; the matcher decides, for the unmet ones, whether to
warn or at which escalation level the alert stands; recipients and messages come from the
roster and the rule. The same call serves the daemon's tick, `evaluate --at`, the backtest and
the rule tests. Nothing here reads the wall clock.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.calendar import CalendarNotCovered, WorkCalendar
from monitor.clock import iso_shanghai
from monitor.config import InhibitRule, Settings
from monitor.engine import Fact, FactStatus, Matcher
from monitor.obligations import Obligation, View
from monitor.obligations.cases import (
    case_clock_obligations,
    case_ladder_obligations,
    case_meeting_obligations,
    repeat_report_obligations,
)
from monitor.obligations.pairings import pairing_obligations
from monitor.obligations.projects import project_item_obligations
from monitor.obligations.reviews import review_obligations
from monitor.obligations.timing import Timing
from monitor.obligations.units import unit_obligations
from monitor.roster import RosterIndex
from monitor.rulebook import Rule, Rulebook
from monitor.store.models import Waiver

AlertState = Literal["warning", "overdue"]

_FAMILIES: dict[str, Callable[[View, Rule], list[Obligation]]] = {
    "pairing_activity": pairing_obligations,
    "unit_activity": unit_obligations,
    "unit_report": unit_obligations,
    "case_clock": case_clock_obligations,
    "case_meeting": case_meeting_obligations,
    "repeat_report": repeat_report_obligations,
    "review_rectification": review_obligations,
    "project_item": project_item_obligations,
}


@dataclass(frozen=True)
class Alert:
    """An alert record of the public contract (DESIGN.md), plus what the daemon needs."""

    rule: str
    subject: str
    period: str | None
    state: AlertState
    level: int
    due_at: datetime
    recipients: tuple[str, ...]
    clause: str
    message: str
    unit_id: str | None = None
    immediate: bool = False
    inhibited_by: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.rule, self.subject, self.period or "")

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
        }


@dataclass
class Evaluation:
    """What evaluate(now) found."""

    at: datetime
    alerts: list[Alert]  # firing, not inhibited, in a stable order
    inhibited: list[Alert]
    obligations: list[Obligation]
    problems: list[str] = field(default_factory=list)  # e.g. a calendar year that is not covered
    incomplete_rules: set[str] = field(default_factory=set)  # rules whose view is partial: resolve nothing
    facts: int = 0  # distinct facts the matcher decided
    matcher_seconds: float = 0.0
    seconds: float = 0.0


def evaluate(
    session: Session,
    rulebook: Rulebook,
    calendar: WorkCalendar,
    settings: Settings,
    now: datetime,
    matcher: Matcher,
    *,
    language: str | None = None,
) -> Evaluation:
    """Every obligation in view at `now`, and the alerts it calls for."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    started = _time.perf_counter()
    roster = RosterIndex.load(session)
    timing = Timing(calendar, settings.calendar.end_of_day, max(r.warn_working_days for r in rulebook))
    view = View(session, now, timing, roster, settings.cases)
    problems: list[str] = []
    incomplete: set[str] = set()
    obligations: list[Obligation] = []
    by_rule: dict[str, list[Obligation]] = {}
    for rule in rulebook:
        if rule.obligation == "case_ladder":
            continue
        try:
            found = _FAMILIES[rule.obligation](view, rule)
        except CalendarNotCovered as exc:
            problems.append(f"{rule.id}: {exc}")
            incomplete.add(rule.id)
            continue
        by_rule[rule.id] = found
    for rule in rulebook:
        if rule.obligation == "case_ladder":
            clocks = [o for r in rule.ladder_of for o in by_rule.get(r, [])]
            by_rule[rule.id] = case_ladder_obligations(rule, clocks)
    # a waiver says the duty is not owed at all, whenever it was granted
    waived = {(r, s, p) for r, s, p in session.execute(select(Waiver.rule, Waiver.subject, Waiver.period))}
    for rule in rulebook:
        for obligation in by_rule.get(rule.id, []):
            if obligation.key in waived:
                obligation.status = "waived"
                obligations.append(obligation)
                continue
            try:
                timing.settle(obligation, now, rule.expire_working_days)
            except CalendarNotCovered as exc:
                problems.append(f"{rule.id} {obligation.subject}: {exc}")
                incomplete.add(rule.id)
                continue
            obligations.append(obligation)

    # The matcher decides each distinct fact once: a decision depends on the fact's fields alone
    # (the matcher keeps no state), and a city's fifty thousand unmet duties come in a few
    # hundred shapes of (rule, status, working days to due, overdue, level reached).
    open_ones = [o for o in obligations if o.status in ("pending", "overdue")]
    slots: dict[tuple[str, FactStatus, int, int, int], int] = {}
    slot_of: list[int] = []
    facts: list[Fact] = []
    for o in open_ones:
        status: FactStatus = "overdue" if o.status == "overdue" else "pending"
        shape = (o.rule, status, o.working_days_to_due, o.working_days_overdue, o.min_level)
        slot = slots.get(shape)
        if slot is None:
            slot = slots[shape] = len(facts)
            facts.append(Fact(slot, *shape))
        slot_of.append(slot)
    matcher_started = _time.perf_counter()
    decided = {d.key: d for d in matcher.decide(facts)}
    matcher_seconds = _time.perf_counter() - matcher_started

    lang = language or settings.language
    alerts: list[Alert] = []
    for obligation, slot in zip(open_ones, slot_of, strict=True):
        decision = decided.get(slot)
        if decision is None:
            continue
        rule = rulebook[obligation.rule]
        step_roles = _roles_for(rule, decision.state, decision.level)
        context = {
            **obligation.context,
            "state": decision.state,
            "level": decision.level,
            "period": obligation.period or "",
            "due": iso_shanghai(obligation.due_at)[:16].replace("T", " "),
            "working_days_to_due": obligation.working_days_to_due,
            "working_days_overdue": obligation.working_days_overdue,
            "clause": rule.clause,
            "title": rule.title.get(lang),
        }
        context.setdefault("owner_name", roster.owner_name(obligation.owner))
        alerts.append(
            Alert(
                rule=rule.id,
                subject=obligation.subject,
                period=obligation.period,
                state=decision.state,
                level=decision.level,
                due_at=obligation.due_at,
                recipients=tuple(roster.recipients(step_roles, obligation.owner, obligation.project_id)),
                clause=rule.clause,
                message=rulebook.render(rule.id, lang, context),
                unit_id=obligation.unit_id,
                immediate=rule.immediate,
            )
        )
    firing, inhibited = _inhibit(alerts, settings.inhibit)
    order = {rule_id: i for i, rule_id in enumerate(rulebook.rules)}
    firing.sort(key=lambda a: (order[a.rule], a.subject, a.period or ""))
    return Evaluation(
        at=now,
        alerts=firing,
        inhibited=inhibited,
        obligations=obligations,
        problems=problems,
        incomplete_rules=incomplete,
        facts=len(facts),
        matcher_seconds=matcher_seconds,
        seconds=_time.perf_counter() - started,
    )


def _roles_for(rule: Rule, state: AlertState, level: int) -> tuple[str, ...]:
    """Who hears of it: the ladder step reached; a warning goes to those of the first step."""
    if state == "warning":
        return rule.escalation[0].notify
    return rule.step_for(level).notify


def _inhibit(alerts: list[Alert], rules: tuple[InhibitRule, ...]) -> tuple[list[Alert], list[Alert]]:
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
