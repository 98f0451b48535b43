"""Met duties a tick need not build again: their stored row already says what they say now.

A full tick re-derives every duty in view, and most of a pairing's are met: at a city's size 36,000
of its 60,000 pairing duties, at a province's most of 1.2 million. A met duty raises no alert,
whatever the rules, the calendar or the instant say, and what its row keeps (unit, due and met
times, status, provisional mark) depends only on what its query reads. So when the query reads
the same due and met times and unit as the row, and the calendar gives the same status and mark,
the duty is left as stored: no object is built for it, its row is not compared again, and its
alert rows are not read (monitor/alerts/lifecycle.py).

That last part rests on the stored rows agreeing with the alerts: a committed tick resolves the
alert of every duty it finds met. A tick that failed part-way (its duty rows written, not yet its
alerts), or rows another process wrote, may leave a met duty's alert open; the ticker then makes
its next full tick a thorough one, which keeps nothing (monitor/runtime/ticker.py, `thorough`).
Open duties are always built: whether one alerts depends on the rules and calendar of the day,
which its row does not record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from monitor.evaluation.obligations.timing import Timing

Key = tuple[str, str, str]


class Unchanged:
    """The stored rows of a part's duties, by key (plain columns: unit_id, due_at, status,
    met_at, provisional), and the met duties found as they say: `keys`."""

    def __init__(self, stored: Mapping[Key, Any], waived: set[Key], timing: Timing) -> None:
        self.stored = stored
        self.waived = waived
        self.timing = timing
        self.keys: list[Key] = []

    def met(
        self, rule: str, subject: str, period: str, unit_id: str | None, due_at: datetime, met_at: datetime
    ) -> bool:
        """Whether the duty (met at `met_at`, by now) is as its stored row says; if so it is kept
        (`keys`) and its caller builds nothing for it. A waived duty is never kept (its waiver
        may be new)."""
        key = (rule, subject, period)
        row = self.stored.get(key)
        if row is None or row.met_at != met_at or row.due_at != due_at or row.unit_id != unit_id:
            return False
        if key in self.waived or (row.status, row.provisional) != self.timing.met(due_at, met_at):
            return False
        self.keys.append(key)
        return True


__all__ = ["Unchanged"]
