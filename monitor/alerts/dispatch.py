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
from collections.abc import Collection, Mapping
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
        self._batch: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    def claim(
        self, now: datetime, limit: int = 100, only: Collection[int] | None = None
    ) -> list[Notification]:
        """Rows this worker won: due queued ones, and ones whose claim expired in a crash; with
        `only`, just those of these ids (a test message sent while the operator waits)."""
        lease_cutoff = now - timedelta(seconds=self.settings.lease_seconds)
        claimable = or_(
            (Notification.status == "queued") & (Notification.next_attempt_at <= now),
            (Notification.status == "sending") & (Notification.claimed_at < lease_cutoff),
        )
        if only is not None:
            claimable = claimable & Notification.id.in_(list(only))
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

    def _batch_lock(self) -> asyncio.Lock:
        # one batch at a time per dispatcher: the scheduled one and a test message sent from the
        # API would otherwise share (and close under each other) a channel's kept SMTP connection.
        # A lock per event loop: tests and the CLI run batches under successive asyncio.run calls.
        loop = asyncio.get_running_loop()
        if self._batch is None or self._batch[0] is not loop:
            self._batch = (loop, asyncio.Lock())
        return self._batch[1]

    async def run_once(self, now: datetime, only: Collection[int] | None = None) -> list[Outcome]:
        """Claim and send what is due (with `only`, just those rows); the outcome of each."""
        async with self._batch_lock():
            return await self._run_once(now, only)

    async def _run_once(self, now: datetime, only: Collection[int] | None) -> list[Outcome]:
        rows = await asyncio.to_thread(self.claim, now, self.BATCH, only)
        if not rows:
            return []
        async with contextlib.AsyncExitStack() as batch:
            # channels that can keep a connection for the batch (email) open a session for it
            keeping = {id(n): n for n in self.notifiers.values() if hasattr(n, "session")}
            for notifier in keeping.values():
                await batch.enter_async_context(notifier.session())
            pending = {row.id for row in rows}
            clock = _BatchClock(now)
            renewing = asyncio.create_task(self._renew(pending, clock))
            try:
                return await self._send_all(rows, clock, pending)
            finally:
                renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewing

    async def _renew(self, pending: set[int], clock: _BatchClock) -> None:
        """Keep the batch's claims while it is sent: a mail server may take ten minutes to answer
        the end of a message (RFC 5321), longer than the lease, and another worker must not take
        a row over and send it again meanwhile. Every third of the lease, the rows not yet
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

    async def _send_all(
        self, rows: list[Notification], clock: _BatchClock, pending: set[int]
    ) -> list[Outcome]:
        """The rows of each channel's sender in turn, the senders at once: a mail server slow to
        answer holds up its own messages, not the SMS and chat ones of the batch. Every lane ends
        before the batch does (its claims renewed, its sessions open, the batch lock held), even
        when another fails (the database away): then the first failure is raised after them."""
        lanes: dict[int, list[Notification]] = {}
        for row in rows:
            lanes.setdefault(id(self.notifiers.get(row.channel)), []).append(row)
        done = await asyncio.gather(
            *(self._send_lane(lane, clock, pending) for lane in lanes.values()), return_exceptions=True
        )
        for result in done:
            if isinstance(result, BaseException):
                raise result
        by_id = {o.id: o for outcomes in done if not isinstance(outcomes, BaseException) for o in outcomes}
        return [by_id[row.id] for row in rows]

    async def _send_lane(
        self, rows: list[Notification], clock: _BatchClock, pending: set[int]
    ) -> list[Outcome]:
        """One sender's rows in order, each judged and recorded at its own moment of the batch's
        clock. Once its server did not answer at all (refused, timed out), the lane's other rows
        go back to the queue for the retry's time from then, without an attempt counted: each
        would wait as long again, for the same answer."""
        outcomes: list[Outcome] = []
        unreachable_until: datetime | None = None
        for row in rows:
            wait = unreachable_until or self._wait(row.channel, clock())
            if wait is not None:
                await asyncio.to_thread(self._defer, row, wait)
                outcome = Outcome(row.id, row.channel, "deferred")
            else:
                outcome, unreachable = await self._send(row, clock)
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

    async def _send(self, row: Notification, clock: _BatchClock) -> tuple[Outcome, bool]:
        """Send one claimed row and record its outcome as of when it came (a retry's backoff
        counts from the failure, ten minutes into a batch perhaps, not from the batch's start);
        and whether its server did not answer."""
        notifier = self.notifiers.get(row.channel)
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
