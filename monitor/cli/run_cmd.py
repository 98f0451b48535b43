"""`dutywatch run` (the daemon), `dutywatch check` (health probe) and `dutywatch token`."""

from __future__ import annotations

import asyncio
import sys

import click

from monitor.cli import Context, pass_context


@click.command()
@pass_context
def run(ctx: Context) -> None:
    """Run the daemon: ticks, the HTTP API and metrics, until SIGTERM."""
    from monitor.daemon import serve
    from monitor.logs import setup_logging
    from monitor.yamlsource import SourceError

    setup_logging()
    try:
        code = asyncio.run(serve(ctx.settings, ctx.config_path))
    except SourceError as exc:
        click.echo(f"cannot start: {exc}", err=True)
        sys.exit(1)
    sys.exit(code)


@click.command()
@pass_context
def check(ctx: Context) -> None:
    """Exit 0 when the daemon's heartbeat is fresh, else 1 (for container health checks)."""
    from monitor.clock import utcnow
    from monitor.service import heartbeat_age

    age = heartbeat_age(ctx.settings.heartbeat_file, utcnow())
    limit = ctx.settings.heartbeat_max_age_seconds
    if age is None:
        click.echo(f"unhealthy: no heartbeat at {ctx.settings.heartbeat_file}", err=True)
        sys.exit(1)
    if age > limit:
        click.echo(f"unhealthy: last tick {age:.0f}s ago (limit {limit:.0f}s)", err=True)
        sys.exit(1)
    click.echo(f"healthy: last tick {age:.0f}s ago")


@click.group()
def token() -> None:
    """API tokens (stored hashed; shown once)."""


@token.command("create")
@click.option("--name", required=True)
@click.option("--scopes", required=True, help="Comma-separated: ingest, read, admin.")
@pass_context
def token_create(ctx: Context, name: str, scopes: str) -> None:
    from sqlalchemy.exc import IntegrityError

    from monitor.clock import utcnow
    from monitor.store.db import session_factory
    from monitor.tokens import create_token, parse_scopes

    try:
        parsed = parse_scopes(scopes)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--scopes") from None
    with session_factory(ctx.engine())() as session:
        try:
            secret = create_token(session, name, parsed, utcnow())
            session.commit()
        except IntegrityError:
            click.echo(f"error: a token named {name!r} exists", err=True)
            sys.exit(1)
    click.echo(secret)


@token.command("list")
@pass_context
def token_list(ctx: Context) -> None:
    from sqlalchemy import select

    from monitor.cli.output import table
    from monitor.clock import iso_shanghai
    from monitor.store.db import session_factory
    from monitor.store.models import ApiToken

    with session_factory(ctx.engine())() as session:
        rows = [
            (
                t.name,
                t.scopes,
                iso_shanghai(t.created_at),
                iso_shanghai(t.revoked_at) if t.revoked_at else "-",
            )
            for t in session.scalars(select(ApiToken).order_by(ApiToken.name))
        ]
    click.echo(table(["name", "scopes", "created", "revoked"], rows))


@token.command("revoke")
@click.argument("name")
@pass_context
def token_revoke(ctx: Context, name: str) -> None:
    from sqlalchemy import select

    from monitor.clock import utcnow
    from monitor.store.db import session_factory
    from monitor.store.models import ApiToken

    with session_factory(ctx.engine())() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.name == name)).first()
        if row is None:
            click.echo(f"error: no token named {name!r}", err=True)
            sys.exit(1)
        row.revoked_at = row.revoked_at or utcnow()
        session.commit()
    click.echo(f"revoked {name}")
