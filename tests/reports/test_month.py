"""The monthly report counts every duty due in its month, met on time, late or not at all, to
the second at the month's edges, however long before the month's end it was met."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest
from sqlalchemy import Engine

from monitor.calendar.working_days import WorkCalendar
from monitor.clock import parse_instant
from monitor.config import Settings
from monitor.evaluation.engine import DurableMatcher
from monitor.ingest.credit_code import check_character
from monitor.periods import parse_period
from monitor.reports.monthly import UnitFigures, duties_due, figures
from monitor.reports.ontime import month_bounds
from monitor.rulebook import load_rulebook
from monitor.store.db import session_factory
from tests.demo.test_demo import _ingest
from tests.service.conftest import ROOT

RULEBOOK = load_rulebook(ROOT / "rules")
CALENDAR = WorkCalendar()
E = [f"91321311MA1XYA00{i}" + check_character(f"91321311MA1XYA00{i}") for i in range(1, 6)]


def _unit(uid: str, name: str) -> dict[str, Any]:
    return {"id": uid, "name": name, "kind": "department", "head": f"{uid}-head", "leader": "o-leader"}


def _official(oid: str, unit: str, role: str) -> dict[str, Any]:
    return {"id": oid, "name": oid, "unit": unit, "role": role}


ROSTER: dict[str, Any] = {
    "units": [
        _unit("u-gxj", "区工信局"),
        _unit("u-ysb", "区营商办"),
        _unit("u-spj", "区行政审批局"),
        _unit("u-zhzx", "区综合指挥调度中心"),
        _unit("u-zs", "区招商服务中心"),
        _unit("u-fgj", "区发改局"),
        _unit("u-zfb", "区作风办"),
    ],
    "officials": [
        _official("o-leader", "u-ysb", "district_leader"),
        *(_official(f"{u}-head", u, "unit_head") for u in ("u-gxj", "u-ysb", "u-spj", "u-zhzx", "u-zs")),
        *(_official(f"{u}-head", u, "unit_head") for u in ("u-fgj", "u-zfb")),
        _official("o-zhang", "u-gxj", "staff"),
        _official("o-li", "u-zfb", "staff"),
        _official("o-pm", "u-zs", "project_manager"),
    ],
    "enterprises": [
        {"id": e, "name": f"企业{i}", "town": "顺河街道", "above_scale": True} for i, e in enumerate(E)
    ],
    "pairings": [
        {"official": "o-zhang", "enterprise": E[0], "from": "2026-01-01"},
        {"official": "o-li", "enterprise": E[1], "from": "2026-01-01"},
    ],
    "projects": [
        {
            "id": "p1",
            "name": "恒达智能装备产业园项目",
            "leader": "o-leader",
            "unit": "u-zs",
            "manager": "o-pm",
            "items": [
                {"id": "i-9", "name": "立项备案", "due": "2026-04-09"},  # done on the 10th: late
                {"id": "i-on", "name": "用地预审", "due": "2026-04-20"},
                {"id": "i-early", "name": "规划许可", "due": "2026-04-30"},  # done in March
                {"id": "i-last", "name": "施工许可", "due": "2026-04-30"},  # done at 23:59:59.6
                {"id": "i-none", "name": "环评批复", "due": "2026-04-24"},  # never done
                {"id": "i-after", "name": "能评批复", "due": "2026-04-28"},  # done in May
                {"id": "i-next", "name": "竣工验收", "due": "2026-05-01"},  # May's, though done in April
                {"id": "i-march", "name": "项目签约", "due": "2026-03-31"},  # March's, though done in April
            ],
        }
    ],
}


def _done(item: str, at: str) -> dict[str, Any]:
    return {"id": f"{item}-done", "type": "project_item_done", "at": at, "project": "p1", "item": item}


def _case(case: str, at: str, enterprise: str) -> dict[str, Any]:
    return {
        "id": f"{case}-open", "type": "case_opened", "at": at, "case": case, "enterprise": enterprise,
        "channel": "window", "complexity": "simple", "category": "用工", "unit": "u-fgj",
    }  # fmt: skip


def _closed(case: str, at: str) -> dict[str, Any]:
    return {
        "id": f"{case}-closed",
        "type": "case_closed",
        "at": at,
        "case": case,
        "satisfaction": "satisfied",
    }


def _report(unit: str, at: str, kind: str) -> dict[str, Any]:
    return {
        "id": f"{unit}-{kind}",
        "type": "report",
        "at": at,
        "unit": unit,
        "kind": kind,
        "period": "2026-03",
    }


EVENTS: list[dict[str, Any]] = [
    _done("i-early", "2026-03-15T10:00"),
    _done("i-9", "2026-04-10T10:00"),
    _done("i-on", "2026-04-20T16:00"),
    _done("i-march", "2026-04-01T09:00"),
    _done("i-next", "2026-04-30T10:00"),
    _done("i-last", "2026-04-30T15:59:59.6Z"),  # 23:59:59.6 in Shanghai
    _done("i-after", "2026-05-03T10:00"),
    # pairing: the April visit (it counts as a contact too) in the month's last second; o-li nothing
    {
        "id": "v1",
        "type": "visit",
        "at": "2026-04-30T15:59:59.6Z",
        "official": "o-zhang",
        "enterprise": E[0],
        "talked_with_head": True,
    },
    # the bimonthly coordination meeting of March-April, in its last second
    {"id": "cm1", "type": "coordination_meeting", "at": "2026-04-30T23:59:59.600+08:00", "unit": "u-gxj"},
    # March's notices on bad reviews are due by the end of 2026-04-15 (the 10th working day)
    _report("u-spj", "2026-04-15T15:59:59.6Z", "bad_reviews"),  # 23:59:59.6: on time
    _report("u-ysb", "2026-04-15T16:00:00Z", "bad_reviews"),  # 00:00:00 of the 16th: late
    # (区综合指挥调度中心 never publishes March's hotline notice: missed)
    # repeated reports, each due at the repeat: earlier cases of the same category closed first
    *(_case(f"a{i}", "2026-03-02T10:00", e) for i, e in enumerate(E[1:5])),
    *(_closed(f"a{i}", "2026-03-05T10:00") for i in range(4)),
    _case("r-last", "2026-04-30T23:59:59+08:00", E[1]),  # due at April's last second
    _closed("r-last", "2026-04-30T23:59:59.600+08:00"),  # on time
    _case("r-early", "2026-04-10T10:00", E[2]),
    _closed("r-early", "2026-04-12T10:00"),  # late (due at the repeat itself), weeks before May
    _case("r-next", "2026-05-01T00:00:00+08:00", E[3]),  # due at May's first second: not April's
    _case("r-open", "2026-04-20T10:00", E[4]),  # never closed: missed
    # same-day cases of 区营商办, answered in the second of a 17:30 cut-off and just after it
    {**_case("k-on", "2026-04-20T09:00", E[0]), "category": "融资", "unit": "u-ysb"},
    {"id": "k-on-fb", "type": "case_feedback", "at": "2026-04-20T17:30:00.600", "case": "k-on"},
    {**_case("k-late", "2026-04-20T09:01", E[0]), "category": "融资", "unit": "u-ysb"},
    {"id": "k-late-fb", "type": "case_feedback", "at": "2026-04-20T17:30:01", "case": "k-late"},
]


@pytest.fixture
def month(engine: Engine) -> Engine:
    outcomes = _ingest(engine, ROSTER, EVENTS, "2026-06-01T00:00")
    assert [o for o in outcomes if o.status != "accepted"] == []
    return engine


def _units(engine: Engine, period: str, now: str, settings: Settings | None = None) -> dict[str, UnitFigures]:
    with session_factory(engine)() as session:
        return figures(
            session, RULEBOOK, CALENDAR, settings or Settings(), parse_period(period), DurableMatcher(RULEBOOK),
            parse_instant(now),
        )  # fmt: skip


def _figures(engine: Engine, period: str, now: str) -> dict[str, tuple[int, int, int, int]]:
    found = _units(engine, period, now)
    return {u: (f.due, f.on_time, f.late, f.missed) for u, f in found.items() if f.due or f.waived}


def test_every_duty_due_in_the_month_is_counted_whatever_became_of_it(month: Engine) -> None:
    assert _figures(month, "2026-04", "2026-06-01T00:00") == {
        # items: i-9 late; i-on, i-early, i-last on time; i-none and i-after (done in May, after
        # the month's end) missed; i-next is May's, i-march March's
        "u-zs": (6, 3, 1, 2),
        # the coordination meeting and the monthly visit (and contact) in the last second
        "u-gxj": (3, 3, 0, 0),
        "u-zfb": (2, 0, 0, 2),  # o-li's monthly visit and contact
        "u-spj": (1, 1, 0, 0),
        # March's notice late; k-on and k-late answered the same day (both in time by 23:59:59),
        # weeks before the report's instant: a case clock counts like every duty (monitor/reports/ontime.py)
        "u-ysb": (3, 2, 1, 0),
        "u-zhzx": (1, 0, 0, 1),
        # repeats: r-last on time in the last second, r-early late, r-open missed; r-next is May's;
        # and the same three cases' same-day clocks: r-last answered in time, r-early two days late
        # (weeks before the report's instant), r-open never
        "u-fgj": (6, 2, 2, 2),
    }


def test_the_months_edges_fall_to_the_second(month: Engine) -> None:
    may = _figures(month, "2026-05", "2026-06-01T00:00")
    assert may["u-fgj"][0] == 2  # r-next, due at 00:00:00 of 1 May, and its same-day clock
    assert may["u-zs"] == (1, 1, 0, 0)  # i-next, done in April: on time; i-after is April's
    march = _figures(month, "2026-03", "2026-06-01T00:00")
    assert march["u-zs"] == (1, 0, 0, 1)  # i-march: not done by March's end


def test_a_month_still_running_counts_as_known_now(month: Engine) -> None:
    # at 23:59:59.6 of 30 April the item done then is on time; at 23:59:59 it is still pending
    # (neither met nor missed: apart, not among those the rate is over); i-none and i-after are
    # overdue either way
    assert _figures(month, "2026-04", "2026-04-30T15:59:59.6Z")["u-zs"] == (6, 3, 1, 2)
    assert _figures(month, "2026-04", "2026-04-30T15:59:59Z")["u-zs"] == (5, 2, 1, 2)
    assert _units(month, "2026-04", "2026-04-30T15:59:59Z")["u-zs"].pending == 1


def test_cases_answered_in_the_cutoff_second_are_in_time(month: Engine) -> None:
    default = _units(month, "2026-04", "2026-06-01T00:00")["u-ysb"]
    assert (default.cases, default.cases_in_time) == (2, 2)  # due 23:59:59: both in time
    office = _units(month, "2026-04", "2026-06-01T00:00", Settings(calendar={"end_of_day": time(17, 30)}))
    assert (office["u-ysb"].cases, office["u-ysb"].cases_in_time) == (2, 1)  # 17:30:00.6 yes, 17:30:01 no


# Cases answered long before a month whose clocks fall due in it. A report reads only the cases
# received from the first day whose clock can reach the month (`clocks_received_from`), and
# hotline orders whose own due time is in it; here October 2026, whose longest clock counted from
# receipt is five working days (the complex-case rule, and a hotline order without a due time).
# Received on 23 September, the five are 24 and 28-30 September and 8 October (Mid-Autumn on 25
# September, the weekend, then National Day from 1 to 7 October): due in October. Received the
# second before, on 22 September, they end on 30 September: due in September.
def _complex(case: str, at: str, unit: str = "u-spj") -> dict[str, Any]:
    return {**_case(case, at, E[0]), "complexity": "complex", "category": "审批", "unit": unit}


def _hotline(case: str, due: str) -> dict[str, Any]:
    opened = {**_case(case, "2026-03-02T10:00", E[1]), "channel": "hotline", "unit": "u-zhzx"}
    return {**opened, "category": "热线", "due": due}


ANSWERED_BEFORE: list[dict[str, Any]] = [
    _complex("c-floor", "2026-09-23T00:00:00+08:00"),  # the first second of the first such day
    _complex("c-eve", "2026-09-22T23:59:59+08:00"),  # one second earlier: due 30 September
    {"id": "c-floor-fb", "type": "case_feedback", "at": "2026-09-23T10:00+08:00", "case": "c-floor"},
    {"id": "c-eve-fb", "type": "case_feedback", "at": "2026-09-23T10:00+08:00", "case": "c-eve"},
    # received and closed in March, due in the first second of October by their own due time
    _hotline("h-own", "2026-10-01T00:00:00+08:00"),
    _hotline("h-eve", "2026-09-30T23:59:59+08:00"),  # and one second earlier: September's
    _closed("h-own", "2026-03-03T10:00"),
    _closed("h-eve", "2026-03-03T10:00"),
    # major cases go to a coordination meeting by the end of the two-month block after their
    # receipt's at the latest: received in the first second of July-August, by the end of
    # September-October; one second earlier, by the end of August. Both on the agenda of a meeting
    # on 1 July, which neither waits for (too soon: two working days' grace)
    {**_case("m-floor", "2026-07-01T00:00:00+08:00", E[2]), "complexity": "major", "unit": "u-gxj"},
    {**_case("m-eve", "2026-06-30T23:59:59+08:00", E[2]), "complexity": "major", "unit": "u-gxj"},
    {
        "id": "cm-july",
        "type": "coordination_meeting",
        "at": "2026-07-01T10:00+08:00",
        "unit": "u-gxj",
        "cases": ["m-floor", "m-eve"],
    },
]


def _cases_due(engine: Engine, period: str, now: str) -> dict[str, str]:
    start, after = month_bounds(parse_period(period))
    with session_factory(engine)() as session:
        due = duties_due(session, RULEBOOK, CALENDAR, Settings(), start, after, parse_instant(now))
    return {o.subject: o.status for o in due if o.subject.startswith("case:")}


def test_a_month_counts_the_case_duties_due_in_it_that_were_met_long_before(engine: Engine) -> None:
    assert [
        o for o in _ingest(engine, ROSTER, ANSWERED_BEFORE, "2026-11-20T00:00") if o.status != "accepted"
    ] == []
    assert _cases_due(engine, "2026-10", "2026-11-20T00:00") == {
        "case:c-floor": "met_on_time",
        "case:h-own": "met_on_time",
        "case:m-floor": "met_on_time",
    }
    assert _cases_due(engine, "2026-08", "2026-11-20T00:00") == {"case:m-eve": "met_on_time"}
    assert _cases_due(engine, "2026-09", "2026-11-20T00:00") == {
        "case:c-eve": "met_on_time",
        "case:h-eve": "met_on_time",
    }


def test_a_months_figures_are_the_same_counted_a_few_subjects_at_a_time(month: Engine) -> None:
    """The report counts a month's duties a part at a time, as a full tick goes: two enterprises
    and three cases a part here give every unit the figures of one part holding all."""
    for period in ("2026-03", "2026-04", "2026-05"):
        with session_factory(month)() as session:
            args = (session, RULEBOOK, CALENDAR, Settings(), parse_period(period), DurableMatcher(RULEBOOK))
            whole = figures(*args, parse_instant("2026-06-01T00:00"), sizes=(10_000, 10_000))
            parts = figures(*args, parse_instant("2026-06-01T00:00"), sizes=(2, 3))
        assert parts == whole, period
        assert sum(f.due for f in whole.values()) > 5
