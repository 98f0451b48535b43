"""`dutywatch db upgrade`."""

from __future__ import annotations

import click

from monitor.cli.context import Context, pass_context


@click.group()
def db() -> None:
    """Database schema management."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_context
def upgrade_cmd(ctx: Context, revision: str) -> None:
    """Apply the schema migrations."""
    from monitor.store.db import upgrade

    upgrade(ctx.engine(upgrade=False), revision)
    click.echo(f"database at {revision}")
