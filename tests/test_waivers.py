"""A waiver waives the duty whose key (rule, subject, period) is exactly its own, so one whose
subject or period no duty of its rule can have waives nothing, silently: the duty it was meant
for still alerts. `add_waiver` refuses it, naming the field and saying what the rule's duties look
like, and still accepts a right waiver for a duty of every rule, which then waives that duty."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from monitor.calendar.working_days import load_calendar
from monitor.cli import cli
from monitor.clock import parse_instant
from monitor.config import Settings
from monitor.evaluation.evaluate import Evaluator
from monitor.ingest.events import ingest_events
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.periods import parse_period
from monitor.rulebook import RULE_IDS, Rulebook, load_rulebook
from monitor.store.db import make_engine, session_factory
from monitor.store.models import AuditEntry, Waiver
from monitor.subjects import Subject
from monitor.waivers import WaiverError, add_waiver

ROOT = Path(__file__).resolve().parents[1]
RULEBOOK = load_rulebook(ROOT / "rules")
CODE = "91321311MA037K6DU7"
ROSTER: dict[str, Any] = {
    "units": [{"id": "u-a", "name": "区甲局", "kind": "department", "indicator_lead": True}],
    "officials": [
        {"id": "o-a", "name": "张三", "unit": "u-a", "role": "staff"},
        {"id": "o-pm", "name": "李四", "unit": "u-a", "role": "project_manager"},
    ],
    "enterprises": [{"id": CODE, "name": "甲公司", "town": "顺河街道", "above_scale": True}],
    "pairings": [{"official": "o-a", "enterprise": CODE, "from": "2024-01-01"}],
    "projects": [
        {
            "id": "p-1",
            "name": "甲项目",
            "unit": "u-a",
            "manager": "o-pm",
            "items": [{"id": "i-1", "name": "立项备案", "due": "2024-11-01"}],
        }
    ],
}
EVENTS: list[dict[str, Any]] = [
    {
        "id": "open-1", "type": "case_opened", "at": "2024-10-08T10:00+08:00", "case": "C-1",
        "enterprise": CODE, "channel": "window", "complexity": "complex", "category": "用地", "unit": "u-a",
    },
    {"id": "review-1", "type": "review", "at": "2024-10-09T10:00+08:00", "review": "R-1", "unit": "u-a", "rating": 1},
]  # fmt: skip
# a subject of each kind the roster and the events above know
SUBJECTS = {
    "pairing": f"pairing:o-a:{CODE}",
    "unit": "unit:u-a",
    "case": "case:C-1",
    "enterprise": f"enterprise:{CODE}",
    "review": "review:R-1",
    "project": "project:p-1:i-1",
}
# a right waiver for a duty of each rule, as its duties are keyed: written out here, not derived
# from what the code under test says of the rules
RIGHT = {
    "pairing-monthly-contact": (SUBJECTS["pairing"], "2024-10"),
    "pairing-monthly-visit": (SUBJECTS["pairing"], "2024-10"),
    "pairing-semiannual-briefing": (SUBJECTS["pairing"], "2024-H2"),
    "pairing-annual-matchmaking": (SUBJECTS["pairing"], "2024"),
    "unit-semiannual-forum": (SUBJECTS["unit"], "2024-H2"),
    "unit-annual-salon": (SUBJECTS["unit"], "2024"),
    "unit-bimonthly-coordination": (SUBJECTS["unit"], "2024-B5"),
    "unit-monthly-review-report": (SUBJECTS["unit"], "2024-10"),
    "unit-monthly-hotline-report": (SUBJECTS["unit"], "2024-10"),
    "case-simple-same-day": (SUBJECTS["case"], ""),
    "case-complex-5-workdays": (SUBJECTS["case"], ""),
    "case-major-to-meeting": (SUBJECTS["case"], ""),
    "case-escalation": (SUBJECTS["case"], ""),
    "case-repeat-report": (SUBJECTS["enterprise"], "2024-10"),
    "review-bad-rectification": (SUBJECTS["review"], ""),
    "hotline-order-deadline": (SUBJECTS["case"], ""),
    "project-item-deadline": (SUBJECTS["project"], ""),
}


@pytest.fixture
def district(engine: Engine) -> Engine:
    """A district with one subject of each kind."""
    with session_factory(engine)() as session:
        parsed, problems = load_roster(ROSTER, "roster")
        outcomes = problems + upsert_roster(session, parsed)
        outcomes += ingest_events(
            session,
            [(e["id"], e) for e in EVENTS],
            now=parse_instant("2024-12-31T18:00"),
            settings=Settings(),
        )
        session.commit()
    assert [o for o in outcomes if o.status != "accepted"] == []
    return engine


def waive(engine: Engine, rule: str, subject: str, period: str) -> WaiverError | None:
    """Add the waiver and commit it; the error that refused it, if one did."""
    with session_factory(engine)() as session:
        try:
            add_waiver(
                session, rule=rule, subject=subject, period=period, reason="企业已注销", approver="王主任",
                actor="test", source="test", rulebook=RULEBOOK,
            )  # fmt: skip
        except WaiverError as exc:
            return exc
        session.commit()
    return None


def stored(engine: Engine) -> tuple[int, int]:
    """How many waivers and audit entries of added waivers there are."""
    with session_factory(engine)() as session:
        return (
            session.scalar(select(func.count()).select_from(Waiver)) or 0,
            session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "waiver.add")
            )
            or 0,
        )


@pytest.mark.parametrize("rule", RULE_IDS)
def test_a_right_waiver_of_every_rule_is_accepted(district: Engine, rule: str) -> None:
    subject, period = RIGHT[rule]
    assert waive(district, rule, subject, period) is None
    assert stored(district) == (1, 1)


SUBJECT_MISFITS = [
    # a pairing's duty waived on a case (the brief's example), on a unit, on an enterprise
    (
        "pairing-monthly-visit",
        SUBJECTS["case"],
        "2024-10",
        "each on a pairing (pairing:<official or unit id>",
    ),
    ("pairing-semiannual-briefing", SUBJECTS["unit"], "2024-H2", "not on a unit"),
    ("pairing-monthly-contact", SUBJECTS["enterprise"], "2024-10", "not on an enterprise"),
    # a unit's meeting waived on a pairing
    ("unit-semiannual-forum", SUBJECTS["pairing"], "2024-H2", "each on a unit (unit:<unit id>)"),
    # a case clock waived on the enterprise, the ladder on a review
    ("case-complex-5-workdays", SUBJECTS["enterprise"], "", "each on a case (case:<case id>)"),
    ("case-escalation", SUBJECTS["review"], "", "each on a case"),
    # a repeated report is the enterprise's duty, not its case's
    (
        "case-repeat-report",
        SUBJECTS["case"],
        "2024-10",
        "each on an enterprise (enterprise:<enterprise code>)",
    ),
    ("review-bad-rectification", SUBJECTS["case"], "", "each on a review (review:<review id>)"),
    ("project-item-deadline", SUBJECTS["pairing"], "", "each on a project's item (project:<project id>"),
]


@pytest.mark.parametrize(("rule", "subject", "period", "words"), SUBJECT_MISFITS)
def test_a_subject_no_duty_of_the_rule_is_on_is_refused(
    district: Engine, rule: str, subject: str, period: str, words: str
) -> None:
    refused = waive(district, rule, subject, period)
    assert refused is not None, "accepted: it would waive nothing"
    assert refused.field == "subject" and not refused.conflict
    assert words in refused.reason and f"{rule}'s duties are" in refused.reason
    assert f"{subject!r} would waive nothing" in refused.reason
    assert stored(district) == (0, 0)


PERIOD_MISFITS = [
    # the wrong granularity: a half-year, a year, a block for a monthly duty; a month for others
    ("pairing-monthly-visit", SUBJECTS["pairing"], "2024-H2", "each for a month (YYYY-MM, e.g. 2024-07)"),
    ("pairing-monthly-contact", SUBJECTS["pairing"], "2024", "each for a month (YYYY-MM, e.g. 2024-01)"),
    ("unit-monthly-review-report", SUBJECTS["unit"], "2024-B5", "'2024-B5' is a two-month block"),
    (
        "pairing-semiannual-briefing",
        SUBJECTS["pairing"],
        "2024-10",
        "each for a half-year (YYYY-Hn, e.g. 2024-H2)",
    ),
    ("pairing-annual-matchmaking", SUBJECTS["pairing"], "2024-H1", "each for a year (YYYY, e.g. 2024)"),
    (
        "unit-bimonthly-coordination",
        SUBJECTS["unit"],
        "2024-10",
        "each for a two-month block (YYYY-Bn, e.g. 2024-B5)",
    ),
    ("unit-annual-salon", SUBJECTS["unit"], "2024-H2", "'2024-H2' is a half-year"),
    ("case-repeat-report", SUBJECTS["enterprise"], "2024-H2", "each for a month (YYYY-MM, e.g. 2024-07)"),
    # no period where the duties have one
    ("pairing-monthly-visit", SUBJECTS["pairing"], "", "each for a month (YYYY-MM): give the period"),
    ("unit-semiannual-forum", SUBJECTS["unit"], "", "each for a half-year (YYYY-Hn): give the period"),
    ("case-repeat-report", SUBJECTS["enterprise"], "", "each for a month (YYYY-MM): give the period"),
    # a period where the duties run on a clock and have none
    ("case-simple-same-day", SUBJECTS["case"], "2024-10", "run on a clock and have no period"),
    ("case-escalation", SUBJECTS["case"], "2024", "run on a clock and have no period"),
    ("review-bad-rectification", SUBJECTS["review"], "2024-10", "run on a clock and have no period"),
    ("project-item-deadline", SUBJECTS["project"], "2024-H2", "run on a clock and have no period"),
    # a label that parses but is not written as the duties' periods are
    ("pairing-monthly-visit", SUBJECTS["pairing"], " 2024-10", "write it as '2024-10'"),
    ("unit-annual-salon", SUBJECTS["unit"], "2024\n", "write it as '2024'"),
]


@pytest.mark.parametrize(("rule", "subject", "period", "words"), PERIOD_MISFITS)
def test_a_period_no_duty_of_the_rule_has_is_refused(
    district: Engine, rule: str, subject: str, period: str, words: str
) -> None:
    refused = waive(district, rule, subject, period)
    assert refused is not None, "accepted: it would waive nothing"
    assert refused.field == "period" and not refused.conflict
    assert words in refused.reason
    assert stored(district) == (0, 0)


def test_the_checks_made_before_still_come_first(district: Engine) -> None:
    """An unknown rule, a period that does not parse and a subject nobody has are refused as
    they were."""
    assert (e := waive(district, "no-such-rule", SUBJECTS["case"], "")) and e.field == "rule"
    assert (
        e := waive(district, "pairing-monthly-visit", SUBJECTS["pairing"], "2024-13")
    ) and e.field == "period"
    assert "no month 13" in e.reason
    assert (e := waive(district, "case-simple-same-day", "case:C-404", "")) and e.field == "subject"
    assert "no case 'C-404' in the roster or the store" in e.reason
    assert (e := waive(district, "case-simple-same-day", "garbage", "")) and e.field == "subject"
    assert "is not a subject" in e.reason
    assert stored(district) == (0, 0)


# --- on the example district: what the evaluation keys, and that a right waiver waives it ----

EXAMPLES = [str(ROOT / "config/examples/roster.yaml"), str(ROOT / "config/examples/events.jsonl")]
AT = parse_instant("2024-12-31T18:00")


@pytest.fixture
def example(db_url: str) -> Iterator[Engine]:
    result = CliRunner().invoke(cli, ["--db", db_url, "import", *EXAMPLES], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _evaluator() -> Evaluator:
    return Evaluator.of(RULEBOOK, load_calendar(ROOT / "config/calendar", "strict"))


def test_every_duty_the_evaluation_keys_has_its_rules_subject_and_period(example: Engine) -> None:
    """What the refusals check (`Rule.duty_subject`, `Rule.duty_period`) is what the obligation
    kinds build, for every rule: each has duties in the example district by the year's end."""
    with session_factory(example)() as session:
        obligations = _evaluator().evaluate(session, Settings(), AT).obligations
    shapes = {
        (o.rule, Subject.parse(o.subject).kind, parse_period(o.period).kind if o.period else None)
        for o in obligations
    }
    assert shapes == {(r.id, r.duty_subject, r.duty_period) for r in RULEBOOK}
    assert all(o.period is None or parse_period(o.period).label == o.period for o in obligations)


