"""The case obligation kinds' one GROUP BY answers what the correlated subqueries per case did.

`case_clock_obligations` and `case_meeting_obligations` used to read each case's first feedback,
its highest explicit level, its first agenda or level-2 escalation and its handling unit with a
correlated subquery apiece; they now join the case's events once and aggregate them with FILTER,
the three clock rules sharing one query per view (each keeping the rows in its scope).
The old queries are kept here as the reference, and both are run over a generated history with
every kind of case event (assignments tied to the instant, escalations with and without a level,
events after the instant evaluated) at several instants, on SQLite and PostgreSQL: every
obligation must come back with the same key, due time, met time, level, unit and context.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import Engine, event, func, or_, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect

from monitor.calendar.working_days import WorkCalendar
from monitor.clock import parse_instant
from monitor.config import Settings
from monitor.evaluation.evaluate import make_timing
from monitor.evaluation.obligations import Obligation, Range, View, cases, within
from monitor.evaluation.obligations.cases import (
    case_clock_obligations,
    case_meeting_obligations,
    clocks_received_from,
    longest_clock,
    met_since,
)
from monitor.roster import RosterIndex
from monitor.rulebook import Rule, load_rulebook
from monitor.store.db import EVALUATION_WORK_MEM, for_evaluation, session_factory
from monitor.store.models import Activity, Case, CaseEvent, Event
from tests.conftest import ROOT

RULEBOOK = load_rulebook(ROOT / "rules")
START = parse_instant("2024-11-01T08:00")
UNITS = ["u1", "u2", "u3"]


# --- the reference: the queries as they were, one correlated subquery per case and aggregate ---


def _first_event(types: tuple[str, ...], now: datetime) -> ScalarSelect[datetime]:
    return (
        select(func.min(CaseEvent.at))
        .where(CaseEvent.case_id == Case.id, CaseEvent.type.in_(types), CaseEvent.at <= now)
        .correlate(Case)
        .scalar_subquery()
    )


def _scope(rule: Rule, view: View) -> list[ColumnElement[bool]]:
    scope = rule.applies_to
    conditions: list[ColumnElement[bool]] = []
    conditions += within(Case.id, view.case_ids)
    if scope.complexity:
        conditions.append(Case.complexity.in_(scope.complexity))
    if scope.channels:
        conditions.append(Case.channel.in_(scope.channels))
    if scope.exclude_channels:
        conditions.append(Case.channel.not_in(scope.exclude_channels))
    return conditions


def _handling_unit(now: datetime) -> ColumnElement[str]:
    latest = (
        select(CaseEvent.unit_id)
        .where(CaseEvent.case_id == Case.id, CaseEvent.type == "case_assigned", CaseEvent.at <= now)
        .order_by(CaseEvent.at.desc(), CaseEvent.id.desc())
        .limit(1)
        .correlate(Case)
        .scalar_subquery()
    )
    return func.coalesce(latest, Case.unit_id)


def _old_clock_rows(view: View, rule: Rule) -> set[tuple[object, ...]]:
    now = view.now
    level = (
        select(func.max(CaseEvent.level))
        .where(CaseEvent.case_id == Case.id, CaseEvent.type == "case_escalated", CaseEvent.at <= now)
        .correlate(Case)
        .scalar_subquery()
    )
    inner = (
        select(
            Case.id,
            Case.enterprise_id,
            Case.category,
            Case.received_at,
            Case.own_due_at,
            _handling_unit(now).label("unit_id"),
            level.label("level"),
            _first_event(rule.fulfilled_by.case_events, now).label("met_at"),
        )
        .where(Case.received_at <= now, *_scope(rule, view))
        .subquery()
    )
    query = select(inner).where(or_(inner.c.met_at.is_(None), inner.c.met_at > met_since(view)))
    return {tuple(row) for row in view.session.execute(query)}


def _old_meeting_rows(view: View, rule: Rule) -> set[tuple[object, ...]]:
    now = view.now
    escalated = (
        select(func.min(CaseEvent.at))
        .where(
            CaseEvent.case_id == Case.id,
            CaseEvent.type == "case_escalated",
            CaseEvent.level >= 2,
            CaseEvent.at <= now,
        )
        .correlate(Case)
        .scalar_subquery()
    )
    met = func.coalesce(_first_event(("agenda",), now), escalated)
    inner = (
        select(
            Case.id,
            Case.enterprise_id,
            Case.category,
            Case.received_at,
            _handling_unit(now).label("unit_id"),
            met.label("met_at"),
        )
        .where(Case.received_at <= now, *_scope(rule, view))
        .subquery()
    )
    query = select(inner).where(or_(inner.c.met_at.is_(None), inner.c.met_at > met_since(view)))
    return {tuple(row) for row in view.session.execute(query)}


# --- a history with every kind of case event ---


def _history(engine: Engine, cases: int = 400, seed: int = 16) -> None:
    rng = random.Random(seed)
    with session_factory(engine)() as session:
        for k, at in enumerate(("2024-11-20T10:00", "2024-12-10T10:00")):
            instant = parse_instant(at)
            session.add(
                Event(
                    id=f"m{k}", type="coordination_meeting", at=instant, payload={}, digest=f"m{k}",
                    received_at=instant,
                )
            )  # fmt: skip
            session.flush()
            session.add(Activity(event_id=f"m{k}", type="coordination_meeting", at=instant, unit_id="u1"))
        n = 0
        for i in range(cases):
            received = START + timedelta(minutes=rng.randrange(0, 60 * 24 * 60))
            channel = rng.choice(["window", "hotline", "online"])
            case_id = f"C{i:04d}"
            own_due = (
                received + timedelta(days=rng.randrange(1, 9)) if channel == "hotline" and i % 3 else None
            )
            session.add(
                Case(
                    id=case_id, enterprise_id=f"E{i % 37:03d}", unit_id=rng.choice(UNITS), channel=channel,
                    complexity=rng.choice(["simple", "complex", "major"]), category=rng.choice(["证照", "用地"]),
                    received_at=received, own_due_at=own_due, summary="", event_id=f"{case_id}-open",
                )
            )  # fmt: skip
            at = received
            for _ in range(rng.randrange(0, 6)):
                kind = rng.choice(
                    ["case_assigned", "case_assigned", "case_feedback", "case_closed", "case_escalated",
                     "agenda", "case_reopened"]
                )  # fmt: skip
                # a few events share their case's previous instant: ties broken by id
                at = at if rng.random() < 0.2 else at + timedelta(hours=rng.randrange(1, 24 * 12))
                n += 1
                session.add(
                    CaseEvent(
                        event_id=f"ev{n}", case_id=case_id, type=kind, at=at,
                        unit_id=rng.choice([*UNITS, None]) if kind == "case_assigned" else None,
                        level=rng.choice([1, 2, 3, None]) if kind == "case_escalated" else None,
                        satisfaction="satisfied" if kind == "case_closed" else None,
                    )
                )  # fmt: skip
        session.commit()


def _with_events(session: Session, *near: int) -> list[str]:
    """For each number, the first case from it on that has events."""
    having = set(session.scalars(select(CaseEvent.case_id)))
    return [next(f"C{i:04d}" for i in range(n, 400) if f"C{i:04d}" in having) for n in near]


def test_a_part_of_cases_bounds_the_events_joined_to_them(engine: Engine) -> None:
    """A full tick's part (a Range of cases) carries its bounds to the case events it joins, so that
    the database reads the part's events by index rather than every event for every part; a set of
    cases (a steady tick's) and all cases join them as before."""
    _history(engine, cases=20)
    settings = Settings()
    now = parse_instant("2024-12-20T18:00")
    statements: list[str] = []
    listen = partial(event.listen, engine, "before_cursor_execute")
    listen(lambda _c, _cur, sql, *_rest: statements.append(sql))
    rule = RULEBOOK["case-complex-5-workdays"]
    with session_factory(engine)() as session:
        view = View(
            session,
            now,
            make_timing(WorkCalendar(), settings, RULEBOOK),
            RosterIndex.load(session),
            settings.cases,
        )
        for scope, bounded in ((Range("C0005", "C0010"), True), (frozenset({"C0005"}), False), (None, False)):
            statements.clear()
            case_clock_obligations(replace(view, case_ids=scope), rule)
            [sql] = [s for s in statements if "case_events" in s]
            assert ("case_events.case_id >=" in sql and "case_events.case_id <" in sql) == bounded, scope


def _key(o: Obligation) -> tuple[object, ...]:
    return (
        o.rule,
        o.subject,
        o.due_at,
        o.met_at,
        o.escalated_level,
        o.unit_id,
        o.owner,
        o.calendar_gap,
        o.variables,
    )


def test_case_clocks_and_meetings_equal_the_correlated_queries(engine: Engine) -> None:
    _history(engine)
    settings = Settings()
    calendar = WorkCalendar()
    rules = [r for r in RULEBOOK if r.obligation in ("case_clock", "case_meeting")]
    assert {r.obligation for r in rules} == {"case_clock", "case_meeting"}
    compared = 0
    with session_factory(engine)() as session:
        roster = RosterIndex.load(session)
        for instant in ("2024-11-15T12:00", "2024-12-05T23:59:59", "2024-12-20T18:00", "2025-02-01T09:00"):
            now = parse_instant(instant)
            timing = make_timing(calendar.as_of(now), settings, RULEBOOK)
            view = View(session, now, timing, roster, settings.cases)
            scoped = replace(view, case_ids=frozenset({f"C{i:04d}" for i in range(0, 400, 7)}))
            # a full tick's part: its first case (with events: its bound on them is seen) in, its last out
            ranged = replace(view, case_ids=Range(*_with_events(session, 100, 200)))
            report = replace(view, due_from=parse_instant("2024-12-01T00:00"))
            for v in (view, scoped, ranged, report):
                for rule in rules:
                    if rule.obligation == "case_clock":
                        new = case_clock_obligations(v, rule)
                        old_rows = _old_clock_rows(v, rule)
                        new_rows = {
                            (o.subject[5:], o.variables["case_id"], o.unit_id, o.met_at, o.escalated_level)
                            for o in new
                        }
                        assert {(r[0], r[0], r[5], r[7], r[6] or 0) for r in old_rows} == new_rows
                    else:
                        new = case_meeting_obligations(v, rule)
                        old_rows = _old_meeting_rows(v, rule)
                        assert {(r[0], r[4], r[5]) for r in old_rows} == {
                            (o.subject[5:], o.unit_id, o.met_at) for o in new
                        }
                    assert len(new) == len({o.subject for o in new}) == len(old_rows)
                    compared += len(new)
    assert compared > 1000


def test_a_case_assigned_twice_at_one_instant_goes_to_the_later_row(engine: Engine) -> None:
    """The handling unit is the latest assignment's, ties on the instant going to the later row."""
    at = parse_instant("2024-12-02T10:00")
    with session_factory(engine)() as session:
        session.add(
            Case(
                id="T1", enterprise_id="E1", unit_id="u1", channel="window", complexity="complex",
                category="证照", received_at=at, summary="", event_id="T1-open",
            )
        )  # fmt: skip
        for n, unit in enumerate(["u2", "u3"]):
            session.add(CaseEvent(event_id=f"a{n}", case_id="T1", type="case_assigned", at=at, unit_id=unit))
        session.add(
            CaseEvent(
                event_id="late", case_id="T1", type="case_assigned", at=at + timedelta(days=9), unit_id="u1"
            )
        )
        session.commit()
        rule = RULEBOOK["case-complex-5-workdays"]
        settings = Settings()
        view = View(
            session,
            at + timedelta(days=1),
            make_timing(WorkCalendar(), settings, RULEBOOK),
            RosterIndex.load(session),
            settings.cases,
        )
        [clock] = case_clock_obligations(view, rule)
        assert clock.unit_id == "u3" and clock.owner == "unit:u3"


def test_an_evaluation_session_runs_without_jit_on_postgresql(engine: Engine) -> None:
    """`for_evaluation` turns JIT off for the transaction only: after it the server's setting holds."""
    with session_factory(engine)() as session:
        for_evaluation(session)
        if engine.dialect.name != "postgresql":
            return
        assert session.execute(text("SHOW jit")).scalar_one() == "off"
        session.commit()
        default = session.execute(text("SELECT reset_val FROM pg_settings WHERE name = 'jit'")).scalar_one()
        assert session.execute(text("SHOW jit")).scalar_one() == default


def _work_mem(session: Session) -> int:
    return int(session.execute(text("SELECT pg_size_bytes(current_setting('work_mem'))")).scalar_one())


@pytest.mark.parametrize("server_kb", [EVALUATION_WORK_MEM // 1024 - 1, EVALUATION_WORK_MEM // 1024])
def test_an_evaluation_raises_work_mem_to_its_least_for_its_transaction(
    engine: Engine, server_kb: int
) -> None:
    """Below `EVALUATION_WORK_MEM` (a kilobyte below) the evaluation's transaction gets it; at it, the
    same; after the transaction the session's own setting holds again."""
    if engine.dialect.name != "postgresql":
        pytest.skip("work_mem is PostgreSQL's")
    with session_factory(engine)() as session:
        session.execute(text(f"SET work_mem = '{server_kb}kB'"))
        session.commit()
        for_evaluation(session)
        assert _work_mem(session) == EVALUATION_WORK_MEM
        session.commit()
        assert _work_mem(session) == server_kb * 1024


def test_an_evaluation_keeps_a_larger_work_mem(engine: Engine) -> None:
    """A server (or session) configured above the evaluation's least keeps its own, a kilobyte above."""
    if engine.dialect.name != "postgresql":
        pytest.skip("work_mem is PostgreSQL's")
    above = EVALUATION_WORK_MEM // 1024 + 1
    with session_factory(engine)() as session:
        session.execute(text(f"SET work_mem = '{above}kB'"))
        session.commit()
        for_evaluation(session)
        assert _work_mem(session) == above * 1024


def test_a_reports_case_duties_from_their_receipt_floors_leave_out_only_duties_due_before_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report's view reads the cases received from `clocks_received_from` on (and hotline
    orders due in it by their own time) for the clocks, and from the start of the two-month block
    before its own for the meetings: over a history of every kind of case, at month starts, other
    instants and block starts, what it leaves out is exactly the duties due before its `due_from`.
    At each instant also hotline orders answered months before it, due by their own time at its
    second and the second before, and one without a due time received in the floor's first second
    (due by its category's seven working days, the longest clock)."""
    _history(engine)
    settings = Settings(
        cases={"hotline_default_working_days": 3, "hotline_working_days_by_category": {"用地": 7}}
    )
    calendar = WorkCalendar()
    clocks = [r for r in RULEBOOK if r.obligation == "case_clock"]
    [meeting] = [r for r in RULEBOOK if r.obligation == "case_meeting"]
    dropped: dict[str, int] = {"case_clock": 0, "case_meeting": 0}
    instants = ("2024-12-01", "2024-12-16", "2025-01-01", "2024-12-09T23:59:59", "2025-02-01", "2025-03-01")
    timing = make_timing(calendar, settings, RULEBOOK)
    starts = [parse_instant(i if "T" in i else f"{i}T00:00") for i in instants]
    floors = [clocks_received_from(timing, start, longest_clock(clocks, settings.cases)) for start in starts]
    with session_factory(engine)() as session:
        for k, (start, floor) in enumerate(zip(starts, floors, strict=True)):
            long_before = start - timedelta(days=150)
            orders = [("own", long_before, start), ("eve", long_before, start - timedelta(seconds=1))]
            for name, received, own_due in [*orders, ("floor", floor, None)]:
                case_id = f"H{k}-{name}"
                session.add(
                    Case(
                        id=case_id, enterprise_id="E900", unit_id="u1", channel="hotline", complexity="simple",
                        category="用地", received_at=received, own_due_at=own_due, summary="",
                        event_id=f"{case_id}-open",
                    )
                )  # fmt: skip
                answered = received + timedelta(hours=1)
                session.add(
                    CaseEvent(event_id=f"{case_id}-fb", case_id=case_id, type="case_feedback", at=answered)
                )
        session.commit()
    with session_factory(engine)() as session:
        roster = RosterIndex.load(session)
        now = parse_instant("2025-03-10T09:00")
        for k, (start, floor) in enumerate(zip(starts, floors, strict=True)):
            due_from = instants[k]
            floored = View(session, now, timing, roster, settings.cases, due_from=start, received_from=floor)
            for rule in [*clocks, meeting]:
                collect = case_clock_obligations if rule in clocks else case_meeting_obligations
                some = {_key(o)[:-1] for o in collect(floored, rule)}
                with monkeypatch.context() as unfloored:
                    unfloored.setattr(cases, "_meetings_reported", lambda view: [])
                    every = {_key(o)[:-1] for o in collect(replace(floored, received_from=None), rule)}
                assert some <= every
                assert {key for key in every if key[2] >= start} <= some, (due_from, rule.id)
                assert all(key[2] < start for key in every - some)
                dropped[rule.obligation] += len(every - some)
                if rule.id == "hotline-order-deadline":
                    mine = {key[1] for key in some if key[1].startswith(f"case:H{k}-")}
                    assert mine == {f"case:H{k}-own", f"case:H{k}-floor"}, (due_from, mine)
    assert dropped["case_clock"] > 200 and dropped["case_meeting"] > 20, dropped
