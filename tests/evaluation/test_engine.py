"""The matcher: durable-rules decides exactly what the plain-Python reference decides, and the
durable-rules behaviours our design relies on are pinned so an upgrade that changes them fails."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from durable import engine as durable_engine

from monitor.evaluation.engine import Decision, DurableMatcher, Fact, PythonMatcher, _QuietHost
from monitor.rulebook import Rulebook, load_rulebook

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rulebook() -> Rulebook:
    return load_rulebook(ROOT / "rules")


def test_durable_matcher_agrees_with_the_reference_on_every_rule(rulebook: Rulebook) -> None:
    facts = [
        Fact(i, rule.id, status, to_due, overdue, escalated_level)
        for i, (rule, status, to_due, overdue, escalated_level) in enumerate(
            itertools.product(
                rulebook, ("pending", "overdue"), (0, 1, 3, 5, 25), (0, 1, 2, 5, 8, 30), (0, 2, 3)
            )
        )
        if not (status == "pending" and overdue) and not (status == "overdue" and to_due)
    ]
    assert DurableMatcher(rulebook).decide(facts) == PythonMatcher(rulebook).decide(facts)


def test_overdue_fact_takes_the_highest_level_its_working_days_reach(rulebook: Rulebook) -> None:
    matcher = DurableMatcher(rulebook)
    # case clocks: level 1 at the deadline, 2 two working days later, 3 five working days later
    decisions = matcher.decide(
        [
            Fact(0, "case-complex-5-workdays", "overdue", 0, 0),
            Fact(1, "case-complex-5-workdays", "overdue", 0, 2),
            Fact(2, "case-complex-5-workdays", "overdue", 0, 4),
            Fact(3, "case-complex-5-workdays", "overdue", 0, 5),
        ]
    )
    assert [d.level for d in decisions] == [1, 2, 2, 3]
    assert {d.state for d in decisions} == {"overdue"}


def test_an_explicit_escalation_raises_the_level(rulebook: Rulebook) -> None:
    decisions = DurableMatcher(rulebook).decide(
        [Fact(0, "case-complex-5-workdays", "overdue", 0, 0, escalated_level=3)]
    )
    assert decisions == [Decision(0, "overdue", 3)]


def test_warning_only_within_the_rules_threshold(rulebook: Rulebook) -> None:
    matcher = DurableMatcher(rulebook)
    warn = rulebook["pairing-monthly-visit"].warn_working_days
    decisions = matcher.decide(
        [
            Fact(0, "pairing-monthly-visit", "pending", warn, 0),
            Fact(1, "pairing-monthly-visit", "pending", warn + 1, 0),
            Fact(2, "case-simple-same-day", "pending", 0, 0),  # no warning step on this rule
        ]
    )
    assert decisions == [Decision(0, "warning", 0)]


def test_a_second_matcher_in_the_same_process_gets_rulesets_of_its_own(rulebook: Rulebook) -> None:
    first, second = DurableMatcher(rulebook), DurableMatcher(rulebook)
    fact = [Fact(0, "pairing-monthly-visit", "overdue", 0, 3)]
    assert first.decide(fact) == second.decide(fact) == [Decision(0, "overdue", 1)]


def test_repeated_decisions_leave_nothing_resident(rulebook: Rulebook) -> None:
    matcher = DurableMatcher(rulebook)
    fact = [Fact(0, "pairing-monthly-visit", "overdue", 0, 3)]
    for _ in range(3):
        assert matcher.decide(fact) == [Decision(0, "overdue", 1)]


# --- pinned durable-rules behaviours (docs/architecture.md, durable-rules) ------------------


def _host(name: str, hits: list[str]) -> _QuietHost:
    return _QuietHost(
        {
            name: {
                "r_low": {"all": [{"m": {"$gte": {"x": 1}}}], "run": lambda c: hits.append("low")},
                "r_high": {"all": [{"m": {"$gte": {"x": 5}}}], "run": lambda c: hits.append("high")},
            }
        }
    )


def test_pinned_assert_fact_fires_every_matching_rule() -> None:
    hits: list[str] = []
    host = _host("pin_all_rules", hits)
    host.assert_fact("pin_all_rules", {"x": 7})
    host.retract_fact("pin_all_rules", {"x": 7})
    assert sorted(hits) == ["high", "low"]


def test_pinned_a_fact_matching_no_rule_raises_not_handled() -> None:
    host = _host("pin_not_handled", [])
    with pytest.raises(durable_engine.MessageNotHandledException):
        host.assert_fact("pin_not_handled", {"x": 0})


def test_pinned_colliding_fact_ids_are_harmless_when_nothing_stays_resident() -> None:
    # 'ob77649' and 'ob850686' share a 32-bit FNV-1a hash inside durable-rules.
    hits: list[str] = []
    host = _host("pin_collision", hits)
    for ident in ("ob77649", "ob850686"):
        host.assert_fact("pin_collision", {"id": ident, "x": 1})
        host.retract_fact("pin_collision", {"id": ident, "x": 1})
    assert hits == ["low", "low"]
    assert host.get_facts("pin_collision") == []
