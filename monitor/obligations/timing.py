"""Working-day arithmetic between an instant and a due time (pure; the calendar is passed in)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from monitor.calendar import WorkCalendar
from monitor.clock import end_of_day, local_date
from monitor.obligations import Obligation


class Timing:
    """Due times and elapsed working days on one calendar with one end-of-day cut-off."""

    def __init__(self, calendar: WorkCalendar, cutoff: time) -> None:
        self.calendar = calendar
        self.cutoff = cutoff

    def deadline(self, received: datetime, working_days: int) -> datetime:
        """The end of the Nth working day after the day of receipt (N = 0: that working day)."""
        return end_of_day(self.calendar.add_workdays(local_date(received), working_days), self.cutoff)

    def end_of(self, day: date) -> datetime:
        return end_of_day(day, self.cutoff)

    def to_due(self, now: datetime, due_at: datetime) -> int:
        """Working days left before the due time, today included while it has not ended."""
        if now >= due_at:
            return 0
        return self.calendar.count_workdays(local_date(now), local_date(due_at))

    def overdue(self, now: datetime, due_at: datetime) -> int:
        """Working days that have ended after the due day, up to now."""
        if now < due_at:
            return 0
        today = local_date(now)
        last = today if now >= end_of_day(today, self.cutoff) else today - timedelta(days=1)
        return self.calendar.count_workdays(local_date(due_at) + timedelta(days=1), last)

    def settle(self, obligation: Obligation, now: datetime, expire_working_days: int | None) -> None:
        """Set the obligation's status and working-day counts as of now."""
        due = obligation.due_at
        if obligation.met_at is not None and obligation.met_at <= now:
            obligation.status = "met_on_time" if obligation.met_at <= due else "met_late"
            return
        if now < due:
            obligation.status = "pending"
            obligation.working_days_to_due = self.to_due(now, due)
            return
        obligation.working_days_overdue = self.overdue(now, due)
        if expire_working_days is not None and obligation.working_days_overdue > expire_working_days:
            obligation.status = "missed"
        else:
            obligation.status = "overdue"
