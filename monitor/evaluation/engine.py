"""The matcher: durable-rules in the one role it is safe for (see docs/architecture.md).

Each rule of the rulebook compiles into a durable-rules ruleset of constant tests only:
"warn when working_days_to_due <= N" and "level L when working_days_overdue >= D". Every derived
fact is asserted and retracted at once, so all matching rules fire and nothing stays resident
(durable-rules identifies facts by a 32-bit hash; with nothing resident, a collision cannot
matter). Actions only append to a list; any error inside one is re-raised, not swallowed.

`Matcher` is the small interface the evaluation talks to, so the engine can be measured and
replaced in one module.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from durable import engine as durable_engine

from monitor.rulebook import Rule, Rulebook

FactStatus = Literal["pending", "overdue"]


@dataclass(frozen=True)
class Fact:
    """What SQL and the calendar derived about one unmet duty at the instant of evaluation."""

    key: int  # the index of the fact in its batch; ties decisions back to facts
    rule: str
    status: FactStatus
    working_days_to_due: int  # working days left, today included when it has not ended
    working_days_overdue: int  # working days that have ended since the due time
    escalated_level: int = 0  # the level a case_escalated event already reached (0: none)


@dataclass(frozen=True)
class Decision:
    """The matcher's verdict on one fact: warn, or overdue at an escalation level."""

    key: int
    state: Literal["warning", "overdue"]
    level: int


class Matcher(Protocol):
    def decide(self, facts: Sequence[Fact]) -> list[Decision]:
        """Decisions for the facts that call for one; facts that call for none are left out."""


class _QuietHost(durable_engine.Host):  # type: ignore[misc]
    """A durable-rules host without its two background timer threads: actions run inline."""

    def _run(self) -> None:
        return None


_generation = itertools.count(1)


class DurableMatcher:
    """The rulebook compiled into durable-rules rulesets (one per rule); single-threaded."""

    def __init__(self, rulebook: Rulebook) -> None:
        # Rulesets cannot be redefined or removed in durable-rules: each matcher gets its own
        # names, and a reload builds a new matcher.
        self._prefix = f"dw{next(_generation)}_"
        self._lock = threading.Lock()
        self._hits: list[tuple[int, str, int]] = []
        definitions: dict[str, Any] = {}
        self._ruleset_of: dict[str, str] = {}
        for rule in rulebook:
            name = self._prefix + rule.id.replace("-", "_")
            self._ruleset_of[rule.id] = name
            definitions[name] = self._compile(rule)
        self._host = _QuietHost(definitions)

    def _record(self, decision: str, level: int) -> Callable[[Any], None]:
        def action(c: Any) -> None:
            self._hits.append((int(c.m["key"]), decision, level))

        return action

    def _compile(self, rule: Rule) -> dict[str, Any]:
        definition: dict[str, Any] = {}
        if rule.immediate:
            # an immediate rule warns from the moment its duty arises
            definition["warn"] = {"all": [{"m": {"status": "pending"}}], "run": self._record("warning", 0)}
        elif rule.warn_working_days > 0:
            definition["warn"] = {
                "all": [
                    {
                        "m": {
                            "$and": [
                                {"status": "pending"},
                                {"$lte": {"working_days_to_due": rule.warn_working_days}},
                            ]
                        }
                    }
                ],
                "run": self._record("warning", 0),
            }
        for step in rule.escalation:
            definition[f"level_{step.level}"] = {
                "all": [
                    {
                        "m": {
                            "$and": [
                                {"status": "overdue"},
                                {
                                    "$or": [
                                        {"$gte": {"working_days_overdue": step.after_working_days}},
                                        {"$gte": {"escalated_level": step.level}},
                                    ]
                                },
                            ]
                        }
                    }
                ],
                "run": self._record("overdue", step.level),
            }
        return definition

    def decide(self, facts: Sequence[Fact]) -> list[Decision]:
        with self._lock:
            self._hits = []
            for fact in facts:
                ruleset = self._ruleset_of.get(fact.rule)
                if ruleset is None:
                    continue
                message = {
                    "key": fact.key,
                    "status": fact.status,
                    "working_days_to_due": fact.working_days_to_due,
                    "working_days_overdue": fact.working_days_overdue,
                    "escalated_level": fact.escalated_level,
                }
                try:
                    self._host.assert_fact(ruleset, message)
                except durable_engine.MessageNotHandledException:
                    continue  # no rule matched: no decision
                self._host.retract_fact(ruleset, message)
            hits, self._hits = self._hits, []
        best: dict[int, Decision] = {}
        for key, state, level in hits:
            current = best.get(key)
            candidate = Decision(key, "overdue" if state == "overdue" else "warning", level)
            if current is None or _rank(candidate) > _rank(current):
                best[key] = candidate
        return [best[k] for k in sorted(best)]


def _rank(decision: Decision) -> tuple[int, int]:
    return (1 if decision.state == "overdue" else 0, decision.level)


class PythonMatcher:
    """The same decisions computed in plain Python: the reference the tests hold durable-rules to."""

    def __init__(self, rulebook: Rulebook) -> None:
        self._rules = {r.id: r for r in rulebook}

    def decide(self, facts: Sequence[Fact]) -> list[Decision]:
        out: list[Decision] = []
        for fact in facts:
            rule = self._rules.get(fact.rule)
            if rule is None:
                continue
            if fact.status == "overdue":
                reached = [
                    s.level
                    for s in rule.escalation
                    if fact.working_days_overdue >= s.after_working_days or fact.escalated_level >= s.level
                ]
                if reached:
                    out.append(Decision(fact.key, "overdue", max(reached)))
            elif rule.immediate or 0 < rule.warn_working_days >= fact.working_days_to_due:
                out.append(Decision(fact.key, "warning", 0))
        return out


def compile_matcher(rulebook: Rulebook) -> Matcher:
    """The matcher every evaluation uses, compiled from the rules: the one place that chooses it
    (durable-rules decides warn/level per fact shape; PythonMatcher is the tests' reference)."""
    return DurableMatcher(rulebook)
