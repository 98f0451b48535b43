"""A province (size L) on PostgreSQL: generate its year and COPY it in, then measure the daemon.

`python -m bench.large [--size L] [--pg-url URL]` (`make bench-large`). A province's year is
about seven million events: through `ingest_events` it would take an hour, and the benchmark is
about evaluation, so the history is generated one event at a time and written with PostgreSQL's
COPY into the tables ingest fills (`rows_of` derives the same rows ingest derives for the kinds
the generator makes; `tests/bench/test_load.py` checks it against ingest at size S).

The daemon's work is then measured in a child process of its own, so that its peak memory is
the daemon's and not the generator's: a full evaluation, the first tick, a steady tick with
nothing new, a steady tick after a minute's events, and a full tick again (the hourly safety
net). Results to `bench/RESULTS-large.md`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Json
from sqlalchemy import create_engine, text

from bench.generate import SIZES, Size, iter_events, roster
from bench.ticks import aged_restart_figures, report_figures, restart_figures, tick_figures
from monitor.clock import parse_instant, utcnow
from monitor.ingest.events import digest
from monitor.store.db import ensure_schema, make_engine, normalise_url

ROOT = Path(__file__).resolve().parent.parent
FIRST, END = date(2024, 1, 1), date(2024, 12, 20)
AT = "2024-12-20T18:00"  # the instant evaluated, as in bench/run.py
FLOOR_RUNS = 3  # --floor-runs: the whole evaluation against the set-based floor (bench/floor.py), alternately


def rows_of(event: dict[str, Any], unit_of: dict[str, str]) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """(table, row) for what ingest derives from one generated event (visit, contact,
    case_opened, case_feedback), in the column order of `COLUMNS`."""
    at = parse_instant(event["at"])
    kind = event["type"]
    if kind in ("visit", "contact"):
        official = event["official"]
        talked = bool(event.get("talked_with_head", False)) if kind == "visit" else False
        yield "activities", (event["id"], kind, at, official, unit_of[official], event["enterprise"], talked)
    elif kind == "case_opened":
        yield "cases", (
            event["case"], event["enterprise"], event["unit"], event["channel"], event["complexity"],
            event["category"], at, None, event.get("summary", ""), event["id"],
        )  # fmt: skip
    elif kind == "case_feedback":
        yield "case_events", (event["id"], event["case"], kind, at, None, None, None)
    else:
        raise ValueError(f"the loader does not derive {kind} events")


COLUMNS = {
    "events": ("id", "type", "at", "payload", "digest", "received_at"),
    "activities": ("event_id", "type", "at", "official_id", "unit_id", "enterprise_id", "talked_with_head"),
    "cases": (
        "id",
        "enterprise_id",
        "unit_id",
        "channel",
        "complexity",
        "category",
        "received_at",
        "own_due_at",
        "summary",
        "event_id",
    ),
    "case_events": ("event_id", "case_id", "type", "at", "unit_id", "level", "satisfaction"),
    "units": ("id", "name", "kind", "head_id", "leader_id", "parent_id", "indicator_lead"),
    "officials": ("id", "name", "unit_id", "role", "email", "phone"),
    "enterprises": ("id", "name", "town", "above_scale"),
    "pairings": ("owner", "official_id", "unit_id", "enterprise_id", "start", "end"),
}


def _copy(conn: psycopg.Connection[Any], table: str, rows: Iterator[tuple[Any, ...]]) -> int:
    n = 0
    columns = ", ".join(f'"{c}"' for c in COLUMNS[table])
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def load(size: Size, url: str, received: datetime) -> dict[str, float | int]:
    """Create the schema and COPY the size's roster and year in; returns counts and rates."""
    engine = make_engine(url)
    ensure_schema(engine)
    engine.dispose()
    data = roster(size, date(2023, 1, 1))
    unit_of = {o["id"]: o["unit"] for o in data["officials"]}
    started = time.perf_counter()
    counts: dict[str, int] = {}
    dsn = normalise_url(url).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        counts["units"] = _copy(
            conn,
            "units",
            (
                (u["id"], u["name"], u["kind"], u["head"], None, None, bool(u.get("indicator_lead")))
                for u in data["units"]
            ),
        )
        counts["officials"] = _copy(
            conn,
            "officials",
            ((o["id"], o["name"], o["unit"], o["role"], None, None) for o in data["officials"]),
        )
        counts["enterprises"] = _copy(
            conn, "enterprises", ((e["id"], e["name"], None, False) for e in data["enterprises"])
        )
        counts["pairings"] = _copy(
            conn,
            "pairings",
            (
                (
                    f"official:{p['official']}",
                    p["official"],
                    None,
                    p["enterprise"],
                    date.fromisoformat(p["from"]),
                    None,
                )
                for p in data["pairings"]
            ),
        )
        derived: dict[str, list[tuple[Any, ...]]] = {"activities": [], "cases": [], "case_events": []}
        for table in derived:
            counts[table] = 0
        counts["events"] = 0
        columns = ", ".join(f'"{c}"' for c in COLUMNS["events"])
        # events first (the activities' foreign key), the derived rows in blocks after each block
        stream = iter_events(size, data, FIRST, END)
        while True:
            block = [e for _, e in zip(range(200_000), stream, strict=False)]
            if not block:
                break
            with conn.cursor() as cur, cur.copy(f"COPY events ({columns}) FROM STDIN") as copy:
                for event in block:
                    copy.write_row(
                        (
                            event["id"],
                            event["type"],
                            parse_instant(event["at"]),
                            Json(event),
                            digest(event),
                            received,
                        )
                    )
                    for table, row in rows_of(event, unit_of):
                        derived[table].append(row)
            counts["events"] += len(block)
            for table, rows in derived.items():
                counts[table] += _copy(conn, table, iter(rows))
                rows.clear()
        conn.commit()
        with conn.cursor() as cur:
            for table in ("events", "activities", "cases", "case_events", "pairings", "enterprises"):
                cur.execute(f"ANALYZE {table}")
        conn.commit()
    seconds = time.perf_counter() - started
    return {
        **{f"rows_{k}": v for k, v in counts.items()},
        "load_s": round(seconds, 1),
        "load_events_per_s": round(counts["events"] / seconds),
    }


