"""`dutywatch check-config`: every problem in config, rules, calendar overrides and roster files,
as `file:line: reason` lines; exit 0 when there is none, else 1. Warnings (`warning: …` on stderr)
do not change the exit code: a roster unit the rules name but lack, and, from 1 November, a
calendar year with no State Council notice loaded (monitor/calendar/coverage.py)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.cli.context import Context, pass_context
from monitor.cli.options import now_option
from monitor.yamlsource import SourceError

if TYPE_CHECKING:
    from monitor.calendar.working_days import WorkCalendar


@click.command("check-config")
@click.option(
    "--roster",
    "roster_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Roster files to check as well (YAML, CSV or XLSX); repeatable.",
)
@now_option("The instant to judge calendar coverage at")
@pass_context
def check_config(ctx: Context, roster_files: tuple[Path, ...], now: datetime) -> None:
    """Validate config, rules, calendar overrides and roster; warn about calendar years to come."""
    from monitor.calendar.working_days import WorkCalendar, load_overrides
    from monitor.config import Settings, config_problems, load_settings, salvage_settings
    from monitor.rulebook import load_rules

    problems: list[SourceError] = list(config_problems(ctx.config_path))
    settings: Settings
    try:
        settings = load_settings(ctx.config_path, db_url=ctx.db_url)
    except SourceError as exc:
        if str(exc) not in {str(p) for p in problems}:  # the environment's, which the file check skips
            problems.append(exc)
        settings = salvage_settings(ctx.config_path)  # the file's problems are listed above
    problems.extend(load_rules(settings.rules_dir)[1])
    overrides, calendar_problems = load_overrides(settings.calendar.overrides_dir)
    problems.extend(calendar_problems)
    for path in roster_files:
        problems.extend(_roster_problems(path))
        _warn_missing_units(settings, path)
    # the files that did load decide, so a broken 2027.yaml shows as its error and this warning
    _warn_calendar(WorkCalendar(overrides, unannounced=settings.calendar.unannounced), now)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(f"{len(problems)} problem(s)", err=True)
        sys.exit(1)
    click.echo("ok: config, rules and calendar are valid", err=True)


def _warn_calendar(calendar: WorkCalendar, now: datetime) -> None:
    """Say which watched years lack a State Council notice, what happens, and how to fix it."""
    from monitor.calendar.coverage import coverage_warnings

    for warning in coverage_warnings(calendar, now):
        click.echo(f"warning: {warning.message}", err=True)


def _roster_problems(path: Path) -> list[SourceError]:
    from monitor.ingest.files import read_roster_file

    try:
        problems = read_roster_file(path)[1]
    except SourceError as exc:
        return [exc]
    out = []
    for problem in problems:
        file, line, _ = _split(f"{problem.ref}: ")
        out.append(
            SourceError(
                file, line, f"{problem.field}: {problem.reason}" if problem.field else str(problem.reason)
            )
        )
    return out


def _split(text: str) -> tuple[str, int, str]:
    """`file:line: reason` back into its parts (line 0 when the text has none)."""
    head, _, reason = text.partition(": ")
    file, _, line = head.rpartition(":")
    if file and line.isdigit():
        return file, int(line), reason
    return head, 0, reason


def _warn_missing_units(settings: object, path: Path) -> None:
    """Say which units the rules name but the roster lacks: their duties go unwatched."""
    from monitor.config import Settings
    from monitor.ingest.files import read_roster_file
    from monitor.roster import BUSINESS_OFFICE, CONDUCT_OFFICE
    from monitor.rulebook import load_rules

    assert isinstance(settings, Settings)
    rulebook = load_rules(settings.rules_dir)[0]
    try:
        roster = read_roster_file(path)[0]
    except SourceError:
        return
    if rulebook is None:
        return
    names = {r.values["name"] for r in roster.section("units")}
    for rule in rulebook:
        for name in rule.applies_to.unit_names:
            if name not in names:
                click.echo(
                    f"warning: {path}: no unit named {name}: {rule.id} is not watched for it", err=True
                )
    # the offices the ladders' roles name (monitor/roster.py): without one, its steps tell the
    # others on them, or the district leaders when nobody else is
    for role, office in (("business_office", BUSINESS_OFFICE), ("conduct_office", CONDUCT_OFFICE)):
        climbing = [r.id for r in rulebook if any(role in step.notify for step in r.escalation)]
        if climbing and office not in names:
            click.echo(
                f"warning: {path}: no unit named {office}: the {role} role of {', '.join(climbing)} "
                "reaches nobody there (the others on those steps, or the district leaders, are told)",
                err=True,
            )
