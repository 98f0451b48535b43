"""`dutywatch backtest --from DATE --to DATE [--step 1d] [--format table|json]`: replay the stored
history through the current rules and print each alert transition. Writes nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import TypeVar

import click

from monitor.cli.context import Context, pass_context
from monitor.cli.output import table

_STEP = re.compile(r"^(\d+)([dhm])$")
T = TypeVar("T")


def parse_step(text: str) -> timedelta:
    m = _STEP.match(text.strip())
    if not m or int(m.group(1)) == 0:
        raise click.BadParameter(f"a step looks like 1d, 6h or 30m, not {text!r}", param_hint="--step")
    n = int(m.group(1))
    return {"d": timedelta(days=n), "h": timedelta(hours=n), "m": timedelta(minutes=n)}[m.group(2)]


def _parsed(parse: Callable[[str], T], text: str, option: str) -> T:
    """The option's value parsed, or a usage error naming the option and the value."""
    try:
        return parse(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not {_FORMS[option]}", param_hint=f"'{option}'") from None


_FORMS = {"--from": "a day (YYYY-MM-DD)", "--to": "a day (YYYY-MM-DD)", "--at": "a time of day (HH:MM)"}


@click.command()
@click.option("--from", "first", required=True, help="First day (YYYY-MM-DD, Asia/Shanghai).")
@click.option("--to", "last", required=True, help="Last day, inclusive.")
@click.option("--step", default="1d", show_default=True, help="Evaluate every step: 1d, 6h, 30m …")
@click.option(
    "--at", "at_time", default="09:00", show_default=True, help="Time of day of the daily instants."
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_context
def backtest(ctx: Context, first: str, last: str, step: str, at_time: str, fmt: str) -> None:
    """Print every alert transition (fired, escalated, resolved) the current rules give over the period."""
    from monitor.alerts.lifecycle import AlertStatus, Key, transitions
    from monitor.clock import SHANGHAI, iso_shanghai
    from monitor.store.db import session_factory

    start = datetime.combine(
        _parsed(date.fromisoformat, first, "--from"),
        _parsed(time.fromisoformat, at_time, "--at"),
        tzinfo=SHANGHAI,
    )
    end = datetime.combine(_parsed(date.fromisoformat, last, "--to"), time(23, 59, 59), tzinfo=SHANGHAI)
    if end < start:
        raise click.BadParameter("--to is before --from")
    delta = parse_step(step)
    evaluator = ctx.evaluator()
    previous: dict[Key, AlertStatus] = {}
    rows: list[tuple[str, str, str, str, str, int]] = []
    with session_factory(ctx.engine(upgrade=False))() as session:
        at = start
        while at <= end:
            result = evaluator.evaluate(session, ctx.settings, at)
            for change in transitions(previous, result):
                rows.append(
                    (
                        iso_shanghai(change.at),
                        change.rule,
                        change.subject,
                        change.period or "-",
                        change.change,
                        change.level,
                    )
                )
                if fmt == "json":
                    click.echo(json.dumps(change.record(), ensure_ascii=False))
            held = {k: v for k, v in previous.items() if k in result.held}  # set aside, kept as they were
            previous = held | {
                a.key: AlertStatus(a.state, a.level, a.due_at) for a in [*result.alerts, *result.inhibited]
            }
            for problem in result.problems:
                click.echo(f"warning: {at.date()}: {problem}", err=True)
            at += delta
        session.rollback()  # nothing is written: the replay only reads
    if fmt == "table":
        click.echo(table(["at", "rule", "subject", "period", "transition", "level"], rows, max_width=44))
        click.echo(f"\n{len(rows)} transitions from {first} to {last}")