def _rss_mb(pid: int | str = "self") -> int:
    """A process's peak resident memory (this one's by default): VmHWM where Linux gives it
    (ru_maxrss of a spawned child counts the parent's memory at the fork: a child under the
    loader's 262 MB read 262)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def daemon_figures(
    url: str, workdir: str, out: Any, notify: bool = False, floor: bool = False, floor_runs: int = 0
) -> None:
    """In a child process: what the daemon does with a province, and its peak memory; with
    `floor`, instead, one whole `evaluate()` against its own SELECTs replayed raw (in a process
    of its own: it holds every duty at once, which the daemon no longer does), then `floor_runs`
    whole evaluations against the set-based floor (bench/floor.py), alternately.

    Without `notify` the daemon has no channel: the ticks evaluate and commit but queue nothing
    (a province's first tick would queue a million messages; see docs/scaling.md)."""
    from monitor.config import Settings
    from monitor.runtime.service import Service

    settings = Settings(
        database_url=url,
        rules_dir=ROOT / "rules",
        heartbeat_file=Path(workdir) / "heartbeat",
        notify={"channels": ["file"] if notify else [], "file_path": Path(workdir) / "sent.jsonl"},  # type: ignore[arg-type]
    )
    at = parse_instant(AT)
    # as deployed: the ticks in the daemon's evaluation process (docs/architecture.md)
    service = Service(settings, evaluate_apart=not floor)
    try:
        if floor:
            figures = evaluation_floor(service, at, floor_runs)
            figures["evaluation_peak_rss_mb"] = _rss_mb()
        else:
            figures = tick_figures(service, at)
            figures["peak_rss_mb"] = _rss_mb()
            evaluating = getattr(service.ticker, "pid", None)
            if evaluating is not None:  # read before close ends it
                figures["evaluation_process_peak_rss_mb"] = _rss_mb(evaluating)
    finally:
        service.close()
    if not floor:
        start = partial(Service, settings, evaluate_apart=True)
        figures |= restart_figures(start, at + timedelta(minutes=4))
        figures |= report_figures(partial(Service, settings, evaluate_apart=False), at)
        figures |= aged_restart_figures(start, at + timedelta(minutes=5))
    out.put(figures)


def evaluation_floor(service: Any, at: datetime, floor_runs: int) -> dict[str, Any]:
    """A full evaluation (its own, warm caches aside) against the very SELECTs it issues replayed
    raw with every row fetched: what is left is Python."""
    from sqlalchemy import event

    from monitor.evaluation.evaluate import evaluate

    loaded = service.loaded
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        if sql.lstrip().upper().startswith("SELECT") and not many:
            statements.append((sql, params))

    event.listen(service.engine, "before_cursor_execute", capture)
    try:
        with service.sessions() as session:
            started = time.perf_counter()
            result = evaluate(session, loaded.rulebook, loaded.calendar, service.settings, at, loaded.matcher)
            seconds = time.perf_counter() - started
    finally:
        event.remove(service.engine, "before_cursor_execute", capture)
    obligations = len(result.obligations)
    del result
    started = time.perf_counter()
    with service.engine.connect() as conn:
        for sql, params in statements:
            conn.exec_driver_sql(sql, params).fetchall()
    floor = time.perf_counter() - started
    figures: dict[str, Any] = {
        "evaluation_s": round(seconds, 1),
        "evaluation_sql_floor_s": round(floor, 1),
        "evaluation_sql_ratio": round(seconds / floor, 1),
        "evaluation_obligations": obligations,
    }
    if floor_runs:
        from bench.run import floor_figures

        figures.update(
            floor_figures(
                service.engine,
                loaded.rulebook,
                loaded.calendar,
                service.settings,
                at,
                loaded.matcher,
                floor_runs,
            )
        )
    return figures


def backtest_figures(url: str, first: str, last: str, step: str) -> dict[str, Any]:
    """`dutywatch backtest` over the stored year, as an operator runs it (a process of its own)."""
    import subprocess
    import sys

    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "--db", url, "backtest", "--from", first, "--to", last,
         "--step", step, "--format", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    instants = (date.fromisoformat(last) - date.fromisoformat(first)).days // int(step.rstrip("d")) + 1
    return {
        "backtest": f"{first}..{last} every {step}",
        "backtest_s": round(seconds, 1),
        "backtest_evaluations": instants,
        "backtest_s_per_evaluation": round(seconds / instants, 2),
        "backtest_transitions": len(done.stdout.splitlines()),
        "backtest_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="L")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("DUTYWATCH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--keep", action="store_true", help="keep the schema (to measure again)")
    parser.add_argument("--schema", help="measure an existing schema loaded earlier with --keep")
    parser.add_argument(
        "--backtest", metavar="STEP", help="also time `dutywatch backtest` over the year every STEP (1d, 7d)"
    )
    parser.add_argument(
        "--notify",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="queue notifications (default: below L)",
    )
    parser.add_argument(
        "--floor-runs", type=int, default=FLOOR_RUNS,
        help="whole evaluations and set-based floors to run alternately (0: none)",
    )  # fmt: skip
    args = parser.parse_args()
    size = SIZES[args.size]
    schema = args.schema or f"bench_large_{size.name.lower()}_{os.getpid()}"
    admin = create_engine(normalise_url(args.pg_url), isolation_level="AUTOCOMMIT")
    sep = "&" if "?" in args.pg_url else "?"
    url = f"{args.pg_url}{sep}options=-csearch_path%3D{schema}"
    figures: dict[str, Any] = {
        "size": size.name,
        "pairings": size.pairings,
        "cases_per_year": size.cases_per_year,
    }
    try:
        if not args.schema:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            figures.update(load(size, url, utcnow()))
            figures["loader_peak_rss_mb"] = _rss_mb()
            print(json.dumps(figures), flush=True)
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        import tempfile

        with tempfile.TemporaryDirectory(prefix="dutywatch-large-") as workdir:
            notify = args.notify if args.notify is not None else size.name != "L"
            figures["notify"] = notify
            for floor in (True, False):
                child = context.Process(
                    target=daemon_figures, args=(url, workdir, queue, notify, floor, args.floor_runs)
                )
                child.start()
                figures.update(queue.get())
                child.join()
        if args.backtest:
            figures.update(backtest_figures(url, FIRST.isoformat(), END.isoformat(), args.backtest))
        print(json.dumps(figures), flush=True)
    finally:
        if not args.keep and not args.schema:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    lines = [
        "# Benchmark results: a province on PostgreSQL",
        "",
        f"- date: {date.today().isoformat()}",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}",
        f"- command: `python -m bench.large --size {size.name}`",
        "",
        "| figure | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in figures.items()),
        "",
        "`evaluation_sql_ratio`: a full evaluation / the very SELECTs it issued replayed raw.",
        "`backtest_*` (with --backtest): `dutywatch backtest` over the year in a process of its own.",
        "`load_*`: the generated year COPYed in (no validation, no ORM); `notify`: whether the daemon had a channel.",
        "The daemon's figures come from a child process of its own: `peak_rss_mb` is the daemon's,",
        "`evaluation_process_peak_rss_mb` its evaluation process's (where the ticks run, as deployed);",
        "`evaluation_peak_rss_mb` is another child's, which ran one whole `evaluate()` (the floor's).",
        "`tick_steady_s`: a tick a minute later with nothing new; `tick_steady_events_s`: a tick after",
        "`minute_events` events arrived; `tick_full_again_s`: a full evaluation and commit in the",
        "steady state (what the hourly safety net and each day boundary cost); `tick_restarted_s`: the",
        "first tick of a daemon started anew on the same database (a deploy or a failover: a full tick,",
        "the month's record, the look for stray alerts); `report_s`: the monthly report of the month as",
        "`dutywatch report` makes it (six months of figures), `report_duties` the duties due in it.",
    ]
    (ROOT / "bench" / f"RESULTS-large-{size.name}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
