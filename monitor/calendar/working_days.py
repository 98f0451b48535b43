"""The official mainland-China working-day calendar.

One object answers "is this a working day" and counts working days, from the pinned
`chinesecalendar` package plus per-year override files (`config/calendar/YYYY.yaml`) that name
the State Council notice they copy. A year neither source covers is *unannounced*: in the
default `provisional` mode its rest days are derived from the law alone (monitor/calendar/statutory.py:
weekends, the statutory holidays and the law's substitute days, no make-up working days) and
every answer that rests on it is marked provisional by the caller (`is_provisional`); in
`strict` mode such a date raises `CalendarNotCovered`. The calendar never guesses Monday to
Friday.

Counting convention (Civil Code arts. 201, 203): the day of receipt is not counted, the first
working day after it is day 1, and the deadline is the end of the Nth working day. We do not use
`chinese_calendar.find_workday`, which is one day late when it starts from a rest day.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

import chinese_calendar
import yaml

from monitor.calendar.statutory import statutory_rest_days
from monitor.clock import parse_instant
from monitor.periods import LAST_YEAR  # a count running past it is a calendar gap like any other
from monitor.yamlsource import SourceError, YamlDocument, load_yaml_mapping

Unannounced = Literal["provisional", "strict"]


class CalendarNotCovered(Exception):
    """A date falls in a year for which no calendar data is loaded."""

    def __init__(self, year: int) -> None:
        super().__init__(f"no working-day calendar for the year {year}: add config/calendar/{year}.yaml")
        self.year = year


@dataclass(frozen=True)
class YearOverride:
    """Dates an operator sets for one year, copied from a named notice."""

    year: int
    notice: str
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)
    source: str = ""
    # when the notice was entered into dutywatch: before it the year was unannounced, and an
    # evaluation of an earlier instant (a backtest) sees it so; None: known at every instant
    entered: datetime | None = None


@functools.cache
def _package_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@functools.cache
def _package_last_year() -> int:
    """The last year of the package's notices (it covers an unbroken run of years)."""
    year = 2004
    while _package_covers(year + 1):
        year += 1
    return year


