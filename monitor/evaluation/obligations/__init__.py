"""Obligations: what SQL and the calendar derive, set-wise, about each duty at an instant.

Each module computes the obligations of one kind of rule (`Rule.obligation`) with a few
set-wise queries, never one query per pairing or case, and every query filters on `at <= now`
so that the same code answers for any instant (the daemon's tick, `evaluate --at`, backtests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from sqlalchemy import SQLColumnExpression
from sqlalchemy.sql.elements import ColumnElement

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from monitor.config import CaseSettings
    from monitor.evaluation.obligations.timing import Timing
    from monitor.evaluation.obligations.unchanged import Unchanged
    from monitor.roster import RosterIndex

# `uncomputable`: the due time rests on a year no calendar covers (strict mode): that duty alone
# is set aside, visible as such, and its alert is neither raised nor resolved
Status = Literal["pending", "overdue", "met_on_time", "met_late", "missed", "waived", "uncomputable"]
STATUSES: tuple[str, ...] = Status.__args__  # type: ignore[attr-defined]


@dataclass(slots=True)  # a province holds a million of them
class Obligation:
    """One duty (rule, subject, period): who owes it, when it is due, whether and when it was met."""

    rule: str
    subject: str
    period: str | None
    owner: str  # "official:<id>" or "unit:<id>": who owes the duty
    unit_id: str | None  # the unit answerable for it (labels, filters, reports)
    due_at: datetime
    met_at: datetime | None = None
    escalated_level: int = 0  # the level a case_escalated event already reached (0: none)
    project_id: str | None = None
    variables: dict[str, object] = field(default_factory=dict)  # what the rule's message template is given
    status: Status = "pending"
    working_days_to_due: int = 0
    working_days_overdue: int = 0
    # the due time or the working days counted rest on a day of an unannounced year
    provisional: bool = False
    # the year whose missing calendar left the due time unknown (due_at is then a lower bound)
    calendar_gap: int | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.rule, self.subject, self.period or "")


@dataclass(frozen=True, slots=True)
class Range:
    """Every id from `lo` (inclusive) to `hi` (exclusive) in the database's own order; None
    leaves that side open. A full tick evaluates a province a range of enterprises or cases at a
    time (monitor/evaluation/shards.py); the ranges come from the database, so they partition
    the ids under its collation whatever Python's order would be."""

    lo: str | None = None
    hi: str | None = None


# the subjects an obligation query is held to: these ids, a range of them, or (None) all
Scope = frozenset[str] | Range | None
IdColumn = SQLColumnExpression[str] | SQLColumnExpression[str | None]  # a subject's id, here or joined


def within(column: IdColumn, scope: Scope) -> list[ColumnElement[bool]]:
    """The conditions holding `column` to the scope (none for every subject)."""
    if scope is None:
        return []
    if isinstance(scope, Range):
        bounds = []
        if scope.lo is not None:
            bounds.append(column >= scope.lo)
        if scope.hi is not None:
            bounds.append(column < scope.hi)
        return bounds
    return [column.in_(sorted(scope))]


def joined_within(column: IdColumn, scope: Scope) -> list[ColumnElement[bool]]:
    """A range scope's bounds again on the joined table's copy of the subject id (none for a set
    of ids or every subject). Neither PostgreSQL nor SQLite carries a range across a join's
    equality: a full tick's part would read the joined table whole (every case event for each of
    a province's 40 parts of cases), where its bounds let the join's own index read the part."""
    return within(column, scope) if isinstance(scope, Range) else []


@dataclass(frozen=True)
class View:
    """Everything an obligation query needs: the store, the instant, the calendar, the roster."""

    session: Session
    now: datetime
    timing: Timing
    roster: RosterIndex
    cases: CaseSettings
    # A steady-state tick (monitor/evaluation/steady.py) re-derives only the subjects new events touched:
    # pairing duties of these enterprises, case duties of these cases, repeated reports of these
    # enterprises; a full tick goes a range of them at a time. None means every subject.
    enterprises: Scope = None
    case_ids: Scope = None
    # The monthly report's view (monitor/reports/monthly.py): every duty due at or after this instant stays
    # in view, however long ago it was met or expired, so that a month's figures count each duty
    # due in it. Honoured by the obligation kinds the report counts as duties: periodic ones, project
    # items and repeated reports. None: the tick's view (met duties leave it after RECENT).
    due_from: datetime | None = None
    # The end of the report's month: periods due from then on are left out (`periods_in_view`), as
    # the report drops every duty due then. None: no end (the tick's view).
    due_before: datetime | None = None
    # The report's view of the case clocks: a case received before this instant, with no own due
    # time at or after due_from, falls due before due_from (`clocks_received_from`) and is not read.
    # None reads every case the view keeps (the tick's view).
    received_from: datetime | None = None
    # A tick's part: the quiet duties whose stored row says the same are kept as stored, not built
    # (monitor/evaluation/obligations/unchanged.py). None builds every duty.
    unchanged: Unchanged | None = None
    # what one obligation kind's rules share within this view (the case clocks' one query for all three
    # rules); a view made with `replace` starts with its own
    memo: dict[object, object] = field(default_factory=dict, init=False, repr=False, compare=False)
