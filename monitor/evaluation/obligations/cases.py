"""Deadlines on cases (制度二、三、七、十、十二): feedback clocks, major cases to the coordination
meeting, the escalation ladder and repeated reports.

A case's clock starts at receipt; feedback (or closing) stops it. Only clocks still running at
the instant, or stopped within the last RECENT days (so their on-time or late outcome is
recorded), come back from SQL.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Subquery, and_, case, func, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement, FunctionFilter

from monitor.calendar.working_days import CalendarNotCovered
from monitor.clock import end_of_day, lapse, local_date, plain_minute, start_of_day
from monitor.config import CaseSettings
from monitor.evaluation.obligations import Obligation, View, joined_within, within
from monitor.evaluation.obligations.timing import Timing
from monitor.periods import period_of
from monitor.rulebook import Rule
from monitor.store.batches import batches
from monitor.store.models import Activity, Case, CaseEvent

RECENT = timedelta(days=7)
ONE_DAY = timedelta(days=1)
LAST_INSTANT = timedelta(microseconds=1)  # a day's last instant: its next day's start less this
# a report's month (View.due_from) keeps clocks met this long before it: a clock due in the
# month can have been answered long before its due time (a hotline order's own due date)
REPORT_LOOKBACK = timedelta(days=366)


def met_since(view: View) -> datetime:
    """Met duties leave the view after RECENT; a report's view keeps those of its month."""
    if view.due_from is None:
        return view.now - RECENT
    return min(view.now - RECENT, view.due_from - REPORT_LOOKBACK)


def clocks_received_from(timing: Timing, due_from: datetime, working_days: int) -> datetime:
    """The earliest receipt whose clock of at most `working_days` can fall due at or after
    `due_from`: the start of a day, or the end of a day's cut-off second.

    A clock falls due at its deadline, or, where a year on the way has no calendar (strict mode),
    at the deadline's lower bound (`Timing.deadline_or_gap`); either grows with the instant of
    receipt and with the working days counted. It steps at midnight, and for a same-day clock at
    the cut-off too (received after it, the clock runs to the next working day). So a case received
    earlier is due before `due_from`: a month's report need not read a year of answered cases to
    find the few due in it. A hotline order's own due time does not follow receipt: the report's
    query keeps those due at or after `due_from` whenever they were received.
    """
    # a case received the day after `due_from`'s is due at the end of that day or later: after it
    day = local_date(due_from) + ONE_DAY
    # back while the last receipt of the day before can still fall due at or after due_from
    while timing.deadline_or_gap(start_of_day(day) - LAST_INSTANT, working_days)[0] >= due_from:
        day -= ONE_DAY
    first = start_of_day(day)
    if timing.deadline_or_gap(first, working_days)[0] >= due_from:
        return first
    # only the receipts after the day's cut-off second can (a same-day clock's next working day)
    return lapse(end_of_day(day, timing.cutoff))


def longest_clock(rules: list[Rule], cases: CaseSettings) -> int:
    """The most working days any of these rules' case clocks counts from receipt: a rule's own
    limit, else a hotline order's by its category (`case_clock_obligations`)."""
    days = [
        r.due_working_days for r in rules if r.obligation == "case_clock" and r.due_working_days is not None
    ]
    if any(r.obligation == "case_clock" and r.due_working_days is None for r in rules):
        days += [cases.hotline_default_working_days, *cases.hotline_working_days_by_category.values()]
    return max(days, default=0)


SATISFIED = ("satisfied", "basically_satisfied")


def _handling_unit(now: datetime) -> ColumnElement[str]:
    """The unit a case was last assigned to by now, else its receiving unit (repeated reports)."""
    latest = (
        select(CaseEvent.unit_id)
        .where(CaseEvent.case_id == Case.id, CaseEvent.type == "case_assigned", CaseEvent.at <= now)
        .order_by(CaseEvent.at.desc(), CaseEvent.id.desc())
        .limit(1)
        .correlate(Case)
        .scalar_subquery()
    )
    return func.coalesce(latest, Case.unit_id)


