"""What the status page shows, per unit: what is overdue, what falls due in the next few working
days, the open cases with their clocks and escalation levels, and this month's on-time rate
(defined in monitor/reports/ontime.py, as in the monthly report).

It reads what the last tick recorded (the obligations and alerts tables), never evaluates, so
the page costs a few indexed queries whatever the district's size; `now` is passed in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, true, tuple_
from sqlalchemy.orm import Session

from monitor.calendar.working_days import CalendarNotCovered, WorkCalendar
from monitor.clock import SHANGHAI, local_date, past_due, start_of_day
from monitor.periods import Period, period_of
from monitor.reports.ontime import Tally, counted_rules, month_bounds
from monitor.rulebook import Rulebook
from monitor.store.batches import batches
from monitor.store.models import (
    OPEN_STATES,
    AlertRecord,
    Case,
    Enterprise,
    ObligationRecord,
    Official,
    Project,
    ProjectItem,
    Review,
    Silence,
    TickRecord,
    Unit,
)
from monitor.subjects import Subject

RUNNING = ("pending", "overdue")
UNKNOWN = "uncomputable"  # a running duty whose due time rests on a year no calendar covers
# "due soon" looks this many working days ahead, today included when it is one: on a Sunday or
# the last day of a holiday it still shows the reminders of the days to come
DUE_SOON_WORKDAYS = 5
STATUS_WORDS = {
    "pending": "待办",
    "overdue": "逾期",
    "met_on_time": "按时办结",
    "met_late": "逾期办结",
    "missed": "未办",
    "waived": "已豁免",
    "uncomputable": "截止时间待定",
}
ALERT_WORDS = {"warning": "预警", "overdue": "逾期"}


@dataclass(frozen=True)
class Duty:
    rule: str
    title: str
    subject: str  # in people's words: who owes what to whom
    period: str
    due_at: datetime
    status: str
    alert: str | None  # warning, overdue, or None
    level: int
    acked: bool
    silenced: bool
    provisional: bool = False  # the due time rests on a year whose notice is not loaded

    @property
    def uncomputable(self) -> bool:
        return self.status == UNKNOWN


@dataclass(frozen=True)
class OpenCase:
    case_id: str
    enterprise: str
    complexity: str
    received_at: datetime
    due_at: datetime  # the earliest due time of its running clocks
    clocks: tuple[str, ...]  # the titles of its running clocks
    overdue: bool
    level: int
    provisional: bool = False  # a running clock's due time rests on an unannounced year
    uncomputable: bool = False  # a running clock's due time cannot be told (strict mode)
    silenced: bool = False  # a running clock's alert is muted by a silence


@dataclass(frozen=True)
class SilenceLine:
    """A silence in force, in people's words: what it mutes, until when, by whom, why."""

    silence_id: int
    matches: str
    ends_at: datetime
    daily: str | None
    created_by: str
    reason: str


@dataclass
class UnitStatus:
    unit_id: str
    name: str
    overdue: list[Duty] = field(default_factory=list)
    due_soon: list[Duty] = field(default_factory=list)
    cases: list[OpenCase] = field(default_factory=list)
    duties: Tally = field(default_factory=Tally)  # this month's duties by on-time outcome

    @property
    def rate(self) -> float | None:
        return self.duties.rate

    @property
    def overdue_cases(self) -> int:
        return sum(c.overdue for c in self.cases)


@dataclass
class Status:
    now: datetime
    evaluated_at: datetime | None  # the instant the last committed evaluation looked at
    soon_end: datetime  # duties due before this instant are "due soon"
    soon_workdays: int
    month: str
    units: list[UnitStatus]
    weekdays_only: bool = False  # the calendar lacked a year: Monday to Friday stood in
    silences: list[SilenceLine] = field(default_factory=list)  # in force now, soonest ending first

    @property
    def totals(self) -> dict[str, int]:
        return {
            "overdue": sum(len(u.overdue) for u in self.units),
            "due_soon": sum(len(u.due_soon) for u in self.units),
            "cases": sum(len(u.cases) for u in self.units),
            "overdue_cases": sum(u.overdue_cases for u in self.units),
        }


