"""Turn a parsed holiday notice into calendar year files: the difference first, then the files.

`plan_import` compares the notice with what the calendar says now, day by day, and decides
which `YYYY.yaml` files to write; `write_year_files` writes them whole or not at all (each to a
temporary file in the same folder, renamed over the target only once every file is written).

A date the notice sets in the adjacent year (a make-up Saturday of late December) cannot go into
the notice year's file, whose loader accepts only dates of that year. The rule:

- the calendar already says the same for that date and the year is official: nothing to write,
  the date is reported as ignored;
- the year is official (chinesecalendar or an override file) and says otherwise: the date goes
  into that year's file — a new file for a package year (the dates listed win over the package),
  the existing file amended for a year that has one;
- the year has no notice loaded (provisional or not covered): the import is refused. A file
  holding that one date would make the whole year official and plain Monday to Friday, dropping
  the statutory holidays the provisional calendar keeps; that year's notice comes first.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from monitor.calendar.notice import Notice, NoticeDay
from monitor.calendar.working_days import CalendarNotCovered, WorkCalendar, YearOverride
from monitor.clock import iso_shanghai


class ImportRefused(Exception):
    """The notice cannot be applied as it stands (a date in a year with no notice loaded)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def _label(working: bool) -> str:
    return "workday" if working else "rest-day"


@dataclass(frozen=True)
class Change:
    """One day the notice answers differently from the calendar now."""

    day: date
    source: str  # official | provisional | uncovered: what the calendar rests on for that year
    before: bool | None  # None: the calendar cannot answer (strict mode, no data)
    after: bool
    reason: str  # the item, e.g. 春节 or 春节调休; empty when the notice does not name the day

    def render(self) -> str:
        before = f"{self.source}: {_label(self.before)}" if self.before is not None else self.source
        reason = f" ({self.reason})" if self.reason else ""
        return f"{self.day.isoformat()}  {before}  → notice: {_label(self.after)}{reason}"


@dataclass
class YearFile:
    """The content of one `YYYY.yaml` to write; dates map to a comment saying why.

    Mutable: the plan adds the days the package contradicts and the adjacent year's dates.
    """

    path: Path
    year: int
    notice: str
    holidays: dict[date, str] = field(default_factory=dict)
    workdays: dict[date, str] = field(default_factory=dict)
    # when the import takes effect: evaluations of earlier instants (backtests) still see the
    # year as it was before, provisional included
    entered: datetime | None = None
    # the year had a file already (an adjacent year's notice amends its last days, or a notice is
    # imported again): it keeps the instant it was entered, else the year would turn back to
    # provisional for every instant before this import
    amends: bool = False

    def as_override(self) -> YearOverride:
        """The file as the loader would read it."""
        return YearOverride(self.year, self.notice, frozenset(self.holidays), frozenset(self.workdays))

    def render(self) -> str:
        """The file in the override format of config/calendar/README.md."""
        lines = [
            "# Written by `dutywatch calendar import-notice`; check it with `dutywatch check-config`.",
            "# holidays: the Monday-to-Friday dates off; workdays: the Saturdays and Sundays worked.",
            f"year: {self.year}",
            # JSON quoting is valid YAML and keeps the title's brackets and colons literal
            f"notice: {json.dumps(self.notice, ensure_ascii=False)}",
        ]
        if self.entered is not None:
            lines.append(
                f"entered: {iso_shanghai(self.entered)}  # before this instant the year was as before"
            )
        for key, dates in (("holidays", self.holidays), ("workdays", self.workdays)):
            if not dates:
                lines.append(f"{key}: []")
                continue
            lines.append(f"{key}:")
            for day in sorted(dates):
                comment = f"  # {dates[day]}" if dates[day] else ""
                lines.append(f"  - {day.isoformat()}{comment}")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ImportPlan:
    """What an import would change and write."""

    notice: Notice
    source: str  # what the calendar rests on for the notice's year now
    changes: tuple[Change, ...]
    files: tuple[YearFile, ...]
    ignored: tuple[str, ...]


def _source(calendar: WorkCalendar, year: int) -> str:
    if calendar.is_official(year):
        return "official"
    return "provisional" if calendar.is_provisional(year) else "uncovered"


def _answer(calendar: WorkCalendar, day: date) -> bool | None:
    try:
        return calendar.is_workday(day)
    except CalendarNotCovered:
        return None


def _needs_line(entry: NoticeDay) -> bool:
    """A weekday off or a weekend day worked: the only days a year file lists."""
    return entry.working == (entry.day.weekday() >= 5)


def _year_changes(notice: Notice, calendar: WorkCalendar) -> list[Change]:
    source = _source(calendar, notice.year)
    changes: list[Change] = []
    day = date(notice.year, 1, 1)
    while day.year == notice.year:
        before, after = _answer(calendar, day), notice.is_workday(day)
        entry = notice.day(day)
        # an uncovered year has no answer to compare: show the days the file will list
        shown = before != after if before is not None else entry is not None and _needs_line(entry)
        if shown:
            changes.append(Change(day, source, before, after, entry.reason if entry else ""))
        day += timedelta(days=1)
    return changes


