"""The monthly report per unit (制度十一、十二): duties due, met on time, met late, missed, still
pending, waived; cases received, answered in time, escalated, reopened; bad reviews and their
rectification; the on-time rate (monitor/reports/ontime.py) and its trend; who qualifies for a notice of
criticism or an interview, and the candidates for 作风之星. Pure over (store, rules, calendar,
period, now); rendering is separate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.calendar.working_days import CalendarNotCovered, WorkCalendar
from monitor.clock import end_of_day, local_date, on_time
from monitor.config import Settings
from monitor.evaluation.engine import Matcher
from monitor.evaluation.evaluate import make_timing, settle, waivers
from monitor.evaluation.obligations import Obligation, Scope, View
from monitor.evaluation.obligations.cases import clocks_received_from, longest_clock
from monitor.evaluation.steady import CASES_A_PART, ENTERPRISES_A_PART, collect_part, full_parts
from monitor.periods import Period
from monitor.reports.ontime import Tally, counted_rules, month_bounds
from monitor.roster import RosterIndex
from monitor.rulebook import Rulebook
from monitor.store.batches import batches
from monitor.store.models import Case, CaseEvent, Review, Unit

CASE_DAYS = {"simple": 0, "complex": 5}


class PeriodNotBegun(ValueError):
    """The report of a month that has not begun at the instant it is asked for."""


@dataclass
class UnitFigures:
    unit_id: str
    name: str
    duties: Tally = field(default_factory=Tally)  # the month's duties by on-time outcome
    cases: int = 0
    cases_in_time: int = 0
    cases_escalated: int = 0
    cases_reopened: int = 0
    bad_reviews: int = 0
    rectified: int = 0

    @property
    def due(self) -> int:
        """Duties the rate is over: met, or due and unmet (pending ones are not among them)."""
        return self.duties.decided

    @property
    def on_time(self) -> int:
        return self.duties.on_time

    @property
    def late(self) -> int:
        return self.duties.late

    @property
    def missed(self) -> int:
        return self.duties.missed

    @property
    def pending(self) -> int:
        return self.duties.pending

    @property
    def waived(self) -> int:
        return self.duties.waived

    @property
    def rate(self) -> float | None:
        """The on-time rate of monitor/reports/ontime.py; None with nothing decided."""
        return self.duties.rate


@dataclass
class MonthlyReport:
    period: Period
    units: list[UnitFigures]
    trend: dict[str, dict[str, float | None]] = field(default_factory=dict)  # unit -> month -> rate
    criticism: list[str] = field(default_factory=list)
    interview: list[str] = field(default_factory=list)
    stars: list[str] = field(default_factory=list)
    as_of: datetime | None = None  # the instant the report was made
    complete: bool = True  # False while the month has not ended at `as_of`


# A report's parts are four of a tick's: each part runs every query of its kinds again, six months
# over for the trend. One month at L (bench.large): 35 s and 300 MB in a tick's 80 parts, 25 s and
# 377 MB in these 20, 18 s and 1.1 GB in one.
REPORT_PART_SIZES = (4 * ENTERPRISES_A_PART, 4 * CASES_A_PART)


def figures(
    session: Session,
    rulebook: Rulebook,
    calendar: WorkCalendar,
    settings: Settings,
    period: Period,
    matcher: Matcher,
    now: datetime,
    sizes: tuple[int, int] = REPORT_PART_SIZES,
) -> dict[str, UnitFigures]:
    """Each unit's figures for the period, as known at the period's end (or now, if earlier).

    The duties are counted a part at a time, as a full tick goes (`full_parts`, `sizes`
    enterprises and cases each): a province's month is a million of them, and the daemon mails
    the report from its evaluation process."""
    units = {u.id: UnitFigures(u.id, u.name) for u in session.scalars(select(Unit).order_by(Unit.id))}
    start, after = month_bounds(period)
    roster = RosterIndex.load(session)
    for part in full_parts(session, rulebook, settings, sizes):
        for o in duties_due(
            session, rulebook, calendar, settings, start, after, min(after, now), part.rules, roster
        ):
            if o.unit_id in units:
                units[o.unit_id].duties.add(o.status)
    _cases(session, calendar, units, start, after, settings.calendar.end_of_day)
    _reviews(session, calendar, units, start, after)
    return units


def duties_due(
    session: Session,
    rulebook: Rulebook,
    calendar: WorkCalendar,
    settings: Settings,
    start: datetime,
    after: datetime,
    at: datetime,
    part: Mapping[str, Scope] | None = None,
    roster: RosterIndex | None = None,
) -> list[Obligation]:
    """Every duty due in [start, after), whatever became of it, settled as known at `at`; with
    `part`, only its rules held to their subjects (the daemon records a month a part at a time,
    monitor/evaluation/steady.py).

    Not the tick's evaluation: that one drops what was met more than RECENT ago or has expired,
    so an item due on the 9th and done on the 10th was missing from the month's figures. The
    rules are those the on-time rate counts (monitor/reports/ontime.py).
    """
    timing = make_timing(calendar, settings, rulebook)
    counted = counted_rules(rulebook)
    rules = [r for r in rulebook if r.id in counted and (part is None or r.id in part)]
    view = View(
        session,
        at,
        timing,
        roster or RosterIndex.load(session),
        settings.cases,
        due_from=start,
        due_before=after,
        received_from=clocks_received_from(timing, start, longest_clock(rules, settings.cases)),
    )
    waived = waivers(session)
    out: list[Obligation] = []
    for obligation in collect_part(view, rules, part or {}, [], set()):
        if start <= obligation.due_at < after:
            # uncomputable: pending for the rate
            settle(obligation, rulebook[obligation.rule], timing, at, waived)
            out.append(obligation)
    return out


def _cases(
    session: Session,
    calendar: WorkCalendar,
    units: dict[str, UnitFigures],
    start: datetime,
    after: datetime,
    cutoff: time,
) -> None:
    cases = session.execute(
        select(Case.id, Case.unit_id, Case.complexity, Case.channel, Case.received_at, Case.own_due_at).where(
            Case.received_at >= start, Case.received_at < after
        )
    ).all()
    if not cases:
        return
    history = _CaseHistory.of(session, [c[0] for c in cases])
    for case_id, unit_id, complexity, channel, received, own_due in cases:
        figure = units.get(unit_id)
        if figure is None:
            continue
        figure.cases += 1
        figure.cases_reopened += 1 if history.reopened[case_id] else 0
        try:
            due = (
                own_due
                if own_due is not None
                else _feedback_due(calendar, complexity, channel, received, cutoff)
            )
        except CalendarNotCovered:
            continue  # received, but no calendar to say whether the answer came in time
        _count_answer(
            figure, calendar, due, history.first_feedback.get(case_id), case_id in history.escalated
        )


@dataclass
class _CaseHistory:
    """What the events of a month's cases say: when each was first answered (feedback, or its
    closing), which were escalated to level 2 or higher, and how often each was reopened."""

    first_feedback: dict[str, datetime] = field(default_factory=dict)
    escalated: set[str] = field(default_factory=set)
    reopened: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, session: Session, ids: list[str]) -> _CaseHistory:
        history = cls()
        # a province's month has a hundred thousand cases: a statement per batch of them
        for part in batches(ids):
            for case_id, kind, at, level in session.execute(
                select(CaseEvent.case_id, CaseEvent.type, CaseEvent.at, CaseEvent.level).where(
                    CaseEvent.case_id.in_(part)
                )
            ):
                history.note(case_id, kind, at, level)
        return history

    def note(self, case_id: str, kind: str, at: datetime, level: int | None) -> None:
        if kind in ("case_feedback", "case_closed") and (
            case_id not in self.first_feedback or at < self.first_feedback[case_id]
        ):
            self.first_feedback[case_id] = at
        elif kind == "case_escalated" and (level or 0) >= 2:
            self.escalated.add(case_id)
        elif kind == "case_reopened":
            self.reopened[case_id] += 1


def _feedback_due(
    calendar: WorkCalendar, complexity: str, channel: str, received: datetime, cutoff: time
) -> datetime:
    """When a case without a due time of its own must be answered: its complexity's working
    days (a hotline case's always five), at the end of the working day."""
    days = CASE_DAYS[complexity] if complexity in CASE_DAYS and channel != "hotline" else 5
    return end_of_day(calendar.add_workdays(local_date(received), days), cutoff)


def _count_answer(
    figure: UnitFigures, calendar: WorkCalendar, due: datetime, feedback: datetime | None, escalated: bool
) -> None:
    """A case answered in time, or escalated: to level 2, or unanswered two working days after due."""
    if feedback is not None and on_time(feedback, due):
        figure.cases_in_time += 1
    late_by = calendar.count_workdays(local_date(due), local_date(feedback)) - 1 if feedback else 3
    if escalated or late_by >= 2:
        figure.cases_escalated += 1


def _reviews(
    session: Session, calendar: WorkCalendar, units: dict[str, UnitFigures], start: datetime, after: datetime
) -> None:
    for unit_id, rectified in session.execute(
        select(Review.unit_id, Review.rectified_at).where(
            Review.rating <= 2, Review.at >= start, Review.at < after
        )
    ):
        figure = units.get(unit_id)
        if figure is None:
            continue
        figure.bad_reviews += 1
        if rectified is not None and rectified < after + (after - start):  # rectified by the next month's end
            figure.rectified += 1


def monthly_report(
    session: Session,
    rulebook: Rulebook,
    calendar: WorkCalendar,
    settings: Settings,
    period: Period,
    matcher: Matcher,
    now: datetime,
) -> MonthlyReport:
    """The month's report as known at `now`; a month not yet begun at `now` is refused
    (PeriodNotBegun), one not yet ended is marked incomplete."""
    start, after = month_bounds(period)
    if now < start:
        raise PeriodNotBegun(f"{period.label} has not begun (it starts on {period.start.isoformat()})")
    current = figures(session, rulebook, calendar, settings, period, matcher, now)
    months = [period]
    for _ in range(5):
        months.insert(0, months[0].previous())
    trend: dict[str, dict[str, float | None]] = {u: {} for u in current}
    for month in months:
        these = (
            current
            if month == period
            else figures(session, rulebook, calendar, settings, month, matcher, now)
        )
        for unit_id, figure in these.items():
            trend.setdefault(unit_id, {})[month.label] = figure.rate
    thresholds = settings.report
    rated = [f for f in current.values() if f.rate is not None]
    criticism = [
        f.name
        for f in rated
        if f.rate is not None and thresholds.interview_below <= f.rate < thresholds.criticism_below
    ]
    interview = [f.name for f in rated if f.rate is not None and f.rate < thresholds.interview_below]
    stars = [
        f.name
        for f in sorted(rated, key=lambda f: -(f.rate or 0))
        if (f.rate or 0) >= thresholds.star_at_least
    ][: thresholds.stars]
    return MonthlyReport(
        period, list(current.values()), trend, criticism, interview, stars, as_of=now, complete=now >= after
    )
