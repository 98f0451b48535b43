"""`dutywatch calendar add-workdays DATE N` and `calendar is-workday DATE`.

A year the calendar does not cover exits 3 and names the year (strict mode, or a year before
the package); an answer resting on an unannounced year is printed as usual, with a warning on
stderr that it is provisional.
"""

from __future__ import annotations

import sys
from datetime import date

import click

from monitor.calendar import CalendarNotCovered, WorkCalendar
from monitor.cli import Context, pass_context


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
