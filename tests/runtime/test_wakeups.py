"""Wake-ups in one process: an immediate event starts an evaluation with no floor, a burst
coalesces into one evaluation behind the running one, and an evaluation that queued
notifications wakes the dispatcher, which coalesces its own wake-ups the same way."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from monitor.clock import utcnow
from monitor.config import IngestSettings
from monitor.runtime.scheduler import Evaluations
from monitor.runtime.service import Service
from monitor.runtime.wakeups import Dispatches
from monitor.store.changes import note_changes, pending_changes
from monitor.store.db import ensure_schema, make_engine, session_factory


class RecordingExecutor(ThreadPoolExecutor):
    """The one evaluation thread, counting what was handed to it."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.submitted = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


class FakeService:
    """What Evaluations reads of a Service; its tick blocks until `release` is set."""

    def __init__(self, queued: int = 1) -> None:
        self.settings = SimpleNamespace(ingest=IngestSettings())
        self.executor = RecordingExecutor()
        self.leadership = SimpleNamespace(shared=False, is_leader=True)
        self.started = threading.Event()
        self.release = threading.Event()
        self.ticks = 0
        self.queued = queued
        self.last_queued = 0

    def tick(self) -> int:
        self.started.set()
        self.release.wait(10)
        self.ticks += 1
        self.last_queued = self.queued
        return self.ticks


def test_an_immediate_event_is_evaluated_at_once_and_a_burst_coalesces() -> None:
    service = FakeService()
    woken: list[int] = []
    evaluations = Evaluations(cast(Service, service), after=lambda: woken.append(service.ticks))

    async def scenario() -> None:
        first = evaluations.soon()
        # handed to the evaluation thread before `soon` returned: no floor, no timer
        assert service.executor.submitted == 1
        # events committed once it has started reading are for the next evaluation
        await asyncio.to_thread(service.started.wait, 10)
        burst = {id(evaluations.soon()) for _ in range(50)}
        assert len(burst) == 1  # fifty events while one runs: one evaluation waits
        second = evaluations.soon()
        service.release.set()
        assert await first == 1
        assert await second == 2

    asyncio.run(scenario())
    service.executor.shutdown()
    assert service.ticks == 2 and service.executor.submitted == 2
    assert len(woken) == 2  # each evaluation queued a notification: each woke the dispatcher


def test_an_evaluation_that_queued_nothing_leaves_the_dispatcher_asleep() -> None:
    service = FakeService(queued=0)
    service.release.set()
    woken: list[int] = []
    evaluations = Evaluations(cast(Service, service), after=lambda: woken.append(1))

    async def scenario() -> None:
        await evaluations.soon()

    asyncio.run(scenario())
    service.executor.shutdown()
    assert service.ticks == 1 and woken == []


def test_a_configured_floor_still_spaces_immediate_evaluations() -> None:
    # operators may trade latency for CPU: the setting keeps working when set
    service = FakeService()
    service.settings = SimpleNamespace(ingest=IngestSettings(immediate_interval_seconds=3600))
    service.release.set()
    evaluations = Evaluations(cast(Service, service))

    async def scenario() -> None:
        await evaluations.soon()
        later = evaluations.soon()
        await asyncio.sleep(0.05)
        assert not later.done() and service.executor.submitted == 1
        later.cancel()

    asyncio.run(scenario())
    service.executor.shutdown()


def test_dispatch_wake_ups_coalesce_and_stop_on_close() -> None:
    gate = asyncio.Event
    sends: list[int] = []

    async def scenario() -> None:
        opened = gate()

        async def send() -> None:
            sends.append(len(sends))
            await opened.wait()

        dispatches = Dispatches(send)
        dispatches.soon()
        await asyncio.sleep(0)  # the first batch starts and waits at the gate
        assert sends == [0]
        for _ in range(20):
            dispatches.soon()  # rows queued while a batch runs: one more batch, not twenty
        opened.set()
        for _ in range(10):
            await asyncio.sleep(0)
        assert sends == [0, 1] and dispatches.batches == 2
        await dispatches.close()
        dispatches.soon()
        await asyncio.sleep(0)
        assert sends == [0, 1]

    asyncio.run(scenario())


