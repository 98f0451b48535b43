"""`dutywatch check`: the health probe a container HEALTHCHECK or a monitor calls."""

from __future__ import annotations

import sys

import click

from monitor.cli.context import Context, pass_context


@click.command()
@pass_context
def check(ctx: Context) -> None:
    """Exit 0 when the daemon's heartbeat is fresh (heartbeat_max_age_seconds), else 1."""
    from monitor.clock import utcnow
    from monitor.runtime.heartbeat import heartbeat_age

    path, limit = ctx.settings.heartbeat_file, ctx.settings.heartbeat_max_age_seconds
    age = heartbeat_age(path, utcnow())
    if age is None:
        click.echo(f"unhealthy: no heartbeat at {path}", err=True)
        sys.exit(1)
    if age > limit:
        click.echo(f"unhealthy: last tick {age:.0f}s ago (limit {limit:.0f}s)", err=True)
        sys.exit(1)
    click.echo(f"healthy: last tick {age:.0f}s ago")