def test_a_waiver_accepted_for_a_duty_of_each_rule_waives_it(example: Engine) -> None:
    evaluator = _evaluator()
    with session_factory(example)() as session:
        before = evaluator.evaluate(session, Settings(), AT).obligations
    first: dict[str, tuple[str, str, str]] = {}
    for o in before:
        first.setdefault(o.rule, o.key)
    assert first.keys() == set(RULE_IDS)
    for rule, subject, period in first.values():
        assert waive(example, rule, subject, period) is None, (rule, subject, period)
    with session_factory(example)() as session:
        after = {o.key: o.status for o in evaluator.evaluate(session, Settings(), AT).obligations}
    assert {key: after[key] for key in first.values()} == {key: "waived" for key in first.values()}


# --- the command line ----------------------------------------------------------------------


def test_the_command_line_refuses_a_waiver_that_would_waive_nothing(db_url: str, district: Engine) -> None:
    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["--db", db_url, "waiver", "add", *args], catch_exceptions=False)
        return result.exit_code, result.output

    given = ("--reason", "企业已迁出本区", "--approver", "王主任", "--rule", "pairing-monthly-visit")
    code, output = run(*given, "--subject", SUBJECTS["pairing"], "--period", "2024-H2")
    assert code == 2, output
    assert "Invalid value for --period" in output and "each for a month (YYYY-MM, e.g. 2024-07)" in output
    code, output = run(*given, "--subject", SUBJECTS["case"], "--period", "2024-10")
    assert code == 2, output
    assert "Invalid value for --subject" in output and "each on a pairing" in output
    code, output = run(*given, "--subject", SUBJECTS["pairing"])
    assert code == 2 and "give the period waived" in output, output
    assert stored(district) == (0, 0)
    code, output = run(*given, "--subject", SUBJECTS["pairing"], "--period", "2024-10")
    assert code == 0, output
    listed = CliRunner().invoke(cli, ["--db", db_url, "waiver", "list", "--format", "json"])
    assert [(w["rule"], w["subject"], w["period"]) for w in json.loads(listed.output)] == [
        ("pairing-monthly-visit", SUBJECTS["pairing"], "2024-10")
    ]


def test_a_rule_the_rulebook_does_not_hold_is_refused_naming_it(district: Engine) -> None:
    """A rulebook without the rule (one built by hand: a loaded one holds every rule) refuses the
    waiver on the rule, not with an error of its own."""
    partial = Rulebook(
        rules={r: rule for r, rule in RULEBOOK.rules.items() if r != "pairing-monthly-visit"},
        templates=RULEBOOK.templates,
    )
    with session_factory(district)() as session, pytest.raises(WaiverError) as refused:
        add_waiver(
            session, rule="pairing-monthly-visit", subject=SUBJECTS["pairing"], period="2024-10",
            reason="企业已注销", approver="王主任", actor="test", source="test", rulebook=partial,
        )  # fmt: skip
    assert refused.value.field == "rule" and "not among the loaded rules" in refused.value.reason
    assert stored(district) == (0, 0)
