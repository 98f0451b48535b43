"""`dutywatch run`: the daemon, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import click

from monitor.cli.context import Context, pass_context
from monitor.logs import FORMATS, LEVELS, LogFormat


@click.command()
@click.option(
    "--log-level",
    type=click.Choice(LEVELS, case_sensitive=False),
    default="info",
    show_default=True,
    envvar="DUTYWATCH_LOG_LEVEL",
    help="Least severe level logged; APScheduler's per-run lines are DEBUG.",
)
@click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    default="json",
    show_default=True,
    envvar="DUTYWATCH_LOG_FORMAT",
    help="JSON lines for a log pipeline, or text for people; times are Asia/Shanghai (+08:00).",
)
@pass_context
def run(ctx: Context, log_level: str, log_format: LogFormat) -> None:
    """Run the daemon: ticks, the HTTP API and metrics, until SIGTERM (drains within 10 s)."""
    from monitor.daemon import serve
    from monitor.logs import setup_logging
    from monitor.yamlsource import SourceError

    setup_logging(log_level, log_format)
    try:
        code = asyncio.run(serve(ctx.settings, ctx.config_path))
    except SourceError as exc:
        click.echo(f"cannot start: {exc}", err=True)
        sys.exit(1)
    if code != 0:
        # an evaluation stuck past the drain must not keep the process alive at interpreter exit
        logging.shutdown()
        os._exit(code)
