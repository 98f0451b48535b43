"""`dutywatch run`: the daemon, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import click

from monitor.cli import Context, pass_context


@click.command()
@pass_context
def run(ctx: Context) -> None:
    """Run the daemon: ticks, the HTTP API and metrics, until SIGTERM (drains within 10 s)."""
    from monitor.daemon import serve
    from monitor.logs import setup_logging
    from monitor.yamlsource import SourceError

    setup_logging()
    try:
        code = asyncio.run(serve(ctx.settings, ctx.config_path))
    except SourceError as exc:
        click.echo(f"cannot start: {exc}", err=True)
        sys.exit(1)
    if code != 0:
        # an evaluation stuck past the drain must not keep the process alive at interpreter exit
        logging.shutdown()
        os._exit(code)
