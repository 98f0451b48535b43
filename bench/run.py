"""Benchmarks: `python -m bench.run [--size S|M|L ...]` (make bench), results to bench/RESULTS.md.

Each figure is reported against a floor measured in the same run on the same machine, so the
ratio means something on a shared, noisy host:
- ingest through `ingest_events` (what `import` runs) and through `POST /v1/events` over real
  HTTP, both vs a raw executemany of the same event rows;
- a full evaluation vs the very SQL it issues, replayed raw (every row fetched, nothing built):
  what is left is Python; and vs one hand-written query of the monthly-visit statuses;
- the tick as the daemon runs it (evaluate, commit, queue), first and in the steady state;
- the durable-rules matcher's share of the evaluation, and its rate vs the plain-Python matcher;
- notifications per second through the outbox to a local SMTP server vs raw aiosmtplib sends
  on one connection.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, insert, text

from bench.floor import Floor, FloorRow, build_days
from bench.floor import compare as compare_floor
from bench.floor import run as run_floor
from bench.generate import SIZES, Size, events, roster
from bench.ticks import aged_restart_figures, report_figures, restart_figures, tick_figures
from monitor.calendar.working_days import WorkCalendar
from monitor.clock import parse_instant
from monitor.config import Settings
from monitor.evaluation.engine import Fact, Matcher, PythonMatcher, compile_matcher
from monitor.evaluation.evaluate import Evaluation, evaluate
from monitor.ingest.events import digest, ingest_events
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.roster import RosterIndex
from monitor.rulebook import Rulebook, load_rulebook
from monitor.store.db import ensure_schema, make_engine, normalise_url, session_factory
from monitor.store.models import Event

if TYPE_CHECKING:
    from monitor.runtime.service import Service

ROOT = Path(__file__).resolve().parent.parent
END = date(2024, 12, 20)
FIRST = date(2024, 1, 1)
VISIT_FLOOR = """
SELECT p.id, MIN(a.at) FROM pairings p
LEFT JOIN activities a ON a.enterprise_id = p.enterprise_id AND a.official_id = p.official_id
  AND a.type = 'visit' AND a.talked_with_head AND a.at >= :start AND a.at < :end
GROUP BY p.id
"""


BACKEND = {"name": "sqlite", "url": ""}  # set by --backend; PostgreSQL gets a schema per database
_SCHEMAS: dict[str, str] = {}


def database(workdir: Path, name: str) -> str:
    """A fresh database of this name for the run: a SQLite file, or a PostgreSQL schema."""
    if BACKEND["name"] == "sqlite":
        return f"sqlite:///{workdir / (name + '.db')}"
    if name not in _SCHEMAS:
        schema = f"bench_{name.replace('-', '_').lower()}_{os.getpid()}"
        admin = create_engine(normalise_url(BACKEND["url"]), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        _SCHEMAS[name] = schema
    sep = "&" if "?" in BACKEND["url"] else "?"
    return f"{BACKEND['url']}{sep}options=-csearch_path%3D{_SCHEMAS[name]}"


def _drop_schemas() -> None:
    if not _SCHEMAS:
        return
    admin = create_engine(normalise_url(BACKEND["url"]), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for schema in _SCHEMAS.values():
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()
    _SCHEMAS.clear()


HTTP_EVENTS = 100_000  # enough for a steady rate; the rest of M would only take longer
HTTP_BATCH = 500


def _tick_figures(size: Size, workdir: Path, at: datetime) -> dict[str, Any]:
    """The daemon's ticks on the stored history (bench/ticks.py)."""
    from monitor.runtime.service import Service

    settings = Settings(
        database_url=database(workdir, size.name),
        rules_dir=ROOT / "rules",
        heartbeat_file=workdir / "heartbeat",
        notify={"channels": ["file"], "file_path": workdir / "sent.jsonl"},
    )
    service = Service(settings)
    try:
        figures = tick_figures(service, at)
    finally:
        service.close()
    figures |= restart_figures(lambda: Service(settings), at + timedelta(minutes=4))
    figures |= report_figures(lambda: Service(settings), at)
    return figures | aged_restart_figures(lambda: Service(settings), at + timedelta(minutes=5))


