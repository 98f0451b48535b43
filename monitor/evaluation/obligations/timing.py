"""Working-day arithmetic between an instant and a due time (pure; the calendar is passed in)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from monitor.calendar.working_days import CalendarNotCovered, WorkCalendar
from monitor.clock import end_of_day, local_date, on_time, past_due
from monitor.evaluation.obligations import Obligation, Status

# status, provisional mark, working days to due, working days overdue, year with no calendar
Standing = tuple[Status, bool, int, int, int | None]


class Timing:
    """Due times and elapsed working days on one calendar with one end-of-day cut-off."""

    def __init__(self, calendar: WorkCalendar, cutoff: time, max_warn: int = 0) -> None:
        self.calendar = calendar
        self.cutoff = cutoff
        # the largest warning threshold of any rule: beyond it, "how many working days are left"
        # changes no decision, so a lower bound is enough
        self.max_warn = max_warn
        self._provisional_years: dict[int, bool] = {}  # a province settles a million duties
        # what `settle` derived for each due time at one instant: duties share due times (every
        # pairing's month ends at once, cases received the same day are due the same day), and
        # the working days counted depend on (now, due time) alone
        self._memo_now: datetime | None = None
        self._unmet: dict[datetime, tuple[bool, int | None, int | None, int | None]] = {}
        self._met: dict[datetime, bool] = {}

    def forget(self) -> None:
        """Drop what `settle` remembered by due time: a full tick's parts share one instant, and a
        province's distinct due times (repeated reports, hotline orders) would pile up over them."""
        self._memo_now, self._unmet, self._met = None, {}, {}

    def deadline(self, received: datetime, working_days: int) -> datetime:
        """The end of the Nth working day after the day of receipt (that day not counted). N = 0:
        the same working day, or the next one when there is none left: the day of receipt is a
        rest day, or the receipt came after its cut-off second (a case received at 18:00 with a
        17:30 cut-off is due by the end of the next working day, not half an hour before it
        came)."""
        day = local_date(received)
        if working_days == 0 and past_due(received, end_of_day(day, self.cutoff)):
            day += timedelta(days=1)
        return end_of_day(self.calendar.add_workdays(day, working_days), self.cutoff)

    def deadline_or_gap(self, received: datetime, working_days: int) -> tuple[datetime, int | None]:
        """The deadline and None, or, when a year on the way has no calendar (strict mode), a
        lower bound of it (the end of the last day before the gap) and the missing year."""
        try:
            return self.deadline(received, working_days), None
        except CalendarNotCovered as missing:
            return self.gap_floor(received, missing.year), missing.year

    def gap_floor(self, received: datetime, year: int) -> datetime:
        """The earliest a deadline counted from `received` into the missing `year` can be."""
        return self.end_of(max(local_date(received), date(year, 1, 1) - timedelta(days=1)))

    def provisional(self, first: date, last: date) -> bool:
        """Some day between the two dates lies in a year answered provisionally."""
        if first.year == last.year:
            known = self._provisional_years.get(first.year)
            if known is None:
                known = self._provisional_years[first.year] = self.calendar.is_provisional(first.year)
            return known
        return self.calendar.provisional_between(first, last)

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

    def overdue_known(self, now: datetime, due_at: datetime) -> tuple[int, int | None]:
        """`overdue`, or, when a year since the due day has no calendar (strict mode), the working
        days of the covered years before it (a lower bound: the duty stays overdue, its ladder
        climbs no higher than the known days say) and the missing year."""
        try:
            return self.overdue(now, due_at), None
        except CalendarNotCovered as missing:
            first = local_date(due_at) + timedelta(days=1)
            last = date(missing.year, 1, 1) - timedelta(days=1)
            return self.calendar.count_workdays(first, last) if first.year < missing.year else 0, missing.year

    def settle(self, obligation: Obligation, now: datetime, expire_working_days: int | None) -> None:
        """Set the obligation's status, working-day counts and provisional mark as of now.

        Never raises for a missing calendar year: a duty whose due time cannot be told is
        `uncomputable` (that duty alone); an overdue one whose days since cannot all be counted
        stays overdue with the days that can.
        """
        due = obligation.due_at
        met_at = obligation.met_at
        if obligation.calendar_gap is not None:
            # due_at is only a lower bound: an answer before it is surely on time, else unknown
            if met_at is not None and met_at <= now and on_time(met_at, due):
                obligation.status = "met_on_time"
            else:
                obligation.status = "uncomputable"
            return
        status, provisional, to_due, overdue, gap = self.standing(due, met_at, now, expire_working_days)
        obligation.status = status
        obligation.provisional = obligation.provisional or provisional
        obligation.working_days_to_due, obligation.working_days_overdue = to_due, overdue
        if gap is not None:
            obligation.calendar_gap = gap

    def standing(
        self, due: datetime, met_at: datetime | None, now: datetime, expire_working_days: int | None
    ) -> Standing:
        """What `settle` finds of a duty due at `due` and met at `met_at` (or not): its status,
        provisional mark, working days to due and overdue, and the year whose missing calendar
        makes it uncomputable (else None)."""
        if now != self._memo_now:
            self._memo_now, self._unmet, self._met = now, {}, {}
        if met_at is not None and met_at <= now:
            status, provisional = self.met(due, met_at)
            return status, provisional, 0, 0, None
        counts = self._unmet.get(due)
        if counts is None:
            counts = self._unmet[due] = self._unmet_counts(now, due)
        provisional, to_due, overdue, gap = counts
        if gap is not None:
            return "uncomputable", provisional, 0, 0, gap
        if to_due is not None:
            return "pending", provisional, to_due, 0, None
        assert overdue is not None
        if expire_working_days is not None and overdue > expire_working_days:
            return "missed", provisional, 0, overdue, None
        return "overdue", provisional, 0, overdue, None

    def met(self, due: datetime, met_at: datetime) -> tuple[Status, bool]:
        """A duty met at `met_at` (by now): met on time or late, and whether its due day lies in
        a year answered provisionally."""
        provisional = self._met.get(due)
        if provisional is None:
            due_day = local_date(due)
            provisional = self._met[due] = self.provisional(due_day, due_day)
        return ("met_on_time" if on_time(met_at, due) else "met_late"), provisional

    def _unmet_counts(self, now: datetime, due: datetime) -> tuple[bool, int | None, int | None, int | None]:
        """For a duty unmet at now: provisional, working days to due (pending) or None, working
        days overdue (past due) or None, and the year whose missing calendar makes the working days
        to due unknowable (then the duty is uncomputable)."""
        provisional = self.provisional(local_date(due), local_date(now))
        if not past_due(now, due):
            try:
                return provisional, self.to_due(now, due), None, None
            except CalendarNotCovered as missing:
                return provisional, None, None, missing.year
        return provisional, None, self.overdue_known(now, due)[0], None
