"""An alert's message and its key: rendered when read, the key telling apart what the text is
made of (monitor/evaluation/message.py, `Rulebook.message_key`)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor import rulebook as rulebook_module
from monitor.evaluation.engine import Decision
from monitor.evaluation.message import PROVISIONAL_SUFFIX, RuleMessage, Written, message_variables
from monitor.evaluation.obligations import Obligation
from monitor.roster import RosterIndex
from monitor.rulebook import Rulebook, compile_message, load_rulebook

ROOT = Path(__file__).resolve().parents[2]
RULEBOOK = load_rulebook(ROOT / "rules")
RULE = RULEBOOK["pairing-monthly-contact"]
ROSTER = RosterIndex({}, {}, {"e-1": "宿迁某某科技有限公司"}, {}, {}, ())
VARIABLES = {"a": "甲", "n": 3, "none": None}


def _duty(**changed: object) -> Obligation:
    duty = Obligation(
        rule=RULE.id,
        subject="pairing:o-1:e-1",
        period="2024-10",
        owner="official:o-1",
        unit_id="u-1",
        due_at=datetime(2024, 10, 31, 9, 0, tzinfo=UTC),
        variables={"enterprise_name": "宿迁某某科技有限公司"},
        working_days_overdue=3,
    )
    for name, value in changed.items():
        setattr(duty, name, value)
    return duty


def _message(duty: Obligation, level: int = 1, language: str = "zh") -> RuleMessage:
    return RuleMessage(
        RULEBOOK, RULE, language, duty, Decision(0, "overdue", level), ROSTER.owner_name(duty.owner)
    )


def test_a_message_reads_as_its_rule_renders_it_and_says_a_provisional_count_so() -> None:
    duty = _duty()
    message = _message(duty)
    eager = RULEBOOK.render(
        RULE.id, "zh", {**message_variables(duty, Decision(0, "overdue", 1), RULE, "zh"), "owner_name": "o-1"}
    )
    assert message.text() == eager and "逾期3个工作日" in eager
    provisional = _message(_duty(provisional=True))
    assert provisional.text() == eager + PROVISIONAL_SUFFIX["zh"]
    assert provisional.key() != message.key()


def test_equal_inputs_make_equal_keys_and_each_input_another() -> None:
    duty = _duty()
    key = _message(duty).key()
    assert _message(_duty()).key() == key  # other objects, the same inputs
    assert _message(_duty(working_days_overdue=4)).key() != key
    assert _message(duty, level=2).key() != key
    assert _message(duty, language="en").key() != key
    assert _message(_duty(variables={"enterprise_name": "另一家企业"})).key() != key


def test_a_key_names_the_template_the_variables_by_name_and_the_rendering_form(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    book = Rulebook({}, {("r", "zh"): compile_message("{{ a }}{{ n }}")})
    other = Rulebook({}, {("r", "zh"): compile_message("{{ a }} {{ n }}")})
    key = book.message_key("r", "zh", VARIABLES)
    assert other.message_key("r", "zh", VARIABLES) != key  # another template, the same text here
    assert book.message_key("r", "zh", {"b": "甲", "n": 3, "none": None}) != key
    assert book.message_key("r", "zh", {"n": 3, "a": "甲", "none": None}) != key
    assert book.message_key("r", "zh", {**VARIABLES, "n": "3"}) != key  # a number is not its digits
    assert book.message_key("r", "zh", VARIABLES, suffix="!") != key
    # a separator inside a text moves no boundary between two values
    assert book.message_key("r", "zh", {"a": "x\x1fy", "n": "z"}) != book.message_key(
        "r", "zh", {"a": "x", "n": "y\x1fz"}
    )
    monkeypatch.setattr(rulebook_module, "MESSAGE_FORM", "another")
    assert book.message_key("r", "zh", VARIABLES) != key


def test_a_key_is_the_same_in_another_process() -> None:
    """A stored row's key is compared by the next process (a restart, the standby): it must not
    follow Python's salted string hashes."""
    book = Rulebook({}, {("r", "zh"): compile_message("{{ a }}{{ n }}")})
    script = (
        "from monitor.rulebook import Rulebook, compile_message\n"
        "book = Rulebook({}, {('r', 'zh'): compile_message('{{ a }}{{ n }}')})\n"
        "print(book.message_key('r', 'zh', {'a': '甲', 'n': 3, 'none': None}))\n"
    )
    keys = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert keys == {book.message_key("r", "zh", VARIABLES)}


def test_a_written_message_is_its_text_and_equals_a_rendered_one_saying_the_same() -> None:
    message = _message(_duty())
    written = Written(message.text())
    assert written == message and hash(written) == hash(message)
    assert written != Written("另一条") and Written("x").key() != Written("y").key()
