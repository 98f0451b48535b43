"""Waivers: an obligation not owed at all (enterprise closed or moved, pairing ended early, force
majeure), with a reason and an approver. The CLI and the API add and revoke them through here,
each change audited in its own transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.audit import add_entry
from monitor.clock import iso_shanghai, utcnow
from monitor.periods import Period, PeriodKind, parse_period, period_of
from monitor.rulebook import RULE_IDS, Rule, Rulebook
from monitor.store.changes import note_everything
from monitor.store.models import Waiver
from monitor.subjects import SUBJECT_FORMS, Subject, subject_problem

# the words for a subject of each kind and a period of each kind, in what a refusal says
_A_SUBJECT = {
    "pairing": "a pairing",
    "unit": "a unit",
    "case": "a case",
    "enterprise": "an enterprise",
    "review": "a review",
    "project": "a project's item",
}
_PERIOD_WORDS: dict[PeriodKind, tuple[str, str]] = {
    "month": ("a month", "YYYY-MM"),
    "bimonth": ("a two-month block", "YYYY-Bn"),
    "half": ("a half-year", "YYYY-Hn"),
    "year": ("a year", "YYYY"),
}


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
    rulebook: Rulebook,
) -> Waiver:
    """Validate and add a waiver (flushed, not committed); WaiverError names the field at fault.

    The evaluation waives the duty whose key (rule, subject, period) is the waiver's exactly, so a
    waiver is refused unless a duty of the loaded rule can have that key: a subject of the kind the
    rule's duties are on, that the roster or the store knows, and a period of the rule's kind
    (none for a duty on a clock)."""
    if rule not in RULE_IDS:
        raise WaiverError("rule", f"unknown rule {rule!r}")
    if (loaded := rulebook.rules.get(rule)) is None:
        raise WaiverError("rule", f"rule {rule!r} is not among the loaded rules")
    for name, value, limit in (
        ("subject", subject, 200),
        ("reason", reason, 2000),
        ("approver", approver, 100),
    ):
        if not value.strip():
            raise WaiverError(name, "is required")
        if len(value) > limit:
            raise WaiverError(name, f"at most {limit} characters")
    _check_key(session, loaded, subject, period)
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


def _check_key(session: Session, rule: Rule, subject: str, period: str) -> None:
    """WaiverError unless a duty of the rule can have this subject and period."""
    parsed: Period | None = None
    if period:
        try:
            parsed = parse_period(period)
        except ValueError as exc:
            raise WaiverError("period", str(exc)) from None
    # a waiver on a subject nobody has waives nothing, silently: the duty it was meant for still
    # alerts (a typo in a credit code); the same check as a silence's. So does one on a subject
    # or a period no duty of the rule has (a case for a pairing's duty, a half-year for a monthly one).
    if subject.endswith("*"):
        raise WaiverError("subject", "a waiver names one subject, not a prefix")
    if (problem := _subject_misfit(rule, subject)) is not None:
        raise WaiverError("subject", problem)
    if (problem := _period_misfit(rule, period, parsed)) is not None:
        raise WaiverError("period", problem)
    if (problem := subject_problem(session, subject)) is not None:
        raise WaiverError("subject", problem)


def _subject_misfit(rule: Rule, subject: str) -> str | None:
    """Why no duty of the rule is on a subject of this kind, or None (an unknown kind is left to
    `subject_problem`, which says what subjects look like)."""
    kind = Subject.parse(subject).kind
    if kind not in SUBJECT_FORMS or kind == rule.duty_subject:
        return None
    return (
        f"{rule.id}'s duties are each on {_A_SUBJECT[rule.duty_subject]} "
        f"({SUBJECT_FORMS[rule.duty_subject]}), not on {_A_SUBJECT[kind]}: "
        f"a waiver on {subject!r} would waive nothing"
    )


def _period_misfit(rule: Rule, period: str, parsed: Period | None) -> str | None:
    """Why no duty of the rule has this period (parsed, or None when empty), or None."""
    kind = rule.duty_period
    if kind is None:
        if not period:
            return None
        return f"{rule.id}'s duties run on a clock and have no period: leave the period empty"
    one, form = _PERIOD_WORDS[kind]
    if parsed is None:
        return f"{rule.id}'s duties are each for {one} ({form}): give the period waived"
    if parsed.kind != kind:
        return (
            f"{rule.id}'s duties are each for {one} ({form}, e.g. {period_of(kind, parsed.start).label}): "
            f"{period!r} is {_PERIOD_WORDS[parsed.kind][0]}, so a waiver for it would waive nothing"
        )
    if period != parsed.label:  # " 2026-03" parses, but no duty's period is written so
        return (
            f"write it as {parsed.label!r}: no duty's period is written {period!r}, "
            "so a waiver for it would waive nothing"
        )
    return None


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
