"""`dutywatch run`: one asyncio loop holding the scheduler, the HTTP server and the dispatcher.

SIGTERM or SIGINT drains within DRAIN_SECONDS: no new ticks, the server stops accepting and
finishes the requests in flight, the evaluation in flight finishes, what is due is sent, and the
database closes. SIGHUP reloads config, rules and calendar (as POST /-/reload does); a broken
file keeps the last good ones running. Only the leader ticks and dispatches (monitor.runtime.leader);
it evaluates and sends at once when it takes the lead, when an immediate event is accepted
here or on a standby (monitor/runtime/pgwake.py), and when an evaluation queued notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from starlette.types import ASGIApp

from monitor.api.app import create_app
from monitor.api.guard import guarded_protocol
from monitor.audit import audit_reload
from monitor.clock import utcnow
from monitor.config import HttpSettings, Settings
from monitor.runtime.pgwake import Listener
from monitor.runtime.scheduler import Evaluations, build_scheduler, retime_tick
from monitor.runtime.service import Service
from monitor.runtime.wakeups import Dispatches

log = logging.getLogger("dutywatch")

DRAIN_SECONDS = 10.0


def http_config(
    app: ASGIApp,
    listen: str,
    http: HttpSettings | None = None,
    on_cut: Callable[[str], None] | None = None,
) -> uvicorn.Config:
    """uvicorn hardened for a service on an open network (limits in `http`, figures in
    docs/reliability.md): a request head must arrive within a deadline, connections are capped
    in all and per client address (monitor.api.guard), idle keep-alive connections are closed,
    a request head is capped at 64 KiB, proxy headers are believed only from trusted proxies,
    no server banner, no access log (the app logs what matters, masked). `on_cut` is told the
    reason of each connection cut off (for the metrics)."""
    http = http or HttpSettings()
    host, _, port = listen.rpartition(":")
    return uvicorn.Config(
        app,
        host=host.strip("[]"),
        port=int(port),
        http=guarded_protocol(http, on_cut),
        ws="none",  # no route speaks WebSocket: an upgrade is just an HTTP request
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_keep_alive=http.keep_alive_seconds,
        timeout_graceful_shutdown=int(DRAIN_SECONDS / 2),
        limit_concurrency=http.max_connections,
        h11_max_incomplete_event_size=64 * 1024,
        server_header=False,
        # uvicorn believes X-Forwarded-For from 127.0.0.1 (or $FORWARDED_ALLOW_IPS) unless told
        # otherwise; the audit log's "from where" must not be a client's choice
        proxy_headers=bool(http.trusted_proxies),
        forwarded_allow_ips=list(http.trusted_proxies) if http.trusted_proxies else "",
    )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns SIGTERM, SIGINT and SIGHUP."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(
    settings: Settings, config_path: Path | None = None, *, service: Service | None = None
) -> int:
    """Run until SIGTERM or SIGINT: 0 when drained in time, 1 when not or when the HTTP server
    could not start. Tests may hand in the `service` they watch."""
    service = service or Service(settings, config_path)
    loop = asyncio.get_running_loop()

    async def dispatch() -> bool:
        """One batch; whether it was full (Dispatches then runs another at once)."""
        if not service.leadership.is_leader:
            return False  # a standby: the leader sends
        try:
            return await service.dispatch()
        except Exception:
            log.exception("dispatch failed")
            return False

    # an evaluation that queued notifications wakes the dispatcher, and so does taking the lead
    # (what the old leader queued and did not send); the poll is the safety net
    dispatches = Dispatches(dispatch)
    evaluations = Evaluations(service, after=dispatches.soon, on_lead=dispatches.soon)

    async def poll_outbox() -> None:
        dispatches.soon()

    async def lead() -> None:
        # a new leader evaluates and sends now (Evaluations.lead): what the standbys accepted
        # meanwhile must not wait for the next tick
        await evaluations.lead()

    listener = None
    if service.leadership.shared:

        def heard() -> None:  # on the listening thread: a standby accepted an immediate event
            if service.leadership.is_leader:
                loop.call_soon_threadsafe(evaluations.soon)

        listener = Listener(service.engine, service.leadership, heard)

    scheduler = build_scheduler(service.settings, tick=evaluations.tick, dispatch=poll_outbox, lead=lead)

    async def reload() -> tuple[bool, str]:
        ok, message = await loop.run_in_executor(service.executor, service.reload)
        if ok:
            retime_tick(scheduler, service.settings)
        return ok, message

    server = _Server(
        http_config(
            create_app(service, evaluations, reload),
            service.settings.listen,
            service.settings.http,
            service.metrics.count_cut,
        )
    )

    async def serve_http() -> None:
        try:
            await server.serve()
        except SystemExit as exc:  # uvicorn exits when it cannot bind: drain and say so instead
            raise RuntimeError(f"the HTTP server could not start on {service.settings.listen}") from exc

    stop = asyncio.Event()
    reloads: set[asyncio.Task[tuple[bool, str]]] = set()

    async def reload_on_signal() -> tuple[bool, str]:
        ok, message = await reload()
        try:
            await loop.run_in_executor(None, audit_reload, service, ok, message, "signal", "SIGHUP")
        except Exception:  # the database may be away: the reload itself stands
            log.exception("could not write the reload to the audit log")
        return ok, message

    def on_hangup() -> None:
        task = loop.create_task(reload_on_signal())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_hangup)
    try:
        if listener is not None:
            listener.start()
        scheduler.start()
        serving = asyncio.create_task(serve_http())
        stopped = asyncio.create_task(stop.wait())
        log.info(
            "dutywatch running on %s, ticking every %gs",
            service.settings.listen,
            service.settings.tick_seconds,
        )
        service.announce_calendar(utcnow())  # then each tick names a year that newly lacks one
        await asyncio.wait({serving, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        return await _drain(service, scheduler, server, serving, dispatches, dispatch)
    finally:
        if listener is not None:  # it notices within a second; the loop keeps serving meanwhile
            await loop.run_in_executor(None, listener.stop)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)


async def _drain(
    service: Service,
    scheduler: AsyncIOScheduler,
    server: uvicorn.Server,
    serving: asyncio.Task[None],
    dispatches: Dispatches,
    dispatch: Callable[[], Awaitable[bool]],
) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_SECONDS
    log.info("draining")
    scheduler.shutdown(wait=False)
    server.should_exit = True
    try:
        async with asyncio.timeout_at(deadline):
            with contextlib.suppress(Exception):  # a server that failed is reported below
                await serving
            # a barrier on the one evaluation thread: the evaluation in flight (and one already
            # waiting for accepted events) finishes before the database closes
            await loop.run_in_executor(service.executor, lambda: None)
            await dispatches.close()  # the batch in flight ends; the last one follows here
            try:
                # send what the last evaluation queued; what does not go now goes after a restart
                await asyncio.wait_for(dispatch(), (deadline - loop.time()) / 2)
            except TimeoutError:
                log.warning("the outbox was not flushed before stopping; the rest goes after restart")
            await loop.run_in_executor(None, service.close)
    except TimeoutError:
        log.error("drain took longer than %gs", DRAIN_SECONDS)
        return 1
    if serving.exception() is not None:
        log.error("stopped: %s", serving.exception())
        return 1
    log.info("stopped")
    return 0
