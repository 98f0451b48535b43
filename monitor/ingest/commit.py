"""Commit an ingest, retrying a race lost to a concurrent writer of the same ids.

Two requests carrying the same new event id (a client that retries while its first request is
still in flight) both find the id absent and both insert it; the unique index lets one commit
and the other fails at its insert. The loser's whole transaction is rolled back and run again
from the start: it then reads what the winner committed, so the shared record is answered
`duplicate` (or `conflict`) and the loser's other records are stored. Both back ends make the
loser's insert wait for the winner's commit (PostgreSQL on the index entry, SQLite on the write
lock), so a rerun always sees the winner; each rerun is won by someone, so a few suffice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
T = TypeVar("T")
ATTEMPTS = 8


class RaceNotSettled(Exception):
    """Every attempt lost a race for the same keys; nothing was stored, the client may retry."""


def commit_retrying(
    sessions: Callable[[], Session], work: Callable[[Session], T], attempts: int = ATTEMPTS
) -> T:
    """Run `work` in a new session and commit; on a unique violation roll back and run it again."""
    for attempt in range(1, attempts + 1):
        with sessions() as session:
            try:
                result = work(session)
                session.commit()
                return result
            except IntegrityError as exc:
                session.rollback()
                log.info("ingest lost a race for an id (attempt %d of %d): %s", attempt, attempts, exc.orig)
    raise RaceNotSettled(f"{attempts} attempts in a row lost a race for the same ids; nothing was stored")
