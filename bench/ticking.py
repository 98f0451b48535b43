"""HTTP ingest while full ticks run, and import, each against its floor in the same run.

`python -m bench.ticking --size M [--backend postgresql] [--runs 3]`: a database holding the
size's roster and its history but the last `POSTED` events; then, `runs` times over:

- import: `ingest_events` of `IMPORTED` events in batches of 10,000 into a fresh database with
  the roster, vs a raw executemany of the same event rows (the floor of bench/run.py);
- HTTP ingest while ticking: `POST /v1/events` in batches of 500 of the last events over real
  HTTP, while a thread runs full ticks (evaluation and commit) back to back; its ratio is the
  floor's rate / this rate (the target: within 4x on SQLite at M; docs/scaling.md). The client
  is a process of its own, as a sender is, posting bodies it encoded before its clock starts: the
  server's process spends its time on the server's work only;
- HTTP ingest with no tick running, the same way, of as many other events: what the request path
  costs alone, so that `tick_interference` (quiet rate / rate while ticking) says what the ticks
  take from ingest and the rest of the ratio is the HTTP path's own;
- the HTTP floor: the same requests, over the same server stack (uvicorn, FastAPI, the
  connection guards), into a handler that only parses the body and executemany's the event rows
  (time parsed, digest computed, one commit a request, as a request must be durable when
  answered) into a fresh database: what storing events over HTTP costs at the least.

Prints one JSON line per run and the min/median of the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request  # module level: FastAPI resolves the route's annotations here
from fastapi.responses import JSONResponse

from bench import run as base
from bench.generate import SIZES, events, roster
from monitor.clock import parse_instant
from monitor.config import Settings
from monitor.ingest.events import ingest_events
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.store.db import ensure_schema, make_engine, session_factory

POSTED = 60_000  # the last events, posted over HTTP: 20 requests a phase in each of 3 runs
IMPORTED = 100_000
NOW = parse_instant("2024-12-21T00:00")
AT = parse_instant("2024-12-20T18:00")


def _fresh(workdir: Path, name: str, data: dict[str, Any]) -> Any:
    engine = make_engine(base.database(workdir, name))
    ensure_schema(engine)
    with session_factory(engine)() as session:
        upsert_roster(session, load_roster(data, "bench")[0])
        session.commit()
    return engine


def _import(engine: Any, history: list[dict[str, Any]]) -> float:
    sessions = session_factory(engine)
    started = time.perf_counter()
    for i in range(0, len(history), 10_000):
        with sessions() as session:
            ingest_events(
                session, [(e["id"], e) for e in history[i : i + 10_000]], now=NOW, settings=Settings()
            )
            session.commit()
    return time.perf_counter() - started


def _client(url: str, path: str, bodies: list[bytes], headers: dict[str, str], out: Any) -> None:
    """A sender's process: post each body in turn, a 503 retried after its Retry-After; puts the
    seconds from the first request to the last answer and the retries."""
    import httpx

    retries = 0
    with httpx.Client(
        base_url=url, timeout=300, headers={**headers, "Content-Type": "application/json"}
    ) as client:
        client.get("/healthz")  # the connection is made before the clock starts
        started = time.perf_counter()
        for body in bodies:
            while True:
                reply = client.post(path, content=body)
                if reply.status_code != 503:
                    break
                retries += 1
                time.sleep(float(reply.headers.get("retry-after", "1")))
            reply.raise_for_status()
        out.put((time.perf_counter() - started, retries))


def _send(url: str, path: str, records: list[dict[str, Any]], headers: dict[str, str]) -> tuple[float, int]:
    """Post the records in batches of `HTTP_BATCH` from a client process of its own (a sender is
    not the server's process); its seconds and 503 retries."""
    import multiprocessing

    bodies = [
        json.dumps(records[i : i + base.HTTP_BATCH]).encode() for i in range(0, len(records), base.HTTP_BATCH)
    ]
    spawn = multiprocessing.get_context("spawn")
    out = spawn.Queue()
    child = spawn.Process(target=_client, args=(url, path, bodies, headers, out))
    child.start()
    try:
        seconds, retries = out.get(timeout=1800)
    finally:
        child.join(60)
    return float(seconds), int(retries)


def _post(
    workdir: Path, name: str, posted: list[dict[str, Any]], ticking: bool, apart: bool = True
) -> dict[str, Any]:
    """Post the events over HTTP in batches of 500, with full ticks back to back or none; the
    ticks in their own process as the daemon runs them (`apart`), or on its thread."""
    from monitor.clock import utcnow
    from monitor.runtime.service import Service
    from monitor.tokens import create_token

    settings = Settings(
        database_url=base.database(workdir, name),
        rules_dir=base.ROOT / "rules",
        heartbeat_file=workdir / "heartbeat",
        notify={"channels": []},
        ingest={"max_batch": 10_000, "max_body_bytes": 64 * 1024 * 1024, "immediate_interval_seconds": 3600},
    )
    service = Service(settings, evaluate_apart=apart)
    with service.sessions() as session:
        token = create_token(session, f"bench-{time.monotonic_ns()}", ("ingest",), utcnow())
        session.commit()
    service.tick(AT)  # the first tick (every alert new) before the clock starts
    stop = threading.Event()
    ticks: list[float] = []

    def tick_loop() -> None:
        while not stop.is_set():
            service.ticker.forget()  # a full tick each time: the longest writes a tick makes
            started = time.perf_counter()
            service.tick(AT)
            ticks.append(time.perf_counter() - started)

    ticker = threading.Thread(target=tick_loop, daemon=True)
    if ticking:
        ticker.start()
    try:
        with base.serving(service) as url:
            seconds, retries = _send(url, "/v1/events", posted, {"Authorization": f"Bearer {token}"})
    finally:
        stop.set()
        if ticking:
            ticker.join(600)
        service.close()
    return {"rate": len(posted) / seconds, "ticks": len(ticks), "tick_s": ticks, "retries": retries}


def _http_floor(workdir: Path, name: str, events: list[dict[str, Any]]) -> float:
    """Events per second through the HTTP floor (see the module's docstring)."""
    from sqlalchemy import insert

    from monitor.ingest.events import digest
    from monitor.store.models import Event

    engine = make_engine(base.database(workdir, f"{name}-httpfloor"))
    ensure_schema(engine)
    app = FastAPI()

    @app.post("/floor")
    async def floor(request: Request) -> JSONResponse:
        records = json.loads(await request.body())
        rows = [
            {"id": e["id"], "type": e["type"], "at": parse_instant(e["at"]), "payload": e, "digest": digest(e),
             "received_at": NOW}
            for e in records
        ]  # fmt: skip
        with engine.begin() as conn:
            conn.execute(insert(Event), rows)
        return JSONResponse({"accepted": len(rows)})

    try:
        with base.serving_app(app) as url:
            seconds, _ = _send(url, "/floor", events, {})
            return len(events) / seconds
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="M", choices=sorted(SIZES))
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument(
        "--on-thread",
        action="store_true",
        help="ticks on a thread of the daemon's process (evaluation_process: false), for comparison",
    )
    parser.add_argument(
        "--skip-import",
        action="store_true",
        help="HTTP only (the raw floor is still measured: the ratios need it)",
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("DUTYWATCH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    base.BACKEND.update(name=args.backend, url=args.pg_url)
    size = SIZES[args.size]
    data = roster(size, date(2023, 1, 1))
    history = events(size, data, base.FIRST, base.END)
    imported = history[:IMPORTED]
    kept, posted = history[:-POSTED], history[-POSTED:]
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dutywatch-ticking-") as tmp:
        workdir = Path(tmp)
        try:
            if not args.skip_http:
                engine = _fresh(workdir, "ticking", data)
                _import(engine, kept)
                engine.dispose()
            for run in range(args.runs):
                floor = base.ingest_floor(workdir, f"floor{run}", imported, NOW)
                result: dict[str, Any] = {"run": run, "floor_events_per_s": round(len(imported) / floor)}
                if not args.skip_import:
                    engine = _fresh(workdir, f"import{run}", data)
                    seconds = _import(engine, imported)
                    engine.dispose()
                    result.update(
                        import_events_per_s=round(len(imported) / seconds),
                        import_ratio=round(seconds / floor, 2),
                    )
                if not args.skip_http:
                    share = posted[run * len(posted) // args.runs :][: len(posted) // args.runs]
                    quiet = _post(workdir, "ticking", share[: len(share) // 2], False, not args.on_thread)
                    http_floor = _http_floor(workdir, f"run{run}", share[: len(share) // 2])
                    http = _post(workdir, "ticking", share[len(share) // 2 :], True, not args.on_thread)
                    result.update(
                        http_quiet_events_per_s=round(quiet["rate"]),
                        http_quiet_ratio=round(len(imported) / floor / quiet["rate"], 2),
                        http_floor_events_per_s=round(http_floor),
                        http_quiet_vs_http_floor=round(http_floor / quiet["rate"], 2),
                        http_ticking_vs_http_floor=round(http_floor / http["rate"], 2),
                        http_ticking_events_per_s=round(http["rate"]),
                        http_ticking_ratio=round(len(imported) / floor / http["rate"], 2),
                        tick_interference=round(quiet["rate"] / http["rate"], 2),
                        full_ticks=http["ticks"],
                        tick_s_max=round(max(http["tick_s"], default=0), 2),
                        retries_503=http["retries"] + quiet["retries"],
                    )
                print(json.dumps(result), flush=True)
                out.append(result)
        finally:
            base._drop_schemas()
    for key in (
        "import_events_per_s",
        "import_ratio",
        "http_quiet_events_per_s",
        "http_quiet_ratio",
        "http_floor_events_per_s",
        "http_quiet_vs_http_floor",
        "http_ticking_vs_http_floor",
        "http_ticking_events_per_s",
        "http_ticking_ratio",
        "tick_interference",
    ):
        values = [r[key] for r in out if key in r]
        if values:
            print(f"{key}: min {min(values)}, median {statistics.median(values)}, max {max(values)}")


if __name__ == "__main__":
    main()
