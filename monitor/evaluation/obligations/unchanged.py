"""Duties a tick need not build again: their stored row already says what they say now, and
they call for no alert.

A full tick re-derives every duty in view, and most pairing duties are quiet: met (36,166 of a
city's 60,000), or pending with no reminder due yet (the yearly matchmaking, the half-yearly
briefing). For such a duty everything its row keeps (unit, due and met times, status,
provisional mark) follows from what its query reads and from the calendar. So when the query
reads the same due and met times and unit as the row, the calendar gives the same status and
mark, and the matcher decides no alert for its shape, the duty is left as stored: no object is
built for it and its row is not compared again.

Its key stays in the part's delta all the same. The part has read the open alerts of every stored
key with the rows (monitor/evaluation/steady.py), and its commit resolves those no duty calls for
(monitor/alerts/lifecycle.py): a kept duty's alert left open by a tick that failed between a
part's duty rows and its alerts, or by a reload that raised a warning threshold, resolves like
any other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from monitor.evaluation.engine import FactStatus
from monitor.evaluation.obligations.timing import Timing
from monitor.rulebook import Rule

Key = tuple[str, str, str]
# the matcher's decision for a fact shape (rule, status, working days to due, overdue, level
# reached): whether it raises an alert
Alerts = Callable[[tuple[str, FactStatus, int, int, int]], bool]


class Unchanged:
    """The stored rows of a part's duties by key (plain columns: unit_id, due_at, status, met_at,
    provisional), and the duties found as they say: `keys`."""

    def __init__(
        self, stored: Mapping[Key, Any], waived: set[Key], timing: Timing, now: datetime, alerts: Alerts
    ) -> None:
        self.stored = stored
        self.waived = waived
        self.timing = timing
        self.now = now
        self.alerts = alerts
        self.keys: list[Key] = []

    def keeps(
        self,
        rule: Rule,
        subject: str,
        period: str,
        unit_id: str | None,
        due_at: datetime,
        met_at: datetime | None,
    ) -> bool:
        """Whether the duty is as its stored row says and quiet (no alert to raise); if so it is
        kept (`keys`) and its caller builds nothing for it. A waived duty is never kept (its
        waiver may be new), nor one whose due time cannot be told."""
        key = (rule.id, subject, period)
        row = self.stored.get(key)
        if row is None or row.met_at != met_at or row.due_at != due_at or row.unit_id != unit_id:
            return False
        if key in self.waived:
            return False
        status, provisional, to_due, overdue, gap = self.timing.standing(
            due_at, met_at, self.now, rule.expire_working_days
        )
        if gap is not None or row.status != status or row.provisional != provisional:
            return False
        if (status == "pending" or status == "overdue") and self.alerts(
            (rule.id, status, to_due, overdue, 0)
        ):
            return False
        self.keys.append(key)
        return True


__all__ = ["Unchanged"]
