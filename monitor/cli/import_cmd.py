"""`dutywatch import FILE...`: rosters first, then events; one transaction per file."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from monitor.cli.context import Context, pass_context


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_context
def import_files(ctx: Context, files: tuple[Path, ...]) -> None:
    """Import roster files (YAML, CSV, XLSX), event files (JSONL, CSV, XLSX) and ledgers (台账, XLSX or
    CSV with Chinese headings: visits, contacts, cases, reviews).

    Prints accepted / duplicate / rejected counts per file and each rejection with its line;
    exits 1 when any record was rejected. Each file is committed on its own, so a problem in a
    later file never loses an earlier one.
    """
    from sqlalchemy.orm import Session

    from monitor.audit import add_entry, cli_actor, roster_summary
    from monitor.clock import utcnow
    from monitor.ingest.commit import RaceNotSettled, commit_retrying
    from monitor.ingest.events import ingest_events
    from monitor.ingest.files import Loaded, is_roster_file, read_file
    from monitor.ingest.ledgers import in_ledger_words, ledger_events
    from monitor.ingest.outcome import RecordOutcome
    from monitor.ingest.roster import upsert_roster
    from monitor.ingest.workbook import ImportLimits
    from monitor.store.db import session_factory
    from monitor.yamlsource import SourceError

    ingest = ctx.settings.ingest
    limits = ImportLimits(ingest.max_xlsx_inflated_bytes, ingest.max_import_rows)
    failed = False
    # references need the roster first; each file is then read just before it is stored, so an
    # import holds one file's records at a time, whatever the number of files
    ordered = sorted(files, key=lambda path: 0 if is_roster_file(path, limits) else 1)
    make_session = session_factory(ctx.engine())
    for path in ordered:
        try:
            item = read_file(path, limits)
        except SourceError as exc:
            click.echo(f"{exc}", err=True)
            failed = True
            continue

        def work(session: Session, item: Loaded = item) -> list[RecordOutcome]:
            if item.kind == "roster":
                outcomes = upsert_roster(session, item.roster)
                add_entry(
                    session,
                    "roster.upsert",
                    str(item.path),
                    actor=cli_actor(),
                    source="cli",
                    detail=roster_summary(outcomes),
                )
                return outcomes
            if item.kind == "ledger":
                records, unmatched = ledger_events(session, item.ledger)
                stored = ingest_events(session, records, now=utcnow(), settings=ctx.settings)
                return unmatched + in_ledger_words(records, stored)
            return ingest_events(session, item.events, now=utcnow(), settings=ctx.settings)

        # the daemon may be storing the same ids meanwhile: a lost race is run again, not a traceback
        try:
            outcomes = item.problems + commit_retrying(make_session, work)
        except RaceNotSettled as exc:
            click.echo(f"{item.path}: {exc}", err=True)
            failed = True
            continue
        counts = {s: sum(1 for o in outcomes if o.status == s) for s in ("accepted", "duplicate", "rejected")}
        click.echo(
            f"{item.path}: {counts['accepted']} accepted, {counts['duplicate']} duplicate, {counts['rejected']} rejected"
        )
        for outcome in outcomes:
            if outcome.status == "rejected":
                click.echo(f"  {outcome}")
        failed = failed or counts["rejected"] > 0
    if failed:
        sys.exit(1)
