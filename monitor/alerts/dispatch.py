"""The dispatcher: claims due outbox rows, sends them, records what happened.

`Dispatcher` claims rows with a conditional UPDATE whose row count says who won (safe with
several processes), sends, and records the outcome: transient failures back off exponentially
with jitter, permanent ones dead-letter with the reason. A claim left by a crash expires after
the lease and is sent again — the one window where a message can go out twice (the server
accepted it, we had not yet recorded it). Quiet hours and a channel's rate defer a row without
counting an attempt. `depth` measures what waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.digest import quiet_until
from monitor.alerts.messages import outgoing_text
from monitor.alerts.recipients import contact
from monitor.config import NotifySettings
from monitor.logs import mask
from monitor.store.models import Notification, Official
from notifiers.base import Message, Notifier, TransportError

log = logging.getLogger("dutywatch.outbox")


@dataclass(frozen=True)
class Outcome:
    id: int
    channel: str
    status: str  # sent, retry, dead, deferred (quiet hours or over the rate)
    error: str | None = None


class _BatchClock:
    """A batch's time: the `now` it was given, plus what the batch has taken so far (the loop's
    monotonic clock). A batch can last minutes (a mail server has ten to answer), and what it
    records (a retry's next attempt, a claim renewed) must be as of then, while the one clock
    read stays the caller's."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.loop = asyncio.get_running_loop()
        self.started = self.loop.time()

    def __call__(self) -> datetime:
        return self.now + timedelta(seconds=self.loop.time() - self.started)


@dataclass(frozen=True)
class Batch:
    """What `Dispatcher.start` claimed, and the lanes sending it."""

    rows: list[Notification]
    lanes: list[asyncio.Task[list[Outcome]]]

    @property
    def full(self) -> bool:
        """Whether it claimed as many rows as a batch holds: more may be due now."""
        return len(self.rows) >= Dispatcher.BATCH

    async def outcomes(self) -> list[Outcome]:
        """The outcome of each row, in the order claimed, once every lane has ended; a lane's
        failure (the database away) is raised after the others end."""
        if self.lanes:
            # asyncio.wait, not gather: a caller that stops waiting (a timeout) leaves the lanes
            # to end and record their rows; cancelled mid-send, a row stayed claimed, to be sent
            # again after the lease
            await asyncio.wait(self.lanes)
        by_id: dict[int, Outcome] = {}
        for lane in self.lanes:  # lane.result() raises what failed it, after every lane ended
            by_id.update((o.id, o) for o in lane.result())
        return [by_id[row.id] for row in self.rows]


class Dispatcher:
    """Claims due rows, sends them through the channels, records what happened."""

    BATCH = 100  # rows claimed by one `run_once`: a full batch means more may be due

    def __init__(
        self,
        sessions: sessionmaker[Session],
        notifiers: Mapping[str, Notifier],
        settings: NotifySettings,
        worker: str,
        rng: random.Random | None = None,
        signatures: Mapping[str, str] | None = None,
    ) -> None:
        self.sessions = sessions
        self.notifiers = notifiers
        self.settings = settings
        self.worker = worker
        self.rng = rng or random.Random()
        # what each SMS channel puts before a text (Settings.sms_signatures): it takes room too
        self.signatures = dict(signatures or {})
        self._recent: dict[str, list[datetime]] = {}  # sends per channel in the last minute
        self._claiming: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._lanes: dict[str, asyncio.Task[list[Outcome]]] = {}  # channel → the lane sending on it
        # told when a lane ends, with its task (the daemon counts its outcomes and asks for the
        # next batch: what waited behind the lane's channel)
        self.on_lane_end: Callable[[asyncio.Task[list[Outcome]]], None] | None = None

    def claim(
        self,
        now: datetime,
        limit: int = 100,
        only: Collection[int] | None = None,
        busy: Collection[str] = (),
    ) -> list[Notification]:
        """Rows this worker won: due queued ones, and ones whose claim expired in a crash; with
        `only`, just those of these ids (a test message sent while the operator waits); none of
        the `busy` channels (a lane of this worker is sending on them)."""
        lease_cutoff = now - timedelta(seconds=self.settings.lease_seconds)
        claimable = or_(
            (Notification.status == "queued") & (Notification.next_attempt_at <= now),
            (Notification.status == "sending") & (Notification.claimed_at < lease_cutoff),
        )
        if only is not None:
            claimable = claimable & Notification.id.in_(list(only))
        if busy:
            claimable = claimable & Notification.channel.not_in(sorted(busy))
        won: list[Notification] = []
        with self.sessions() as session:
            ids = list(
                session.scalars(
                    select(Notification.id).where(claimable).order_by(Notification.id).limit(limit)
                )
            )
            for nid in ids:
                result = session.execute(
                    update(Notification)
                    .where(Notification.id == nid, claimable)
                    .values(
                        status="sending",
                        claimed_at=now,
                        claimed_by=self.worker,
                        attempts=Notification.attempts + 1,
                    )
                )
                session.commit()
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    row = session.get(Notification, nid)
                    if row is not None:
                        won.append(row)
        return won

    def _message(self, row: Notification) -> Message:
        """The row as its channel is handed it: the recipient's name and addresses as the roster
        has them now, the text as the channel takes it."""
        with self.sessions() as session:
            recipient = contact(row.recipient, session.get(Official, row.recipient))
        return Message(
            recipient=recipient,
            subject=row.subject,
            text=outgoing_text(row.channel, row.text, self.signatures.get(row.channel, "")),
            html=row.html,
            idempotency_key=row.key,
        )

    def _claim_lock(self) -> asyncio.Lock:
        # one claim at a time per dispatcher, so that a batch sees the lanes the one before it
        # started. A lock per event loop: tests and the CLI run batches under successive
        # asyncio.run calls.
        loop = asyncio.get_running_loop()
        if self._claiming is None or self._claiming[0] is not loop:
            self._claiming = (loop, asyncio.Lock())
        return self._claiming[1]

    def busy(self) -> set[str]:
        """The channels a lane is sending on now (of this dispatcher, on this loop)."""
        return {channel for channel, lane in self._lanes.items() if not lane.done()}

    def lanes(self) -> list[asyncio.Task[list[Outcome]]]:
        """The lanes still sending (a daemon stopping lets them end)."""
        return list({id(lane): lane for lane in self._lanes.values() if not lane.done()}.values())

    async def run_once(self, now: datetime, only: Collection[int] | None = None) -> list[Outcome]:
        """Claim and send what is due (with `only`, just those rows); the outcome of each."""
        return await (await self.start(now, only)).outcomes()

    async def start(self, now: datetime, only: Collection[int] | None = None) -> Batch:
        """Claim what is due on the channels no lane is sending on (with `only`, just those
        rows), and start a lane for each sender: its rows in order, the senders at once.

        A lane outlives the call: a mail server may take ten minutes to answer the end of a
        message, and the next batch, a moment later, claims the SMS and chat messages due
        meanwhile instead of waiting behind it. A channel stays with its lane until the lane
        ends (one kept SMTP connection, one sender of its rows in order).

        Shielded: a caller that stops waiting while the rows are being claimed (an API's
        timeout, a daemon's drain) would leave them claimed and unsent until the lease ends; the
        claim goes on and its lanes start."""
        return await asyncio.shield(self._start(now, only))

    async def _start(self, now: datetime, only: Collection[int] | None) -> Batch:
        async with self._claim_lock():
            busy = self.busy()
            rows = await asyncio.to_thread(self.claim, now, self.BATCH, only, busy)
            clock = _BatchClock(now)
            notifiers = self.notifiers  # once: a reload may replace them meanwhile
            groups: dict[int, tuple[Notifier | None, list[Notification]]] = {}
            for row in rows:
                notifier = notifiers.get(row.channel)
                groups.setdefault(id(notifier), (notifier, []))[1].append(row)
            tasks: list[asyncio.Task[list[Outcome]]] = []
            for notifier, lane_rows in groups.values():
                task = asyncio.get_running_loop().create_task(self._lane(notifier, lane_rows, clock))
                task.add_done_callback(self._lane_ended)
                # every channel its sender serves is busy while it sends, not only its rows' own
                served = {c for c, n in notifiers.items() if n is notifier and notifier is not None}
                for channel in served | {row.channel for row in lane_rows}:
                    self._lanes[channel] = task
                tasks.append(task)
        return Batch(rows, tasks)

    def cut_off(self) -> list[asyncio.Task[list[Outcome]]]:
        """Cancel the lanes still sending (a daemon stopping past its drain): their rows stay
        claimed and go again after the lease, as a crash's would. The lanes cancelled."""
        lanes = self.lanes()
        for lane in lanes:
            lane.cancel()
        return lanes

    def _lane_ended(self, lane: asyncio.Task[list[Outcome]]) -> None:
        for channel in [c for c, task in self._lanes.items() if task is lane]:
            del self._lanes[channel]
        if self.on_lane_end is not None and not lane.cancelled():
            self.on_lane_end(lane)

    async def _lane(
        self, notifier: Notifier | None, rows: list[Notification], clock: _BatchClock
    ) -> list[Outcome]:
        """One sender's rows, on one kept connection when it keeps one (email), its claims
        renewed until each is recorded."""
        async with contextlib.AsyncExitStack() as stack:
            session = getattr(notifier, "session", None)
            if session is not None:
                await stack.enter_async_context(session())
            pending = {row.id for row in rows}
            renewing = asyncio.create_task(self._renew(pending, clock))
            try:
                return await self._send_lane(notifier, rows, clock, pending)
            finally:
                renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewing

    async def _renew(self, pending: set[int], clock: _BatchClock) -> None:
        """Keep a lane's claims while it sends: a mail server may take ten minutes to answer the
        end of a message (RFC 5321), longer than the lease, and another worker must not take a
        row over and send it again meanwhile. Every third of the lease, the rows not yet
        recorded are claimed anew, as of the batch's clock."""
        every = self.settings.lease_seconds / 3
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.to_thread(self._reclaim, sorted(pending), clock())
            except Exception:  # the database away a moment: the next renewal tries again
                log.warning("could not renew the claims of notifications being sent", exc_info=True)

    def _reclaim(self, ids: list[int], at: datetime) -> None:
        if not ids:
            return
        with self.sessions() as session:
            session.execute(
                update(Notification)
                .where(
                    Notification.id.in_(ids),
                    Notification.status == "sending",
                    Notification.claimed_by == self.worker,
                )
                .values(claimed_at=at)
            )
            session.commit()

    async def _send_lane(
        self, notifier: Notifier | None, rows: list[Notification], clock: _BatchClock, pending: set[int]
    ) -> list[Outcome]:
        """One sender's rows in order, each judged and recorded at its own moment of the batch's
        clock, through the sender the lane began with (a reload's channels take the next lane).
        Once its server did not answer at all (refused, timed out), the lane's other rows go
        back to the queue for the retry's time from then, without an attempt counted: each
        would wait as long again, for the same answer."""
        outcomes: list[Outcome] = []
        unreachable_until: datetime | None = None
        for row in rows:
            wait = unreachable_until or self._wait(row.channel, clock())
            if wait is not None:
                await asyncio.to_thread(self._defer, row, wait)
                outcome = Outcome(row.id, row.channel, "deferred")
            else:
                outcome, unreachable = await self._send(notifier, row, clock)
                if unreachable and outcome.status == "retry":
                    unreachable_until = clock() + timedelta(seconds=self.settings.backoff_seconds)
            pending.discard(row.id)
            outcomes.append(outcome)
        return outcomes

    def _wait(self, channel: str, now: datetime) -> datetime | None:
        """Until when a row on the channel must wait: the end of its quiet hours, or a minute after
        the oldest of the sends that took up its rate; None when it may go now (a send counted)."""
        quiet = quiet_until(now, self.settings.quiet_window(channel))
        if quiet is not None:
            return quiet
        limit = self.settings.rate_per_minute.get(channel)
        if limit is None:
            return None
        recent = [t for t in self._recent.get(channel, []) if t > now - timedelta(minutes=1)]
        self._recent[channel] = recent
        if len(recent) >= limit:
            return min(recent) + timedelta(minutes=1)
        recent.append(now)
        return None

    async def _send(
        self, notifier: Notifier | None, row: Notification, clock: _BatchClock
    ) -> tuple[Outcome, bool]:
        """Send one claimed row and record its outcome as of when it came (a retry's backoff
        counts from the failure, ten minutes into a batch perhaps, not from the batch's start);
        and whether its server did not answer."""
        message = self._message(row)
        try:
            if notifier is None:
                raise TransportError(f"channel {row.channel!r} is not configured", permanent=True)
            receipt = await notifier.send(message)
        except TransportError as exc:
            failed = await asyncio.to_thread(self._failed, row, clock(), str(exc), exc.permanent)
            return failed, exc.unreachable
        except Exception as exc:  # a bug in a channel must not lose the row: retry it
            log.exception("channel %s failed unexpectedly", row.channel)
            return await asyncio.to_thread(self._failed, row, clock(), f"{type(exc).__name__}", False), False
        return await asyncio.to_thread(self._sent, row, clock(), receipt.provider_id), False

    def _defer(self, row: Notification, until: datetime) -> None:
        """Over the channel's rate: back to the queue for later, without counting an attempt."""
        with self.sessions() as session:
            session.execute(
                update(Notification)
                .where(Notification.id == row.id, Notification.claimed_by == self.worker)
                .values(status="queued", attempts=Notification.attempts - 1, next_attempt_at=until)
            )
            session.commit()

    def _sent(self, row: Notification, now: datetime, provider_id: str | None) -> Outcome:
        with self.sessions() as session:
            session.execute(
                update(Notification)
                .where(Notification.id == row.id, Notification.claimed_by == self.worker)
                .values(status="sent", sent_at=now, provider_id=provider_id, last_error=None)
            )
            session.commit()
        return Outcome(row.id, row.channel, "sent")

    def _failed(self, row: Notification, now: datetime, error: str, permanent: bool) -> Outcome:
        error = mask(error)  # a vendor's reply may quote the phone number or address it refused
        # a test message is tried once: the operator waits for its outcome, and a retry hours
        # later would surprise its recipient
        dead = permanent or row.attempts >= self.settings.max_attempts or row.kind == "test"
        delay = min(
            self.settings.max_backoff_seconds, self.settings.backoff_seconds * 2 ** (row.attempts - 1)
        )
        delay *= 0.5 + self.rng.random()  # jitter: spread retries after an outage
        with self.sessions() as session:
            session.execute(
                update(Notification)
                .where(Notification.id == row.id, Notification.claimed_by == self.worker)
                .values(
                    status="dead" if dead else "queued",
                    next_attempt_at=now + timedelta(seconds=delay),
                    last_error=error[:2000],
                )
            )
            session.commit()
        log.warning(
            "notification %s on %s failed (%s): %s", row.id, row.channel, "dead" if dead else "retry", error
        )
        return Outcome(row.id, row.channel, "dead" if dead else "retry", error)


def depth(session: Session, now: datetime) -> tuple[int, float]:
    """Rows waiting (queued or sending) and the age in seconds of the oldest."""
    count, oldest = session.execute(
        select(func.count(), func.min(Notification.created_at)).where(
            Notification.status.in_(("queued", "sending"))
        )
    ).one()
    return int(count), (now - oldest).total_seconds() if oldest is not None else 0.0
