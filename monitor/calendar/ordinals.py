"""The working-day calendar as a table of ordinals, for SQL that counts working days set-wise.

One row per day: `n`, the working days from the table's first day through this one; whether it
is a working day; whether its year is answered provisionally (monitor/calendar/working_days.py). With it,
every working-day question is arithmetic on two rows, which a database can join for a million
duties at once:

- count_workdays(a, b) = n(b) - n(a - 1)
- add_workdays(d, N) = the working day numbered n(d) + N; N = 0: n(d) + 1 - workday(d)
- provisional_between(a, b) = some day of [a, b] lies in a provisional year

It is built from the same `WorkCalendar` (the package's notices, the override files, the law for
unannounced years), so it is exactly as official or provisional as the calendar it copies; a
calendar as of an instant (`WorkCalendar.as_of`) gives the table as known then. Rebuild it when
the calendar changes (a reload, a notice entered). In strict mode a year the calendar cannot
answer raises `CalendarNotCovered`, as the calendar does. bench/floor.py stores it as
`floor_days`; tests/calendar/test_ordinals.py holds it to the calendar day by day.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date, timedelta

from monitor.calendar.working_days import WorkCalendar


@dataclass(frozen=True, slots=True)
class OrdinalDay:
    day: date
    n: int  # working days from the table's first day through this one
    workday: bool
    provisional: bool  # in a year answered from the law alone, its notice not yet loaded


class Ordinals:
    """The days from `first` to `last` with their ordinals, and the calendar's answers from them."""

    def __init__(self, calendar: WorkCalendar, first: date, last: date) -> None:
        if last < first:
            raise ValueError("last must not be before first")
        self.first, self.last = first, last
        self.days: list[OrdinalDay] = []
        n = 0
        day = first
        while day <= last:
            working = calendar.is_workday(day)
            n += working
            self.days.append(OrdinalDay(day, n, working, calendar.is_provisional(day.year)))
            day += timedelta(days=1)
        self._numbers = [d.n for d in self.days]

    def __getitem__(self, day: date) -> OrdinalDay:
        if not self.first <= day <= self.last:
            raise KeyError(day)
        return self.days[(day - self.first).days]

    def _n_before(self, day: date) -> int:
        return 0 if day == self.first else self[day - timedelta(days=1)].n

    def count_workdays(self, first: date, last: date) -> int:
        """As WorkCalendar.count_workdays, from two rows."""
        if last < first:
            return 0
        return self[last].n - self._n_before(first)

    def is_workday(self, day: date) -> bool:
        return self[day].workday

    def add_workdays(self, start: date, n: int) -> date:
        """As WorkCalendar.add_workdays: the working day numbered n(start) + n (n = 0: start or the
        next working day). KeyError when it lies past the table."""
        if n < 0:
            raise ValueError("n must be >= 0")
        row = self[start]
        target = row.n + n if n else row.n + 1 - row.workday
        i = bisect.bisect_left(self._numbers, target)
        if i == len(self.days) or not self.days[i].workday:
            raise KeyError(target)
        return self.days[i].day

    def provisional_between(self, first: date, last: date) -> bool:
        lo, hi = sorted((first, last))
        return any(
            self[date(y, 1, 1) if y > lo.year else lo].provisional for y in range(lo.year, hi.year + 1)
        )


__all__ = ["OrdinalDay", "Ordinals"]
