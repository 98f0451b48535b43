"""`dutywatch alerts list|ack` and `dutywatch outbox list|retry`: readable tables, or JSON."""

from __future__ import annotations

import json
import sys

import click
from sqlalchemy import select, update

from monitor.alerts.acks import ack_history, acknowledge
from monitor.audit import ACTIONS, MAX_LIMIT, add_entry, as_json, cli_actor, entries
from monitor.cli.context import Context, pass_context
from monitor.cli.output import listing, table
from monitor.clock import iso_shanghai, utcnow
from monitor.evaluation.obligations import STATUSES
from monitor.rulebook import RULE_IDS
from monitor.store.db import session_factory
from monitor.store.models import OPEN_STATES, AlertRecord, Notification

FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
# a misspelt value would otherwise filter to an empty table and exit 0: click refuses it (exit 2)
ALERT_STATES = ("warning", "overdue", "resolved")
RULE = click.Choice(RULE_IDS)


@click.group()
def alerts() -> None:
    """Alert records as the daemon committed them."""


@alerts.command("list")
@click.option("--state", type=click.Choice(ALERT_STATES), help="Default: all but resolved.")
@click.option("--rule", type=RULE)
@click.option("--unit")
@click.option("--level", type=click.IntRange(0, 9))  # as the API: levels are 0-5, 9 at most
@FORMAT
@pass_context
def alerts_list(
    ctx: Context, state: str | None, rule: str | None, unit: str | None, level: int | None, fmt: str
) -> None:
    stmt = select(AlertRecord).order_by(AlertRecord.rule, AlertRecord.subject, AlertRecord.period)
    stmt = stmt.where(AlertRecord.state == state) if state else stmt.where(AlertRecord.state.in_(OPEN_STATES))
    for column, value in ((AlertRecord.rule, rule), (AlertRecord.unit_id, unit), (AlertRecord.level, level)):
        if value is not None:
            stmt = stmt.where(column == value)
    with session_factory(ctx.engine())() as session:
        rows = list(session.scalars(stmt))
        acks = ack_history(session, rows)
    if fmt == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "rule": r.rule,
                        "subject": r.subject,
                        "period": r.period or None,
                        "state": r.state,
                        "level": r.level,
                        "due": iso_shanghai(r.due_at),
                        "recipients": r.recipients,
                        "acked_by": r.acked_by,
                        "acks": acks.get(r.id, []),  # every acknowledgement since it fired, oldest first
                        "inhibited_by": r.inhibited_by,
                    }
                    for r in rows
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    click.echo(
        table(
            ["id", "rule", "subject", "period", "state", "level", "due", "acked"],
            [
                (
                    r.id,
                    r.rule,
                    r.subject,
                    r.period or "-",
                    r.state,
                    r.level,
                    iso_shanghai(r.due_at)[:16],
                    r.acked_by or "-",
                )
                for r in rows
            ],
            max_width=44,
        )
    )


@alerts.command("ack")
@click.argument("alert_id", type=int)
@click.option("--by", "who", required=True, help="Who acknowledges.")
@click.option("--reason", required=True, help="Why (what is being done).")
@pass_context
def alerts_ack(ctx: Context, alert_id: int, who: str, reason: str) -> None:
    """Acknowledge an alert: it stops climbing toward new people; it still resolves when met."""
    with session_factory(ctx.engine())() as session:
        row = session.get(AlertRecord, alert_id)
        if row is None:
            click.echo(f"error: no alert {alert_id}", err=True)
            sys.exit(1)
        acknowledge(session, row, who=who, reason=reason, actor=cli_actor(), source="cli")
        session.commit()
    click.echo(f"acknowledged {alert_id}")


@click.group()
def outbox() -> None:
    """Notifications waiting, sent and dead-lettered."""


