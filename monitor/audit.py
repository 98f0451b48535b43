"""The audit log: who did what, when and from where, for every change people make by hand —
acknowledgements, silences, waivers, reloads, roster changes, outbox retries.

`record` adds the entry to the caller's session, so the entry commits with the change it
describes or not at all. Readable by `admin` tokens only (`GET /v1/audit`, `dutywatch audit list`).
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.clock import utcnow
from monitor.ingest.outcome import RecordOutcome
from monitor.store.models import AuditEntry

if TYPE_CHECKING:
    from monitor.runtime.service import Service

ACTIONS = (
    "alert.ack",
    "silence.add",
    "silence.expire",
    "waiver.add",
    "waiver.revoke",
    "reload",
    "roster.upsert",
    "outbox.retry",
    "notify.test",
    "link.record",  # feedback, a visit or a contact recorded through an action link
    "links.revoke",
)
MAX_LIMIT = 1000


def cli_actor() -> str:
    """The operating-system user running a command."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        return "cli:unknown"


def roster_summary(outcomes: Sequence[RecordOutcome]) -> dict[str, Any]:
    """What a roster change did, for its audit entry: counts, and the records it changed."""
    changed = [o.id for o in outcomes if o.status == "accepted"]
    return {
        "accepted": len(changed),
        "unchanged": sum(1 for o in outcomes if o.status == "duplicate"),
        "rejected": sum(1 for o in outcomes if o.status == "rejected"),
        "records": changed[:200],
    }


def add_entry(
    session: Session,
    action: str,
    target: str,
    *,
    actor: str,
    source: str,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    entry = AuditEntry(
        at=at or utcnow(),
        actor=actor[:100],
        action=action,
        target=target[:300],
        detail=detail or {},
        source=source[:100],
    )
    session.add(entry)
    return entry


def entries(
    session: Session, *, since: datetime | None = None, action: str | None = None, limit: int = 100
) -> list[AuditEntry]:
    """Newest first."""
    stmt = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    return list(session.scalars(stmt.limit(max(1, min(limit, MAX_LIMIT)))))


def as_json(entry: AuditEntry) -> dict[str, Any]:
    from monitor.clock import iso_shanghai

    return {
        "id": entry.id,
        "at": iso_shanghai(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "detail": entry.detail,
        "source": entry.source,
        # why, said by whoever acknowledged, silenced or waived: read without opening `detail`
        "reason": entry.detail.get("reason") if isinstance(entry.detail, dict) else None,
    }


def audit_reload(service: Service, ok: bool, message: str, actor: str, source: str) -> None:
    """A reload, by API or signal, and how it ended (in a transaction of its own)."""
    with service.sessions() as session:
        add_entry(
            session,
            "reload",
            "config and rules",
            actor=actor,
            source=source,
            detail={"ok": ok, "message": message},
        )
        session.commit()