def test_a_failed_batch_does_not_stop_later_wake_ups() -> None:
    calls: list[str] = []

    async def scenario() -> None:
        async def send() -> None:
            calls.append("send")
            if len(calls) == 1:
                raise RuntimeError("SMTP went away")

        dispatches = Dispatches(send)
        dispatches.soon()
        for _ in range(5):
            await asyncio.sleep(0)
        dispatches.soon()
        for _ in range(5):
            await asyncio.sleep(0)
        await dispatches.close()

    asyncio.run(scenario())
    assert calls == ["send", "send"]


def test_a_full_batch_is_followed_by_another_at_once() -> None:
    # a backlog of 250 due rows, 100 a batch: three batches on one wake-up, not one per poll
    backlog = [250]

    async def scenario() -> None:
        async def send() -> bool:
            claimed = min(100, backlog[0])
            backlog[0] -= claimed
            return claimed == 100

        dispatches = Dispatches(send)
        dispatches.soon()
        for _ in range(20):
            await asyncio.sleep(0)
        assert backlog == [0] and dispatches.batches == 3
        await dispatches.close()

    asyncio.run(scenario())


class LeadingService(FakeService):
    """A FakeService whose leadership poll answers what the test says."""

    def __init__(self) -> None:
        super().__init__(queued=0)
        self.release.set()
        self.leads = True

    def lead(self) -> bool:
        return self.leads


def test_taking_the_lead_evaluates_and_dispatches_at_once_once() -> None:
    service = LeadingService()
    took: list[int] = []
    evaluations = Evaluations(cast(Service, service), on_lead=lambda: took.append(service.ticks))

    async def scenario() -> None:
        started = await evaluations.lead()
        assert started is not None and took == [0]  # the dispatcher woken as the lead is taken
        assert await started == 1
        assert await evaluations.lead() is None  # still leading: nothing new to do
        await evaluations.tick()  # the scheduled tick of a leader evaluates as before
        assert service.ticks == 2 and took == [0]
        service.leads = False
        assert await evaluations.lead() is None
        service.leads = True  # lost and taken again (a broken lock connection): at once again
        again = await evaluations.lead()
        assert again is not None and await again == 3 and took == [0, 2]

    asyncio.run(scenario())
    service.executor.shutdown()


def test_the_tick_that_takes_the_lead_evaluates_once() -> None:
    service = LeadingService()
    evaluations = Evaluations(cast(Service, service))

    async def scenario() -> None:
        await evaluations.tick()

    asyncio.run(scenario())
    service.executor.shutdown()
    assert service.ticks == 1 and service.executor.submitted == 1


def test_a_minute_of_single_event_requests_keeps_the_next_evaluation_scoped(tmp_path: Path) -> None:
    # 20 requests a second for a minute, one contact each: the evaluation an immediate event asks
    # for afterwards re-derives their enterprises, not the whole district
    engine = make_engine(f"sqlite:///{tmp_path / 'changes.db'}")
    ensure_schema(engine)
    now = utcnow()
    with session_factory(engine)() as session:
        for i in range(1_200):
            note_changes(session, at=now, types=["contact"], enterprises=[f"e{i % 300}"])
        session.commit()
        changes = pending_changes(session, now)
    engine.dispose()
    assert not changes.everything and len(changes.ids) == 1_200 and changes.keys == 300


def test_an_immediate_event_dated_a_moment_ahead_is_evaluated_when_its_time_comes() -> None:
    # a sender's clock two seconds ahead: the event counts from its time, so the evaluation its
    # arrival woke did not see it; a timer wakes another just after, not the next tick
    service = FakeService(queued=0)
    service.release.set()
    evaluations = Evaluations(cast(Service, service))
    ran_at: list[datetime] = []
    tick = service.tick

    def timed_tick() -> int:
        ran_at.append(utcnow())
        return tick()

    service.tick = timed_tick  # type: ignore[method-assign]

    async def scenario() -> None:
        ahead = utcnow() + timedelta(seconds=1.5)
        evaluations.wake_at([ahead, ahead, utcnow() - timedelta(seconds=5)])  # one timer; the past: none
        assert service.executor.submitted == 0
        for _ in range(600):
            if ran_at:
                break
            await asyncio.sleep(0.05)
        assert len(ran_at) == 1 and ran_at[0] > ahead

    asyncio.run(scenario())
    service.executor.shutdown()