def plan_import(notice: Notice, calendar: WorkCalendar, folder: Path) -> ImportPlan:
    """The changes and files for `notice`; `calendar` is what `folder` gives now."""
    main = YearFile(
        folder / f"{notice.year}.yaml",
        notice.year,
        notice.name,
        {d.day: d.reason for d in notice.holidays()},
        {d.day: d.reason for d in notice.workdays()},
    )
    if (existing := calendar.overrides.get(notice.year)) is not None:
        main.entered, main.amends = existing.entered, True
    _complete_against_package(main, notice, calendar)
    changes = _year_changes(notice, calendar)
    ignored: list[str] = []
    adjacent: dict[int, YearFile] = {}
    for entry in notice.adjacent_days():
        year = entry.day.year
        before = _answer(calendar, entry.day)
        if not calendar.is_official(year):
            if _needs_line(entry) or before != entry.working:
                raise ImportRefused(
                    entry.line,
                    f"{entry.day} ({entry.reason}) lies in {year}, which has no "
                    f"notice loaded: import {year}'s notice first (a {year}.yaml holding only this date "
                    f"would make the rest of {year} plain Monday to Friday)",
                )
            continue
        if before == entry.working:
            if _needs_line(entry):
                ignored.append(
                    f"{entry.day.isoformat()}  {_label(entry.working)} ({entry.reason}): ignored, "
                    f"the official {year} calendar already has it"
                )
            continue
        target = adjacent.get(year) or _adjacent_file(calendar, folder, year, notice)
        comment = f"{entry.reason}, {notice.year}年通知"
        (target.workdays if entry.working else target.holidays)[entry.day] = comment
        (target.holidays if entry.working else target.workdays).pop(entry.day, None)
        adjacent[year] = target
        changes.append(Change(entry.day, "official", before, entry.working, entry.reason))
    return ImportPlan(
        notice,
        _source(calendar, notice.year),
        tuple(sorted(changes, key=lambda c: c.day)),
        (main, *(adjacent[y] for y in sorted(adjacent))),
        tuple(ignored),
    )


def _complete_against_package(main: YearFile, notice: Notice, calendar: WorkCalendar) -> None:
    """List the days the file leaves to chinesecalendar where the package says otherwise.

    Unlisted days of a year the package covers come from the package; should it disagree with
    the notice (an amended notice, or an older text imported over a newer package), the file
    names those days too, so that after the import the calendar is the notice's, as the
    difference shown promised. Elsewhere the file alone already gives the notice's days.
    """
    others = [o for y, o in calendar.overrides.items() if y != main.year]
    after = WorkCalendar([*others, main.as_override()], unannounced=calendar.unannounced)
    day = date(main.year, 1, 1)
    while day.year == main.year:
        working = notice.is_workday(day)
        if after.is_workday(day) != working:
            entry = notice.day(day)
            reason = f"{entry.reason if entry else 'not in the notice'}; chinesecalendar says otherwise"
            (main.workdays if working else main.holidays)[day] = reason
        day += timedelta(days=1)


def _adjacent_file(calendar: WorkCalendar, folder: Path, year: int, notice: Notice) -> YearFile:
    """The year file to amend: the existing override's dates, or a new file for a package year."""
    existing = calendar.overrides.get(year)
    if existing is None:
        return YearFile(folder / f"{year}.yaml", year, notice.name)
    return YearFile(
        folder / f"{year}.yaml",
        year,
        f"{existing.notice}；{notice.name}",
        dict.fromkeys(existing.holidays, ""),
        dict.fromkeys(existing.workdays, ""),
        existing.entered,
        amends=True,
    )


def write_year_files(files: tuple[YearFile, ...]) -> None:
    """Write every file or none: temporary files first, renamed over the targets at the end."""
    written: list[tuple[str, Path]] = []
    try:
        for year_file in files:
            year_file.path.parent.mkdir(parents=True, exist_ok=True)
            # the temporary name does not end in .yaml, so a reload meanwhile never reads it
            fd, temp = tempfile.mkstemp(
                dir=year_file.path.parent, prefix=f".{year_file.path.name}.", suffix=".tmp"
            )
            written.append((temp, year_file.path))
            # mkstemp makes the file private; keep the mode of the file replaced, else rw-r--r--
            mode = year_file.path.stat().st_mode & 0o777 if year_file.path.exists() else 0o644
            os.chmod(temp, mode)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(year_file.render())
                handle.flush()
                os.fsync(handle.fileno())
        for temp, path in written:
            os.replace(temp, path)
    except BaseException:
        for temp, _ in written:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        raise


__all__ = ["Change", "ImportPlan", "ImportRefused", "YearFile", "plan_import", "write_year_files"]