def due_soon_end(
    calendar: WorkCalendar, now: datetime, workdays: int = DUE_SOON_WORKDAYS
) -> tuple[datetime, bool]:
    """The end of the "due soon" window: 00:00 after the Nth working day from today (today
    counted when it is a working day), Asia/Shanghai, and whether weekdays stood in for a year
    the calendar does not cover (strict mode)."""
    today = local_date(now)
    try:
        last = calendar.add_workdays(today - timedelta(days=1), workdays)
        return start_of_day(last + timedelta(days=1)), False
    except CalendarNotCovered:
        # a window a holiday too long beats no window at all; the page says so
        day, seen = today, 0
        while True:
            if day.weekday() < 5:
                seen += 1
                if seen == workdays:
                    return start_of_day(day + timedelta(days=1)), True
            day += timedelta(days=1)


class _Names:
    """Subjects in people's words, from the roster (loaded once per page)."""

    def __init__(self, session: Session) -> None:
        self.units = dict(session.execute(select(Unit.id, Unit.name)).all())
        self.officials = dict(session.execute(select(Official.id, Official.name)).all())
        self.projects = dict(session.execute(select(Project.id, Project.name)).all())
        self._enterprises: dict[str, str] = {}
        self._items: dict[tuple[str, str], str] = {}
        self._reviews: dict[str, str] = {}
        self._session = session

    def load(self, subjects: list[str]) -> None:
        """Fetch the names these subjects need, a chunk of 500 at a time."""
        self.enterprises(_enterprise_ids(subjects))
        # split as subject() splits, so an item id with a colon in it is still found
        items = sorted(
            {(read.id, read.detail) for s in subjects if (read := Subject.parse(s)).kind == "project"}
        )
        for chunk in batches(items):
            rows = self._session.execute(
                select(ProjectItem.project_id, ProjectItem.id, ProjectItem.name).where(
                    tuple_(ProjectItem.project_id, ProjectItem.id).in_(chunk)
                )
            )
            self._items.update({(project, item): name for project, item, name in rows})
        reviews = sorted({read.id for s in subjects if (read := Subject.parse(s)).kind == "review"})
        for part in batches(reviews):
            found = self._session.execute(
                select(Review.id, Review.at, Review.rating).where(Review.id.in_(part))
            )
            for review_id, at, rating in found:
                # a review has no name: when and how it was rated tell it apart, the id finds it
                day = at.astimezone(SHANGHAI).strftime("%Y-%m-%d")
                self._reviews[review_id] = f"{day} {rating}星差评（编号 {review_id}）"

    def enterprises(self, ids: set[str]) -> None:
        wanted = sorted(ids - self._enterprises.keys())
        for chunk in batches(wanted):
            rows = self._session.execute(
                select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_(chunk))
            )
            self._enterprises.update({code: name for code, name in rows})

    def enterprise(self, credit_code: str) -> str:
        return self._enterprises.get(credit_code, credit_code)

    def owner(self, owner_id: str) -> str:
        return self.officials.get(owner_id) or self.units.get(owner_id) or owner_id

    def subject(self, subject: str) -> str:
        read = Subject.parse(subject)
        if read.kind == "pairing":
            return f"{self.owner(read.id)} → {self.enterprise(read.detail)}"
        if read.kind == "unit":
            return self.units.get(read.id, read.id)
        if read.kind == "project":
            project, item = read.id, read.detail
            return f"{self.projects.get(project, project)} · {self._items.get((project, item), item)}"
        if read.kind == "enterprise":
            return self.enterprise(read.id)
        if read.kind == "review":
            return self._reviews.get(read.id, f"差评（编号 {read.id}）")
        if read.kind == "case":
            return f"诉求 {read.id}"  # a case has no name but its number
        return subject


