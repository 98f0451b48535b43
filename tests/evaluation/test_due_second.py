"""Every obligation kind counts the due second whole: on SQLite and PostgreSQL, an answer at 23:59:59.6
(written in UTC, 15:59:59.6Z) is on time, a duty is still pending at 23:59:59 and overdue from
00:00:00 of the next day, whatever the duty (pairings, units, reports, cases, meetings, repeated
reports, reviews, projects)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import Engine

from monitor.api.cases import case_clock
from monitor.calendar.working_days import WorkCalendar
from monitor.clock import parse_instant
from monitor.config import Settings
from monitor.evaluation.engine import DurableMatcher
from monitor.evaluation.evaluate import Evaluator, evaluate
from monitor.rulebook import load_rulebook
from monitor.store.db import session_factory
from tests.demo.test_demo import _ingest
from tests.reports.test_month import EVENTS, ROSTER, E, _case, _closed
from tests.service.conftest import ROOT

RULEBOOK = load_rulebook(ROOT / "rules")
CALENDAR = WorkCalendar()

# April's duties of tests/reports/test_month.py, plus a late and an unmet one of each obligation kind
# due at the end of 30 April (reviews received 04-09 are due then: 15 working days)
ROSTER_HERE = copy.deepcopy(ROSTER)
ROSTER_HERE["projects"][0]["items"] += [
    {"id": "b-late", "name": "消防验收", "due": "2026-04-30"},
    {"id": "b-none", "name": "人防验收", "due": "2026-04-30"},
]


def _opened(case: str, complexity: str, unit: str) -> dict[str, Any]:
    return {
        "id": f"{case}-open", "type": "case_opened", "at": "2026-04-01T10:00" if complexity == "major"
        else "2026-04-30T10:00", "case": case, "enterprise": E[0], "channel": "window",
        "complexity": complexity, "category": "证照", "unit": unit,
    }  # fmt: skip


def _review(review: str) -> dict[str, Any]:
    return {
        "id": review,
        "type": "review",
        "at": "2026-04-09T10:00",
        "review": review,
        "unit": "u-spj",
        "rating": 1,
    }


def _meeting(name: str, at: str, cases: list[str]) -> dict[str, Any]:
    return {"id": name, "type": "coordination_meeting", "at": at, "unit": "u-gxj", "cases": cases}


EVENTS_HERE: list[dict[str, Any]] = [
    *EVENTS,
    {
        "id": "b-late-done",
        "type": "project_item_done",
        "at": "2026-04-30T16:00:00Z",
        "project": "p1",
        "item": "b-late",
    },
    # a repeat of E[0]'s earlier case at 23:59:59, closed at 00:00:00: late
    _case("x0", "2026-03-02T10:00", E[0]),
    _closed("x0", "2026-03-05T10:00"),
    _case("x-late", "2026-04-30T23:59:59+08:00", E[0]),
    _closed("x-late", "2026-04-30T16:00:00Z"),
    # same-day case clocks (due 23:59:59): feedback at 00:00:00 is late
    _opened("s-late", "simple", "u-fgj"),
    {"id": "s-late-fb", "type": "case_feedback", "at": "2026-04-30T16:00:00Z", "case": "s-late"},
    _opened("s-none", "simple", "u-fgj"),
    # reviews due at the end of 04-30
    _review("rv-on"),
    {"id": "rv-on-fix", "type": "review_rectified", "at": "2026-04-30T15:59:59.6Z", "review": "rv-on"},
    _review("rv-late"),
    {"id": "rv-late-fix", "type": "review_rectified", "at": "2026-04-30T16:00:00Z", "review": "rv-late"},
    _review("rv-none"),
    # major cases go to the first coordination meeting: cm1 at 23:59:59.6 (EVENTS) is their due
    # time; m-on is put on the agenda within that second, m-late at the next one
    _opened("m-on", "major", "u-gxj"),
    _opened("m-late", "major", "u-gxj"),
    _opened("m-none", "major", "u-gxj"),
    _meeting("cm2", "2026-04-30T23:59:59.700+08:00", ["m-on"]),
    _meeting("cm3", "2026-05-01T00:00:00+08:00", ["m-late"]),
]

LAST_SECOND = ("2026-04-30T15:59:59Z", "2026-04-30T15:59:59.6Z", "2026-04-30T16:00:00Z")
REPORT_SECOND = ("2026-04-15T15:59:59Z", "2026-04-15T15:59:59.6Z", "2026-04-15T16:00:00Z")
P, ON, LATE, OVER = "pending", "met_on_time", "met_late", "overdue"

# (rule, subject, period) -> status at 23:59:59, 23:59:59.6 and 00:00:00 (Shanghai)
EXPECTED: dict[tuple[str, str, str], tuple[str, str, str]] = {
    ("pairing-monthly-visit", f"pairing:o-zhang:{E[0]}", "2026-04"): (P, ON, ON),
    ("pairing-monthly-visit", f"pairing:o-li:{E[1]}", "2026-04"): (P, P, OVER),
    ("unit-bimonthly-coordination", "unit:u-gxj", "2026-B2"): (P, ON, ON),
    ("project-item-deadline", "project:p1:i-last", ""): (P, ON, ON),
    ("project-item-deadline", "project:p1:b-late", ""): (P, P, LATE),
    ("project-item-deadline", "project:p1:b-none", ""): (P, P, OVER),
    ("case-repeat-report", f"enterprise:{E[1]}", "2026-04"): (P, ON, ON),
    ("case-repeat-report", f"enterprise:{E[0]}", "2026-04"): (P, P, LATE),
    ("case-simple-same-day", "case:r-last", ""): (P, ON, ON),
    ("case-simple-same-day", "case:s-late", ""): (P, P, LATE),
    ("case-simple-same-day", "case:s-none", ""): (P, P, OVER),
    ("case-escalation", "case:s-none", ""): (P, P, OVER),  # the ladder follows its clock
    ("review-bad-rectification", "review:rv-on", ""): (P, ON, ON),
    ("review-bad-rectification", "review:rv-late", ""): (P, P, LATE),
    ("review-bad-rectification", "review:rv-none", ""): (P, P, OVER),
    # before cm1 the meeting is not held (due by the end of the next block); from it, due then
    ("case-major-to-meeting", "case:m-on", ""): (P, P, ON),
    ("case-major-to-meeting", "case:m-late", ""): (P, P, LATE),
    ("case-major-to-meeting", "case:m-none", ""): (P, P, OVER),
}
# March's monthly notices, due at the end of 04-15 (the 10th working day of April)
EXPECTED_REPORTS: dict[tuple[str, str, str], tuple[str, str, str]] = {
    ("unit-monthly-review-report", "unit:u-spj", "2026-03"): (P, ON, ON),
    ("unit-monthly-review-report", "unit:u-ysb", "2026-03"): (P, P, LATE),
    ("unit-monthly-hotline-report", "unit:u-zhzx", "2026-03"): (P, P, OVER),
}


@pytest.fixture
def district(engine: Engine) -> Engine:
    outcomes = _ingest(engine, ROSTER_HERE, EVENTS_HERE, "2026-06-01T00:00")
    assert [o for o in outcomes if o.status != "accepted"] == []
    return engine


def _statuses(engine: Engine, instants: tuple[str, ...]) -> dict[tuple[str, str, str], tuple[str, ...]]:
    found: dict[tuple[str, str, str], list[str]] = {}
    with session_factory(engine)() as session:
        for i, instant in enumerate(instants):
            evaluation = evaluate(
                session, RULEBOOK, CALENDAR, Settings(), parse_instant(instant), DurableMatcher(RULEBOOK)
            )
            assert evaluation.problems == []
            for o in evaluation.obligations:
                found.setdefault(o.key, ["-"] * i).append(o.status)
    return {k: tuple(v) for k, v in found.items()}


def test_each_obligation_kind_turns_at_the_end_of_the_due_second(district: Engine) -> None:
    found = _statuses(district, LAST_SECOND)
    assert {k: found.get(k) for k in EXPECTED} == EXPECTED
    found = _statuses(district, REPORT_SECOND)
    assert {k: found.get(k) for k in EXPECTED_REPORTS} == EXPECTED_REPORTS


def test_alerts_show_the_due_second_and_turn_overdue_only_after_it(district: Engine) -> None:
    with session_factory(district)() as session:
        states = []
        for instant in LAST_SECOND:
            evaluation = evaluate(
                session, RULEBOOK, CALENDAR, Settings(), parse_instant(instant), DurableMatcher(RULEBOOK)
            )
            (alert,) = [a for a in evaluation.alerts if a.subject == "project:p1:b-none"]
            states.append((alert.state, alert.record()["due"]))
    assert states == [("warning", "2026-04-30T23:59:59+08:00")] * 2 + [
        ("overdue", "2026-04-30T23:59:59+08:00")
    ]


def test_the_case_api_says_overdue_only_once_the_due_second_has_ended(district: Engine) -> None:
    loaded = Evaluator(RULEBOOK, CALENDAR, DurableMatcher(RULEBOOK))
    seen = []
    with session_factory(district)() as session:
        for instant in LAST_SECOND:
            clock = case_clock(session, loaded, Settings(), "s-none", parse_instant(instant))
            assert clock is not None
            seen.append((clock["state"], clock["due"]))
    # running through 23:59:59.6 (a same-day clock has no warning), overdue at 00:00:00
    due = "2026-04-30T23:59:59+08:00"
    assert seen == [("running", due), ("running", due), ("overdue", due)]
