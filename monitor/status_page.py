"""What the status page shows, per unit: what is overdue, what is due this week, the open cases
with their clocks and escalation levels, and this month's on-time rate.

It reads what the last tick recorded (the obligations and alerts tables), never evaluates, so
the page costs a few indexed queries whatever the district's size; `now` is passed in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from monitor.clock import SHANGHAI, due_passed_before, local_date, past_due, start_of_day
from monitor.rulebook import Rulebook
from monitor.store.models import (
    OPEN_STATES,
    AlertRecord,
    Case,
    Enterprise,
    ObligationRecord,
    Official,
    Project,
    TickRecord,
    Unit,
)

RUNNING = ("pending", "overdue")
UNKNOWN = "uncomputable"  # a running duty whose due time rests on a year no calendar covers
DECIDED = ("met_on_time", "met_late", "overdue", "missed")
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


@dataclass
class UnitStatus:
    unit_id: str
    name: str
    overdue: list[Duty] = field(default_factory=list)
    due_this_week: list[Duty] = field(default_factory=list)
    cases: list[OpenCase] = field(default_factory=list)
    on_time: int = 0
    decided: int = 0  # this month's duties and clocks whose due time has passed, or that were met

    @property
    def rate(self) -> float | None:
        return self.on_time / self.decided if self.decided else None


@dataclass
class Status:
    now: datetime
    evaluated_at: datetime | None  # the instant the last committed evaluation looked at
    week_end: datetime
    month: str
    units: list[UnitStatus]

    @property
    def totals(self) -> dict[str, int]:
        return {
            "overdue": sum(len(u.overdue) for u in self.units),
            "due_this_week": sum(len(u.due_this_week) for u in self.units),
            "cases": sum(len(u.cases) for u in self.units),
        }


def week_end(now: datetime) -> datetime:
    """The end of the current week (the next Monday 00:00, Asia/Shanghai)."""
    today = local_date(now)
    return start_of_day(today + timedelta(days=7 - today.weekday()))


class _Names:
    """Subjects in people's words, from the roster (loaded once per page)."""

    def __init__(self, session: Session) -> None:
        self.units = dict(session.execute(select(Unit.id, Unit.name)).all())
        self.officials = dict(session.execute(select(Official.id, Official.name)).all())
        self.projects = dict(session.execute(select(Project.id, Project.name)).all())
        self._enterprises: dict[str, str] = {}
        self._session = session

    def enterprises(self, ids: set[str]) -> None:
        wanted = sorted(ids - self._enterprises.keys())
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            rows = self._session.execute(
                select(Enterprise.id, Enterprise.name).where(Enterprise.id.in_(chunk))
            )
            self._enterprises.update({code: name for code, name in rows})

    def enterprise(self, credit_code: str) -> str:
        return self._enterprises.get(credit_code, credit_code)

    def owner(self, owner_id: str) -> str:
        return self.officials.get(owner_id) or self.units.get(owner_id) or owner_id

    def subject(self, subject: str) -> str:
        kind, _, rest = subject.partition(":")
        if kind == "pairing":
            owner, _, enterprise = rest.rpartition(":")
            return f"{self.owner(owner)} → {self.enterprise(enterprise)}"
        if kind == "unit":
            return self.units.get(rest, rest)
        if kind == "project":
            project, _, item = rest.partition(":")
            return f"{self.projects.get(project, project)} · {item}"
        if kind == "case":
            return f"诉求 {rest}"
        return subject


def _enterprise_ids(subjects: list[str]) -> set[str]:
    return {s.rpartition(":")[2] for s in subjects if s.startswith("pairing:")}


def status(
    session: Session,
    rulebook: Rulebook,
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
    month_start = start_of_day(local.date().replace(day=1))
    end = week_end(now)
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
    names.enterprises(_enterprise_ids([o.subject for o in running]))

    def title(rule_id: str) -> str:
        return rulebook.rules[rule_id].title.zh if rule_id in rulebook.rules else rule_id

    cases: dict[str, list[tuple[ObligationRecord, AlertRecord | None]]] = defaultdict(list)
    for o in running:
        figure = units.get(o.unit_id or "")
        if figure is None:
            continue
        alert = alerts.get((o.rule, o.subject, o.period))
        if o.rule in case_rules:
            cases[o.subject.partition(":")[2]].append((o, alert))
            continue
        duty = Duty(
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
        if o.status == "overdue":
            figure.overdue.append(duty)
        elif o.status == UNKNOWN or (not past_due(now, o.due_at) and o.due_at < end):  # unknown: may be soon
            figure.due_this_week.append(duty)
    # every open case, however far its due time (a case's clock is what the page is for)
    for o in session.scalars(
        select(ObligationRecord).where(
            ObligationRecord.status == "pending",
            ObligationRecord.due_at >= end,
            ObligationRecord.rule.in_(sorted(case_rules)),
            in_units,
        )
    ):
        cases[o.subject.partition(":")[2]].append((o, alerts.get((o.rule, o.subject, o.period))))
    _open_cases(session, units, cases, title, names)

    for unit_id, kind, count in session.execute(
        select(ObligationRecord.unit_id, ObligationRecord.status, func.count())
        .where(
            ObligationRecord.due_at >= month_start,
            ObligationRecord.status.in_(DECIDED),
            (ObligationRecord.due_at < due_passed_before(now))
            | ObligationRecord.status.in_(("met_on_time", "met_late")),
            in_units,
        )
        .group_by(ObligationRecord.unit_id, ObligationRecord.status)
    ):
        figure = units.get(unit_id or "")
        if figure is None:
            continue
        figure.decided += count
        if kind == "met_on_time":
            figure.on_time += count

    for figure in units.values():
        figure.overdue.sort(key=lambda d: (-d.level, d.due_at))
    evaluated_at = session.scalar(select(TickRecord.at).where(TickRecord.name == "last"))
    ordered = sorted(
        units.values(),
        key=lambda u: (-len(u.overdue), -sum(c.overdue for c in u.cases), u.unit_id),
    )
    return Status(now, evaluated_at, end, f"{local.year}-{local.month:02d}", ordered)


def _open_cases(
    session: Session,
    units: dict[str, UnitStatus],
    clocks: dict[str, list[tuple[ObligationRecord, AlertRecord | None]]],
    title: Callable[[str], str],
    names: _Names,
) -> None:
    ids = sorted(clocks)
    found: dict[str, Case] = {}
    for i in range(0, len(ids), 500):
        found.update({c.id: c for c in session.scalars(select(Case).where(Case.id.in_(ids[i : i + 500])))})
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
            )
        )
    for figure in units.values():
        figure.cases.sort(key=lambda c: (not c.overdue, -c.level, c.due_at))
