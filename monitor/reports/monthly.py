"""The monthly report per unit (制度十一、十二): duties due, met on time, met late, missed, still
pending, waived; cases received, answered in time, escalated, reopened; bad reviews and their
rectification; the on-time rate (monitor/reports/ontime.py) and its trend; who qualifies for a notice of
criticism or an interview, and the candidates for 作风之星. Pure over (store, rules, calendar,
period, now); rendering is separate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.calendar.working_days import WorkCalendar
from monitor.clock import on_time
from monitor.config import Settings
from monitor.evaluation.engine import Matcher
from monitor.evaluation.evaluate import CASE_KINDS, Verdicts, collect, make_timing, settle, waivers
from monitor.evaluation.obligations import Obligation, Scope, View
from monitor.evaluation.obligations.cases import clocks_received_from, longest_clock
from monitor.evaluation.obligations.timing import Timing
from monitor.evaluation.steady import CASES_A_PART, ENTERPRISES_A_PART, collect_part, full_parts
from monitor.periods import Period
from monitor.reports.ontime import Tally, counted_rules, month_bounds
from monitor.roster import RosterIndex
from monitor.rulebook import Rulebook
from monitor.store.batches import batches
from monitor.store.models import Case, CaseEvent, Review, Unit

# a case counts as escalated from this level of its duties' ladders on: reported to the business
# environment office (区营商办) and beyond (制度十, case-escalation)
ESCALATED_LEVEL = 2


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
    *,
    rate_only: bool = False,
) -> dict[str, UnitFigures]:
    """Each unit's figures for the period, as known at the period's end (or now, if earlier);
    with `rate_only`, the duties alone (the trend's months: their rates are all it shows).

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
    if not rate_only:
        _cases(session, rulebook, calendar, settings, matcher, roster, units, start, after, min(after, now))
        _reviews(session, units, period, now)
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
    rulebook: Rulebook,
    calendar: WorkCalendar,
    settings: Settings,
    matcher: Matcher,
    roster: RosterIndex,
    units: dict[str, UnitFigures],
    start: datetime,
    after: datetime,
    at: datetime,
) -> None:
    """The cases received in the month, by receiving unit: answered in time and escalated as the
    rules say, as known at `at` (`_case_outcomes`), and reopened. The month's cases go into
    their duties' queries `CASES_A_STATEMENT` at a time, by id: the month's, never the store's."""
    received = (Case.received_at >= start, Case.received_at < after, Case.received_at <= at)
    cases = session.execute(select(Case.id, Case.unit_id).where(*received)).all()
    if not cases:
        return
    reopened: set[str] = set()
    answered: set[str] = set()
    escalated: set[str] = set()  # by a case_escalated event to the level, whatever its duties
    for case_id, kind, level in session.execute(
        select(CaseEvent.case_id, CaseEvent.type, CaseEvent.level)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(
            *received,
            CaseEvent.type.in_(("case_reopened", "case_feedback", "case_closed", "case_escalated")),
            CaseEvent.at <= at,
        )
    ):
        if kind == "case_reopened":
            reopened.add(case_id)
        elif kind == "case_escalated":
            if (level or 0) >= ESCALATED_LEVEL:
                escalated.add(case_id)
        else:
            answered.add(case_id)
    view = View(
        session, at, make_timing(calendar, settings, rulebook), roster, settings.cases, due_from=start
    )
    waived = waivers(session)
    verdicts = Verdicts(matcher)
    outcomes: dict[str, tuple[bool | None, bool]] = {}
    for part in batches(sorted(case_id for case_id, _ in cases), CASES_A_STATEMENT):
        outcomes |= _case_outcomes(replace(view, case_ids=frozenset(part)), rulebook, verdicts, waived)
    for case_id, unit_id in cases:
        figure = units.get(unit_id)
        if figure is None:
            continue
        figure.cases += 1
        figure.cases_reopened += case_id in reopened
        in_time, late = outcomes.get(case_id, (None, False))
        # a case no rule gives a due time (say, a rulebook without the meetings' rule) has no
        # time to miss: answered, it is answered in time
        figure.cases_in_time += in_time if in_time is not None else case_id in answered
        figure.cases_escalated += late or case_id in escalated


