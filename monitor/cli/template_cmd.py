"""`dutywatch template visits|contacts|cases|reviews [--out FILE]`: a blank ledger workbook."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("name", type=click.Choice(["visits", "contacts", "cases", "reviews"]))
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Default: <ledger title>.xlsx here."
)
def template(name: str, out: Path | None) -> None:
    """Write a blank ledger (台账) workbook with the Chinese headings `dutywatch import` reads."""
    from monitor.ingest.ledgers import LEDGERS, write_template

    path = out or Path(f"{LEDGERS[name][0]}.xlsx")
    write_template(name, path)
    click.echo(f"wrote {path}")