def _enterprise_ids(subjects: list[str]) -> set[str]:
    return {enterprise for s in subjects if (enterprise := Subject.parse(s).enterprise) is not None}


def status(
    session: Session,
    rulebook: Rulebook,
    calendar: WorkCalendar,
    now: datetime,
    unit: str | None = None,
) -> Status:
    """The page's figures at `now`, for every unit or one; each list most urgent first."""
    names = _Names(session)
    units = {
        u.id: UnitStatus(u.id, u.name)
        for u in session.scalars(select(Unit).order_by(Unit.id))
        if unit is None or u.id == unit
    }
    local = now.astimezone(SHANGHAI)
    month = period_of("month", local.date())
    end, weekdays_only = due_soon_end(calendar, now)
    in_units: ColumnElement[bool] = ObligationRecord.unit_id.in_(list(units)) if unit is not None else true()

    running = list(
        session.scalars(
            select(ObligationRecord)
            .where(ObligationRecord.status.in_((*RUNNING, UNKNOWN)), in_units)
            .where(ObligationRecord.status.in_(("overdue", UNKNOWN)) | (ObligationRecord.due_at < end))
            .order_by(ObligationRecord.due_at)
        )
    )
    alerts = {
        (a.rule, a.subject, a.period): a
        for a in session.scalars(
            select(AlertRecord).where(
                AlertRecord.state.in_(OPEN_STATES),
                AlertRecord.unit_id.in_(list(units)) if unit is not None else true(),
            )
        )
    }
    case_rules = {r.id for r in rulebook if r.obligation in ("case_clock", "case_meeting", "case_ladder")}
    names.load([o.subject for o in running if o.rule not in case_rules])

    def title(rule_id: str) -> str:
        return rulebook.rules[rule_id].title.zh if rule_id in rulebook.rules else rule_id

    cases: dict[str, list[tuple[ObligationRecord, AlertRecord | None]]] = defaultdict(list)
    for o in running:
        figure = units.get(o.unit_id or "")
        if figure is None:
            continue
        alert = alerts.get((o.rule, o.subject, o.period))
        if o.rule in case_rules:
            cases[Subject.parse(o.subject).id].append((o, alert))
        else:
            _list_duty(figure, _duty(o, alert, title, names), now, end)
    # every open case, however far its due time (a case's clock is what the page is for)
    for o in session.scalars(
        select(ObligationRecord).where(
            ObligationRecord.status == "pending",
            ObligationRecord.due_at >= end,
            ObligationRecord.rule.in_(sorted(case_rules)),
            in_units,
        )
    ):
        cases[Subject.parse(o.subject).id].append((o, alerts.get((o.rule, o.subject, o.period))))
    _open_cases(session, units, cases, title, names)

    _count_month(session, units, rulebook, month, in_units)

    for figure in units.values():
        figure.overdue.sort(key=lambda d: (-d.level, d.due_at))
    evaluated_at = session.scalar(select(TickRecord.at).where(TickRecord.name == "last"))
    ordered = sorted(
        units.values(),
        key=lambda u: (-len(u.overdue), -sum(c.overdue for c in u.cases), u.unit_id),
    )
    shown = Status(now, evaluated_at, end, DUE_SOON_WORKDAYS, month.label, ordered, weekdays_only)
    shown.silences = _silences(session, now, unit, names, title)
    return shown


def _duty(o: ObligationRecord, alert: AlertRecord | None, title: Callable[[str], str], names: _Names) -> Duty:
    """A running duty as the page shows it, with the state of its open alert if it has one."""
    return Duty(
        rule=o.rule,
        title=title(o.rule),
        subject=names.subject(o.subject),
        period=o.period,
        due_at=o.due_at,
        status=o.status,
        alert=alert.state if alert else None,
        level=alert.level if alert else 0,
        acked=bool(alert and alert.acked_at),
        silenced=bool(alert and alert.silenced_by),
        provisional=o.provisional,
    )