# the month's cases go this many at a time into their duties' queries (an IN list of ids each)
CASES_A_STATEMENT = 5_000


def _case_outcomes(
    view: View, rulebook: Rulebook, verdicts: Verdicts, waived: set[tuple[str, str, str]]
) -> dict[str, tuple[bool | None, bool]]:
    """For each case the view holds, as known at its instant: whether it was answered in time,
    and whether its duties climbed to `ESCALATED_LEVEL`, from the case duties the rules derive:
    the due times of the alerts, a hotline order's by its category or its own.

    Answered in time: its clock (feedback) met on time; a case without one (a major case off the
    hotline), its meeting. Climbed: a duty that stood at the level of its rule's ladder when it was
    met (late), or stands there at the view's instant unmet, as the matcher decides it for the
    alerts. A case whose due time no calendar can tell, or whose duties are waived, is neither;
    one with no such duty at all is left out."""
    timing, at = view.timing, view.now
    rules = [r for r in rulebook if r.obligation in CASE_KINDS]
    by_rule = collect(view, rules, [], set())
    clocks: dict[str, list[bool]] = {}
    meetings: dict[str, list[bool]] = {}
    late: list[Obligation] = []  # each late duty as it stood overdue, for the matcher
    derived: set[str] = set()  # cases with a duty, waived or uncomputable ones included
    for rule in rules:
        for obligation in by_rule.get(rule.id, []):
            case_id = obligation.subject.removeprefix("case:")
            settle(obligation, rule, timing, at, waived)
            derived.add(case_id)
            if obligation.status in ("waived", "uncomputable"):
                continue
            on_time = obligation.status == "met_on_time"
            if rule.obligation == "case_clock":
                clocks.setdefault(case_id, []).append(on_time)
            elif rule.obligation == "case_meeting":
                meetings.setdefault(case_id, []).append(on_time)
            days = _days_overdue(timing, obligation, at)
            if days is not None:
                late.append(
                    replace(obligation, status="overdue", working_days_to_due=0, working_days_overdue=days)
                )
    # the evaluation's memo of the matcher's verdicts: a month's thousands of late duties come in
    # a few hundred shapes, each decided once
    climbed = {
        o.subject.removeprefix("case:")
        for o, decision in zip(late, verdicts.decide(late), strict=True)
        if decision is not None and decision.state == "overdue" and decision.level >= ESCALATED_LEVEL
    }
    return {c: (all(clocks.get(c) or meetings.get(c) or [False]), c in climbed) for c in derived}


def _days_overdue(timing: Timing, obligation: Obligation, at: datetime) -> int | None:
    """The working days a settled duty was overdue when it was met late, or is at `at` unmet;
    None for one met on time or not yet due."""
    if obligation.met_at is not None and obligation.met_at <= at:
        if on_time(obligation.met_at, obligation.due_at):
            return None
        return timing.overdue_known(obligation.met_at, obligation.due_at)[0]
    if obligation.status in ("overdue", "missed"):
        return obligation.working_days_overdue
    return None


def _reviews(session: Session, units: dict[str, UnitFigures], period: Period, now: datetime) -> None:
    """The month's bad reviews, and those rectified by the end of the next month, as known at
    `now` (the report's instant itself: a rectification in the next month is news to the
    month's figures)."""
    start, after = month_bounds(period)
    deadline = month_bounds(period.next())[1]  # rectified before the next month's end is over
    for unit_id, rectified in session.execute(
        select(Review.unit_id, Review.rectified_at).where(
            Review.rating <= 2, Review.at >= start, Review.at < after
        )
    ):
        figure = units.get(unit_id)
        if figure is None:
            continue
        figure.bad_reviews += 1
        if rectified is not None and rectified < deadline and rectified <= now:
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
            else figures(session, rulebook, calendar, settings, month, matcher, now, rate_only=True)
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
