"""`dutywatch token create|list|revoke`: API tokens, stored only as SHA-256 hashes."""

from __future__ import annotations

import sys

import click

from monitor.cli.context import Context, pass_context


@click.group()
def token() -> None:
    """API tokens (stored hashed; a new token is shown once)."""


@token.command("create")
@click.option("--name", required=True, help="Who uses it; acknowledgements are recorded under it.")
@click.option("--scopes", required=True, help="Comma-separated: ingest, read, admin.")
@pass_context
def token_create(ctx: Context, name: str, scopes: str) -> None:
    """Print a new token once; only its hash is stored."""
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
    """Names, scopes, when made and when revoked; never the tokens."""
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
    """Refuse the token from now on (the row stays, for the record)."""
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
