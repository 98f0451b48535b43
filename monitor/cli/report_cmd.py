"""`dutywatch report --period YYYY-MM [--format html|csv|xlsx] [--out FILE]`."""

from __future__ import annotations

from pathlib import Path

import click

from monitor.cli import Context, pass_context


@click.command()
@click.option("--period", required=True, help="The month, YYYY-MM.")
@click.option(
    "--format", "fmt", type=click.Choice(["html", "csv", "xlsx"]), default="html", show_default=True
)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file (XLSX needs one)."
)
@pass_context
def report(ctx: Context, period: str, fmt: str, out: Path | None) -> None:
    """The monthly report per unit, with the notice lists of 制度十二."""
    from monitor.clock import utcnow
    from monitor.engine import DurableMatcher
    from monitor.periods import parse_period
    from monitor.report_render import to_csv, to_html, to_xlsx
    from monitor.reports import monthly_report
    from monitor.store.db import session_factory

    try:
        month = parse_period(period)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from None
    if month.kind != "month":
        raise click.BadParameter("the report covers a month (YYYY-MM)", param_hint="--period")
    if fmt == "xlsx" and out is None:
        raise click.UsageError("an XLSX report needs --out FILE")
    rulebook = ctx.rulebook()
    with session_factory(ctx.engine())() as session:
        result = monthly_report(
            session, rulebook, ctx.calendar(), ctx.settings, month, DurableMatcher(rulebook), utcnow()
        )
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