def _case_facts(
    view: View, scope: list[ColumnElement[bool]], types: tuple[str, ...], **aggregates: FunctionFilter[Any]
) -> Subquery:
    """Each case received by now (and within `scope`), with aggregates over its events up to now.

    One join and GROUP BY for every case at once: the aggregates are FILTERed by event type, where
    each used to be a correlated subquery per case (three per case for a clock: 1.2-1.8 s at M on
    PostgreSQL, against 0.4 s for this). Only events of the given types are joined. The case's
    handling unit is that of its latest `case_assigned` event by now (latest by instant, then by
    id), else its receiving unit: the aggregate gives the instant of the latest assignment, and
    only cases that have one look the unit up (`_assigned_unit`).
    """
    now = view.now
    joined = and_(
        CaseEvent.case_id == Case.id,
        CaseEvent.type.in_(sorted({*types, "case_assigned"})),
        CaseEvent.at <= now,
        *joined_within(CaseEvent.case_id, view.case_ids),
    )
    columns = (
        Case.id,
        Case.enterprise_id,
        Case.category,
        Case.received_at,
        Case.own_due_at,
        Case.unit_id,
        Case.channel,
        Case.complexity,
    )
    scope = [*within(Case.id, view.case_ids), *scope]
    return (
        select(
            *columns,
            func.max(CaseEvent.at).filter(CaseEvent.type == "case_assigned").label("assigned_at"),
            *(column.label(name) for name, column in aggregates.items()),
        )
        .select_from(Case)
        .outerjoin(CaseEvent, joined)
        .where(Case.received_at <= now, *scope)
        .group_by(*columns)
        .subquery()
    )


def _assigned_unit(facts: Subquery, now: datetime) -> ColumnElement[str]:
    """The handling unit of each row of `_case_facts`: looked up only where a case was assigned."""
    latest = (
        select(CaseEvent.unit_id)
        .where(CaseEvent.case_id == facts.c.id, CaseEvent.type == "case_assigned", CaseEvent.at <= now)
        .order_by(CaseEvent.at.desc(), CaseEvent.id.desc())
        .limit(1)
        .correlate(facts)
        .scalar_subquery()
    )
    return func.coalesce(case((facts.c.assigned_at.is_not(None), latest)), facts.c.unit_id)


def _first(types: tuple[str, ...]) -> FunctionFilter[datetime]:
    return func.min(CaseEvent.at).filter(CaseEvent.type.in_(types))


def _scope(rule: Rule) -> list[ColumnElement[bool]]:
    scope = rule.applies_to
    conditions: list[ColumnElement[bool]] = []
    if scope.complexity:
        conditions.append(Case.complexity.in_(scope.complexity))
    if scope.channels:
        conditions.append(Case.channel.in_(scope.channels))
    if scope.exclude_channels:
        conditions.append(Case.channel.not_in(scope.exclude_channels))
    return conditions


def _in_scope(rule: Rule, channel: str, complexity: str) -> bool:
    """`_scope` in Python, for rows fetched once for several rules."""
    scope = rule.applies_to
    return (
        (not scope.complexity or complexity in scope.complexity)
        and (not scope.channels or channel in scope.channels)
        and (not scope.exclude_channels or channel not in scope.exclude_channels)
    )


def _enterprises(view: View) -> list[ColumnElement[bool]]:
    return within(Case.enterprise_id, view.enterprises)


def _case_variables(
    view: View, case_id: str, enterprise_id: str, unit_id: str, category: str
) -> dict[str, object]:
    unit = view.roster.units.get(unit_id)
    return {
        "case_id": case_id,
        "enterprise_name": view.roster.enterprise_names.get(enterprise_id, enterprise_id),
        "unit_name": unit.name if unit else unit_id,
        "owner_name": unit.name if unit else unit_id,
        "category": category,
    }


def _case_obligation(
    view: View,
    rule: Rule,
    row: tuple[str, str, str, datetime, str],
    due: datetime,
    met_at: datetime | None,
    level: int = 0,
) -> Obligation:
    """A case duty owed by the case's handling unit; row = (case, enterprise, category, received, unit)."""
    case_id, enterprise_id, category, received_at, unit_id = row
    variables = _case_variables(view, case_id, enterprise_id, unit_id, category)
    variables["received"] = plain_minute(received_at)
    return Obligation(
        rule=rule.id,
        subject=f"case:{case_id}",
        period=None,
        owner=f"unit:{unit_id}",
        unit_id=unit_id,
        due_at=due,
        met_at=met_at,
        escalated_level=level,
        variables=variables,
    )


ClockRow = tuple[str, str, str, datetime, datetime | None, str, int | None, datetime | None, str, str]