@outbox.command("list")
@click.option("--status", type=click.Choice(["queued", "sending", "sent", "dead"]))
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@FORMAT
@pass_context
def outbox_list(ctx: Context, status: str | None, limit: int, fmt: str) -> None:
    stmt = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(Notification.status == status)
    with session_factory(ctx.engine())() as session:
        rows = list(session.scalars(stmt))
    if fmt == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "channel": r.channel,
                        "recipient": r.recipient,
                        "kind": r.kind,
                        "status": r.status,
                        "attempts": r.attempts,
                        "subject": r.subject,
                        "error": r.last_error,
                    }
                    for r in rows
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    click.echo(
        table(
            ["id", "channel", "recipient", "kind", "status", "attempts", "subject", "error"],
            [
                (r.id, r.channel, r.recipient, r.kind, r.status, r.attempts, r.subject, r.last_error or "-")
                for r in rows
            ],
            max_width=40,
        )
    )


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all-dead", is_flag=True, help="Retry every dead-lettered notification.")
@pass_context
def outbox_retry(ctx: Context, ids: tuple[int, ...], all_dead: bool) -> None:
    """Queue dead-lettered notifications again (after fixing an address or a credential)."""
    if not ids and not all_dead:
        raise click.UsageError("give notification ids or --all-dead")
    stmt = update(Notification).where(Notification.status == "dead")
    if ids:
        stmt = stmt.where(Notification.id.in_(ids))
    with session_factory(ctx.engine())() as session:
        result = session.execute(
            stmt.values(status="queued", attempts=0, next_attempt_at=utcnow(), last_error=None)
        )
        add_entry(
            session,
            "outbox.retry",
            "all dead" if all_dead and not ids else ",".join(map(str, ids)),
            actor=cli_actor(),
            source="cli",
            detail={"queued": result.rowcount},  # type: ignore[attr-defined]
        )
        session.commit()
    click.echo(f"queued again: {result.rowcount}")  # type: ignore[attr-defined]


@click.group()
def silence() -> None:
    """Mute notifications of matching alerts for a while; the alerts stay visible, marked silenced."""


@silence.command("add")
@click.option("--rule", type=RULE)
@click.option("--unit", help="A unit id of the roster.")
@click.option("--subject", help="Exact, or a prefix ending in '*'.")
@click.option("--start", "start_text", help="ISO 8601 (default: now).")
@click.option("--end", "end_text", help="ISO 8601; or give --duration.")
@click.option("--duration", help="From --start: 90m, 2h, 3d, 1d12h (90 days at most).")
@click.option("--daily", help="Recur each day in this window, e.g. 12:00-13:30 (Asia/Shanghai).")
@click.option("--by", "who", required=True)
@click.option("--reason", required=True)
@pass_context
def silence_add(
    ctx: Context,
    rule: str | None,
    unit: str | None,
    subject: str | None,
    start_text: str | None,
    end_text: str | None,
    duration: str | None,
    daily: str | None,
    who: str,
    reason: str,
) -> None:
    from monitor.alerts.silence_admin import SilenceError, add_silence

    with session_factory(ctx.engine())() as session:
        try:
            row = add_silence(
                session,
                rule=rule,
                unit=unit,
                subject=subject,
                start=start_text,
                end=end_text,
                duration=duration,
                daily=daily,
                created_by=who,
                comment=reason,
                now=utcnow(),
                actor=cli_actor(),
                source="cli",
            )
        except SilenceError as exc:
            # a usage error (exit 2) naming the option, as click's own: the API names the key
            if exc.field == "matchers":
                raise click.UsageError("a silence needs at least one of --rule, --unit, --subject") from None
            option = {"created_by": "by", "comment": "reason"}.get(exc.field, exc.field)
            raise click.BadParameter(exc.reason, param_hint=f"'--{option}'") from None
        session.commit()
        click.echo(f"silence {row.id} until {iso_shanghai(row.ends_at)}")


@silence.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include expired silences.")
@FORMAT
@pass_context
def silence_list(ctx: Context, show_all: bool, fmt: str) -> None:
    from monitor.store.models import Silence

    stmt = select(Silence).order_by(Silence.id)
    if not show_all:
        stmt = stmt.where(Silence.ends_at > utcnow())
    with session_factory(ctx.engine())() as session:
        rows = list(session.scalars(stmt))
    items = [
        {
            "id": r.id,
            "rule": r.rule,
            "unit": r.unit_id,
            "subject": r.subject,
            "start": iso_shanghai(r.starts_at),
            "end": iso_shanghai(r.ends_at),
            "daily": r.daily,
            "by": r.created_by,
            "reason": r.reason,
        }
        for r in rows
    ]
    click.echo(listing(fmt, items, max_width=40))


@silence.command("expire")
@click.argument("silence_id", type=int)
@pass_context
def silence_expire(ctx: Context, silence_id: int) -> None:
    """End a silence now; one already over is left as it is."""
    from monitor.alerts.silence_admin import expire_silence

    with session_factory(ctx.engine())() as session:
        found = expire_silence(session, silence_id, now=utcnow(), actor=cli_actor(), source="cli")
        if found is None:
            click.echo(f"error: no silence {silence_id}", err=True)
            sys.exit(1)
        session.commit()
    click.echo(f"expired {silence_id}" if found[1] else f"silence {silence_id} had already ended")


