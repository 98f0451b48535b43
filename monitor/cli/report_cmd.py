"""`dutywatch report --period YYYY-MM [--format html|csv|xlsx] [--out FILE]`.

The report is made as of the wall clock, read here at the entry point and nowhere else; the
hidden `--now` stands in for it in tests. A month that has not begun is refused with exit 4.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from monitor.cli.context import Context, pass_context

PERIOD_NOT_BEGUN = 4  # distinct from 1 (errors), 2 (usage) and 3 (a year the calendar lacks)


@click.command()
@click.option("--period", required=True, help="The month, YYYY-MM.")
@click.option(
    "--format", "fmt", type=click.Choice(["html", "csv", "xlsx"]), default="html", show_default=True
)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file (XLSX needs one)."
)
@click.option("--now", "now_text", hidden=True, help="Make the report as of this instant (tests).")
@pass_context
def report(ctx: Context, period: str, fmt: str, out: Path | None, now_text: str | None) -> None:
    """The monthly report per unit, with the notice lists of 制度十二.

    Exit 4 for a month that has not begun; a month not yet ended is reported as unfinished.
    """
    from monitor.clock import parse_instant, utcnow
    from monitor.periods import parse_period
    from monitor.reports.monthly import PeriodNotBegun, monthly_report
    from monitor.reports.render import to_csv, to_html, to_xlsx
    from monitor.store.db import session_factory

    try:
        month = parse_period(period)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from None
    if month.kind != "month":
        raise click.BadParameter("the report covers a month (YYYY-MM)", param_hint="--period")
    if fmt == "xlsx" and out is None:
        raise click.UsageError("an XLSX report needs --out FILE")
    try:
        now = utcnow() if now_text is None else parse_instant(now_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--now") from None
    evaluator = ctx.evaluator()
    with session_factory(ctx.engine())() as session:
        try:
            result = monthly_report(
                session, evaluator.rulebook, evaluator.calendar, ctx.settings, month, evaluator.matcher, now
            )
        except PeriodNotBegun as exc:
            click.echo(f"error: {exc}: there is nothing to report yet", err=True)
            sys.exit(PERIOD_NOT_BEGUN)
        finally:
            session.rollback()
    text = (
        None if fmt == "xlsx" else to_csv(result) if fmt == "csv" else to_html(result, ctx.settings.district)
    )
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        # a folder named for the month (reports/2026-11/...) need not exist yet
        out.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            to_xlsx(result, out)
        else:
            out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(f"wrote {out}")
