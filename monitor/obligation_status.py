"""The obligation statuses the last tick recorded, as the API and the command line list them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from monitor.clock import iso_shanghai
from monitor.store.models import ObligationRecord


def obligations_query(
    *, unit: str | None = None, rule: str | None = None, period: str | None = None, status: str | None = None
) -> Select[ObligationRecord]:
    """Obligation records in a stable order (rule, subject, period); the filters combine."""
    stmt = select(ObligationRecord).order_by(
        ObligationRecord.rule, ObligationRecord.subject, ObligationRecord.period
    )
    for column, value in (
        (ObligationRecord.unit_id, unit),
        (ObligationRecord.rule, rule),
        (ObligationRecord.period, period),
        (ObligationRecord.status, status),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt


def obligation_json(o: ObligationRecord) -> dict[str, Any]:
    return {
        "rule": o.rule,
        "subject": o.subject,
        "period": o.period or None,
        "unit": o.unit_id,
        # an uncomputable duty's due time is unknown: what is stored is only its earliest
        "due": None if o.status == "uncomputable" else iso_shanghai(o.due_at),
        "due_not_before": iso_shanghai(o.due_at) if o.status == "uncomputable" else None,
        "status": o.status,
        "provisional": o.provisional,
        "met_at": iso_shanghai(o.met_at) if o.met_at else None,
        "changed_at": iso_shanghai(o.changed_at),
    }