def _clock_rows(view: View, met_types: tuple[str, ...]) -> list[ClockRow]:
    """Every case clock's row in view, whatever its rule's scope: the clock rules (same-day,
    five days, hotline) share their events, so they share one query per view, each keeping the
    rows in its scope (`_in_scope`)."""
    key = ("case_clock", met_types)
    known = view.memo.get(key)
    if known is not None:
        return known  # type: ignore[return-value]
    reported: list[ColumnElement[bool]] = []
    if view.due_from is not None and view.received_from is not None:
        reported.append(or_(Case.received_at >= view.received_from, Case.own_due_at >= view.due_from))
    facts = _case_facts(
        view,
        reported,
        (*met_types, "case_escalated"),
        met_at=_first(met_types),
        level=func.max(CaseEvent.level).filter(CaseEvent.type == "case_escalated"),
    )
    query = select(
        facts.c.id,
        facts.c.enterprise_id,
        facts.c.category,
        facts.c.received_at,
        facts.c.own_due_at,
        _assigned_unit(facts, view.now).label("unit_id"),
        facts.c.level,
        facts.c.met_at,
        facts.c.channel,
        facts.c.complexity,
    ).where(or_(facts.c.met_at.is_(None), facts.c.met_at > met_since(view)))
    rows: list[ClockRow] = [tuple(row) for row in view.session.execute(query)]
    view.memo[key] = rows
    return rows


def case_clock_obligations(view: View, rule: Rule) -> list[Obligation]:
    """Feedback within the rule's working days, or by the case's own due time (hotline orders)."""
    rows = [r for r in _clock_rows(view, rule.fulfilled_by.case_events) if _in_scope(rule, r[8], r[9])]
    out: list[Obligation] = []
    for (
        case_id,
        enterprise_id,
        category,
        received_at,
        own_due_at,
        unit_id,
        level,
        met_at,
        _channel,
        _complexity,
    ) in rows:
        gap: int | None = None
        if rule.due_working_days is not None:
            due, gap = view.timing.deadline_or_gap(received_at, rule.due_working_days)
        elif own_due_at is not None:
            due = own_due_at
        else:
            days = view.cases.hotline_working_days_by_category.get(
                category, view.cases.hotline_default_working_days
            )
            due, gap = view.timing.deadline_or_gap(received_at, days)
        row = (case_id, enterprise_id, category, received_at, unit_id)
        obligation = _case_obligation(view, rule, row, due, met_at, level or 0)
        obligation.calendar_gap = gap
        out.append(obligation)
    return out


def _meetings_reported(view: View) -> list[ColumnElement[bool]]:
    """A report's view reads the major cases received from the start of the two-month block
    before its `due_from`'s: one received earlier is due by the end of the block after its own
    at the latest (a meeting only makes it sooner), before `due_from`."""
    if view.due_from is None:
        return []
    block = period_of("bimonth", local_date(view.due_from)).previous()
    return [Case.received_at >= start_of_day(block.start)]


def case_meeting_obligations(view: View, rule: Rule) -> list[Obligation]:
    """A major case goes on the agenda of the first coordination meeting held after its receipt
    (with a grace of a few working days), by the end of the next two-month block at the latest;
    an escalation to level 2 or higher fulfils it too."""
    now = view.now
    meeting_units = view.roster.units_named(rule.applies_to.unit_names)
    meetings = sorted(
        view.session.scalars(
            select(Activity.at).where(
                Activity.type == "coordination_meeting",
                Activity.at <= now,
                *([Activity.unit_id.in_(meeting_units)] if meeting_units else []),
            )
        )
    )
    meeting_days = [local_date(m) for m in meetings]
    facts = _case_facts(
        view,
        [*_scope(rule), *_meetings_reported(view)],
        ("agenda", "case_escalated"),
        on_agenda=_first(("agenda",)),
        escalated=func.min(CaseEvent.at).filter(CaseEvent.type == "case_escalated", CaseEvent.level >= 2),
    )
    met = func.coalesce(facts.c.on_agenda, facts.c.escalated)
    query = select(
        facts.c.id,
        facts.c.enterprise_id,
        facts.c.category,
        facts.c.received_at,
        _assigned_unit(facts, now).label("unit_id"),
        met.label("met_at"),
    ).where(or_(met.is_(None), met > met_since(view)))
    out: list[Obligation] = []
    for case_id, enterprise_id, category, received_at, unit_id, met_at in view.session.execute(query):
        received_day = local_date(received_at)
        due = end_of_day(period_of("bimonth", received_day).next().end)
        gap: int | None = None
        try:
            earliest = view.timing.calendar.add_workdays(received_day, rule.meeting_grace_working_days)
        except CalendarNotCovered as missing:  # strict mode: which meeting counts is unknown
            gap = missing.year
        else:
            i = bisect.bisect_left(meeting_days, earliest)
            if i < len(meetings) and meetings[i] < due:
                due = meetings[i]
        row = (case_id, enterprise_id, category, received_at, unit_id)
        obligation = _case_obligation(view, rule, row, due, met_at)
        obligation.calendar_gap = gap
        out.append(obligation)
    return out


