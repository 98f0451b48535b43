"""The alert lifecycle in SQL: keyed by (rule, subject, period), an alert fires once, climbs,
and resolves when its duty is met or its period expires.

`transitions` is the pure part (previous states + an evaluation -> what changed), shared by
`--commit`, the daemon's tick and the backtest, which keeps its previous states in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.evaluation import Alert, Evaluation
from monitor.store.models import AlertRecord, ObligationRecord

Change = Literal["fired", "escalated", "resolved"]
Key = tuple[str, str, str]


@dataclass(frozen=True)
class AlertStatus:
    state: str  # warning or overdue
    level: int


@dataclass(frozen=True)
class Transition:
    at: datetime
    rule: str
    subject: str
    period: str | None
    change: Change
    state: str
    level: int


def transitions(previous: Mapping[Key, AlertStatus], evaluation: Evaluation) -> list[Transition]:
    """What changed between the open alerts before and the alerts of this evaluation.

    New alerts fire; a higher level or a warning turning overdue escalates; an open alert no
    longer called for resolves, except for rules the evaluation could not see whole.
    """
    out: list[Transition] = []
    current: dict[Key, Alert] = {a.key: a for a in [*evaluation.alerts, *evaluation.inhibited]}
    for key, alert in current.items():
        before = previous.get(key)
        if before is None:
            change: Change | None = "fired"
        elif alert.level > before.level or (before.state == "warning" and alert.state == "overdue"):
            change = "escalated"
        else:
            change = None
        if change is not None:
            out.append(
                Transition(
                    evaluation.at, alert.rule, alert.subject, alert.period, change, alert.state, alert.level
                )
            )
    for key, before in previous.items():
        if key not in current and key[0] not in evaluation.incomplete_rules:
            out.append(
                Transition(
                    evaluation.at, key[0], key[1], key[2] or None, "resolved", before.state, before.level
                )
            )
    out.sort(
        key=lambda t: (t.rule, t.subject, t.period or "", t.change)
    )  # a stable order to read and compare
    return out


def open_alerts(session: Session) -> dict[Key, AlertStatus]:
    rows = session.execute(
        select(
            AlertRecord.rule, AlertRecord.subject, AlertRecord.period, AlertRecord.state, AlertRecord.level
        ).where(AlertRecord.state != "resolved")
    )
    return {(r, s, p): AlertStatus(st, lv) for r, s, p, st, lv in rows}


def commit_evaluation(session: Session, evaluation: Evaluation) -> list[Transition]:
    """Record the evaluation's alerts and obligation statuses; returns the transitions.

    Idempotent: committing the same evaluation twice changes nothing the second time.
    """
    now = evaluation.at
    changes = transitions(open_alerts(session), evaluation)
    current = {a.key: a for a in [*evaluation.alerts, *evaluation.inhibited]}
    touched = {(t.rule, t.subject, t.period or "") for t in changes}
    keys = set(current) | touched
    rows: dict[Key, AlertRecord] = {}
    for rule in {k[0] for k in keys}:
        subjects = [k[1] for k in keys if k[0] == rule]
        for chunk in _chunks(subjects, 500):
            for row in session.scalars(
                select(AlertRecord).where(AlertRecord.rule == rule, AlertRecord.subject.in_(chunk))
            ):
                rows[(row.rule, row.subject, row.period)] = row
    for key, alert in current.items():
        found = rows.get(key)
        if found is None:
            row = AlertRecord(
                rule=alert.rule,
                subject=alert.subject,
                period=key[2],
                fired_at=now,
                changed_at=now,
                level=alert.level,
                state=alert.state,
            )
            session.add(row)
        else:
            row = found
        if row.state == "resolved":
            row.fired_at = now
            row.resolved_at = None
            row.acked_at = row.acked_by = row.ack_reason = None
            row.changed_at = now
        if row.state != alert.state or row.level != alert.level:
            row.changed_at = now
        row.state = alert.state
        row.level = alert.level
        row.unit_id = alert.unit_id
        row.due_at = alert.due_at
        row.recipients = list(alert.recipients)
        row.clause = alert.clause
        row.message = alert.message
        row.inhibited_by = alert.inhibited_by
    for change in changes:
        if change.change == "resolved":
            resolved = rows.get((change.rule, change.subject, change.period or ""))
            if resolved is not None:
                resolved.state = "resolved"
                resolved.resolved_at = now
                resolved.changed_at = now
    _record_obligations(session, evaluation)
    session.flush()
    return changes


def _record_obligations(session: Session, evaluation: Evaluation) -> None:
    now = evaluation.at
    wanted = {o.key: o for o in evaluation.obligations}
    existing: dict[Key, ObligationRecord] = {}
    for rule in {k[0] for k in wanted}:
        subjects = sorted({k[1] for k in wanted if k[0] == rule})
        for chunk in _chunks(subjects, 500):
            for row in session.scalars(
                select(ObligationRecord).where(
                    ObligationRecord.rule == rule, ObligationRecord.subject.in_(chunk)
                )
            ):
                existing[(row.rule, row.subject, row.period)] = row
    for key, obligation in wanted.items():
        row = existing.get(key) or ObligationRecord(rule=key[0], subject=key[1], period=key[2])
        if key not in existing:
            session.add(row)
        row.unit_id = obligation.unit_id
        row.due_at = obligation.due_at
        row.status = obligation.status
        row.met_at = obligation.met_at
        row.evaluated_at = now


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
