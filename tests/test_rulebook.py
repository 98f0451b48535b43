"""Rule files: the 17 ids of docs/policy/obligations.md, a schema with precise file:line errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.rulebook import RULE_IDS, load_rules

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_rules_define_exactly_the_policys_ids() -> None:
    rulebook, errors = load_rules(ROOT / "rules")
    assert errors == [] and rulebook is not None
    assert tuple(rulebook.rules) == RULE_IDS and len(RULE_IDS) == 17
    for rule in rulebook:
        assert rule.message.zh and rule.message.en and rule.quote and rule.lead_units


def copy_rules(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", folder, ignore=shutil.ignore_patterns("tests"))
    return folder


def line_of(path: Path, needle: str) -> int:
    return next(
        n for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in text
    )


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("id: project-item-deadline", "id: project-item-late", "unknown rule id 'project-item-late'"),
        ("obligation: project_item", "obligation: project_checklist", "Input should be"),
        ("warn_working_days: 3", "warn_working_days: three", "valid integer"),
        ("{level: 1, after_working_days: 2,", "{level: 0, after_working_days: 2,", "distinct and increasing"),
        (
            "{% if state == 'warning' %}【提醒】项目",
            "{% if state == 'warning' %【提醒】项目",
            "template error",
        ),
        ("    lead_units: [区招商服务中心]\n", "", "lead_units"),
        # a checklist item falls due as time passes: no event can make its alert immediate
        (
            "    lead_units: [区招商服务中心]\n",
            "    lead_units: [区招商服务中心]\n    immediate: true\n",
            "cannot be immediate",
        ),
    ],
)
def test_a_broken_rule_is_refused_with_file_line_and_reason(
    tmp_path: Path, old: str, new: str, reason: str
) -> None:
    folder = copy_rules(tmp_path)
    path = folder / "projects.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    rulebook, errors = load_rules(folder)
    assert rulebook is None
    assert any(reason in e.reason and e.file == str(path) and e.line > 1 for e in errors), [
        str(e) for e in errors
    ]


def test_a_missing_rule_and_a_duplicate_are_refused(tmp_path: Path) -> None:
    folder = copy_rules(tmp_path)
    (folder / "projects.yaml").unlink()
    _, errors = load_rules(folder)
    assert [e.reason for e in errors] == ["rules missing for: project-item-deadline"]
    shutil.copy(folder / "reviews.yaml", folder / "reviews-copy.yaml")
    _, errors = load_rules(folder)
    assert any("review-bad-rectification is defined again" in e.reason for e in errors)


def test_invalid_yaml_names_its_line(tmp_path: Path) -> None:
    folder = copy_rules(tmp_path)
    (folder / "bad.yaml").write_text("rules:\n  - id: [unclosed\n", encoding="utf-8")
    _, errors = load_rules(folder)
    assert any(e.file.endswith("bad.yaml") and "invalid YAML" in e.reason and e.line >= 2 for e in errors)


def test_the_rules_declaring_immediate_name_the_events_that_wake_an_evaluation() -> None:
    rulebook, _ = load_rules(ROOT / "rules")
    assert rulebook is not None
    immediate = {r.id for r in rulebook if r.immediate}
    assert immediate == {"case-major-to-meeting", "case-repeat-report", "review-bad-rectification"}
    # a bad review; a major case opened or escalated; a repeated report opened, closed or reopened
    assert rulebook.immediate_event_types == {
        "review",
        "case_opened",
        "case_escalated",
        "case_closed",
        "case_reopened",
    }


def test_a_rule_no_longer_immediate_no_longer_wakes_on_its_events(tmp_path: Path) -> None:
    folder = copy_rules(tmp_path)
    path = folder / "reviews.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count("    immediate: true\n") == 1
    path.write_text(text.replace("    immediate: true\n", ""), encoding="utf-8")
    rulebook, errors = load_rules(folder)
    assert errors == [] and rulebook is not None
    assert "review" not in rulebook.immediate_event_types and "case_opened" in rulebook.immediate_event_types


def test_a_message_naming_a_jinja_global_or_setting_a_name_renders_as_jinja_would() -> None:
    """A message may use jinja's globals (`range`): it is rendered the usual way; one that sets a
    name writes its own context, not the caller's variables; one that names a variable not given
    fails as jinja fails (StrictUndefined), through either path."""
    import jinja2

    from monitor.rulebook import compile_message

    counted = compile_message("{% for i in range(n) %}{{ i }}{% endfor %}")
    assert counted.names_globals and counted.fill({"n": 3}) == "012"
    setting = compile_message("{% set who = name ~ '!' %}{{ who }}")
    variables: dict[str, object] = {"name": "张三"}
    assert not setting.names_globals and setting.fill(variables) == "张三!"
    assert variables == {"name": "张三"}
    for template in (
        compile_message("{{ missing }}"),
        compile_message("{% for i in range(2) %}{{ missing }}{% endfor %}"),
    ):
        with pytest.raises(jinja2.UndefinedError):
            template.fill({})


def test_spaces_the_folding_left_beside_chinese_go_and_others_stay(tmp_path: Path) -> None:
    """YAML folds a message's lines with a space: beside a Chinese character or full-width sign it
    goes (either side), between Latin words and digits it stays, and runs of spaces become one."""
    from monitor.rulebook import Rulebook, compile_message

    source = "{{ a }}  {{ b }} {{ c }}"
    book = Rulebook({}, {("r", "zh"): compile_message(source), ("r", "en"): compile_message(source)})
    said = {"a": "逾期", "b": "3 days", "c": "（依据）"}
    assert book.render("r", "zh", said) == "逾期3 days（依据）"
    assert book.render("r", "zh", {"a": "x", "b": "y", "c": "z"}) == "x y z"
    assert book.render("r", "zh", {"a": "x", "b": "，", "c": "z"}) == "x，z"
    assert book.render("r", "en", said) == "逾期 3 days （依据）"  # English keeps its spaces


# what folding means, as a regular expression: single spaces first, then a space beside a wide
# character (U+3000-U+9FFF, U+FF00-U+FFEF) goes
_BESIDE_WIDE = re.compile(r" (?=[\u3000-\u9fff\uff00-\uffef])|(?<=[\u3000-\u9fff\uff00-\uffef]) ")


def _folded(text: str, chinese: bool) -> str:
    single = " ".join(text.split())
    return _BESIDE_WIDE.sub("", single) if chinese else single


# the edges of the wide ranges and their neighbours, Latin, digits and every kind of whitespace
_CHARS = st.sampled_from(
    list("ab1 \t\n\r\u3000\u2fff\u3001\u9fff\ua000\ufeff\uff00\uff0c\uffef\ufff0逾期，（）")
)


@given(st.text(_CHARS, max_size=12), st.booleans())
def test_spaces_fold_word_by_word_as_the_regular_expression_says(text: str, chinese: bool) -> None:
    """`fold_spaces` goes word by word; its answer is the regular expression's on any text made
    of the wide ranges' edges (both sides of each), Latin, digits and whitespace of every kind."""
    from monitor.rulebook import fold_spaces

    assert fold_spaces(text, chinese) == _folded(text, chinese)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("a \u3000", "a"),  # the ideographic space is whitespace: it folds away
        ("a \u3001", "a\u3001"),  # the first wide sign
        ("a \u2fff", "a \u2fff"),  # the last before the range
        ("\u9fff b", "\u9fffb"),  # the last ideograph
        ("\ua000 b", "\ua000 b"),  # the first after it
        ("a \uff00", "a\uff00"),  # the full-width forms begin
        ("a \ufeff", "a \ufeff"),  # just before them
        ("\uffef b", "\uffefb"),  # the forms' last
        ("\ufff0 b", "\ufff0 b"),  # just after
    ],
)
def test_a_space_goes_beside_each_edge_of_the_wide_ranges_and_stays_outside(text: str, folded: str) -> None:
    from monitor.rulebook import fold_spaces

    assert fold_spaces(text, True) == folded
