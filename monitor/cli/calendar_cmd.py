"""`dutywatch calendar add-workdays DATE N` and `calendar is-workday DATE`.

A year the calendar does not cover exits 3 and names the year.
"""

from __future__ import annotations

import sys
from datetime import date

import click

from monitor.calendar import CalendarNotCovered
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
    try:
        click.echo(ctx.calendar().add_workdays(_date(start), n).isoformat())
    except CalendarNotCovered as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(3)


@calendar.command("is-workday")
@click.argument("day")
@pass_context
def is_workday(ctx: Context, day: str) -> None:
    """Print `workday` or `rest-day`."""
    try:
        click.echo("workday" if ctx.calendar().is_workday(_date(day)) else "rest-day")
    except CalendarNotCovered as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(3)
