"""The answer ingest gives for each record: accepted, duplicate, or rejected with field and reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["accepted", "duplicate", "rejected"]


@dataclass(frozen=True)
class RecordOutcome:
    ref: str  # where the record came from: "events.jsonl:12", "roster.yaml:7", "[3]"
    id: str | None
    status: Status
    field: str | None = None
    reason: str | None = None

    def __str__(self) -> str:
        if self.status != "rejected":
            return f"{self.ref}: {self.status}"
        where = f"{self.field}: " if self.field else ""
        return f"{self.ref}: {where}{self.reason}"

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"ref": self.ref, "id": self.id, "status": self.status}
        if self.status == "rejected":
            out["field"] = self.field
            out["reason"] = self.reason
        return out


class Rejection(Exception):
    """A record is invalid: which field, and why."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason
