"""Working-day arithmetic between an instant and a due time (pure; the calendar is passed in)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from monitor.calendar import CalendarNotCovered, WorkCalendar
from monitor.clock import end_of_day, local_date, on_time, past_due
from monitor.obligations import Obligation


class Timing:
    """Due times and elapsed working days on one calendar with one end-of-day cut-off."""

    def __init__(self, calendar: WorkCalendar, cutoff: time, max_warn: int = 0) -> None:
        self.calendar = calendar
        self.cutoff = cutoff
        # the largest warning threshold of any rule: beyond it, "how many working days are left"
        # changes no decision, so a lower bound is enough
        self.max_warn = max_warn

    def deadline(self, received: datetime, working_days: int) -> datetime:
        """The end of the Nth working day after the day of receipt (N = 0: that working day)."""
        return end_of_day(self.calendar.add_workdays(local_date(received), working_days), self.cutoff)

    def end_of(self, day: date) -> datetime:
        return end_of_day(day, self.cutoff)

    def to_due(self, now: datetime, due_at: datetime) -> int:
        """Working days left before the due time, today included while it has not ended."""
        if past_due(now, due_at):
            return 0
        today, due_day = local_date(now), local_date(due_at)
        try:
            return self.calendar.count_workdays(today, due_day)
        except CalendarNotCovered as missing:
            # Due in a year no calendar covers yet: the working days left in the covered years
            # are a lower bound. If it already exceeds every warning threshold, no decision
            # depends on the rest; otherwise the gap is reported, never guessed.
            if missing.year <= today.year:
                raise
            known = self.calendar.count_workdays(today, date(missing.year - 1, 12, 31))
            if known > self.max_warn:
                return known
            raise

    def overdue(self, now: datetime, due_at: datetime) -> int:
        """Working days that have ended after the due day, up to now."""
        if not past_due(now, due_at):
            return 0
        today = local_date(now)
        last = today if past_due(now, end_of_day(today, self.cutoff)) else today - timedelta(days=1)
        return self.calendar.count_workdays(local_date(due_at) + timedelta(days=1), last)

    def settle(self, obligation: Obligation, now: datetime, expire_working_days: int | None) -> None:
        """Set the obligation's status and working-day counts as of now."""
        due = obligation.due_at
        if obligation.met_at is not None and obligation.met_at <= now:
            obligation.status = "met_on_time" if on_time(obligation.met_at, due) else "met_late"
            return
        if not past_due(now, due):
            obligation.status = "pending"
            obligation.working_days_to_due = self.to_due(now, due)
            return
        obligation.working_days_overdue = self.overdue(now, due)
        if expire_working_days is not None and obligation.working_days_overdue > expire_working_days:
            obligation.status = "missed"
        else:
            obligation.status = "overdue"