def _http_ingest(
    name: str, data: dict[str, Any], history: list[dict[str, Any]], workdir: Path, now: datetime
) -> int:
    """Events per second through POST /v1/events in batches, over real HTTP to the app on uvicorn."""

    import httpx

    from monitor.clock import utcnow
    from monitor.runtime.service import Service
    from monitor.tokens import create_token

    settings = Settings(
        database_url=database(workdir, f"{name}-http"),
        rules_dir=ROOT / "rules",
        heartbeat_file=workdir / "heartbeat",
        ingest={"max_batch": 10_000, "max_body_bytes": 64 * 1024 * 1024},
    )
    service = Service(settings)
    with service.sessions() as session:
        upsert_roster(session, load_roster(data, "bench")[0])
        token = create_token(session, "bench", ("ingest",), utcnow())
        session.commit()
    try:
        with serving(service) as url, httpx.Client(base_url=url, timeout=120) as client:
            headers = {"Authorization": f"Bearer {token}"}
            started = time.perf_counter()
            for i in range(0, len(history), HTTP_BATCH):
                while True:  # as a client should: a 503 (the database busy) is retried after Retry-After
                    reply = client.post("/v1/events", json=history[i : i + HTTP_BATCH], headers=headers)
                    if reply.status_code != 503:
                        break
                    time.sleep(float(reply.headers.get("retry-after", "1")))
                reply.raise_for_status()
            seconds = time.perf_counter() - started
    finally:
        service.close()
    return round(len(history) / seconds)


def notifications_per_second(workdir: Path, n: int = 1000) -> dict[str, float]:
    """The outbox's dispatcher sending n mails to aiosmtpd on loopback, vs aiosmtplib sending the
    same n on one connection."""
    import asyncio
    import random as _random

    import aiosmtplib
    from aiosmtpd.controller import Controller

    from monitor.alerts.dispatch import Dispatcher
    from monitor.config import NotifySettings
    from monitor.store.models import Notification, Official
    from notifiers.base import Message, Recipient
    from notifiers.email import EmailNotifier, SmtpServer, compose

    class Sink:
        count = 0

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            Sink.count += 1
            return "250 OK"

    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    engine = make_engine(database(workdir, "outbox"))
    ensure_schema(engine)
    at = parse_instant("2024-12-20T10:00")
    with session_factory(engine)() as session:
        session.add(Official(id="o1", name="张伟", role="staff", email="zhang.wei@suyu.example.cn"))
        for i in range(n):
            session.add(
                Notification(
                    key=f"bench-{i}", kind="fired", channel="email", recipient="o1", subject="【督办】提醒",
                    text="每月走访挂钩企业：本月尚未走访。" * 5, status="queued", attempts=0,
                    created_at=at, next_attempt_at=at,
                )
            )  # fmt: skip
        session.commit()
    mail = EmailNotifier(SmtpServer.from_url(f"smtp://127.0.0.1:{port}", timeout=30), "dw@suyu.example.cn")
    dispatcher = Dispatcher(
        session_factory(engine), {"email": mail}, NotifySettings(), "bench", _random.Random(1)
    )
    try:
        started = time.perf_counter()
        while Sink.count < n:
            if not asyncio.run(dispatcher.run_once(at)):
                break
        through_outbox = time.perf_counter() - started
        messages = [
            compose(
                Message(
                    Recipient("张伟", email="zhang.wei@suyu.example.cn"),
                    "【督办】提醒",
                    "每月走访。" * 5,
                    f"raw-{i}",
                ),
                "dw@suyu.example.cn",
                "督办",
            )
            for i in range(n)
        ]

        async def raw() -> None:
            client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
            await client.connect()
            for message in messages:
                await client.send_message(message)
            await client.quit()

        started = time.perf_counter()
        asyncio.run(raw())
        floor = time.perf_counter() - started
    finally:
        controller.stop()
        engine.dispose()
    return {
        "notifications": n,
        "outbox_per_s": round(n / through_outbox),
        "raw_smtp_per_s": round(n / floor),
        "ratio": round(through_outbox / floor, 1),
    }