def _list_duty(figure: UnitStatus, duty: Duty, now: datetime, end: datetime) -> None:
    """Under overdue, or under due soon (before `end`); one whose due time is unknown may be soon."""
    if duty.status == "overdue":
        figure.overdue.append(duty)
    elif duty.uncomputable or (not past_due(now, duty.due_at) and duty.due_at < end):
        figure.due_soon.append(duty)


def _count_month(
    session: Session,
    units: dict[str, UnitStatus],
    rulebook: Rulebook,
    month: Period,
    in_units: ColumnElement[bool],
) -> None:
    """The month's counted duties by status, for its on-time rate."""
    start, after = month_bounds(month)
    for unit_id, kind, count in session.execute(
        select(ObligationRecord.unit_id, ObligationRecord.status, func.count())
        .where(
            ObligationRecord.due_at >= start,
            ObligationRecord.due_at < after,
            ObligationRecord.rule.in_(sorted(counted_rules(rulebook))),
            in_units,
        )
        .group_by(ObligationRecord.unit_id, ObligationRecord.status)
    ):
        figure = units.get(unit_id or "")
        if figure is not None:
            figure.duties.add(kind, count)


def _silences(
    session: Session, now: datetime, unit: str | None, names: _Names, title: Callable[[str], str]
) -> list[SilenceLine]:
    """The silences in force at `now` (one unit's page: those that can match its alerts)."""
    stmt = select(Silence).where(Silence.starts_at <= now, Silence.ends_at > now)
    if unit is not None:
        stmt = stmt.where(Silence.unit_id.is_(None) | (Silence.unit_id == unit))
    rows = list(session.scalars(stmt.order_by(Silence.ends_at, Silence.id)))
    names.load([s.subject for s in rows if s.subject and not s.subject.endswith("*")])
    lines = []
    for s in rows:
        parts = [f"事项：{title(s.rule)}"] if s.rule else []
        if s.unit_id:
            parts.append(f"单位：{names.units.get(s.unit_id, s.unit_id)}")
        if s.subject:
            # a prefix names no one thing: shown as typed
            subject = f"{s.subject[:-1]}…（前缀）" if s.subject.endswith("*") else names.subject(s.subject)
            parts.append(f"对象：{subject}")
        lines.append(SilenceLine(s.id, "；".join(parts), s.ends_at, s.daily, s.created_by, s.reason))
    return lines


def _open_cases(
    session: Session,
    units: dict[str, UnitStatus],
    clocks: dict[str, list[tuple[ObligationRecord, AlertRecord | None]]],
    title: Callable[[str], str],
    names: _Names,
) -> None:
    ids = sorted(clocks)
    found: dict[str, Case] = {}
    for part in batches(ids):
        found.update({c.id: c for c in session.scalars(select(Case).where(Case.id.in_(part)))})
    names.enterprises({c.enterprise_id for c in found.values()})
    for case_id, running in clocks.items():
        case = found.get(case_id)
        unit_id = running[0][0].unit_id  # the unit that owes the clock now (a case may be reassigned)
        figure = units.get(unit_id or "")
        if figure is None:
            continue
        figure.cases.append(
            OpenCase(
                case_id=case_id,
                enterprise=names.enterprise(case.enterprise_id) if case else "",
                complexity=case.complexity if case else "",
                received_at=case.received_at if case else min(o.due_at for o, _ in running),
                due_at=min(o.due_at for o, _ in running),
                clocks=tuple(sorted({title(o.rule) for o, _ in running})),
                overdue=any(o.status == "overdue" for o, _ in running),
                level=max((a.level for _, a in running if a is not None), default=0),
                provisional=any(o.provisional for o, _ in running),
                uncomputable=any(o.status == UNKNOWN for o, _ in running),
                silenced=any(a is not None and a.silenced_by for _, a in running),
            )
        )
    for figure in units.values():
        figure.cases.sort(key=lambda c: (not c.overdue, -c.level, c.due_at))
