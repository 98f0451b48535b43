"""`dutywatch run`: one asyncio loop holding the scheduler, the HTTP server and the ticks.

APScheduler 3 keeps its jobs in memory, rebuilt from config at start: the database, not the
scheduler, is the source of truth. SIGTERM/SIGINT stop the server, let the tick in flight
finish, and close the database within the drain timeout; SIGHUP reloads config and rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.api.app import create_app
from monitor.clock import utcnow
from monitor.config import Settings
from monitor.service import Service

log = logging.getLogger("dutywatch")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns SIGTERM, SIGINT and SIGHUP."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


DRAIN_SECONDS = 10.0


async def serve(settings: Settings, config_path: Path | None = None) -> int:
    service = Service(settings, config_path)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    async def tick() -> None:
        if not await loop.run_in_executor(None, service.lead):
            return  # a standby: the leader ticks
        try:
            await loop.run_in_executor(service.executor, service.tick, None)
        except Exception:
            # one bad tick must not stop the daemon: log it, the next tick tries again
            log.exception("tick failed")

    async def dispatch() -> None:
        if not service.leadership.is_leader:
            return
        try:
            await service.dispatch()
        except Exception:
            log.exception("dispatch failed")

    async def lead() -> None:
        await loop.run_in_executor(None, service.lead)

    async def reload() -> None:
        await loop.run_in_executor(service.executor, service.reload)

    scheduler = AsyncIOScheduler(
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": int(settings.tick_seconds * 2) + 1,
        },
        timezone="Asia/Shanghai",
    )
    scheduler.add_job(
        tick,
        "interval",
        seconds=settings.tick_seconds,
        jitter=max(1, int(settings.tick_seconds * 0.05)),
        next_run_time=utcnow() + timedelta(seconds=0.5),
        id="tick",
    )
    scheduler.add_job(dispatch, "interval", seconds=settings.notify.dispatch_seconds, id="dispatch")
    # standbys poll for the lead more often than the tick, so a takeover is quick
    scheduler.add_job(
        lead,
        "interval",
        seconds=min(2.0, settings.tick_seconds),
        id="lead",
    )
    host, _, port = settings.listen.rpartition(":")
    server = _Server(
        uvicorn.Config(
            create_app(service),
            host=host.strip("[]"),
            port=int(port),
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_keep_alive=5,
            limit_concurrency=512,
            h11_max_incomplete_event_size=64 * 1024,
        )
    )
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(reload()))

    scheduler.start()
    serving = asyncio.create_task(server.serve())
    log.info("dutywatch running on %s, ticking every %gs", settings.listen, settings.tick_seconds)
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopped}, return_when=asyncio.FIRST_COMPLETED)
    log.info("draining")
    scheduler.shutdown(wait=False)
    server.should_exit = True
    try:
        await asyncio.wait_for(serving, DRAIN_SECONDS)
        await asyncio.wait_for(dispatch(), DRAIN_SECONDS / 2)  # flush what is due before closing
        # the tick in flight (if any) finishes on the evaluation thread before the database closes
        await asyncio.wait_for(loop.run_in_executor(None, service.close), DRAIN_SECONDS)
    except TimeoutError:
        log.error("drain took longer than %gs", DRAIN_SECONDS)
        return 1
    log.info("stopped")
    return 0 if not serving.done() or serving.exception() is None else 1
