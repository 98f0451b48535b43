"""Waivers: an obligation not owed at all (enterprise closed or moved, pairing ended early, force
majeure), with a reason and an approver. The CLI and the API add and revoke them through here,
each change audited in its own transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.audit import add_entry
from monitor.clock import iso_shanghai, utcnow
from monitor.periods import parse_period
from monitor.rulebook import RULE_IDS
from monitor.store.changes import note_everything
from monitor.store.models import Waiver
from monitor.subjects import subject_problem


class WaiverError(ValueError):
    """A waiver refused: `field` names what is wrong."""

    def __init__(self, field: str, reason: str, *, conflict: bool = False) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.conflict = conflict  # valid, but clashes with what is stored


def add_waiver(
    session: Session,
    *,
    rule: str,
    subject: str,
    period: str,
    reason: str,
    approver: str,
    actor: str,
    source: str,
) -> Waiver:
    """Validate and add a waiver (flushed, not committed); WaiverError names the field at fault."""
    if rule not in RULE_IDS:
        raise WaiverError("rule", f"unknown rule {rule!r}")
    for name, value, limit in (
        ("subject", subject, 200),
        ("reason", reason, 2000),
        ("approver", approver, 100),
    ):
        if not value.strip():
            raise WaiverError(name, "is required")
        if len(value) > limit:
            raise WaiverError(name, f"at most {limit} characters")
    if period:
        try:
            parse_period(period)
        except ValueError as exc:
            raise WaiverError("period", str(exc)) from None
    # a waiver on a subject nobody has waives nothing, silently: the duty it was meant for still
    # alerts (a typo in a credit code); the same check as a silence's
    if subject.endswith("*"):
        raise WaiverError("subject", "a waiver names one subject, not a prefix")
    if (problem := subject_problem(session, subject)) is not None:
        raise WaiverError("subject", problem)
    if session.scalar(
        select(Waiver.id).where(Waiver.rule == rule, Waiver.subject == subject, Waiver.period == period)
    ):
        raise WaiverError("subject", "that obligation is waived already", conflict=True)
    row = Waiver(
        rule=rule, subject=subject, period=period, reason=reason, approver=approver, created_at=utcnow()
    )
    session.add(row)
    note_everything(session)
    session.flush()
    add_entry(session, "waiver.add", _target(row), actor=actor, source=source, detail=waiver_json(row))
    return row


def revoke_waiver(session: Session, waiver_id: int, *, actor: str, source: str) -> Waiver | None:
    """Remove a waiver (the duty is owed again from the next tick); None when there is none."""
    row = session.get(Waiver, waiver_id)
    if row is None:
        return None
    add_entry(session, "waiver.revoke", _target(row), actor=actor, source=source, detail=waiver_json(row))
    session.delete(row)
    note_everything(session)
    session.flush()
    return row


def waiver_json(row: Waiver) -> dict[str, Any]:
    return {
        "id": row.id,
        "rule": row.rule,
        "subject": row.subject,
        "period": row.period or None,
        "reason": row.reason,
        "approver": row.approver,
        "at": iso_shanghai(row.created_at),
    }


def _target(row: Waiver) -> str:
    return f"{row.rule} {row.subject} {row.period or '-'}"
