"""Every rule's message, in Chinese and English, says what is true at each state it can reach.

The states are those the matcher decides for a duty at its warning, at its deadline (no working
day ended yet), at each escalation step, and escalated by an event before any working day ended;
the template variables are built as evaluation builds it.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from monitor.clock import parse_instant
from monitor.evaluation.engine import Fact, PythonMatcher
from monitor.evaluation.message import message_variables
from monitor.evaluation.obligations import Obligation
from monitor.rulebook import Rule, load_rulebook

ROOT = Path(__file__).resolve().parents[2]
RULEBOOK = load_rulebook(ROOT / "rules")
MATCHER = PythonMatcher(RULEBOOK)
DUE = parse_instant("2024-10-10T23:59:59")
SHOWN_DUE = "2024-10-10 23:59"
VARIABLES = {
    "owner_name": "张三",
    "enterprise_name": "宿迁恒达机械有限公司",
    "unit_name": "区行政审批局",
    "case_id": "C202410001",
    "category": "用地",
    "received": "2024-10-08 09:30",
    "previous_closed": "2024-09-01 10:00",
    "review_id": "R1",
    "rating": 1,  # one star, one working day: the singular is checked
    "project_name": "智能装备产业园",
    "item_name": "环评批复",
}

# (what the state is, status, working days to due, working days overdue, level reached by an event)
Shape = tuple[str, str, int, int, int]


def shapes(rule: Rule) -> list[Shape]:
    """The states to check: warning, deadline, each step by days, each step by an event at once."""
    out: list[Shape] = []
    if rule.obligation != "repeat_report":  # due at the repeated report itself: never pending
        out.append(("warning, due today", "pending", 1, 0, 0))
    if rule.warn_working_days:
        out.append(("warning, first day", "pending", rule.warn_working_days, 0, 0))
    out.append(("at the deadline", "overdue", 0, 0, 0))
    for step in rule.escalation:
        out.append((f"level {step.level} by days", "overdue", 0, step.after_working_days, 0))
        out.append((f"level {step.level} by an event", "overdue", 0, 0, step.level))
    return out


def decides(rule: Rule, shape: Shape) -> bool:
    """The matcher raises an alert in this state (a rule with no warning threshold may not warn)."""
    _, status, to_due, overdue, escalated_level = shape
    return bool(MATCHER.decide([Fact(0, rule.id, status, to_due, overdue, escalated_level)]))  # type: ignore[arg-type]


CASES = [
    pytest.param(rule, shape, lang, id=f"{rule.id}-{shape[0]}-{lang}")
    for rule in RULEBOOK
    for shape in shapes(rule)
    if decides(rule, shape)
    for lang in ("zh", "en")
]


def render(
    rule: Rule, shape: Shape, lang: str, extra: dict[str, object] | None = None
) -> tuple[str, str, int]:
    _, status, to_due, overdue, escalated_level = shape
    [decision] = MATCHER.decide([Fact(0, rule.id, status, to_due, overdue, escalated_level)]) or [None]  # type: ignore[arg-type]
    assert decision is not None, "CASES holds only the states the matcher alerts in"
    obligation = Obligation(
        rule=rule.id,
        subject="s",
        period="2024-09" if rule.period else None,
        owner="o",
        unit_id="u",
        due_at=DUE,
        variables={**VARIABLES, **(extra or {})},
    )
    obligation.working_days_to_due = to_due
    obligation.working_days_overdue = overdue
    obligation.escalated_level = escalated_level
    variables = message_variables(obligation, decision, rule, lang)
    return RULEBOOK.render(rule.id, lang, variables), decision.state, decision.level


@pytest.mark.parametrize(("rule", "shape", "lang"), CASES)
def test_message_says_what_is_true(rule: Rule, shape: Shape, lang: str) -> None:
    message, state, level = render(rule, shape, lang)
    days = r"(?<![\d.])0 ?(个工作日|working day)"
    assert not re.search(days, message), f"a count of zero working days: {message}"
    if lang == "zh":
        stated = [int(n) for n in re.findall(r"第(\d+)级", message)]
        assert ("【提醒】" in message) == (state == "warning"), message
    else:
        stated = [int(n) for n in re.findall(r"level (\d+)", message)]
        assert ("[Reminder]" in message) == (state == "warning"), message
        assert "(s)" not in message and not re.search(r"\b1 (working days|stars)\b", message), message
    assert stated == ([level] if level else []), f"level {level} but the message says {stated}: {message}"
    assert SHOWN_DUE in message, f"the due time is not shown: {message}"
    assert not re.search(r"\d{4}-\d\d-\d\dT\d", message), f"an ISO instant where people read: {message}"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_reopened_case_is_said_to_be_reopened(lang: str) -> None:
    rule = RULEBOOK["case-repeat-report"]
    message, _, _ = render(rule, ("reopened", "overdue", 0, 0, 0), lang, {"previous_closed": ""})
    assert ("重新打开" if lang == "zh" else "reopened") in message
    assert "已于办结" not in message and "closed on ." not in message and "closed on )" not in message


def test_shapes_cover_every_rule_at_its_deadline() -> None:
    assert all(any(s[0] == "at the deadline" for s in shapes(r)) for r in RULEBOOK)
    assert isinstance(DUE, datetime)


@pytest.mark.parametrize(("lang", "said"), [("zh", "未在7个工作日内"), ("en", "within 7 working days (due")])
def test_the_overdue_message_states_the_rules_own_limit(lang: str, said: str) -> None:
    # the limit is the rule's due_working_days, not a number written into the message
    rule = RULEBOOK["case-complex-5-workdays"].model_copy(update={"due_working_days": 7})
    message, state, _ = render(rule, ("at the deadline", "overdue", 0, 0, 0), lang)
    assert state == "overdue" and said in message
    shipped, _, _ = render(RULEBOOK["case-complex-5-workdays"], ("at the deadline", "overdue", 0, 0, 0), lang)
    assert said.replace("7", "5") in shipped


@pytest.mark.parametrize(("rule", "shape", "lang"), CASES)
def test_a_message_filled_over_its_variables_is_what_jinja_renders(
    rule: Rule, shape: Shape, lang: str
) -> None:
    """`MessageTemplate.fill` (the context reading the variables themselves) says exactly what
    jinja's own `render` says, for every rule, state and language; no shipped message names one
    of jinja's globals (each takes the quick path)."""
    template = RULEBOOK.templates[(rule.id, lang)]
    _, status, to_due, overdue, level = shape
    [decision] = MATCHER.decide([Fact(0, rule.id, status, to_due, overdue, level)])  # type: ignore[arg-type]
    obligation = Obligation(
        rule=rule.id, subject="s", period="2024-09" if rule.period else None, owner="o", unit_id="u",
        due_at=DUE, variables=dict(VARIABLES), working_days_to_due=to_due, working_days_overdue=overdue,
        escalated_level=level,
    )  # fmt: skip
    variables = message_variables(obligation, decision, rule, lang)
    assert not template.names_globals
    assert template.fill(variables) == template.render(**variables)
