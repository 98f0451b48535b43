"""Calendar periods of the policy: month, two-month block, half-year, year.

Labels are part of the alert contract: `2024-10`, `2024-B5` (Sep-Oct), `2024-H2`, `2024`.
Pure date arithmetic, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

PeriodKind = Literal["month", "bimonth", "half", "year"]

_MONTHS_PER: dict[str, int] = {"month": 1, "bimonth": 2, "half": 6, "year": 12}

# the last year dutywatch counts in: periods, due dates and the working-day calendar
# (monitor/calendar/working_days.py) end with it; a year 9999 is a typo, not a plan
LAST_YEAR = 2200
_LABEL = re.compile(r"^(\d{4})(?:-(?:(\d{2})|B([1-6])|H([12])))?$")


@dataclass(frozen=True, order=True)
class Period:
    """One period: kind, year and 1-based index within the year (month 1-12, block 1-6, half 1-2)."""

    kind: PeriodKind
    year: int
    index: int

    @property
    def months(self) -> int:
        return _MONTHS_PER[self.kind]

    @property
    def start(self) -> date:
        return date(self.year, (self.index - 1) * self.months + 1, 1)

    @property
    def end(self) -> date:
        """The last day of the period."""
        return self.next().start - timedelta(days=1)

    @property
    def label(self) -> str:
        if self.kind == "month":
            return f"{self.year:04d}-{self.index:02d}"
        if self.kind == "bimonth":
            return f"{self.year:04d}-B{self.index}"
        if self.kind == "half":
            return f"{self.year:04d}-H{self.index}"
        return f"{self.year:04d}"

    def next(self) -> Period:
        per_year = 12 // self.months
        if self.index < per_year:
            return Period(self.kind, self.year, self.index + 1)
        return Period(self.kind, self.year + 1, 1)

    def previous(self) -> Period:
        if self.index > 1:
            return Period(self.kind, self.year, self.index - 1)
        return Period(self.kind, self.year - 1, 12 // self.months)

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def __str__(self) -> str:
        return self.label


def period_of(kind: PeriodKind, day: date) -> Period:
    """The period of this kind that contains the day."""
    return Period(kind, day.year, (day.month - 1) // _MONTHS_PER[kind] + 1)


def parse_period(label: str) -> Period:
    """Parse a period label; raises ValueError naming the label."""
    m = _LABEL.match(label.strip())
    if not m:
        raise ValueError(f"not a period label (YYYY, YYYY-MM, YYYY-Bn, YYYY-Hn): {label!r}")
    year = int(m.group(1))
    if not 1 <= year <= LAST_YEAR:
        raise ValueError(f"no year {year} in {label!r}: periods run from 0001 to {LAST_YEAR}")
    if m.group(2):
        month = int(m.group(2))
        if not 1 <= month <= 12:
            raise ValueError(f"no month {month} in {label!r}")
        return Period("month", year, month)
    if m.group(3):
        return Period("bimonth", year, int(m.group(3)))
    if m.group(4):
        return Period("half", year, int(m.group(4)))
    return Period("year", year, 1)


def periods_between(kind: PeriodKind, first: date, last: date) -> list[Period]:
    """Every period of the kind that overlaps [first, last], in order."""
    out: list[Period] = []
    p = period_of(kind, first)
    while p.start <= last:
        out.append(p)
        p = p.next()
    return out
