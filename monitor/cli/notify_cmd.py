"""`dutywatch notify test`: a test message through the real outbox and channel, and its outcome."""

from __future__ import annotations

import asyncio
import json
import sys

import click

from monitor.cli.context import Context, pass_context


@click.group()
def notify() -> None:
    """Notifications: check that a channel reaches an official."""


@notify.command("test")
@click.option("--official", "official_id", required=True, help="The official's id in the roster.")
@click.option(
    "--channel",
    help="One configured channel (default: every configured channel with an address for them).",
)
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds to wait for a row the running daemon claimed first.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_context
def notify_test(ctx: Context, official_id: str, channel: str | None, wait_seconds: float, fmt: str) -> None:
    """Send a test message to an official: queued in the outbox, sent by the dispatcher with the
    configured channel, reported as the outbox recorded it. Exit 0 when every message was sent,
    1 when one failed or is not sent yet, 2 when refused (unknown official or channel)."""
    from monitor.alerts.dispatch import Dispatcher
    from monitor.alerts.testmessage import TestMessageRefused, queue_test, send_test
    from monitor.audit import cli_actor
    from monitor.cli.output import table
    from monitor.clock import utcnow
    from monitor.runtime.service import build_notifiers, worker_name
    from monitor.store.db import session_factory

    settings = ctx.settings
    configured = settings.channels()
    sessions = session_factory(ctx.engine())
    now = utcnow()
    with sessions() as session:
        try:
            ids = queue_test(session, official_id, channel, configured, now, actor=cli_actor(), source="cli")
        except TestMessageRefused as exc:
            click.echo(f"refused: {exc}", err=True)
            sys.exit(2)
        session.commit()
    # the channels as the daemon builds them from the same settings, and a dispatcher of its own
    # (this process is a worker like any other: the claim decides who sends)
    dispatcher = Dispatcher(
        sessions,
        build_notifiers(settings, configured),
        settings.notify,
        worker_name(),
        signatures=settings.sms_signatures(),
    )
    found = asyncio.run(send_test(dispatcher, sessions, ids, now, wait_seconds=wait_seconds))
    if fmt == "json":
        click.echo(json.dumps([r.as_json() for r in found], ensure_ascii=False, indent=2))
    else:
        rows = [(r.id, r.channel, r.status, r.detail) for r in found]
        click.echo(table(["outbox id", "channel", "status", "detail"], rows, max_width=100))
    sys.exit(0 if found and all(r.ok for r in found) else 1)
