"""`dutywatch evaluate --at DATETIME [--format json|table] [--commit]`."""

from __future__ import annotations

import json

import click

from monitor.cli.context import Context, pass_context
from monitor.cli.output import table


@click.command()
@click.option("--at", "at_text", required=True, help="The instant (ISO 8601; no offset means Asia/Shanghai).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--commit", is_flag=True, help="Record alert and obligation state (default: dry run).")
@click.option(
    "--lang", type=click.Choice(["zh", "en"]), default=None, help="Message language (default from config)."
)
@pass_context
def evaluate(ctx: Context, at_text: str, fmt: str, commit: bool, lang: str | None) -> None:
    """Print the alerts firing at an instant."""
    from monitor.alerts.lifecycle import commit_evaluation
    from monitor.clock import iso_shanghai, parse_instant
    from monitor.evaluation.evaluate import uncomputable_summary
    from monitor.store.db import session_factory

    try:
        at = parse_instant(at_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None
    evaluator = ctx.evaluator()
    engine = ctx.engine()
    with session_factory(engine)() as session:
        result = evaluator.evaluate(session, ctx.settings, at, language=lang)
        if commit:
            changes = commit_evaluation(session, result)
            session.commit()
            click.echo(f"committed: {len(changes)} alert transitions", err=True)
    for problem in [*result.problems, *uncomputable_summary(result.obligations)]:
        click.echo(f"warning: {problem}", err=True)
    if fmt == "json":
        click.echo(json.dumps([a.record() for a in result.alerts], ensure_ascii=False, indent=2))
    else:
        rows = [
            (
                a.rule,
                a.subject,
                a.period or "-",
                a.state,
                a.level,
                iso_shanghai(a.due_at)[:16] + (" (provisional)" if a.provisional else ""),
                ",".join(a.recipients),
            )
            for a in result.alerts
        ]
        click.echo(
            table(["rule", "subject", "period", "state", "level", "due", "recipients"], rows, max_width=44)
        )
        provisional = sum(a.provisional for a in result.alerts)
        note = f", {provisional} on a provisional calendar" if provisional else ""
        click.echo(
            f"\n{len(result.alerts)} alerts at {iso_shanghai(at)} ({len(result.inhibited)} inhibited{note})"
        )