class WorkCalendar:
    """Working days with per-year indexes; every query is O(log n) after the year is built."""

    def __init__(
        self, overrides: Iterable[YearOverride] = (), *, unannounced: Unannounced = "provisional"
    ) -> None:
        self._overrides: dict[int, YearOverride] = {o.year: o for o in overrides}
        self._years: dict[int, list[int]] = {}  # year -> sorted ordinals of its working days
        self.unannounced: Unannounced = unannounced
        self._as_of: dict[frozenset[int], WorkCalendar] = {}

    def as_of(self, instant: datetime) -> WorkCalendar:
        """The calendar as dutywatch knew it at `instant`: a year whose notice was entered later is
        unannounced there. Evaluation takes it, so a backtest replays what the daemon saw, the
        switch from provisional to official included."""
        later = frozenset(
            year
            for year, o in self._overrides.items()
            if o.entered is not None and o.entered > instant and not _package_covers(year)
        )
        if not later:
            return self
        known = self._as_of.get(later)
        if known is None:
            kept = [o for year, o in self._overrides.items() if year not in later]
            known = self._as_of[later] = WorkCalendar(kept, unannounced=self.unannounced)
        return known

    def entered_between(self, after: datetime, until: datetime) -> bool:
        """A notice was entered in (after, until]: what the calendar knew changed in between."""
        return any(o.entered is not None and after < o.entered <= until for o in self._overrides.values())

    @property
    def overrides(self) -> Mapping[int, YearOverride]:
        return self._overrides

    def is_official(self, year: int) -> bool:
        """The year's days come from a State Council notice (the package or an override file)."""
        return year in self._overrides or _package_covers(year)

    def is_provisional(self, year: int) -> bool:
        """The year is unannounced and answered from the law alone (provisional mode).

        Only years after the package's last one are unannounced: a year before its first had a
        notice we do not hold, and guessing history is not what provisional is for.
        """
        return (
            self.unannounced == "provisional"
            and _package_last_year() < year <= LAST_YEAR
            and not self.is_official(year)
        )

    def covers(self, year: int) -> bool:
        """The calendar can answer for the year: officially, or provisionally."""
        return self.is_official(year) or self.is_provisional(year)

    def provisional_between(self, first: date, last: date) -> bool:
        """Some day from `first` to `last` (either order) lies in a provisional year."""
        lo, hi = sorted((first.year, last.year))
        return self.unannounced == "provisional" and any(self.is_provisional(y) for y in range(lo, hi + 1))

    def _workdays_of(self, year: int) -> list[int]:
        cached = self._years.get(year)
        if cached is not None:
            return cached
        if year > LAST_YEAR:
            raise CalendarNotCovered(year)
        override = self._overrides.get(year)
        from_package = _package_covers(year)
        if override is None and not from_package and not self.is_provisional(year):
            raise CalendarNotCovered(year)
        # an unannounced year: the law's rest days (an override file's dates win, as everywhere)
        by_law = statutory_rest_days(year) if override is None and not from_package else frozenset()
        days: list[int] = []
        day = date(year, 1, 1)
        while day.year == year:
            if override is not None and day in override.workdays:
                working = True
            elif override is not None and day in override.holidays:
                working = False
            elif from_package:
                working = bool(chinese_calendar.is_workday(day))
            else:
                # an override year follows Monday-Friday where its notice is silent; a provisional
                # year also rests on the statutory holidays
                working = day.weekday() < 5 and day not in by_law
            if working:
                days.append(day.toordinal())
            day += timedelta(days=1)
        self._years[year] = days
        return days

    def is_workday(self, day: date) -> bool:
        days = self._workdays_of(day.year)
        i = bisect.bisect_left(days, day.toordinal())
        return i < len(days) and days[i] == day.toordinal()

    def count_workdays(self, first: date, last: date) -> int:
        """Working days d with first <= d <= last (0 when last < first)."""
        if last < first:
            return 0
        total = 0
        for year in range(first.year, last.year + 1):
            days = self._workdays_of(year)
            lo = first if year == first.year else date(year, 1, 1)
            hi = last if year == last.year else date(year, 12, 31)
            total += bisect.bisect_right(days, hi.toordinal()) - bisect.bisect_left(days, lo.toordinal())
        return total

    def add_workdays(self, start: date, n: int) -> date:
        """The Nth working day after `start` (start itself not counted).

        n = 0 means "the same working day": `start` when it is a working day, else the next one.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        if n == 0:
            return self.next_workday(start, include=True)
        year = start.year
        days = self._workdays_of(year)
        i = bisect.bisect_right(days, start.toordinal())  # first working day after start
        remaining = n
        while True:
            available = len(days) - i
            if remaining <= available:
                return date.fromordinal(days[i + remaining - 1])
            remaining -= available
            year += 1
            days = self._workdays_of(year)
            i = 0

    def next_workday(self, day: date, *, include: bool = False) -> date:
        """The first working day after `day` (or `day` itself when include and it is one)."""
        if include and self.is_workday(day):
            return day
        return self.add_workdays(day, 1)

    def missing_years(self, years: Iterable[int]) -> list[int]:
        """The years the calendar cannot answer for at all (strict mode, unannounced)."""
        return [y for y in years if not self.covers(y)]

    def unofficial_years(self, years: Iterable[int]) -> list[int]:
        """The years with no State Council notice loaded, provisional or not."""
        return [y for y in years if not self.is_official(y)]


_OVERRIDE_KEYS = ("year", "notice", "holidays", "workdays", "entered")


def load_overrides(directory: Path) -> tuple[list[YearOverride], list[SourceError]]:
    """Read every `YYYY.yaml` in the directory; problems come back as file:line errors.

    Every problem of a file is reported in the one run (a file with any is not loaded): an
    operator fixing a notice's file should not learn of its mistakes one `check-config` at a time.
    """
    overrides: list[YearOverride] = []
    errors: list[SourceError] = []
    if not directory.is_dir():
        return overrides, errors
    for path in sorted(directory.glob("*.yaml")):
        try:
            doc = load_yaml_mapping(path)
        except SourceError as exc:
            errors.append(exc)
            continue
        override, problems = _read_override(doc, path)
        errors.extend(problems)
        if override is not None:
            overrides.append(override)
    return overrides, errors


def _read_override(doc: YamlDocument, path: Path) -> tuple[YearOverride | None, list[SourceError]]:
    """One year file: its override, or every problem it has, in plain words."""
    data = doc.data
    errors = _unknown_keys(doc)
    year = _year(doc, path, errors)
    notice = data.get("notice")
    if not isinstance(notice, str) or not notice.strip():
        errors.append(doc.error(("notice",), "name the State Council notice this year copies"))
    entered = _entered(doc, errors)
    holidays = _dates(doc, "holidays", year, errors)
    workdays = _dates(doc, "workdays", year, errors)
    both = holidays & workdays
    if both:
        listed = ", ".join(d.isoformat() for d in sorted(both))
        errors.append(doc.error(("workdays",), f"dates both holiday and workday: {listed}"))
    if errors or year is None or not isinstance(notice, str):
        return None, errors
    return YearOverride(year, notice.strip(), holidays, workdays, str(path), entered), []


def _unknown_keys(doc: YamlDocument) -> list[SourceError]:
    """A misspelt key (`holiday:`) would otherwise drop its dates without a word."""
    return [
        doc.error((key,), f"unknown key {_plain(key)} (use {', '.join(_OVERRIDE_KEYS)})")
        for key in doc.data
        if key not in _OVERRIDE_KEYS
    ]


def _year(doc: YamlDocument, path: Path, errors: list[SourceError]) -> int | None:
    """The file's year, as its name says; None when it is no year (the dates are still checked,
    though not against a year)."""
    year = doc.data.get("year")
    if not isinstance(year, int) or not 1990 <= year <= LAST_YEAR:
        errors.append(doc.error(("year",), "year must be a four-digit integer"))
        return None
    if path.stem != str(year):
        errors.append(
            doc.error(("year",), f"the file {path.name} must hold the year {path.stem}, not {year}")
        )
    return year


def _entered(doc: YamlDocument, errors: list[SourceError]) -> datetime | None:
    """When the file was entered (an ISO 8601 instant), if it says."""
    entered = doc.data.get("entered")
    if entered is None:
        return None
    try:
        return parse_instant(entered.isoformat() if isinstance(entered, datetime) else str(entered))
    except ValueError as exc:
        errors.append(doc.error(("entered",), f"entered must be an ISO 8601 instant: {exc}"))
        return None


def _dates(doc: YamlDocument, key: str, year: int | None, errors: list[SourceError]) -> frozenset[date]:
    """The dates listed under `key`, each a date of the file's year."""
    values = doc.data.get(key) or []
    if not isinstance(values, list):
        errors.append(doc.error((key,), f"{key} must be a list of dates"))
        return frozenset()
    dates: set[date] = set()
    for i, value in enumerate(values):
        day = _date_in(doc, (key, i), value, year, errors)
        if day is not None:
            dates.add(day)
    return frozenset(dates)


