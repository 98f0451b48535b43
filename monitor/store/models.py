"""Typed SQLAlchemy models of the roster, the events and what is derived from them.

Times are stored in UTC and always come back timezone-aware (`UTCDateTime`). Events are kept
verbatim (`Event`), and the columns evaluation queries set-wise are derived from them at ingest:
`Activity` (one row per official-or-unit x enterprise an event touches), `Case` and
`CaseEvent`, `Review`, `ProjectItem.done_at`. Evaluation always filters by `at <= now`, so the
same tables answer "what was true at instant t" for the backtest.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, UTC stored, aware UTC out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


# --- roster ---------------------------------------------------------------------------------


class Unit(Base):
    __tablename__ = "units"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # department, town, street, park
    head_id: Mapped[str | None] = mapped_column(String(64))
    leader_id: Mapped[str | None] = mapped_column(String(64))  # district leader in charge
    parent_id: Mapped[str | None] = mapped_column(String(64))
    indicator_lead: Mapped[bool] = mapped_column(Boolean, default=False)


class Official(Base):
    __tablename__ = "officials"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    unit_id: Mapped[str | None] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(20))  # district_leader, unit_head, staff, project_manager
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))


class Enterprise(Base):
    __tablename__ = "enterprises"
    id: Mapped[str] = mapped_column(String(18), primary_key=True)  # unified social credit code
    name: Mapped[str] = mapped_column(String(200), index=True)
    town: Mapped[str | None] = mapped_column(String(100))
    above_scale: Mapped[bool] = mapped_column(Boolean, default=False)


class Pairing(Base):
    """An official or a unit paired (挂钩) with an enterprise over [start, end]."""

    __tablename__ = "pairings"
    __table_args__ = (UniqueConstraint("owner", "enterprise_id", "start", name="uq_pairings_owner"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(80))  # "official:<id>" or "unit:<id>"
    official_id: Mapped[str | None] = mapped_column(String(64), index=True)
    unit_id: Mapped[str | None] = mapped_column(String(64), index=True)
    enterprise_id: Mapped[str] = mapped_column(String(18), index=True)
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date | None] = mapped_column(Date)


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    leader_id: Mapped[str | None] = mapped_column(String(64))
    unit_id: Mapped[str | None] = mapped_column(String(64))
    manager_id: Mapped[str | None] = mapped_column(String(64))


class ProjectItem(Base):
    __tablename__ = "project_items"
    project_id: Mapped[str] = mapped_column(String(64), ForeignKey("projects.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    due: Mapped[date] = mapped_column(Date)
    done_at: Mapped[datetime | None]


# --- events and what ingest derives from them --------------------------------------------------


class Event(Base):
    """An accepted event, verbatim. The id is the idempotency key; digest detects conflicts."""

    __tablename__ = "events"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    type: Mapped[str] = mapped_column(String(40), index=True)
    at: Mapped[datetime] = mapped_column(index=True)
    payload: Mapped[dict[str, Any]]
    digest: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]


class Activity(Base):
    """One official-or-unit x enterprise touched by a visit, contact, briefing, matchmaking;
    or one unit's forum, salon, coordination meeting or report."""

    __tablename__ = "activities"
    __table_args__ = (
        Index("ix_activities_type_at", "type", "at"),
        Index("ix_activities_enterprise_type_at", "enterprise_id", "type", "at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # not indexed: nothing reads activities by their event (migration 0005)
    event_id: Mapped[str] = mapped_column(String(128), ForeignKey("events.id"))
    type: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime]
    official_id: Mapped[str | None] = mapped_column(String(64))
    unit_id: Mapped[str | None] = mapped_column(String(64))
    enterprise_id: Mapped[str | None] = mapped_column(String(18))
    talked_with_head: Mapped[bool] = mapped_column(Boolean, default=False)
    report_kind: Mapped[str | None] = mapped_column(String(20))
    report_period: Mapped[str | None] = mapped_column(String(10))


class Case(Base):
    """A problem an enterprise reported (诉求), as its case_opened event described it."""

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_enterprise_category", "enterprise_id", "category"),)
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    enterprise_id: Mapped[str] = mapped_column(String(18))
    unit_id: Mapped[str] = mapped_column(String(64), index=True)  # receiving unit
    channel: Mapped[str] = mapped_column(String(20))
    complexity: Mapped[str] = mapped_column(String(10))
    category: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(index=True)
    own_due_at: Mapped[datetime | None]  # a hotline order's own deadline
    summary: Mapped[str] = mapped_column(Text, default="")
    event_id: Mapped[str] = mapped_column(String(128))


class CaseEvent(Base):
    """Every later event of a case (assigned, feedback, escalated, closed, reopened, agenda)."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case_type_at", "case_id", "type", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(128))  # not indexed, as activities' (migration 0005)
    case_id: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime]
    unit_id: Mapped[str | None] = mapped_column(String(64))
    level: Mapped[int | None] = mapped_column(Integer)
    satisfaction: Mapped[str | None] = mapped_column(String(30))


class Review(Base):
    """A 好差评 review of a unit; a rating of 1 or 2 is a bad review that must be rectified."""

    __tablename__ = "reviews"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    unit_id: Mapped[str] = mapped_column(String(64), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str | None] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(index=True)
    rectified_at: Mapped[datetime | None]
    event_id: Mapped[str] = mapped_column(String(128))


# --- state the daemon keeps ---------------------------------------------------------------------


class ObligationRecord(Base):
    """The last known status of one obligation (rule, subject, period), for reports."""

    __tablename__ = "obligations"
    __table_args__ = (
        Index("ix_obligations_rule_period", "rule", "period"),
        # the steady tick and a full tick's shards read a rule's rows of some enterprises or cases
        Index("ix_obligations_rule_scope", "rule", "in_view", "scope"),
        # time: the duties falling due since the last tick, the met ones leaving the window
        Index("ix_obligations_status_due", "status", "due_at"),
        Index("ix_obligations_met_at", "met_at"),
    )
    rule: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)  # "" for clocks
    unit_id: Mapped[str | None] = mapped_column(String(64), index=True)
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(
        String(20)
    )  # pending, overdue, met_on_time, met_late, missed, waived, uncomputable
    met_at: Mapped[datetime | None]
    # the due time or the days counted rest on a year whose notice is not loaded yet
    provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    changed_at: Mapped[datetime]  # the evaluation instant that last changed the row
    # the enterprise of a pairing or of repeated reports, the case of a case duty, else the rest of
    # the subject (`subjects.scope_id`): what the steady tick and a full tick's shards select by
    scope: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # whether the last committed evaluation holds the duty (met duties leave after a while,
    # periods leave view): the evaluation's baseline lives in these rows, not in memory
    in_view: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


# what an evaluation sets on an obligation row (besides `in_view`), and what a commit compares
OBLIGATION_FIELDS = ("unit_id", "due_at", "status", "met_at", "provisional")

OPEN_STATES = ("warning", "overdue")  # an alert's states before it resolves

# what an evaluation sets on an alert row besides its message (the lifecycle columns are set
# apart); the message goes with its key, when the key differs
ALERT_FIELDS = (
    "state", "level", "unit_id", "due_at", "recipients", "clause", "message_key", "inhibited_by",
    "provisional",
)  # fmt: skip
# what a commit reads of a stored alert row: its id, its key and those fields
ALERT_COLUMNS = ("id", "rule", "subject", "period", *ALERT_FIELDS)


class AlertRecord(Base):
    """An alert keyed by (rule, subject, period): fires once, escalates, resolves."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("rule", "subject", "period", name="uq_alerts_key"),
        # the open ones are read every tick; resolved ones pile up over the years
        Index("ix_alerts_state", "state"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(10))  # "" for clocks
    unit_id: Mapped[str | None] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(20))  # warning, overdue, resolved
    level: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime]
    recipients: Mapped[list[Any]]
    clause: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    # what the message is made of (`Rulebook.message_key`): a tick renders a message again only
    # when it changes; None for a row written before keys were kept (its message is written anew)
    message_key: Mapped[str | None] = mapped_column(String(32))
    fired_at: Mapped[datetime]
    changed_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    acked_by: Mapped[str | None] = mapped_column(String(100))
    acked_at: Mapped[datetime | None]
    ack_reason: Mapped[str | None] = mapped_column(Text)
    # set while another alert inhibits this one: visible, but not notified
    inhibited_by: Mapped[str | None] = mapped_column(String(64))
    notified_at: Mapped[datetime | None]  # when its recipients were last told (for re-notifying)
    # the silence muting it, if any; indexed: each tick asks whether any alert is still marked
    silenced_by: Mapped[int | None] = mapped_column(Integer, index=True)
    provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AuditEntry(Base):
    """Who did what, when, from where: acknowledgements, silences, waivers, reloads, roster
    changes, outbox retries. Written in the transaction of the change it records."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))  # token name, cli:<user>, or signal
    action: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict[str, Any]]
    source: Mapped[str] = mapped_column(String(100))  # client address, cli, or signal


class TickRecord(Base):
    """The last tick of the leader: what the status page and the replicas say "as of"."""

    __tablename__ = "ticks"
    name: Mapped[str] = mapped_column(String(20), primary_key=True)  # "last"
    at: Mapped[datetime]  # the instant evaluated
    seconds: Mapped[float]
    alerts: Mapped[int] = mapped_column(Integer)
    transitions: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str] = mapped_column(String(80))


class ChangeRecord(Base):
    """What one write changed, for the next steady-state tick (monitor/evaluation/steady.py): written in the
    transaction of the write, deleted by the tick that evaluated it."""

    __tablename__ = "changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]  # the latest event time in it: a future-dated event waits for its time
    types: Mapped[list[Any]]  # event types
    enterprises: Mapped[list[Any]]  # enterprises whose pairing duties or repeated reports it touches
    cases: Mapped[list[Any]]  # cases whose clocks it touches
    everything: Mapped[bool] = mapped_column(Boolean, default=False)  # roster, waivers: evaluate all


class ApiToken(Base):
    """A bearer token of the HTTP API, kept only as its SHA-256 hash."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(100))  # comma-separated: ingest, read, admin
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Notification(Base):
    """One message to one recipient on one channel: a row before anything is sent (the outbox)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # idempotency key (Message-ID, OutId)
    alert_id: Mapped[int | None] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(20))  # fired, escalated, reminder, resolved
    channel: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(80))  # official id, or unit:<id>
    subject: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(
        String(12)
    )  # held (for a digest), digested, withdrawn (its alert acknowledged or resolved while held), queued, sending, sent, dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    sent_at: Mapped[datetime | None]
    provider_id: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    # a held row gathered into a daily digest: that digest's row (its action link lists them)
    digest_id: Mapped[int | None] = mapped_column(Integer, index=True)


class Silence(Base):
    """Mutes the notifications of matching alerts for a while (they stay visible, marked so).

    A matcher left empty matches everything; `subject` may end in `*` to match a prefix.
    `daily` ("HH:MM-HH:MM", Asia/Shanghai) makes it recur each day inside [starts_at, ends_at).
    """

    __tablename__ = "silences"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule: Mapped[str | None] = mapped_column(String(64))
    unit_id: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    daily: Mapped[str | None] = mapped_column(String(11))
    created_by: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class Waiver(Base):
    """An obligation waived (enterprise closed or moved, pairing ended early, force majeure):
    it neither alerts nor counts as missed, and the report lists it."""

    __tablename__ = "waivers"
    __table_args__ = (UniqueConstraint("rule", "subject", "period", name="uq_waivers_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(10))  # "" for clocks
    reason: Mapped[str] = mapped_column(Text)
    approver: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class LinkGeneration(Base):
    """An official's generation of action links: every link signs it, so bumping it revokes
    all the links the official was ever sent (monitor/alerts/links.py)."""

    __tablename__ = "link_generations"
    official_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(100))


class LinkSecret(Base):
    """The key action links are signed with, made at first start when none is configured."""

    __tablename__ = "link_secrets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1: one key a district
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
