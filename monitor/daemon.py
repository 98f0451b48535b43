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
from monitor.store.db import checkpoint

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
    service = service or Service(settings, config_path, evaluate_apart=settings.evaluation_process)
    daemon = _Daemon(service, asyncio.get_running_loop())
    daemon.handle_signals()
    try:
        serving = daemon.start()
        return await daemon.run(serving)
    finally:
        await daemon.stop()


class _Daemon:
    """What `serve` runs on its loop, wired together: an evaluation that queued notifications
    wakes the dispatcher, and so does taking the lead (what the old leader queued and did not
    send), the poll being the safety net; on a shared database an event a standby accepted wakes
    the leader's evaluation (Listener); the scheduler ticks; the HTTP server serves."""

    def __init__(self, service: Service, loop: asyncio.AbstractEventLoop) -> None:
        self.service = service
        self.loop = loop
        self.dispatches = Dispatches(self.dispatch)
        # a lane that ended leaves its channel free: what waited behind it is claimed at once
        service.after_lane = self.dispatches.soon
        self.evaluations = Evaluations(service, after=self.dispatches.soon, on_lead=self.dispatches.soon)
        self.listener = (
            Listener(service.engine, service.leadership, self._heard) if service.leadership.shared else None
        )
        self.scheduler = build_scheduler(
            service.settings,
            tick=self.evaluations.tick,
            dispatch=self._poll_outbox,
            lead=self._lead,
            checkpoint=self._checkpoint if service.engine.dialect.name == "sqlite" else None,
        )
        self.server = _Server(
            http_config(
                create_app(service, self.evaluations, self.reload),
                service.settings.listen,
                service.settings.http,
                service.metrics.count_cut,
            )
        )
        self.stopping = asyncio.Event()
        self.reloads: set[asyncio.Task[tuple[bool, str]]] = set()

    def handle_signals(self) -> None:
        """SIGTERM and SIGINT stop, SIGHUP reloads."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(signum, self.stopping.set)
        self.loop.add_signal_handler(signal.SIGHUP, self._on_hangup)

    def start(self) -> asyncio.Task[None]:
        """Listen, tick and serve; the task serving HTTP."""
        if self.listener is not None:
            self.listener.start()
        self.scheduler.start()
        serving = asyncio.create_task(self._serve_http())
        log.info(
            "dutywatch running on %s, ticking every %gs",
            self.service.settings.listen,
            self.service.settings.tick_seconds,
        )
        self.service.announce_calendar(utcnow())  # then each tick names a year that newly lacks one
        return serving

    async def run(self, serving: asyncio.Task[None]) -> int:
        """Until told to stop or the HTTP server ends; then drain (the exit code)."""
        stopped = asyncio.create_task(self.stopping.wait())
        await asyncio.wait({serving, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        return await _drain(
            self.service, self.scheduler, self.server, serving, self.dispatches, self.dispatch
        )

    async def stop(self) -> None:
        """Stop listening and leave the signals alone, however the run ended."""
        if self.listener is not None:  # it notices within a second; the loop keeps serving meanwhile
            await self.loop.run_in_executor(None, self.listener.stop)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            self.loop.remove_signal_handler(signum)

    async def dispatch(self) -> bool:
        """One batch; whether it was full (Dispatches then runs another at once)."""
        if not self.service.leadership.is_leader:
            return False  # a standby: the leader sends
        try:
            return await self.service.dispatch()
        except Exception:
            log.exception("dispatch failed")
            return False

    async def _checkpoint(self) -> None:
        """SQLite's log into the database, off the loop (and off the requests' commits)."""
        try:
            await self.loop.run_in_executor(None, checkpoint, self.service.engine)
        except Exception:  # a busy or failing database: the next one, or SQLite's own bound, will do
            log.exception("checkpoint failed")

    async def _poll_outbox(self) -> None:
        self.dispatches.soon()

    async def _lead(self) -> None:
        # a new leader evaluates and sends now (Evaluations.lead): what the standbys accepted
        # meanwhile must not wait for the next tick
        await self.evaluations.lead()

    def _heard(self) -> None:
        """On the listening thread: a standby accepted an immediate event."""
        if self.service.leadership.is_leader:
            self.loop.call_soon_threadsafe(self.evaluations.soon)

    async def reload(self) -> tuple[bool, str]:
        ok, message = await self.loop.run_in_executor(self.service.executor, self.service.reload)
        if ok:
            retime_tick(self.scheduler, self.service.settings)
        return ok, message

    async def _reload_on_signal(self) -> tuple[bool, str]:
        ok, message = await self.reload()
        try:
            await self.loop.run_in_executor(None, audit_reload, self.service, ok, message, "signal", "SIGHUP")
        except Exception:  # the database may be away: the reload itself stands
            log.exception("could not write the reload to the audit log")
        return ok, message

    def _on_hangup(self) -> None:
        task = self.loop.create_task(self._reload_on_signal())
        self.reloads.add(task)
        task.add_done_callback(self.reloads.discard)

    async def _serve_http(self) -> None:
        try:
            await self.server.serve()
        except SystemExit as exc:  # uvicorn exits when it cannot bind: drain and say so instead
            raise RuntimeError(f"the HTTP server could not start on {self.service.settings.listen}") from exc


async def _lanes_ended(service: Service) -> None:
    lanes = service.dispatcher.lanes()
    if lanes:
        await asyncio.wait(lanes)


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
    cut_off = False
    scheduler.shutdown(wait=False)
    server.should_exit = True
    try:
        async with asyncio.timeout_at(deadline):
            with contextlib.suppress(Exception):  # a server that failed is reported below
                await serving
            # a barrier on the one evaluation thread: the evaluation in flight (and one already
            # waiting for accepted events) finishes before the database closes
            await loop.run_in_executor(service.executor, lambda: None)
            await dispatches.close()  # no more batches start; the last one follows here

            async def flush() -> None:
                # the lanes under way end, then what the last evaluation queued goes
                await _lanes_ended(service)
                await dispatch()
                await _lanes_ended(service)

            try:
                # what does not go now goes after a restart
                await asyncio.wait_for(flush(), (deadline - loop.time()) / 2)
            except TimeoutError:
                log.warning("the outbox was not flushed before stopping; the rest goes after restart")
                # a lane still sending (a mail server taking its time) is cut off, as a crash
                # would: its row is sent again after the lease. It ends before the database closes.
                cut = service.dispatcher.cut_off()
                if cut:
                    await asyncio.wait(cut)
                    cut_off = True
            await loop.run_in_executor(None, service.close)
    except TimeoutError:
        log.error("drain took longer than %gs", DRAIN_SECONDS)
        return 1
    if serving.exception() is not None:
        log.error("stopped: %s", serving.exception())
        return 1
    if cut_off:
        log.error("stopped with notifications cut off mid-send: they go again after a restart")
        return 1
    log.info("stopped")
    return 0
