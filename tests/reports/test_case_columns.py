"""The monthly report's case columns (受理诉求, 按时反馈, 升级, 重复/重开) and its rectified reviews
say what the rules say: a case's due time is its clock's (a hotline order's by its category), it
is escalated when its ladder reached level 2 (two working days overdue, or an event), as known at
the report's instant, to the second on either side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine

from monitor.calendar.working_days import WorkCalendar
from monitor.clock import parse_instant
from monitor.config import Settings
from monitor.evaluation.engine import DurableMatcher
from monitor.ingest.credit_code import check_character
from monitor.periods import parse_period
from monitor.reports.monthly import UnitFigures, figures
from monitor.rulebook import load_rulebook
from monitor.store.db import session_factory
from monitor.waivers import add_waiver
from tests.demo.test_demo import _ingest
from tests.service.conftest import ROOT

RULEBOOK = load_rulebook(ROOT / "rules")
E = "91321311MA1XYA001" + check_character("91321311MA1XYA001")

ROSTER: dict[str, Any] = {
    "units": [
        {"id": u, "name": n, "kind": "department", "head": f"{u}-head", "leader": "o-leader"}
        for u, n in (("u-spj", "区行政审批局"), ("u-ysb", "区营商办"), ("u-zhzx", "区综合指挥调度中心"))
    ],
    "officials": [
        {"id": "o-leader", "name": "区领导", "unit": "u-ysb", "role": "district_leader"},
        *(
            {"id": f"{u}-head", "name": u, "unit": u, "role": "unit_head"}
            for u in ("u-spj", "u-ysb", "u-zhzx")
        ),
    ],
    "enterprises": [{"id": E, "name": "企业", "town": "顺河街道", "above_scale": True}],
}


def _case(case: str, at: str, complexity: str = "complex", **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{case}-open", "type": "case_opened", "at": at, "case": case, "enterprise": E,
            "channel": "window", "complexity": complexity, "category": f"类{case}", "unit": "u-spj", **extra,
        }
    ]  # fmt: skip


def _feedback(case: str, at: str) -> dict[str, Any]:
    return {"id": f"{case}-fb", "type": "case_feedback", "at": at, "case": case}


# November 2026 has no holiday: a complex case received on Monday 2 November is due at the end of
# Monday 9 November (five working days after); at 00:00:00 on the 11th one working day (the 10th)
# has ended since, at 00:00:00 on the 12th two: the ladder's level 2
EVENTS: list[dict[str, Any]] = [
    *_case("c-open", "2026-11-02T10:00+08:00"),  # never answered
    *_case("c-fresh", "2026-11-10T10:00+08:00"),  # never answered, due 17 November
    *_case("c-l1", "2026-11-02T10:05+08:00"),
    _feedback("c-l1", "2026-11-11T23:59:59.600+08:00"),  # one working day late: level 1
    # closed, and reopened in the second the 11th ends: a report made in that second knows it
    {
        "id": "c-l1-closed",
        "type": "case_closed",
        "at": "2026-11-11T23:59:59.800+08:00",
        "case": "c-l1",
        "satisfaction": "satisfied",
    },
    {"id": "c-l1-reopened", "type": "case_reopened", "at": "2026-11-12T00:00:00+08:00", "case": "c-l1"},
    *_case("c-l2", "2026-11-02T10:10+08:00"),
    _feedback("c-l2", "2026-11-12T00:00:00+08:00"),  # two working days late: level 2
    *_case("c-ev", "2026-11-10T11:00+08:00"),  # escalated by its unit, answered in time
    {"id": "c-ev-esc", "type": "case_escalated", "at": "2026-11-11T09:00+08:00", "case": "c-ev", "level": 2},
    _feedback("c-ev", "2026-11-12T10:00+08:00"),
    # a hotline order of category 用地, answered on 12 November: in time with ten working days for
    # the category (due 16 November), two working days late with the default five
    *[
        {**e, "channel": "hotline", "category": "用地", "unit": "u-zhzx"}
        for e in _case("h-cat", "2026-11-02T09:00+08:00", "simple")
    ],
    _feedback("h-cat", "2026-11-12T10:00+08:00"),
    # a major case, answered but not on a coordination meeting's agenda
    *_case("m-free", "2026-11-03T10:00+08:00", "major"),
    _feedback("m-free", "2026-11-30T10:00+08:00"),
    # a major case escalated to the district leader by its unit, never answered: its meeting duty
    # is met by the escalation (on time), and it is escalated
    *_case("m-esc", "2026-11-03T11:00+08:00", "major"),
    {
        "id": "m-esc-esc",
        "type": "case_escalated",
        "at": "2026-11-05T09:00+08:00",
        "case": "m-esc",
        "level": 3,
    },
    # a major hotline order answered in time: its clock says so, whatever its meeting (due in February)
    *[{**e, "channel": "hotline"} for e in _case("m-hot", "2026-11-02T09:30+08:00", "major")],
    _feedback("m-hot", "2026-11-04T10:00+08:00"),
    # received on the month's last day, answered on 2 December (due the 7th): not known as
    # answered at the month's end
    *_case("c-dec", "2026-11-30T10:00+08:00"),
    _feedback("c-dec", "2026-12-02T10:00+08:00"),
    # never answered, its clock waived (and the ladder with it): neither in time nor escalated
    *_case("c-waived", "2026-11-02T10:20+08:00"),
    # bad reviews: October's rectified in the last second of November (by the next month's end),
    # another on 1 December (too late); November's rectified on 20 December
    *[
        {"id": f"{r}", "type": "review", "at": at, "review": r, "unit": "u-ysb", "rating": 1}
        for r, at in (
            ("rv-oct-in", "2026-10-20T10:00+08:00"),
            ("rv-oct-out", "2026-10-21T10:00+08:00"),
            ("rv-nov", "2026-11-05T10:00+08:00"),
        )
    ],
    {"id": "fix-1", "type": "review_rectified", "at": "2026-11-30T23:59:59.600+08:00", "review": "rv-oct-in"},
    {"id": "fix-2", "type": "review_rectified", "at": "2026-12-01T00:00:00+08:00", "review": "rv-oct-out"},
    {"id": "fix-3", "type": "review_rectified", "at": "2026-12-20T10:00+08:00", "review": "rv-nov"},
]


@pytest.fixture
def district(engine: Engine) -> Engine:
    outcomes = _ingest(engine, ROSTER, EVENTS, "2027-01-31T00:00")
    assert [o for o in outcomes if o.status != "accepted"] == []
    with session_factory(engine)() as session:
        add_waiver(
            session, rule="case-complex-5-workdays", subject="case:c-waived", period="", reason="企业注销",
            approver="王主任", actor="test", source="test", rulebook=RULEBOOK,
        )  # fmt: skip
        session.commit()
    return engine


def _units(engine: Engine, period: str, now: str, settings: Settings | None = None) -> dict[str, UnitFigures]:
    with session_factory(engine)() as session:
        return figures(
            session, RULEBOOK, WorkCalendar(), settings or Settings(), parse_period(period),
            DurableMatcher(RULEBOOK), parse_instant(now),
        )  # fmt: skip


def _cases(figure: UnitFigures) -> tuple[int, int, int]:
    return figure.cases, figure.cases_in_time, figure.cases_escalated


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # c-dec not yet received; c-open one working day overdue (level 1), c-fresh not due, c-ev
        # and m-esc escalated by their units; m-esc's meeting met by it and m-hot answered in time
        ("2026-11-11T23:59:59+08:00", (9, 2, 2)),
        # the second the 11th ends: c-open reaches level 2; c-l2 answered then, at level 2; c-l1's
        # answer at 23:59:59.6 is late, at level 1
        ("2026-11-12T00:00:00+08:00", (9, 2, 4)),
        # as known at the month's end: c-ev answered in time too; c-fresh nine working days
        # overdue; m-free not yet on a meeting's agenda (due by the end of February); c-dec
        # received, its answer of 2 December not yet known; c-waived neither
        ("2026-12-15T00:00+08:00", (10, 3, 5)),
    ],
)
def test_a_case_is_escalated_when_its_ladder_reaches_level_two(
    district: Engine, now: str, expected: tuple[int, int, int]
) -> None:
    assert _cases(_units(district, "2026-11", now)["u-spj"]) == expected


def test_a_hotline_orders_time_is_its_categorys(district: Engine) -> None:
    default = _units(district, "2026-11", "2026-12-15T00:00+08:00")["u-zhzx"]
    assert _cases(default) == (1, 0, 1)  # due 9 November: two working days late at its answer
    ten = Settings(cases={"hotline_working_days_by_category": {"用地": 10}})
    assert _cases(_units(district, "2026-11", "2026-12-15T00:00+08:00", ten)["u-zhzx"]) == (1, 1, 0)


def test_a_bad_review_counts_as_rectified_by_the_next_months_end_as_known_then(district: Engine) -> None:
    october = _units(district, "2026-10", "2027-01-15T00:00+08:00")["u-ysb"]
    assert (october.bad_reviews, october.rectified) == (2, 1)  # 23:59:59.6 of 30 November, not 1 December
    november = _units(district, "2026-11", "2027-01-15T00:00+08:00")["u-ysb"]
    assert (november.bad_reviews, november.rectified) == (1, 1)  # 20 December
    # a report made before the rectification does not know of it
    early = _units(district, "2026-11", "2026-12-20T09:59:59+08:00")["u-ysb"]
    assert (early.bad_reviews, early.rectified) == (1, 0)
    assert _units(district, "2026-11", "2026-12-20T10:00:00+08:00")["u-ysb"].rectified == 1


def test_a_case_no_rule_gives_a_due_time_is_in_time_once_answered(district: Engine, tmp_path: Path) -> None:
    """Without the meetings' rule, a major case has no duty: no time to miss, in time once answered
    (as known at the report's instant)."""
    for source in (ROOT / "rules").glob("*.yaml"):
        doc = yaml.safe_load(source.read_text(encoding="utf-8"))
        doc["rules"] = [r for r in doc["rules"] if r["id"] != "case-major-to-meeting"]
        (tmp_path / source.name).write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    rulebook = load_rulebook(tmp_path, require_all=False)
    assert "case-major-to-meeting" not in rulebook.rules

    def spj(now: str) -> tuple[int, int, int]:
        with session_factory(district)() as session:
            found = figures(
                session, rulebook, WorkCalendar(), Settings(), parse_period("2026-11"),
                DurableMatcher(rulebook), parse_instant(now),
            )  # fmt: skip
        return _cases(found["u-spj"])

    # in time: c-ev, m-hot (its clock) and m-free; m-esc, with no duty and no answer, is not, and
    # stays escalated by its event
    assert spj("2026-12-15T00:00+08:00") == (10, 3, 5)
    assert spj("2026-11-30T09:59:59+08:00") == (9, 2, 5)  # m-free's answer, and c-dec, come at 10:00


def test_the_trends_months_count_their_duties_alone(district: Engine) -> None:
    """A report's five months before its own show their rates only: their duties are counted as
    the month's own are, their cases and reviews not derived at all."""
    with session_factory(district)() as session:
        args = (
            session,
            RULEBOOK,
            WorkCalendar(),
            Settings(),
            parse_period("2026-11"),
            DurableMatcher(RULEBOOK),
        )
        whole = figures(*args, parse_instant("2026-12-15T00:00+08:00"))
        rates = figures(*args, parse_instant("2026-12-15T00:00+08:00"), rate_only=True)
    assert {u: f.duties for u, f in rates.items()} == {u: f.duties for u, f in whole.items()}
    assert whole["u-spj"].cases == 10 and whole["u-ysb"].bad_reviews == 1
    assert all(f.cases == f.bad_reviews == 0 for f in rates.values())


@pytest.mark.parametrize(
    ("now", "reopened"), [("2026-11-11T23:59:59+08:00", 0), ("2026-11-12T00:00:00+08:00", 1)]
)
def test_a_reopening_counts_from_its_own_second(district: Engine, now: str, reopened: int) -> None:
    assert _units(district, "2026-11", now)["u-spj"].cases_reopened == reopened
