"""The alert lifecycle in SQL: keyed by (rule, subject, period), an alert fires once, climbs,
and resolves when its duty is met or its period expires.

`transitions` is the pure part (previous states + an evaluation -> what changed), shared by
`--commit`, the daemon's tick and the backtest, which keeps its previous states in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from monitor.clock import iso_shanghai
from monitor.evaluation.evaluate import Alert, Evaluation
from monitor.evaluation.obligations import Obligation
from monitor.evaluation.steady import stored_rules
from monitor.store.batches import among, by_columns
from monitor.store.models import (
    ALERT_COLUMNS,
    ALERT_FIELDS,
    OBLIGATION_FIELDS,
    OPEN_STATES,
    AlertRecord,
    ObligationRecord,
    TickRecord,
)
from monitor.subjects import scope_id

# `rescheduled`: an open alert's due time moved (a year's official calendar replacing the
# provisional one, a meeting set for a case): recorded and shown, never notified again
Change = Literal["fired", "escalated", "resolved", "rescheduled"]
Key = tuple[str, str, str]


@dataclass(frozen=True)
class AlertStatus:
    state: str  # warning or overdue
    level: int
    due_at: datetime | None = None  # None: not known, no reschedule is told


@dataclass(frozen=True)
class Transition:
    at: datetime
    rule: str
    subject: str
    period: str | None
    change: Change
    state: str
    level: int
    due_at: datetime | None = None
    previous_due_at: datetime | None = None  # the due time before, when it moved

    def record(self) -> dict[str, Any]:
        """The JSON line `dutywatch backtest --format json` prints (`previous_due` when it moved)."""
        out = {
            "at": iso_shanghai(self.at),
            "rule": self.rule,
            "subject": self.subject,
            "period": self.period,
            "transition": self.change,
            "state": self.state,
            "level": self.level,
            "due": iso_shanghai(self.due_at) if self.due_at else None,
        }
        if self.previous_due_at is not None and self.previous_due_at != self.due_at:
            out["previous_due"] = iso_shanghai(self.previous_due_at)
        return out


def transitions(
    previous: Mapping[Key, AlertStatus], evaluation: Evaluation, current: Mapping[Key, Alert] | None = None
) -> list[Transition]:
    """What changed between the open alerts before and the alerts of this evaluation (or
    `current`, its alerts of the keys `previous` was read for).

    New alerts fire; a higher level or a warning turning overdue escalates; an open alert whose
    due time moved is rescheduled; an open alert no longer called for resolves, except for rules
    the evaluation could not see whole and duties whose due time it cannot tell (`held`).
    """
    out: list[Transition] = []
    if current is None:
        current = {a.key: a for a in [*evaluation.alerts, *evaluation.inhibited]}
    for key, alert in current.items():
        before = previous.get(key)
        if before is None:
            change: Change | None = "fired"
        elif alert.level > before.level or (before.state == "warning" and alert.state == "overdue"):
            change = "escalated"
        elif before.due_at is not None and before.due_at != alert.due_at:
            change = "rescheduled"
        else:
            change = None
        if change is not None:
            out.append(
                Transition(
                    evaluation.at,
                    alert.rule,
                    alert.subject,
                    alert.period,
                    change,
                    alert.state,
                    alert.level,
                    alert.due_at,
                    before.due_at if before is not None else None,
                )
            )
    held = evaluation.held
    for key, before in previous.items():
        if key not in current and key[0] not in evaluation.incomplete_rules and key not in held:
            out.append(
                Transition(
                    evaluation.at,
                    key[0],
                    key[1],
                    key[2] or None,
                    "resolved",
                    before.state,
                    before.level,
                    before.due_at,
                )
            )
    out.sort(
        key=lambda t: (t.rule, t.subject, t.period or "", t.change)
    )  # a stable order to read and compare
    return out


def open_alerts(session: Session) -> dict[Key, AlertStatus]:
    rows = session.execute(
        select(
            AlertRecord.rule,
            AlertRecord.subject,
            AlertRecord.period,
            AlertRecord.state,
            AlertRecord.level,
            AlertRecord.due_at,
        ).where(AlertRecord.state.in_(OPEN_STATES))
    )
    return {(r, s, p): AlertStatus(st, lv, due) for r, s, p, st, lv, due in rows}


# at most this many periods go into a read of alert rows by key as a list of their own (a full
# tick's part asks for the few in view; a steady tick's repeated reports can name more)
FEW_PERIODS = 50

# what a commit compares first, read alike from a stored row and from the evaluation's object (an
# Alert's recipients are a tuple, the row's a list: compared apart). The message is compared by
# its key: equal keys, equal messages, and a derived alert's message is rendered only to be written
_SAME_ALERT = attrgetter(*(name for name in ALERT_FIELDS if name != "recipients"))
_SAME_OBLIGATION = attrgetter(*OBLIGATION_FIELDS)


@dataclass
class Plan:
    """What committing an evaluation writes, worked out by reads alone (`plan_commit`).

    `alerts` holds each alert key's one write (an insert, or an update by id); `obligations`
    the rows to insert and to update. The daemon's tick writes a plan in short transactions
    (monitor/runtime/service.py), each alert chunk with the notifications of its transitions."""

    evaluation: Evaluation
    changes: list[Transition]
    alerts: dict[Key, tuple[Literal["insert", "update"], dict[str, Any]]]
    obligation_inserts: list[dict[str, Any]]
    obligation_updates: list[dict[str, Any]]


def commit_evaluation(session: Session, evaluation: Evaluation, worker: str = "") -> list[Transition]:
    """Record the evaluation's alerts and obligation statuses; returns the transitions.

    Idempotent: committing the same evaluation twice changes nothing the second time. It reads
    the stored rows as plain columns and writes only what differs, in bulk: in a steady state a
    tick of a city's fifty thousand open alerts writes a handful of rows.
    """
    plan = plan_commit(session, evaluation)
    write_alerts(session, list(plan.alerts.values()))
    write_obligations(session, plan.obligation_inserts, plan.obligation_updates)
    record_tick(session, evaluation.at, evaluation.seconds, len(evaluation.alerts), len(plan.changes), worker)
    return plan.changes


def plan_commit(session: Session, evaluation: Evaluation) -> Plan:
    """The writes `commit_evaluation` makes, found by reads only (no lock taken on SQLite)."""
    now = evaluation.at
    current, stored = _current_and_stored(session, evaluation)
    previous = {
        k: AlertStatus(r.state, r.level, r.due_at) for k, r in stored.items() if r.state in OPEN_STATES
    }
    changes = transitions(previous, evaluation, current)
    writes: dict[Key, tuple[Literal["insert", "update"], dict[str, Any]]] = {}
    for key, alert in current.items():
        write = _alert_write(key, alert, stored.get(key), now)
        if write is not None:
            writes[key] = write
    for change in changes:
        key = (change.rule, change.subject, change.period or "")
        row = stored.get(key)
        if change.change == "resolved" and row is not None:
            writes[key] = (
                "update",
                {"id": row.id, "state": "resolved", "resolved_at": now, "changed_at": now},
            )
    inserts, updates = _plan_obligations(session, evaluation)
    return Plan(evaluation, changes, writes, inserts, updates)


def _current_and_stored(session: Session, evaluation: Evaluation) -> tuple[dict[Key, Alert], dict[Key, Any]]:
    """The alerts the evaluation derived that may differ from what is stored, and the stored rows
    (as plain columns) they are compared with, by key."""
    columns = [getattr(AlertRecord, name) for name in ALERT_COLUMNS]
    if (continued := evaluation.continued) is None:
        current = {a.key: a for a in [*evaluation.alerts, *evaluation.inhibited]}
        stored = {
            (r.rule, r.subject, r.period): r
            for r in session.execute(select(*columns).where(AlertRecord.state.in_(OPEN_STATES)))
        }
        # rows of alerts firing again after they resolved: found by key, few at a time
        _read_keys(session, columns, [k for k in current if k not in stored], stored)
        return current, stored
    # a continued evaluation: only the keys it re-derived can differ from what is stored. The open
    # alerts of the stored duties' keys came with them (`Baseline.derive`); what is left to read
    # by key is the rows of alerts firing anew or again, and the open ones of keys no stored
    # duty holds (a strays evaluation's, a new duty's)
    by_key = continued.alerts_by_key
    current = {k: by_key[k] for k in continued.delta if k in by_key}
    # (read by a statement of its own: an alert of a key whose row came since is not the part's)
    stored = {k: row for k, row in continued.stored_alerts.items() if k in continued.delta}
    rows = continued.stored_obligations
    unread = {k for k in current if k not in stored}
    unread.update(k for k in continued.delta if k not in rows and k not in stored)
    _read_keys(session, columns, sorted(unread), stored)
    return current, stored


def _alert_write(
    key: Key, alert: Alert, row: Any, now: datetime
) -> tuple[Literal["insert", "update"], dict[str, Any]] | None:
    """The insert of a new alert, the update of what differs in a stored one, or None."""
    if (
        row is not None
        # an Alert's state is never "resolved": equal states mean the stored one is not firing again
        and _SAME_ALERT(row) == _SAME_ALERT(alert)
        and row.recipients == list(alert.recipients)
    ):
        return None  # most of a full tick's alerts: no dict built to find that nothing differs
    values: dict[str, Any] = {
        "state": alert.state,
        "level": alert.level,
        "unit_id": alert.unit_id,
        "due_at": alert.due_at,
        "recipients": list(alert.recipients),
        "clause": alert.clause,
        "message_key": alert.message_key,
        "inhibited_by": alert.inhibited_by,
        "provisional": alert.provisional,
    }
    if row is None:
        return (
            "insert",
            {
                "rule": key[0],
                "subject": key[1],
                "period": key[2],
                "fired_at": now,
                "changed_at": now,
                "message": alert.message,
                **values,
            },
        )
    changed = {name: value for name, value in values.items() if getattr(row, name) != value}
    if "message_key" in changed:
        changed["message"] = alert.message
    if row.state == "resolved":  # fires again: a new life, unacknowledged
        changed.update(fired_at=now, resolved_at=None, acked_at=None, acked_by=None, ack_reason=None)
    if "state" in changed or "level" in changed:
        changed["changed_at"] = now
    return ("update", {"id": row.id, **changed}) if changed else None


def write_alerts(session: Session, writes: list[tuple[Literal["insert", "update"], dict[str, Any]]]) -> None:
    """Insert and update alert rows as planned."""
    inserts = [values for how, values in writes if how == "insert"]
    if inserts:
        session.execute(insert(AlertRecord), inserts)
    _bulk_update(session, AlertRecord, [values for how, values in writes if how == "update"])
    _expire(session)


def write_obligations(session: Session, inserts: list[dict[str, Any]], updates: list[dict[str, Any]]) -> None:
    if inserts:
        session.execute(insert(ObligationRecord), inserts)
    for batch in by_columns(updates):  # changed duties, and duties leaving view (in_view only)
        session.execute(update(ObligationRecord), batch)
    _expire(session)


def _expire(session: Session) -> None:
    # the bulk statements went around the identity map: what the session holds is stale
    for held in list(session.identity_map.values()):
        if isinstance(held, (AlertRecord, ObligationRecord)):
            session.expire(held)


def _read_keys(session: Session, columns: list[Any], keys: list[Key], into: dict[Key, Any]) -> None:
    """The stored alert rows of these keys (any state), as plain columns, by key."""
    for r in alert_rows(session, columns, keys):
        into.setdefault((r.rule, r.subject, r.period), r)


def alert_rows(session: Session, columns: list[Any], keys: Iterable[Key]) -> Iterator[Any]:
    """The stored alert rows of these keys (any state), with `columns` (rule, subject and period
    among them): by rule and a statement's worth of subjects at a time, held to the keys' periods
    when they are few. A periodic duty's subject keeps a row for every period it ever fired in
    (a year-old pairing, two dozen resolved ones); a full tick, or a month's turn, asks for the
    periods in view."""
    wanted = set(keys)
    for rule in sorted({k[0] for k in wanted}):
        subjects = sorted({k[1] for k in wanted if k[0] == rule})
        periods = sorted({k[2] for k in wanted if k[0] == rule})
        held = [AlertRecord.rule == rule]
        if len(periods) <= FEW_PERIODS:
            held.append(AlertRecord.period.in_(periods))
        for among_them in among(session, AlertRecord.subject, subjects):
            for r in session.execute(select(*columns).where(*held, among_them)):
                if (r.rule, r.subject, r.period) in wanted:
                    yield r


def last_tick(session: Session) -> tuple[object, ...] | None:
    """The last tick's record as (at, worker, seconds, transitions), or None before the first."""
    row = session.execute(
        select(TickRecord.at, TickRecord.worker, TickRecord.seconds, TickRecord.transitions).where(
            TickRecord.name == "last"
        )
    ).first()
    return tuple(row) if row is not None else None


