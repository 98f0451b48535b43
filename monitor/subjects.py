"""What an alert's subject names, and whether the store knows it (for `silence add`).

Subjects are `kind:id…` strings built by the obligation kinds and stored as such (they key
alerts and obligations). Code that needs what a subject names reads it with `Subject.parse`,
never by splitting the string itself. A silence on a subject nobody has would mute nothing,
silently, so `silence add` refuses one the roster and store do not know.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Subject:
    """A subject read: its kind and the one or two ids it names."""

    kind: str  # a key of SUBJECT_FORMS (or what an unknown subject starts with)
    id: str  # the unit, case, enterprise or review; a pairing's owner; a project item's project
    detail: str = ""  # a pairing's enterprise; a project item's item

    @classmethod
    def parse(cls, text: str) -> Subject:
        kind, _, rest = text.partition(":")
        if kind == "pairing":  # the enterprise's code is last: an owner id is read up to it
            owner, _, enterprise = rest.rpartition(":")
            return cls(kind, owner, enterprise)
        if kind == "project":
            project, _, item = rest.partition(":")
            return cls(kind, project, item)
        return cls(kind, rest)

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}:{self.detail}" if self.detail else f"{self.kind}:{self.id}"

    @property
    def enterprise(self) -> str | None:
        """The enterprise the subject is about, for a pairing or an enterprise's repeated reports."""
        if self.kind == "pairing":
            return self.detail
        return self.id if self.kind == "enterprise" else None


def scope_id(subject: str) -> str:
    """The enterprise of a pairing, the case of a case, the enterprise of an enterprise subject.

    `Subject.parse(subject).enterprise`, or `.id`, without building a Subject: the steady tick
    asks this of every scoped obligation (millions in a province)."""
    if subject.startswith("pairing:"):
        return subject.rpartition(":")[2]
    return subject.partition(":")[2]


def subject_problem(session: Session, subject: str) -> str | None:
    """Why no alert can have this subject (exact, or a prefix ending in '*'), or None if one can."""
    forms = "; ".join(SUBJECT_FORMS.values())
    if subject.endswith("*"):
        prefix = subject[:-1]
        kind = Subject.parse(prefix).kind
        if (":" in prefix and kind in SUBJECT_FORMS) or any(k.startswith(prefix) for k in SUBJECT_FORMS):
            return None
        return f"{subject!r} matches no subject: subjects look like {forms}"
    read = Subject.parse(subject)
    rest = subject.partition(":")[2]
    if read.kind not in SUBJECT_FORMS or not rest:
        return f"{subject!r} is not a subject: subjects look like {forms}"
    if _known(session, read) or _recorded(session, subject):
        return None
    return f"no {read.kind} {rest!r} in the roster or the store (form: {SUBJECT_FORMS[read.kind]})"


def _known(session: Session, subject: Subject) -> bool:
    """Whether the roster or the events hold what the subject names."""
    stmt: Select[Any]
    if subject.kind == "pairing":
        stmt = select(Pairing.id).where(
            or_(Pairing.official_id == subject.id, Pairing.unit_id == subject.id),
            Pairing.enterprise_id == subject.detail,
        )
    elif subject.kind == "project":
        stmt = select(ProjectItem.id).where(
            ProjectItem.project_id == subject.id, ProjectItem.id == subject.detail
        )
    else:
        column = {"unit": Unit.id, "case": Case.id, "enterprise": Enterprise.id, "review": Review.id}[
            subject.kind
        ]
        stmt = select(column).where(column == subject.id)
    return session.scalar(stmt.limit(1)) is not None


def _recorded(session: Session, subject: str) -> bool:
    """Whether a committed alert or obligation has the subject (a roster entry since removed)."""
    for column in (AlertRecord.subject, ObligationRecord.subject):
        if session.scalar(select(column).where(column == subject).limit(1)) is not None:
            return True
    return False