@contextmanager
def serving(service: Service) -> Iterator[str]:
    """The daemon's HTTP API on a free loopback port in a thread of its own: its base URL."""
    from monitor.api.app import create_app

    with serving_app(create_app(service)) as url:
        yield url


@contextmanager
def serving_app(app: Any) -> Iterator[str]:
    """An ASGI app under the daemon's server settings (monitor.daemon.http_config) on a free
    loopback port in a thread of its own: its base URL."""
    import socket
    import threading

    import uvicorn

    from monitor.daemon import http_config

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(http_config(app, f"127.0.0.1:{port}"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def ingest_floor(workdir: Path, name: str, history: list[dict[str, Any]], now: datetime) -> float:
    """Seconds for a raw executemany of the event rows: the floor of ingest."""
    floor_engine = make_engine(database(workdir, f"{name}-floor"))
    ensure_schema(floor_engine)
    rows = [
        {
            "id": e["id"],
            "type": e["type"],
            "at": parse_instant(e["at"]),
            "payload": e,
            "digest": digest(e),
            "received_at": now,
        }
        for e in history
    ]
    started = time.perf_counter()
    with floor_engine.begin() as conn:
        for i in range(0, len(rows), 10_000):
            conn.execute(insert(Event), rows[i : i + 10_000])
    floor_ingest = time.perf_counter() - started
    floor_engine.dispose()
    return floor_ingest


EVALUATION_ONLY = False  # --evaluation-only: ingest, then the evaluation against its floor, nothing else
FLOOR_RUNS = 3


def floor_figures(
    engine: Engine,
    rulebook: Rulebook,
    calendar: WorkCalendar,
    settings: Settings,
    at: datetime,
    matcher: Matcher,
    runs: int = FLOOR_RUNS,
) -> dict[str, float | int]:
    """A warm full evaluation against the set-based floor (bench/floor.py: one statement per
    obligation kind, the database computing due times, statuses, levels and inhibition), alternately,
    `runs` times each: min and median of both and their ratios. The floor's answer is compared
    with the evaluation's key by key; a difference is printed and counted (it should be none)."""
    sessions = session_factory(engine)
    started = time.perf_counter()
    with engine.begin() as conn:
        build_days(
            conn, calendar.as_of(at), settings.calendar.end_of_day, date(2023, 1, 1), date(2025, 12, 31)
        )
    build_seconds = time.perf_counter() - started
    floor = Floor(rulebook, settings, engine.dialect.name)
    with sessions() as session:
        roster = RosterIndex.load(session)
    ours: list[float] = []
    theirs: list[float] = []
    rows: list[FloorRow] = []
    result: Evaluation | None = None
    for _ in range(runs):
        result, rows = None, []  # one answer at a time: a province's holds gigabytes
        with sessions() as session:
            started = time.perf_counter()
            result = evaluate(session, rulebook, calendar, settings, at, matcher)
            ours.append(time.perf_counter() - started)
            session.rollback()
        started = time.perf_counter()
        with engine.begin() as conn:
            rows = run_floor(conn, floor, calendar.as_of(at), roster, at)
        theirs.append(time.perf_counter() - started)
    not_covered = frozenset(r.id for r in rulebook if r.obligation == "repeat_report")
    assert result is not None
    problems = compare_floor(result, rows, not_covered)
    for problem in problems[:20]:
        print("floor mismatch:", problem, flush=True)
    return {
        "floor_days_build_s": round(build_seconds, 3),
        "evaluation_min_s": round(min(ours), 3),
        "evaluation_median_s": round(statistics.median(ours), 3),
        "floor_min_s": round(min(theirs), 3),
        "floor_median_s": round(statistics.median(theirs), 3),
        "floor_ratio_min": round(min(ours) / min(theirs), 2),
        "floor_ratio_median": round(statistics.median(ours) / statistics.median(theirs), 2),
        "floor_keys": len(rows),
        "floor_mismatches": len(problems),
    }


def measure(size: Size, workdir: Path) -> dict[str, float | int | str]:
    settings = Settings()
    data = roster(size, date(2023, 1, 1))
    history = events(size, data, FIRST, END)
    engine = make_engine(database(workdir, size.name))
    ensure_schema(engine)
    sessions = session_factory(engine)
    with sessions() as session:
        parsed, _ = load_roster(data, "bench")
        upsert_roster(session, parsed)
        session.commit()
    now = parse_instant("2024-12-21T00:00")
    started = time.perf_counter()
    for i in range(0, len(history), 10_000):
        with sessions() as session:
            ingest_events(
                session, [(e["id"], e) for e in history[i : i + 10_000]], now=now, settings=settings
            )
            session.commit()
    ingest_seconds = time.perf_counter() - started

    floor_ingest = ingest_floor(workdir, size.name, history, now) if not EVALUATION_ONLY else 0.0

    rulebook = load_rulebook(ROOT / "rules")
    calendar = WorkCalendar()
    matcher = compile_matcher(rulebook)
    at = parse_instant("2024-12-20T18:00")
    with sessions() as session:
        started = time.perf_counter()
        evaluate(session, rulebook, calendar, settings, at, matcher)  # cold: caches empty
        cold_seconds = time.perf_counter() - started
        statements: list[tuple[str, Any]] = []

        def capture(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
            if sql.lstrip().upper().startswith("SELECT") and not many:
                statements.append((sql, params))

        event.listen(engine, "before_cursor_execute", capture)
        started = time.perf_counter()
        result = evaluate(session, rulebook, calendar, settings, at, matcher)
        evaluation_seconds = time.perf_counter() - started
        event.remove(engine, "before_cursor_execute", capture)
        started = time.perf_counter()
        with engine.connect() as conn:
            for sql, params in statements:
                conn.exec_driver_sql(sql, params).fetchall()
        sql_floor = time.perf_counter() - started
        started = time.perf_counter()
        session.execute(
            text(VISIT_FLOOR), {"start": datetime(2024, 11, 30, 16), "end": datetime(2024, 12, 31, 16)}
        ).all()
        floor_query = time.perf_counter() - started
    floor = floor_figures(engine, rulebook, calendar, settings, at, matcher)
    engine.dispose()
    if EVALUATION_ONLY:
        return {
            "size": size.name,
            "pairings": size.pairings,
            "events": len(history),
            "obligations": len(result.obligations),
            "alerts": len(result.alerts),
            "evaluation_cold_s": round(cold_seconds, 3),
            "evaluation_sql_floor_s": round(sql_floor, 3),
            **floor,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }

    extra = _tick_figures(size, workdir, at)
    http = _http_ingest(size.name, data, history[:HTTP_EVENTS], workdir, now)

    facts = [Fact(i, r.id, "overdue", 0, i % 20) for i, r in enumerate(list(rulebook) * 600)]
    started = time.perf_counter()
    matcher.decide(facts)
    durable_rate = len(facts) / (time.perf_counter() - started)
    started = time.perf_counter()
    PythonMatcher(rulebook).decide(facts)
    python_rate = len(facts) / (time.perf_counter() - started)
    return {
        "size": size.name,
        "pairings": size.pairings,
        "events": len(history),
        "ingest_events_per_s": round(len(history) / ingest_seconds),
        "ingest_floor_events_per_s": round(len(history) / floor_ingest),
        "ingest_ratio": round(ingest_seconds / floor_ingest, 1),
        "http_ingest_events_per_s": http,
        "http_ingest_ratio": round(len(history) / floor_ingest / http, 1),
        "evaluation_cold_s": round(cold_seconds, 3),
        "evaluation_s": round(evaluation_seconds, 3),
        "evaluation_sql_floor_s": round(sql_floor, 3),
        "evaluation_sql_ratio": round(evaluation_seconds / sql_floor, 1),
        "visit_query_floor_s": round(floor_query, 4),
        **floor,
        **extra,
        "obligations": len(result.obligations),
        "facts": result.facts,
        "alerts": len(result.alerts),
        "matcher_share": round(result.matcher_seconds / evaluation_seconds, 3),
        "durable_facts_per_s": round(durable_rate),
        "python_facts_per_s": round(python_rate),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", action="append", choices=sorted(SIZES), help="S (default), M; L is long")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("DUTYWATCH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument(
        "--evaluation-only",
        action="store_true",
        help="only the evaluation against its floor (no ticks, HTTP ingest or mail): RESULTS-floor*.md",
    )
    args = parser.parse_args()
    BACKEND.update(name=args.backend, url=args.pg_url)
    global EVALUATION_ONLY
    EVALUATION_ONLY = args.evaluation_only
    sizes = args.size or ["S"]
    results = []
    with tempfile.TemporaryDirectory(prefix="dutywatch-bench-") as tmp:
        for name in sizes:
            result = measure(SIZES[name], Path(tmp))
            print(json.dumps(result, ensure_ascii=False), flush=True)
            results.append(result)
        mail = None if EVALUATION_ONLY else notifications_per_second(Path(tmp))
        print(json.dumps(mail), flush=True)
        _drop_schemas()
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        "# Benchmark results",
        "",
        f"- date: {date.today().isoformat()}",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; load average at the end (1 / 5 / 15 min): {load}",
        f"- command: `python -m bench.run {' '.join('--size ' + s for s in sizes)} --backend {args.backend}"
        f"{' --evaluation-only' if EVALUATION_ONLY else ''}`",
        "",
        "| figure | " + " | ".join(str(r["size"]) for r in results) + " |",
        "|---|" + "---|" * len(results),
    ]
    lines += [
        f"| {key} | " + " | ".join(str(r.get(key, "")) for r in results) + " |"
        for key in results[0]
        if key != "size"
    ]
    if mail is not None:
        lines += [
            "",
            f"Notifications through the outbox to aiosmtpd on loopback: {mail['outbox_per_s']}/s for "
            f"{mail['notifications']} mails, vs {mail['raw_smtp_per_s']}/s sent raw on one connection "
            f"(ratio {mail['ratio']}).",
        ]
    lines += [
        "",
        "The floor (bench/floor.py): one SQL statement per obligation kind, the database computing",
        "due times (a working-day table with ordinals), statuses, warning and escalation levels and",
        "inhibition; its rows are compared with the evaluation's key by key (`floor_mismatches`, to be",
        f"0; `floor_keys` duties compared). `evaluation_*_s` and `floor_*_s`: {FLOOR_RUNS} warm runs each,",
        "alternately, min and median; `floor_ratio_*` = evaluation / floor. `floor_days_build_s`:",
        "building the working-day table (once per calendar, not in the floor's time).",
        "",
        "Ratios: `ingest_ratio` = time through `ingest_events` (what `import` runs) / a raw executemany",
        "of the same event rows; `http_ingest_ratio` = the floor's rate / the rate through",
        f"`POST /v1/events` in batches of {HTTP_BATCH} (first {HTTP_EVENTS:,} events);",
        "`evaluation_sql_ratio` = a warm full evaluation of all 17 rules / the same SELECTs replayed",
        "raw with every row fetched (what is left is Python: building obligations, working days, the",
        "matcher, messages); `visit_query_floor_s` is one hand-written query of the monthly-visit",
        "statuses, for scale. `tick_first_s` is the first tick of a daemon over the history (every",
        "alert new, every notification queued), `tick_steady_s` the next one a minute later (nothing",
        "new), `tick_steady_events_s` the one after `minute_events` events arrived (it re-derives",
        "`steady_keys` keys), `tick_full_again_s` a full evaluation and commit in the steady state",
        "(each day boundary and the hourly safety net; bench/ticks.py), `tick_restarted_s` the first",
        "tick of a daemon started anew on the same database (a deploy or a failover: a full tick, the",
        "month's record and the look for stray alerts). `report_s`: the monthly report of the",
        "month as `dutywatch report` makes it (six months of figures), `report_duties` the duties in it.",
        "`matcher_share` = durable-rules' part of the evaluation (it decides each distinct fact once).",
        "The machine is shared: compare ratios within a run, not seconds across runs.",
    ]
    name = "RESULTS.md" if args.backend == "sqlite" else f"RESULTS-{args.backend}.md"
    if EVALUATION_ONLY:
        name = name.replace("RESULTS", "RESULTS-floor")
    (ROOT / "bench" / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
