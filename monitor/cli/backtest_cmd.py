"""`dutywatch backtest --from DATE --to DATE [--step 1d] [--format table|json]`: replay the stored
history through the current rules and print each alert transition. Writes nothing."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta

import click

from monitor.cli import Context, pass_context
from monitor.cli.output import table

_STEP = re.compile(r"^(\d+)([dhm])$")


def parse_step(text: str) -> timedelta:
    m = _STEP.match(text.strip())
    if not m or int(m.group(1)) == 0:
        raise click.BadParameter(f"a step looks like 1d, 6h or 30m, not {text!r}", param_hint="--step")
    n = int(m.group(1))
    return {"d": timedelta(days=n), "h": timedelta(hours=n), "m": timedelta(minutes=n)}[m.group(2)]


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
    from monitor.alerting import AlertStatus, Key, transitions
    from monitor.clock import SHANGHAI, iso_shanghai
    from monitor.engine import DurableMatcher
    from monitor.evaluation import evaluate
    from monitor.store.db import session_factory

    try:
        start = datetime.combine(date.fromisoformat(first), time.fromisoformat(at_time), tzinfo=SHANGHAI)
        end = datetime.combine(date.fromisoformat(last), time(23, 59, 59), tzinfo=SHANGHAI)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if end < start:
        raise click.BadParameter("--to is before --from")
    delta = parse_step(step)
    rulebook, calendar = ctx.rulebook(), ctx.calendar()
    matcher = DurableMatcher(rulebook)
    previous: dict[Key, AlertStatus] = {}
    rows: list[tuple[str, str, str, str, str, int]] = []
    with session_factory(ctx.engine(upgrade=False))() as session:
        at = start
        while at <= end:
            result = evaluate(session, rulebook, calendar, ctx.settings, at, matcher)
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