def record_tick(
    session: Session, at: datetime, seconds: float, alerts: int, transitions: int, worker: str
) -> None:
    """The last tick's record: when, how long it evaluated, how many alerts fire, how many
    transitions it made, and who (the steady tick continues only its own)."""
    values = {
        "at": at,
        "seconds": seconds,
        "alerts": alerts,
        "transitions": transitions,
        "worker": worker[:80],
    }
    if session.execute(update(TickRecord).where(TickRecord.name == "last").values(**values)).rowcount == 0:  # type: ignore[attr-defined]
        session.execute(insert(TickRecord).values(name="last", **values))


def _bulk_update(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    """UPDATE by primary key, one executemany per set of columns changed."""
    for batch in by_columns(rows):
        session.execute(update(model), batch)


def _plan_obligations(
    session: Session, evaluation: Evaluation
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each obligation's last known status: new ones to insert, changed ones to update (with the
    instant of the evaluation that changed them), the rest left alone; and the rows the
    evaluation no longer holds marked out of view (`in_view`: the baseline the steady tick reads,
    monitor/evaluation/steady.py). Rules the evaluation could not see whole keep their marks."""
    now = evaluation.at
    if (continued := evaluation.continued) is not None:
        index = continued.obligations_by_key
        wanted = {k: index[k] for k in continued.delta if k in index}
        gone = [k for k in continued.delta if k not in index and k not in continued.kept]
    else:
        wanted = {o.key: o for o in evaluation.obligations}
        gone = [k for k in _in_view(session) if k not in wanted]
    known = dict(continued.stored_obligations) if continued is not None else {}
    existing = _existing(
        session, {k: o for k, o in wanted.items() if k not in known}, evaluation.delta is None
    )
    existing.update(_existing(session, {k: None for k in gone if k not in known}, False))
    existing.update(known)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for key, obligation in wanted.items():
        row = existing.get(key)
        if row is not None and row.in_view and _SAME_OBLIGATION(row) == _SAME_OBLIGATION(obligation):
            continue  # unchanged, as most duties of a full tick are
        values = {**{name: getattr(obligation, name) for name in OBLIGATION_FIELDS}, "in_view": True}
        if row is None:
            inserts.append({**_pk(key), "changed_at": now, "scope": scope_id(key[1]), **values})
        else:  # something differs, or the row comes back into view
            updates.append({**_pk(key), "changed_at": now, **values})
    incomplete = evaluation.incomplete_rules
    for key in gone:
        row = existing.get(key)
        if row is not None and row.in_view and key[0] not in incomplete:
            updates.append({**_pk(key), "changed_at": now, "in_view": False})
    return inserts, updates


def _pk(key: Key) -> dict[str, str]:
    return {"rule": key[0], "subject": key[1], "period": key[2]}


def _in_view(session: Session) -> list[Key]:
    """The keys of every row the last committed evaluation held (a full commit's comparison),
    rule by rule (the index leads with the rule)."""
    keys: list[Key] = []
    for rule in stored_rules(session):
        query = select(ObligationRecord.subject, ObligationRecord.period).where(
            ObligationRecord.rule == rule, ObligationRecord.in_view.is_(True)
        )
        keys += [(rule, s, p) for s, p in session.execute(query)]
    return keys


def _existing(session: Session, wanted: Mapping[Key, object], whole_periods: bool) -> dict[Key, Any]:
    """The stored rows of these keys (plain columns), by rule; with `whole_periods`, a periodic
    rule's rows are read by its periods (the index leads with them)."""
    columns = [ObligationRecord.rule, ObligationRecord.subject, ObligationRecord.period]
    columns += [getattr(ObligationRecord, name) for name in (*OBLIGATION_FIELDS, "in_view")]
    existing: dict[Key, Any] = {}
    for rule in sorted({k[0] for k in wanted}):
        periods = sorted({k[2] for k in wanted if k[0] == rule})
        if "" not in periods and whole_periods:
            query = select(*columns).where(
                ObligationRecord.rule == rule, ObligationRecord.period.in_(periods)
            )
            existing.update({(r.rule, r.subject, r.period): r for r in session.execute(query)})
            continue
        subjects = sorted({k[1] for k in wanted if k[0] == rule})
        for among_them in among(session, ObligationRecord.subject, subjects):
            query = select(*columns).where(ObligationRecord.rule == rule, among_them)
            existing.update({(r.rule, r.subject, r.period): r for r in session.execute(query)})
    return existing


def record_missing_obligations(session: Session, obligations: list[Obligation], now: datetime) -> int:
    """Insert a row for each obligation whose key has none yet (`missing_obligations`)."""
    rows = missing_obligations(session, obligations, now)
    if rows:
        session.execute(insert(ObligationRecord), rows)
    return len(rows)


def missing_obligations(
    session: Session, obligations: list[Obligation], now: datetime
) -> list[dict[str, Any]]:
    """The rows to insert for the obligations whose key has none yet; rows there are left alone
    (`month_record` with `amend` also brings the rows out of view up to date)."""
    return month_record(session, obligations, now)[0]


def month_record(
    session: Session, obligations: list[Obligation], now: datetime, *, amend: bool = False
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows to insert for the obligations whose key has none yet, and with `amend`, the
    updates of the rows out of the tick's view that say otherwise now.

    The tick's view holds a met duty for RECENT days only: a daemon started after a duty of
    this month was met (a matchmaking done in April, due by December) would never record it,
    and its page would count less than the report. The service records the month's duties
    once per month and process with this. A row out of view is never re-derived by a tick: a
    notice entered since it was recorded moves its due time (a duty met on a make-up Saturday is
    on time after all), so the record amends what differs; rows in view are the tick's.
    """
    wanted = {o.key: o for o in obligations}
    existing: dict[Key, Any] = {}
    columns = [
        ObligationRecord.rule,
        ObligationRecord.subject,
        ObligationRecord.period,
        ObligationRecord.in_view,
    ]
    if amend:
        columns += [getattr(ObligationRecord, name) for name in OBLIGATION_FIELDS]
    for rule in sorted({k[0] for k in wanted}):
        keys = [k for k in wanted if k[0] == rule]
        # the month's periods only: a subject keeps a row for every period it was ever evaluated in
        periods = sorted({k[2] for k in keys})
        for among_them in among(session, ObligationRecord.subject, sorted({k[1] for k in keys})):
            query = select(*columns).where(
                ObligationRecord.rule == rule, among_them, ObligationRecord.period.in_(periods)
            )
            existing.update(((r.rule, r.subject, r.period), r) for r in session.execute(query))
    inserts = [
        {
            **_pk(key),
            "changed_at": now,
            "scope": scope_id(key[1]),
            "in_view": False,  # recorded for the month's figures, not held by the tick's view
            **{name: getattr(o, name) for name in OBLIGATION_FIELDS},
        }
        for key, o in wanted.items()
        if key not in existing
    ]
    updates = [
        {**_pk(key), "changed_at": now, **{name: getattr(o, name) for name in OBLIGATION_FIELDS}}
        for key, o in wanted.items()
        if amend
        and (row := existing.get(key)) is not None
        and not row.in_view
        and _SAME_OBLIGATION(row) != _SAME_OBLIGATION(o)
    ]
    return inserts, updates
