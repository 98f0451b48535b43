"""Acknowledgements of an alert: the latest on the alert row, every one in the audit log.

An alert is acknowledged again when the work changes hands or the plan changes; the row keeps
who acknowledged last, and the history (who, when, why, oldest first) is read back from the audit
log, which records every acknowledgement anyway: one truth, and no schema change.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.audit import add_entry
from monitor.clock import iso_shanghai, utcnow
from monitor.store.batches import batches
from monitor.store.models import AlertRecord, AuditEntry

ACK = "alert.ack"


def acknowledge(
    session: Session,
    row: AlertRecord,
    *,
    who: str,
    reason: str,
    actor: str,
    source: str,
    at: datetime | None = None,
) -> None:
    """Record an acknowledgement on the alert and in the audit log; earlier ones stay in the log.
    `at` is the caller's now (a route's clock), the wall clock without one."""
    at = at or utcnow()
    row.acked_by, row.acked_at, row.ack_reason = who, at, reason
    detail = {"rule": row.rule, "subject": row.subject, "reason": reason}
    if who != actor:  # the CLI's --by names a person; the actor is the OS user running it
        detail["by"] = who
    add_entry(session, ACK, target(row.id), actor=actor, source=source, detail=detail, at=at)


def target(alert_id: int) -> str:
    return f"alert {alert_id}"


def ack_history(session: Session, rows: Sequence[AlertRecord]) -> dict[int, list[dict[str, Any]]]:
    """Each acknowledged alert's acknowledgements since it last fired, oldest first."""
    acked = {target(r.id): r for r in rows if r.acked_at is not None}
    out: dict[int, list[dict[str, Any]]] = {r.id: [] for r in acked.values()}
    names = list(acked)
    for part in batches(names):
        stmt = (
            select(AuditEntry)
            .where(AuditEntry.action == ACK, AuditEntry.target.in_(part))
            .order_by(AuditEntry.at, AuditEntry.id)
        )
        for entry in session.scalars(stmt):
            row = acked[entry.target]
            if entry.at < row.fired_at:  # an acknowledgement of an earlier firing, cleared then
                continue
            out[row.id].append(
                {
                    "by": entry.detail.get("by", entry.actor),
                    "at": iso_shanghai(entry.at),
                    "reason": entry.detail.get("reason"),
                }
            )
    return out
