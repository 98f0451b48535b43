"""`dutywatch calendar add-workdays DATE N`, `calendar is-workday DATE`, `calendar import-notice FILE`.

A year the calendar does not cover exits 3 and names the year (strict mode, or a year before
the package); an answer resting on an unannounced year is printed as usual, with a warning on
stderr that it is provisional.
`import-notice` exits 1 on a text it cannot read whole, naming the line, and when the
operator declines.
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from monitor.calendar.working_days import CalendarNotCovered, Unannounced, WorkCalendar
from monitor.cli.context import Context, pass_context
from monitor.cli.options import now_option

if TYPE_CHECKING:
    from monitor.calendar.notice import Notice
    from monitor.calendar.notice_import import ImportPlan


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not a date (YYYY-MM-DD): {value!r}") from None


@click.group()
def calendar() -> None:
    """The official working-day calendar."""


@calendar.command("add-workdays")
@click.argument("start")
@click.argument("n", type=click.IntRange(min=0))
@pass_context
def add_workdays(ctx: Context, start: str, n: int) -> None:
    """Print the deadline: the end of the Nth working day after START (START not counted)."""
    cal = ctx.calendar()
    first = _date(start)
    try:
        deadline = cal.add_workdays(first, n)
    except CalendarNotCovered as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(3)
    click.echo(deadline.isoformat())
    _say_if_provisional(cal, first, deadline)


@calendar.command("is-workday")
@click.argument("day")
@pass_context
def is_workday(ctx: Context, day: str) -> None:
    """Print `workday` or `rest-day`."""
    cal = ctx.calendar()
    when = _date(day)
    try:
        working = cal.is_workday(when)
    except CalendarNotCovered as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(3)
    click.echo("workday" if working else "rest-day")
    _say_if_provisional(cal, when, when)


def _say_if_provisional(cal: WorkCalendar, first: date, last: date) -> None:
    """A warning on stderr when the answer rests on a year whose notice is not loaded (stdout
    keeps the plain answer scripts read)."""
    years = [y for y in range(first.year, last.year + 1) if cal.is_provisional(y)]
    if years:
        click.echo(
            f"warning: provisional: no State Council notice loaded for {', '.join(map(str, years))}; "
            "counted on the statutory holidays alone (no make-up working days): "
            "`dutywatch calendar import-notice FILE` when the notice is out",
            err=True,
        )


@calendar.command("import-notice")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--year", type=click.IntRange(1990, 2200), help="The notice's year (required when the text has no title)."
)
@click.option("--yes", is_flag=True, help="Write without asking.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the year files (default calendar.overrides_dir); the difference is against its calendar.",
)
@now_option("The instant the import takes effect")
@pass_context
def import_notice(
    ctx: Context, file: Path, year: int | None, yes: bool, out: Path | None, now: datetime
) -> None:
    """Write config/calendar/YYYY.yaml from the State Council's holiday notice in FILE.

    The file records when it was entered: evaluations of earlier instants (a backtest) keep
    seeing the year as it was, so they replay what the daemon knew. A year already on file
    (amended by the next year's notice, or imported again) keeps the instant it was first entered."""
    notice = _read_notice(file, year)
    folder = out if out is not None else ctx.settings.calendar.overrides_dir
    plan = _plan(notice, file, folder, ctx.settings.calendar.unannounced)
    _show(plan)
    for year_file in plan.files:
        if not year_file.amends:  # a year already on file keeps the instant it was entered
            year_file.entered = now
    if not yes and not click.confirm("Write?", default=False):
        click.echo("Nothing written.", err=True)
        sys.exit(1)
    _write(plan)


def _read_notice(file: Path, year: int | None) -> Notice:
    """The notice in FILE, or exit 1 naming the line it cannot read."""
    from monitor.calendar.notice import NoticeError, parse_notice

    try:
        return parse_notice(_read_text(file), year)
    except UnicodeDecodeError:
        _fail(f"{file}: neither UTF-8 nor GB18030 text; nothing written")
    except NoticeError as exc:
        _fail(f"{file}:{exc.line}: {exc.reason}; nothing written")


def _plan(notice: Notice, file: Path, folder: Path, unannounced: Unannounced) -> ImportPlan:
    """What the notice changes in the folder's calendar, or exit 1 when the folder's files are
    broken or the notice contradicts them."""
    from monitor.calendar.notice_import import ImportRefused, plan_import
    from monitor.calendar.working_days import load_calendar
    from monitor.yamlsource import SourceError

    try:
        cal = load_calendar(folder, unannounced)
    except SourceError as exc:
        _fail(f"{exc}; nothing written")
    try:
        return plan_import(notice, cal, folder)
    except ImportRefused as exc:
        _fail(f"{file}:{exc.line}: {exc.reason}; nothing written")


def _show(plan: ImportPlan) -> None:
    """The notice, what it changes and the files it would write, for the operator to confirm."""
    notice = plan.notice
    click.echo(
        f"{notice.name}: {len(notice.holidays())} weekdays off, {len(notice.workdays())} weekend days worked"
    )
    if plan.changes:
        click.echo(f"Changes to the {plan.source} calendar of {notice.year}:")
        for change in plan.changes:
            click.echo(f"  {change.render()}")
    else:
        click.echo(f"No difference from the {plan.source} calendar of {notice.year}.")
    for line in plan.ignored:
        click.echo(f"  {line}")
    for lineno, sentence in notice.advisories:
        click.echo(f"  note: line {lineno} sets no date: {sentence}")
    for year_file in plan.files:
        verb = "replace" if year_file.path.exists() else "create"
        click.echo(f"Will {verb} {year_file.path}")


def _write(plan: ImportPlan) -> None:
    from monitor.calendar.notice_import import write_year_files

    try:
        write_year_files(plan.files)
    except OSError as exc:
        _fail(f"cannot write: {exc}; nothing written")
    for year_file in plan.files:
        click.echo(f"wrote {year_file.path}")


def _read_text(file: Path) -> str:
    """The file as UTF-8, else GB18030: notices saved on Chinese Windows machines are often GBK."""
    data = file.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)
