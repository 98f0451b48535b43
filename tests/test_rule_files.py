"""The shipped rule unit tests pass on SQLite and PostgreSQL, cover every rule id, and a broken
expectation fails with a readable diff."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from monitor.calendar.working_days import WorkCalendar
from monitor.config import Settings
from monitor.evaluation.engine import DurableMatcher
from monitor.evaluation.ruletests import run_file
from monitor.rulebook import RULE_IDS, Rulebook, load_rulebook
from monitor.yamlsource import SourceError

ROOT = Path(__file__).resolve().parents[1]
TEST_FILES = sorted((ROOT / "rules" / "tests").glob("*.yaml"))


@pytest.fixture(scope="module")
def rulebook() -> Rulebook:
    return load_rulebook(ROOT / "rules")


@pytest.fixture(scope="module")
def matcher(rulebook: Rulebook) -> DurableMatcher:
    return DurableMatcher(rulebook)


def test_every_rule_id_has_a_test_file() -> None:
    assert sorted(p.stem for p in TEST_FILES) == sorted(RULE_IDS)


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.stem)
def test_rule_file_passes(path: Path, rulebook: Rulebook, matcher: DurableMatcher, engine: Engine) -> None:
    results = run_file(path, rulebook, WorkCalendar(), Settings(), matcher, engine=engine)
    failures = [r.diff() for r in results if not r.passed]
    assert not failures, "\n".join(failures)
    assert len(results) >= 3


def test_a_broken_expectation_fails_with_a_readable_diff(
    tmp_path: Path, rulebook: Rulebook, matcher: DurableMatcher
) -> None:
    source = (ROOT / "rules" / "tests" / "case-complex-5-workdays.yaml").read_text(encoding="utf-8")
    broken = source.replace(
        "level: 2, recipients: [o-spj-head, o-ysb-head]}", "level: 1, recipients: [o-spj-head]}"
    )
    assert broken != source
    path = tmp_path / "broken.yaml"
    path.write_text(broken, encoding="utf-8")
    failed = [r for r in run_file(path, rulebook, WorkCalendar(), Settings(), matcher) if not r.passed]
    assert len(failed) == 1
    diff = failed[0].diff()
    assert "level: expected 1, got 2" in diff
    assert "recipients: expected ('o-spj-head',), got ('o-spj-head', 'o-ysb-head')" in diff


def test_a_missing_and_an_unexpected_alert_are_both_reported(
    tmp_path: Path, rulebook: Rulebook, matcher: DurableMatcher
) -> None:
    source = (ROOT / "rules" / "tests" / "review-bad-rectification.yaml").read_text(encoding="utf-8")
    path = tmp_path / "wrong.yaml"
    path.write_text(
        source.replace(
            'subject: "review:rv1", state: overdue, level: 0}',
            'subject: "review:rv9", state: overdue, level: 0}',
        ),
        encoding="utf-8",
    )
    failed = [r for r in run_file(path, rulebook, WorkCalendar(), Settings(), matcher) if not r.passed]
    assert len(failed) == 1
    assert "- expected: rule=review-bad-rectification subject=review:rv9" in failed[0].diff()
    assert "+ unexpected: rule=review-bad-rectification subject=review:rv1" in failed[0].diff()


def test_a_test_file_whose_events_are_rejected_is_an_error_with_its_line(
    tmp_path: Path, rulebook: Rulebook, matcher: DurableMatcher
) -> None:
    source = (ROOT / "rules" / "tests" / "review-bad-rectification.yaml").read_text(encoding="utf-8")
    path = tmp_path / "bad-event.yaml"
    path.write_text(source.replace("rating: 1,", "rating: 9,"), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        run_file(path, rulebook, WorkCalendar(), Settings(), matcher)
    assert "rating" in err.value.reason
    assert err.value.line > 1
