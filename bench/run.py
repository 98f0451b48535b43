"""Benchmarks: `python -m bench.run [--size S|M|L ...]` (make bench), results to bench/RESULTS.md.

Each figure is reported against a floor measured in the same run on the same machine, so the
ratio means something on a shared, noisy host:
- ingest through `ingest_events` vs a raw executemany of the same event rows;
- a full evaluation vs one raw SQL query that computes the monthly-visit statuses of all pairings;
- the durable-rules matcher's share of the evaluation, and its rate vs the plain-Python matcher.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import insert, text

from bench.generate import SIZES, Size, events, roster
from monitor.calendar import WorkCalendar
from monitor.clock import parse_instant
from monitor.config import Settings
from monitor.engine import DurableMatcher, Fact, PythonMatcher
from monitor.evaluation import evaluate
from monitor.ingest.events import digest, ingest_events
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.rulebook import load_rulebook
from monitor.store.db import ensure_schema, make_engine, session_factory
from monitor.store.models import Event

ROOT = Path(__file__).resolve().parent.parent
END = date(2024, 12, 20)
FIRST = date(2024, 1, 1)
VISIT_FLOOR = """
SELECT p.id, MIN(a.at) FROM pairings p
LEFT JOIN activities a ON a.enterprise_id = p.enterprise_id AND a.official_id = p.official_id
  AND a.type = 'visit' AND a.talked_with_head AND a.at >= :start AND a.at < :end
GROUP BY p.id
"""


def measure(size: Size, workdir: Path) -> dict[str, float | int | str]:
    settings = Settings()
    data = roster(size, date(2023, 1, 1))
    history = events(size, data, FIRST, END)
    engine = make_engine(f"sqlite:///{workdir / f'{size.name}.db'}")
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

    floor_engine = make_engine(f"sqlite:///{workdir / f'{size.name}-floor.db'}")
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

    rulebook = load_rulebook(ROOT / "rules")
    calendar = WorkCalendar()
    matcher = DurableMatcher(rulebook)
    at = parse_instant("2024-12-20T18:00")
    with sessions() as session:
        evaluate(session, rulebook, calendar, settings, at, matcher)  # warm caches
        started = time.perf_counter()
        result = evaluate(session, rulebook, calendar, settings, at, matcher)
        evaluation_seconds = time.perf_counter() - started
        started = time.perf_counter()
        session.execute(
            text(VISIT_FLOOR), {"start": datetime(2024, 11, 30, 16), "end": datetime(2024, 12, 31, 16)}
        ).all()
        floor_query = time.perf_counter() - started
    engine.dispose()

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
        "evaluation_s": round(evaluation_seconds, 3),
        "evaluation_floor_s": round(floor_query, 4),
        "evaluation_ratio": round(evaluation_seconds / floor_query, 1),
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
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="dutywatch-bench-") as tmp:
        for name in args.size or ["S"]:
            result = measure(SIZES[name], Path(tmp))
            print(json.dumps(result, ensure_ascii=False))
            results.append(result)
    lines = [
        "# Benchmark results",
        "",
        f"- date: {date.today().isoformat()}",
        f"- machine: {platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}",
        f"- command: `python -m bench.run {' '.join('--size ' + s for s in (args.size or ['S']))}` (SQLite)",
        "",
        "| " + " | ".join(results[0]) + " |",
        "|" + "---|" * len(results[0]),
    ]
    lines += ["| " + " | ".join(str(v) for v in r.values()) + " |" for r in results]
    lines += [
        "",
        "Ratios: `ingest_ratio` = time through ingest / raw executemany of the same event rows;",
        "`evaluation_ratio` = a full evaluation of all 17 rules / one raw query of the monthly-visit",
        "statuses; `matcher_share` = durable-rules' part of the evaluation.",
    ]
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