def _date_in(
    doc: YamlDocument, where: tuple[str, int], value: object, year: int | None, errors: list[SourceError]
) -> date | None:
    """The value as a date in `year` (an ISO 8601 string will do), or None and the problem."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = date.fromisoformat(value)
    if not isinstance(value, date):
        errors.append(doc.error(where, f"{_plain(value)} is not a date{f' in {year}' if year else ''}"))
        return None
    if year is not None and value.year != year:
        errors.append(doc.error(where, f"{value.isoformat()} is not a date in {year}"))
        return None
    return value


def _plain(value: object) -> str:
    """A value from a YAML file as its reader wrote it: `'next monday'`, `[1, 2]`, not a Python repr."""
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, date):
        return value.isoformat()
    return (
        yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip().removesuffix("...").strip()
    )


def load_calendar(directory: Path, unannounced: Unannounced = "provisional") -> WorkCalendar:
    """The calendar with the directory's overrides; raises the first SourceError, if any."""
    overrides, errors = load_overrides(directory)
    if errors:
        raise errors[0]
    return WorkCalendar(overrides, unannounced=unannounced)


__all__ = [
    "CalendarNotCovered",
    "Unannounced",
    "WorkCalendar",
    "YearOverride",
    "load_calendar",
    "load_overrides",
]