@click.group()
def waiver() -> None:
    """Waive an obligation (enterprise closed or moved, pairing ended early, force majeure)."""


@waiver.command("add")
@click.option("--rule", type=RULE, required=True)
@click.option("--subject", required=True, help="As in the alert record, e.g. pairing:o-zhang:9132…")
@click.option("--period", default="", help="YYYY-MM, YYYY-Bn, YYYY-Hn, YYYY; empty for a clock.")
@click.option("--reason", required=True)
@click.option("--approver", required=True)
@pass_context
def waiver_add(ctx: Context, rule: str, subject: str, period: str, reason: str, approver: str) -> None:
    from monitor.waivers import WaiverError, add_waiver

    rulebook = ctx.rulebook()  # the configured rules: what their duties look like
    with session_factory(ctx.engine())() as session:
        try:
            row = add_waiver(
                session,
                rule=rule,
                subject=subject,
                period=period,
                reason=reason,
                approver=approver,
                actor=cli_actor(),
                source="cli",
                rulebook=rulebook,
            )
        except WaiverError as exc:
            if exc.conflict:
                click.echo(f"error: {exc.reason}", err=True)
                sys.exit(1)
            raise click.BadParameter(exc.reason, param_hint=f"--{exc.field}") from None
        session.commit()
        click.echo(f"waived {rule} {subject} {period or '-'} (waiver {row.id})")


@waiver.command("revoke")
@click.argument("waiver_id", type=int)
@pass_context
def waiver_revoke(ctx: Context, waiver_id: int) -> None:
    """Revoke a waiver: the duty is owed again from the next tick."""
    from monitor.waivers import revoke_waiver

    with session_factory(ctx.engine())() as session:
        if revoke_waiver(session, waiver_id, actor=cli_actor(), source="cli") is None:
            click.echo(f"error: no waiver {waiver_id}", err=True)
            sys.exit(1)
        session.commit()
    click.echo(f"revoked waiver {waiver_id}")


@waiver.command("list")
@FORMAT
@pass_context
def waiver_list(ctx: Context, fmt: str) -> None:
    from monitor.store.models import Waiver
    from monitor.waivers import waiver_json

    with session_factory(ctx.engine())() as session:
        items = [waiver_json(r) for r in session.scalars(select(Waiver).order_by(Waiver.id))]
    click.echo(listing(fmt, items, max_width=40))


@click.group()
def obligations() -> None:
    """Obligation statuses as the daemon last committed them."""


def _period_label(_: click.Context, __: click.Parameter, value: str | None) -> str | None:
    """A period label (YYYY-MM, YYYY-Bn, YYYY-Hn, YYYY), or a usage error: not an empty table."""
    from monitor.periods import parse_period

    if value is not None:
        try:
            parse_period(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


@obligations.command("list")
@click.option("--unit")
@click.option("--rule", type=RULE)
@click.option("--period", callback=_period_label, help="YYYY-MM, YYYY-Bn, YYYY-Hn or YYYY.")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True)
@FORMAT
@pass_context
def obligations_list(
    ctx: Context,
    unit: str | None,
    rule: str | None,
    period: str | None,
    status: str | None,
    limit: int,
    fmt: str,
) -> None:
    from monitor.obligation_status import obligation_json, obligations_query

    stmt = obligations_query(unit=unit, rule=rule, period=period, status=status).limit(limit)
    with session_factory(ctx.engine())() as session:
        items = [obligation_json(o) for o in session.scalars(stmt)]
    click.echo(listing(fmt, items, ["rule", "subject", "period", "unit", "due", "status"], max_width=44))


@click.group()
def audit() -> None:
    """Who did what, when, from where: acknowledgements, silences, waivers, reloads, roster changes."""


@audit.command("list")
@click.option("--since", "since_text", help="ISO 8601; default: everything.")
@click.option("--action", type=click.Choice(ACTIONS))
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=100, show_default=True)
@FORMAT
@pass_context
def audit_list(ctx: Context, since_text: str | None, action: str | None, limit: int, fmt: str) -> None:
    from monitor.clock import parse_instant

    try:
        since = parse_instant(since_text) if since_text else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    with session_factory(ctx.engine())() as session:
        items = [as_json(e) for e in entries(session, since=since, action=action, limit=limit)]
    columns = ["at", "actor", "action", "target", "source", "reason"]
    # an empty reason shows as "-" like a missing one
    click.echo(
        listing(
            fmt,
            items,
            columns,
            cells=lambda i: [*(i[c] for c in columns[:-1]), i["reason"] or "-"],
            max_width=50,
        )
    )
