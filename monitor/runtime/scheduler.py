"""When evaluations run: the tick every `tick_seconds`, and at once after events that immediate
rules wait for.

Every evaluation runs on the service's one evaluation thread (the durable-rules matcher is not
thread-safe), never on the event loop. At most one evaluation waits behind the one running: a
burst of bad reviews costs two evaluations, not one per review, and the waiting one starts after
the last of them was committed, so it sees them all. There is no fixed floor between two: the
steady tick re-derives only the subjects the events touched (monitor/evaluation/steady.py), so an
evaluation right after the last one is cheap. An evaluation that queued notifications wakes the
dispatcher (`after`) instead of leaving them to its poll. Only the leader evaluates and
dispatches (monitor.runtime.leader); a standby that accepts such an event tells the leader
(monitor/runtime/pgwake.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.clock import utcnow
from monitor.config import Settings
from monitor.runtime.heartbeat import write_heartbeat
from monitor.runtime.pgwake import tell_leader

if TYPE_CHECKING:
    from monitor.runtime.service import Service

log = logging.getLogger("dutywatch")

Job = Callable[[], Awaitable[None]]

# timers kept for immediate events of the future, one per second; past this many, the tick
# evaluates the rest when their time has come (a flood of them must not grow the loop's heap)
MOST_TIMERS = 1_000


class Evaluations:
    """Runs `service.tick` (evaluate now, commit, metrics, heartbeat) on the evaluation thread."""

    def __init__(
        self,
        service: Service,
        after: Callable[[], None] | None = None,
        on_lead: Callable[[], None] | None = None,
    ) -> None:
        self._service = service
        self._after = after  # called on the loop after an evaluation that queued notifications
        self._on_lead = on_lead  # called on the loop when this process takes the lead
        self._leading = False  # whether the last poll found this process leading
        self._timers: dict[datetime, asyncio.TimerHandle] = {}  # wake_at, by second
        self._woken: set[asyncio.Task[None]] = set()  # wake-ups in flight (kept referenced)
        self._lock = threading.Lock()
        self._waiting: asyncio.Future[object] | None = None
        self._last_start = -float("inf")  # monotonic time the last evaluation started

    def soon(self, *, throttle: bool = True) -> asyncio.Future[object]:
        """An evaluation that starts after the one running, if any, and (with `throttle`, for
        ingest) not sooner than `ingest.immediate_interval_seconds` (0 by default) after the last
        one started; joins one already waiting.

        Call from the event loop. Failures are logged here; awaiting the future re-raises them.
        """
        with self._lock:
            if self._waiting is None:
                loop = asyncio.get_running_loop()
                waiting: asyncio.Future[object] = loop.create_future()
                waiting.add_done_callback(_log_failure)
                self._waiting = waiting
                interval = self._service.settings.ingest.immediate_interval_seconds if throttle else 0.0
                delay = self._last_start + interval - time.monotonic()
                if delay > 0:
                    loop.call_later(delay, self._start, waiting)
                else:
                    self._start(waiting)
            return self._waiting

    async def wake(self) -> None:
        """Accepted events an immediate rule waits for: evaluate here when this process leads,
        else tell the leader (monitor/runtime/pgwake.py). A NOTIFY that fails is logged: the leader's
        tick still evaluates the committed events."""
        leadership = self._service.leadership
        if not leadership.shared or leadership.is_leader:
            self.soon()
            return
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, tell_leader, self._service.engine, leadership
            )
        except Exception:
            log.warning("could not tell the leader of an immediate event; its tick will", exc_info=True)

    def wake_at(self, instants: Iterable[datetime]) -> None:
        """Immediate events dated in the future count from their time (monitor/store/changes.py), not
        from their arrival: `wake` once more just after it, rather than at the next tick. One
        timer per second, at most MOST_TIMERS; past the ingest's horizon the tick takes them."""
        loop = asyncio.get_running_loop()
        now = utcnow()
        for at in instants:
            second = at.replace(microsecond=0) + timedelta(seconds=1)  # `at <= now` by then
            if second <= now or second in self._timers or len(self._timers) >= MOST_TIMERS:
                continue
            self._timers[second] = loop.call_later((second - now).total_seconds(), self._fire, second)

    def _fire(self, second: datetime) -> None:
        self._timers.pop(second, None)
        task = asyncio.get_running_loop().create_task(self.wake())
        self._woken.add(task)
        task.add_done_callback(self._woken.discard)

    def _start(self, waiting: asyncio.Future[object]) -> None:
        running = asyncio.get_running_loop().run_in_executor(self._service.executor, self._run)

        def settle(done: asyncio.Future[object]) -> None:
            if waiting.done():
                return
            if done.cancelled():
                waiting.cancel()
            elif done.exception() is not None:
                waiting.set_exception(done.exception())  # type: ignore[arg-type]
            else:
                waiting.set_result(done.result())
                if self._after is not None and done.result() is not None and self._service.last_queued:
                    self._after()

        running.add_done_callback(settle)

    async def lead(self) -> asyncio.Future[object] | None:
        """Poll the leadership (the scheduler's `lead` job and every tick). A process that has
        just taken the lead — a standby whose leader died, or any process at its start — does
        not wait for its next tick: it evaluates at once (the future returned) and wakes the
        dispatcher (`on_lead`) for what the old leader queued and did not send."""
        leads = await asyncio.get_running_loop().run_in_executor(None, self._service.lead)
        took, self._leading = leads and not self._leading, leads
        if not took:
            return None
        log.info("leading: evaluating and dispatching at once")
        evaluation = self.soon(throttle=False)
        if self._on_lead is not None:
            self._on_lead()
        return evaluation

    async def tick(self) -> None:
        """The scheduled job: poll the leadership, evaluate when this process leads. A failed tick
        is logged, and the next one tries again. A standby beats the heartbeat itself while it
        reaches the database, so that `dutywatch check` does not restart a healthy standby."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            started = await self.lead()
            if started is not None:
                await started  # the evaluation of taking the lead is this tick's
            elif self._leading:
                await self.soon(throttle=False)
            elif await loop.run_in_executor(None, self._service.database_ok):
                write_heartbeat(self._service.settings.heartbeat_file, utcnow())

    def _run(self) -> object:
        # On the evaluation thread. The lock makes `soon` finish publishing the future before it
        # is cleared; once cleared, events committed from now on get an evaluation of their own.
        with self._lock:
            self._waiting = None
            self._last_start = time.monotonic()
        if not self._service.leadership.is_leader:
            return None  # two committers would race on the alert rows: the leader evaluates
        return self._service.tick()


def _log_failure(future: asyncio.Future[object]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("evaluation failed", exc_info=future.exception())


# How often SQLite's log is copied into the database and synced (store.db.checkpoint): with
# synchronous=NORMAL that sync is what makes commits survive power loss, so this bounds what a
# power cut can roll back, and it keeps the copy out of the requests' commits.
CHECKPOINT_SECONDS = 5.0


def build_scheduler(
    settings: Settings, *, tick: Job, dispatch: Job, lead: Job, checkpoint: Job | None = None
) -> AsyncIOScheduler:
    """APScheduler 3 with its in-memory job store, rebuilt from config at each start (the
    database is the source of truth): a missed run is done once (coalesce), never two at a time,
    and the tick is jittered so that replicas and neighbours on the same minute do not pile up.
    Standbys poll for the lead more often than the tick, so a takeover is quick."""
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
        id="tick",
        seconds=settings.tick_seconds,
        jitter=settings.tick_seconds / 10,
        next_run_time=utcnow() + timedelta(seconds=0.5),  # the first tick at start
    )
    scheduler.add_job(dispatch, "interval", id="dispatch", seconds=settings.notify.dispatch_seconds)
    scheduler.add_job(lead, "interval", id="lead", seconds=min(2.0, settings.tick_seconds))
    if checkpoint is not None:
        scheduler.add_job(checkpoint, "interval", id="checkpoint", seconds=CHECKPOINT_SECONDS)
    return scheduler


def retime_tick(scheduler: AsyncIOScheduler, settings: Settings) -> None:
    """Apply a reloaded `tick_seconds` to the running scheduler."""
    job = scheduler.get_job("tick")
    if job is not None and job.trigger.interval.total_seconds() != settings.tick_seconds:
        scheduler.reschedule_job(
            "tick", trigger="interval", seconds=settings.tick_seconds, jitter=settings.tick_seconds / 10
        )
        log.info("ticking every %gs from now", settings.tick_seconds)
