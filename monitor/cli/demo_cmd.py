"""`dutywatch demo`: load a demo district whose history ends on a given day (default today)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click
import yaml

from monitor.cli.context import Context, pass_context
from monitor.cli.options import now_option


@click.command()
@click.option(
    "--end",
    "end_day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Last day of the history (YYYY-MM-DD; default: today in Asia/Shanghai).",
)
@click.option(
    "--seed", default=1, show_default=True, help="Random seed: the same seed gives the same district."
)
@click.option(
    "--reset",
    is_flag=True,
    help="Start afresh: remove the SQLite file, or drop dutywatch's tables (only those) from the "
    "PostgreSQL schema.",
)
@click.option(
    "--write-examples",
    "examples_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write roster.yaml and events.jsonl to this folder instead of loading them.",
)
@now_option("The instant to judge calendar coverage at")
@pass_context
def demo(
    ctx: Context,
    end_day: datetime | None,
    seed: int,
    reset: bool,
    examples_dir: Path | None,
    now: datetime,
) -> None:
    """Generate a realistic Suyu district with a year of events and load it (or write it out).

    Prints accepted / duplicate / rejected counts; exits 1 when anything was rejected, 3 when the
    calendar lacks a year of the history.
    """
    from monitor.calendar.working_days import CalendarNotCovered
    from monitor.clock import end_of_day, local_date, utcnow
    from monitor.demo.district import generate_district

    judged_at = now
    today = local_date(utcnow())
    end = end_day.date() if end_day else today
    try:
        roster, events = generate_district(end, seed=seed, calendar=ctx.calendar())
    except CalendarNotCovered as exc:
        click.echo(str(exc), err=True)
        sys.exit(3)
    if examples_dir is not None:
        examples_dir.mkdir(parents=True, exist_ok=True)
        header = f"# The example Suyu district (generated: dutywatch demo --end {end} --seed {seed} --write-examples).\n"
        (examples_dir / "roster.yaml").write_text(
            header + yaml.safe_dump(roster, allow_unicode=True, sort_keys=False, width=120), encoding="utf-8"
        )
        with (examples_dir / "events.jsonl").open("w", encoding="utf-8") as out:
            for event in events:
                out.write(json.dumps(event, ensure_ascii=False) + "\n")
        click.echo(f"wrote {len(events)} events and the roster to {examples_dir}")
        _warn_calendar(ctx, judged_at)
        return
    _load(ctx, roster, events, reset=reset, now=max(utcnow(), end_of_day(end)))
    # the district as it stands when the history ends: at the end of day D for `--end D` (even
    # today's or a future D: the summary speaks of the day asked for), else now
    _introduce(ctx, end_of_day(end, ctx.settings.calendar.end_of_day) if end_day else utcnow())
    _warn_calendar(ctx, judged_at)


def _warn_calendar(ctx: Context, at: datetime) -> None:
    """Say, last, which years lack a State Council notice: `make run` shows this before the daemon."""
    from monitor.calendar.coverage import coverage_warnings

    for warning in coverage_warnings(ctx.calendar(), at):
        click.echo(f"warning: {warning.message}", err=True)


def _introduce(ctx: Context, at: datetime) -> None:
    """Say where the API, the metrics and the demo's alerts (as of `at`) are, with a token to try them."""
    from sqlalchemy import select

    from monitor.clock import iso_shanghai, utcnow
    from monitor.store.db import session_factory
    from monitor.store.models import ApiToken
    from monitor.tokens import create_token

    evaluator = ctx.evaluator()
    with session_factory(ctx.engine())() as session:
        result = evaluator.evaluate(session, ctx.settings, at)
        token = None
        if session.scalar(select(ApiToken.id).where(ApiToken.name == "demo")) is None:
            token = create_token(session, "demo", ("ingest", "read", "admin"), utcnow())
            session.commit()
    url = f"http://{ctx.settings.listen}"
    overdue = sum(1 for a in result.alerts if a.state == "overdue")
    click.echo(f"{len(result.alerts)} alerts at {iso_shanghai(at)} ({overdue} overdue); for example:")
    for alert in result.alerts[:: max(1, len(result.alerts) // 5)][:5]:
        click.echo(f"  {alert.message}")
    click.echo(f"API:     {url}  (OpenAPI at {url}/openapi.json)")
    click.echo(f"status:  {url}/  (in a browser; sign in with the token below)")
    click.echo(f"metrics: {url}/metrics  (with a metrics or read token)")
    if token:
        click.echo(f"token:   {token}  (demo only; shown once)")
        click.echo(f"try:     curl -H 'Authorization: Bearer {token}' '{url}/v1/alerts?state=overdue'")
    else:
        click.echo("token:   make one with `dutywatch token create --name me --scopes read,ingest,admin`")


def _load(
    ctx: Context, roster: dict[str, object], events: list[dict[str, object]], *, reset: bool, now: datetime
) -> None:
    """Import the roster and the events through the ingest API, printing what became of them."""
    from sqlalchemy.engine import make_url

    from monitor.ingest.events import ingest_events
    from monitor.ingest.roster import load_roster, upsert_roster
    from monitor.store.db import drop_tables, normalise_url, session_factory

    url = make_url(normalise_url(ctx.settings.database_url))
    if reset:
        if url.get_backend_name() == "sqlite":
            if url.database and url.database != ":memory:":
                for suffix in ("", "-wal", "-shm"):
                    Path(url.database + suffix).unlink(missing_ok=True)
        else:
            # the schema may hold other applications' tables: drop only ours, then migrate afresh
            dropped = drop_tables(ctx.engine(upgrade=False))
            click.echo(f"demo reset: dropped {len(dropped)} dutywatch tables")
            ctx.close()  # the next ctx.engine() migrates the emptied schema
    with session_factory(ctx.engine())() as session:
        parsed, problems = load_roster(roster, "demo roster")
        parts = {
            "roster": problems + upsert_roster(session, parsed),
            "events": ingest_events(
                session, [(str(e["id"]), e) for e in events], now=now, settings=ctx.settings
            ),
        }
        session.commit()
    rejected = False
    for part, outcomes in parts.items():
        counts = {s: sum(1 for o in outcomes if o.status == s) for s in ("accepted", "duplicate", "rejected")}
        click.echo(
            f"demo {part}: {counts['accepted']} accepted, {counts['duplicate']} duplicate, {counts['rejected']} rejected"
        )
        for outcome in outcomes:
            if outcome.status == "rejected":
                click.echo(f"  {outcome}", err=True)
        rejected = rejected or counts["rejected"] > 0
    if rejected:
        sys.exit(1)
