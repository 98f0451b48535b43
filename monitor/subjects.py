"""What an alert's subject names, and whether the store knows it (for `silence add`).

Subjects are `kind:id…` strings built by the obligation kinds: a silence on a subject nobody
has would mute nothing, silently, so the command refuses one the roster and store do not know.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from monitor.store.models import (
    AlertRecord,
    Case,
    Enterprise,
    ObligationRecord,
    Pairing,
    ProjectItem,
    Review,
    Unit,
)

# the subject kinds of monitor/evaluation/obligations, and the form each takes
SUBJECT_FORMS = {
    "pairing": "pairing:<official or unit id>:<enterprise code>",
    "unit": "unit:<unit id>",
    "case": "case:<case id>",
    "enterprise": "enterprise:<enterprise code>",
    "review": "review:<review id>",
    "project": "project:<project id>:<item id>",
}


def subject_problem(session: Session, subject: str) -> str | None:
    """Why no alert can have this subject (exact, or a prefix ending in '*'), or None if one can."""
    forms = "; ".join(SUBJECT_FORMS.values())
    if subject.endswith("*"):
        prefix = subject[:-1]
        kind = prefix.partition(":")[0]
        if (":" in prefix and kind in SUBJECT_FORMS) or any(k.startswith(prefix) for k in SUBJECT_FORMS):
            return None
        return f"{subject!r} matches no subject: subjects look like {forms}"
    kind, _, rest = subject.partition(":")
    if kind not in SUBJECT_FORMS or not rest:
        return f"{subject!r} is not a subject: subjects look like {forms}"
    if _known(session, kind, rest) or _recorded(session, subject):
        return None
    return f"no {kind} {rest!r} in the roster or the store (form: {SUBJECT_FORMS[kind]})"


def _known(session: Session, kind: str, rest: str) -> bool:
    """Whether the roster or the events hold what the subject names."""
    first, _, second = rest.partition(":")
    stmt: Select[Any]
    if kind == "pairing":
        stmt = select(Pairing.id).where(
            or_(Pairing.official_id == first, Pairing.unit_id == first), Pairing.enterprise_id == second
        )
    elif kind == "project":
        stmt = select(ProjectItem.id).where(ProjectItem.project_id == first, ProjectItem.id == second)
    else:
        column = {"unit": Unit.id, "case": Case.id, "enterprise": Enterprise.id, "review": Review.id}[kind]
        stmt = select(column).where(column == rest)
    return session.scalar(stmt.limit(1)) is not None


def _recorded(session: Session, subject: str) -> bool:
    """Whether a committed alert or obligation has the subject (a roster entry since removed)."""
    for column in (AlertRecord.subject, ObligationRecord.subject):
        if session.scalar(select(column).where(column == subject).limit(1)) is not None:
            return True
    return False
