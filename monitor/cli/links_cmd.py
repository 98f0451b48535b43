"""`dutywatch links`: revoke the action links sent to an official (monitor/alerts/links.py)."""

from __future__ import annotations

import sys

import click

from monitor.cli.context import Context, pass_context


@click.group()
def links() -> None:
    """Action links in notifications."""


@links.command("revoke")
@click.option("--official", "official_id", required=True, help="The official's id in the roster.")
@pass_context
def links_revoke(ctx: Context, official_id: str) -> None:
    """Void every link this official was ever sent (a lost phone, a changed post). Audited."""
    from monitor.alerts.links import revoke
    from monitor.audit import add_entry, cli_actor
    from monitor.clock import utcnow
    from monitor.store.db import session_factory
    from monitor.store.models import Official

    with session_factory(ctx.engine())() as session:
        if session.get(Official, official_id) is None:
            click.echo(f"error: no official {official_id!r} in the roster", err=True)
            sys.exit(1)
        actor = cli_actor()
        generation = revoke(session, official_id, utcnow(), actor)
        add_entry(
            session,
            "links.revoke",
            f"official {official_id}",
            actor=actor,
            source="cli",
            detail={"generation": generation},
        )
        session.commit()
    click.echo(f"revoked the links of {official_id} (generation {generation})")
