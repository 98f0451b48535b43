"""What changed since the last tick, for the steady-state tick (monitor/evaluation/steady.py).

Every write that can change an answer leaves a `ChangeRecord` in its own transaction: ingest
names the enterprises and cases its events touch; the roster and waivers say "everything". A
tick reads the records before it evaluates and deletes exactly those it read when it commits,
so a write committed meanwhile (on PostgreSQL, ingest runs beside the tick) stays for the next
tick: no watermark, no reliance on ids or clocks being committed in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from monitor.clock import utcnow
from monitor.store.batches import batches
from monitor.store.models import ChangeRecord


def note_changes(
    session: Session,
    *,
    at: datetime,
    types: Iterable[str] = (),
    enterprises: Iterable[str] = (),
    cases: Iterable[str] = (),
) -> None:
    """Record what a batch of events touched (flushed with the caller's transaction)."""
    session.add(
        ChangeRecord(
            at=at,
            types=sorted(set(types)),
            enterprises=sorted(set(enterprises)),
            cases=sorted(set(cases)),
            everything=False,
        )
    )


def note_everything(session: Session) -> None:
    """Record a change no subject names (roster, waivers): the next tick evaluates everything."""
    session.add(ChangeRecord(at=utcnow(), types=[], enterprises=[], cases=[], everything=True))


@dataclass
class Changes:
    """The change records due at an instant, merged."""

    ids: list[int] = field(default_factory=list)
    types: set[str] = field(default_factory=set)
    enterprises: set[str] = field(default_factory=set)
    cases: set[str] = field(default_factory=set)
    everything: bool = False

    @property
    def keys(self) -> int:
        return len(self.enterprises) + len(self.cases)


def pending_changes(session: Session, now: datetime, most: int = 5_000) -> Changes:
    """Records of events whose time has come by now (the roster and waivers count at once).

    More than `most` records mean a full evaluation: their ids are enough. A record is one ingest
    request, so a steady stream posted one event at a time leaves dozens a second; reading 5,000
    costs tens of milliseconds, and the steady tick bounds the subjects it re-derives itself
    (monitor/evaluation/steady.py, MOST_SUBJECTS). With 200, a minute of such a stream made the next
    evaluation — often the one an immediate event asked for — a full one.
    """
    due = (ChangeRecord.at <= now) | ChangeRecord.everything.is_(True)
    ids = list(session.scalars(select(ChangeRecord.id).where(due).order_by(ChangeRecord.id)))
    if len(ids) > most:
        return Changes(ids=ids, everything=True)
    out = Changes()
    for row in session.scalars(
        select(ChangeRecord).where(ChangeRecord.id.in_(ids)).order_by(ChangeRecord.id)
    ):
        out.ids.append(row.id)
        out.types.update(row.types)
        out.enterprises.update(row.enterprises)
        out.cases.update(row.cases)
        out.everything = out.everything or row.everything
    return out


def consume(session: Session, ids: list[int]) -> None:
    """Delete the records a committed evaluation took into account."""
    for part in batches(ids):
        session.execute(delete(ChangeRecord).where(ChangeRecord.id.in_(part)))