def case_ladder_obligations(rule: Rule, clocks: list[Obligation]) -> list[Obligation]:
    """The ladder watches the clocks it names: each running clock is a step to climb."""
    out: list[Obligation] = []
    for clock in clocks:
        if clock.rule not in rule.ladder_of:
            continue
        out.append(
            Obligation(
                rule=rule.id,
                subject=clock.subject,
                period=None,
                owner=clock.owner,
                unit_id=clock.unit_id,
                due_at=clock.due_at,
                met_at=clock.met_at,
                escalated_level=clock.escalated_level,
                variables=dict(clock.variables),
                provisional=clock.provisional,
                calendar_gap=clock.calendar_gap,
            )
        )
    return out


def repeat_report_obligations(view: View, rule: Rule) -> list[Obligation]:
    """An enterprise reporting the same category again within the window after an earlier case of
    its was closed, or a case reopened: open until the repeated case is closed satisfactorily."""
    now = view.now
    window = timedelta(days=rule.repeat_window_days or view.cases.repeat_window_days)
    earlier = aliased(Case)
    closed = aliased(CaseEvent)
    again = (
        select(
            Case.id,
            Case.enterprise_id,
            Case.category,
            Case.received_at,
            _handling_unit(now).label("unit_id"),
            func.max(closed.at).label("previous_closed"),
        )
        .join(
            earlier,
            and_(
                earlier.enterprise_id == Case.enterprise_id,
                earlier.category == Case.category,
                earlier.id != Case.id,
                earlier.received_at < Case.received_at,
                *joined_within(earlier.enterprise_id, view.enterprises),
            ),
        )
        .join(
            closed,
            and_(closed.case_id == earlier.id, closed.type == "case_closed", closed.at <= Case.received_at),
        )
        .where(Case.received_at <= now, *_enterprises(view))
        .group_by(Case.id, Case.enterprise_id, Case.category, Case.received_at, Case.unit_id)
    )
    candidates: dict[str, tuple[str, str, datetime, str, datetime]] = {}
    for case_id, enterprise_id, category, received_at, unit_id, previous in view.session.execute(again):
        if received_at - previous <= window:
            candidates[case_id] = (enterprise_id, category, received_at, unit_id, previous)
    reopened = (
        select(
            CaseEvent.case_id,
            Case.enterprise_id,
            Case.category,
            func.max(CaseEvent.at),
            _handling_unit(now),
        )
        .join(Case, Case.id == CaseEvent.case_id)
        .where(CaseEvent.type == "case_reopened", CaseEvent.at <= now, *_enterprises(view))
        .group_by(CaseEvent.case_id, Case.enterprise_id, Case.category, Case.unit_id, Case.id)
    )
    repeats: list[tuple[str, str, str, datetime, str, datetime | None]] = [
        (cid, e, cat, at, unit, prev) for cid, (e, cat, at, unit, prev) in candidates.items()
    ]
    for case_id, enterprise_id, category, reopened_at, unit_id in view.session.execute(reopened):
        repeats.append((case_id, enterprise_id, category, reopened_at, unit_id, None))
    if not repeats:
        return []
    case_ids = sorted({r[0] for r in repeats})
    closes: dict[str, list[tuple[datetime, str | None]]] = {}
    for part in batches(case_ids):
        for case_id, at, satisfaction in view.session.execute(
            select(CaseEvent.case_id, CaseEvent.at, CaseEvent.satisfaction).where(
                CaseEvent.case_id.in_(part),
                CaseEvent.type == "case_closed",
                CaseEvent.at <= now,
            )
        ):
            closes.setdefault(case_id, []).append((at, satisfaction))
    by_subject: dict[tuple[str, str], Obligation] = {}
    for case_id, enterprise_id, category, repeat_at, unit_id, previous_close in sorted(
        repeats, key=lambda r: r[3]
    ):
        satisfied = [at for at, sat in closes.get(case_id, []) if sat in SATISFIED and at > repeat_at]
        met_at = min(satisfied) if satisfied else None
        # met ones leave after RECENT, except from a report's month (due at the repeat, kept however
        # long ago met)
        kept = view.due_from is not None and repeat_at >= view.due_from
        if met_at is not None and met_at <= now - RECENT and not kept:
            continue
        period = period_of("month", local_date(repeat_at)).label
        key = (f"enterprise:{enterprise_id}", period)
        if key in by_subject:
            continue
        variables = _case_variables(view, case_id, enterprise_id, unit_id, category)
        variables["received"] = plain_minute(repeat_at)
        # empty for a reopened case: the message then says it was reopened, not "closed on （重新打开）"
        variables["previous_closed"] = plain_minute(previous_close) if previous_close else ""
        by_subject[key] = Obligation(
            rule=rule.id,
            subject=key[0],
            period=period,
            owner=f"unit:{unit_id}",
            unit_id=unit_id,
            due_at=repeat_at,
            met_at=met_at,
            variables=variables,
        )
    return list(by_subject.values())
