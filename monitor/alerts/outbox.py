"""The outbox: every notification is a row before anything is sent.

`enqueue` turns alert transitions (and due reminders) into rows, one per recipient and channel,
each with an idempotency key, so a repeated tick or a restart never queues a message twice.
`Dispatcher` claims rows with a conditional UPDATE whose row count says who won (safe with
several processes), sends, and records the outcome: transient failures back off exponentially
with jitter, permanent ones dead-letter with the reason. A claim left by a crash expires after
the lease and is sent again — the one window where a message can go out twice (the server
accepted it, we had not yet recorded it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.lifecycle import Transition
from monitor.alerts.links import LinkMaker
from monitor.alerts.messages import context, digest_html, render, sms_text, sms_with_link
from monitor.alerts.silences import active_silences, silencing
from monitor.clock import SHANGHAI, iso_shanghai
from monitor.config import NotifySettings
from monitor.logs import mask
from monitor.rulebook import Rulebook
from monitor.store.batches import batches
from monitor.store.models import OPEN_STATES, AlertRecord, Notification, Official
from notifiers import capabilities
from notifiers.base import LINK_MARK, Message, Notifier, Recipient, TransportError, action_links

log = logging.getLogger("dutywatch.outbox")
STATE_WORDS = {"warning": "提醒", "overdue": "逾期", "resolved": "已解决"}
# the recipient of a message on a channel that posts to a group chat or a system, not to a person
# (`Channel.group`): one message per alert change
GROUP = "group"


def notification_key(*parts: object) -> str:
    """A notification's idempotency key: the same parts always give the same key."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:48]


def _subject(rulebook: Rulebook, row: AlertRecord, kind: str) -> str:
    title = rulebook[row.rule].title.zh if row.rule in rulebook.rules else row.rule
    if kind == "resolved":
        return f"【已解决】{title}"
    level = f"·第{row.level}级" if row.level else ""
    again = "（再次提醒）" if kind == "reminder" else ""
    return f"【{STATE_WORDS.get(row.state, row.state)}{level}】{title}{again}"


def _text(row: AlertRecord, kind: str) -> str:
    if kind == "resolved":
        return f"以下事项已办结或不再需要督办（{iso_shanghai(row.resolved_at or row.changed_at)[:16]}）：\n{row.message}"
    return row.message


def _names(recipients: Sequence[str], officials: Mapping[str, Official]) -> str:
    names = [officials[r].name if r in officials else r for r in recipients]
    return "\n请" + "、".join(names) + "知悉。"


def _group_links(
    links: LinkMaker,
    recipients: Sequence[str],
    officials: Mapping[str, Official],
    alert_id: int,
    now: datetime,
) -> str:
    """One link a named official in a group message: each acts as themselves, never as the group."""
    lines = [
        f"{officials[r].name}{LINK_MARK}{links.url(r, alert_id, now)}" for r in recipients if r in officials
    ]
    return "\n" + "\n".join(lines) if lines else ""


def reachable(channel: str, official: Official | None) -> bool:
    """Whether the channel has an address for this official (robots and files always do)."""
    address = capabilities(channel).address
    if address == "email":
        return official is not None and bool(official.email)
    if address == "phone":
        return official is not None and bool(official.phone)
    return True


ENQUEUE_CHUNK = 5_000


def enqueue(
    session: Session,
    rulebook: Rulebook,
    changes: Sequence[Transition],
    now: datetime,
    channels: Sequence[str],
    renotify: bool = True,
    digest_below_level: int | None = None,
    templates: Path | None = None,
    language: str = "zh",
    links: LinkMaker | None = None,
) -> int:
    """Queue the messages these transitions (and due reminders) call for; returns how many.

    With `digest_below_level`, a person's warnings and overdue alerts below that level (of rules
    that are not immediate) are held for the daily digest instead of going out at once.
    """
    silences = active_silences(session, now)
    # Silences are rare: only while one is active (or one just ended, leaving marks) are all
    # open alerts read to mark them; a province has hundreds of thousands, and a tick changes few.
    silenced: dict[int, int | None] = {}
    if silences or session.scalar(
        select(AlertRecord.id)
        .where(AlertRecord.state.in_(OPEN_STATES), AlertRecord.silenced_by.is_not(None))
        .limit(1)
    ):
        muted: list[dict[str, Any]] = []
        for open_row in session.execute(
            select(
                AlertRecord.id,
                AlertRecord.rule,
                AlertRecord.subject,
                AlertRecord.unit_id,
                AlertRecord.silenced_by,
            ).where(AlertRecord.state.in_(OPEN_STATES))
        ):
            silence = silencing(silences, open_row) if silences else None
            silenced[open_row.id] = silence
            if silence != open_row.silenced_by:
                muted.append({"id": open_row.id, "silenced_by": silence})
        if muted:
            session.execute(update(AlertRecord), muted)
    if not channels:
        return 0  # nobody to tell: the alerts stay untold (notified_at unset) until a channel is
    officials = {o.id: o for o in session.scalars(select(Official))}
    wanted: list[tuple[int, str]] = []  # (alert id, kind)
    keys = {(c.rule, c.subject, c.period or "") for c in changes}
    by_key: dict[
        tuple[str, str, str], tuple[int, int | None, str | None, datetime | None, datetime | None]
    ] = {}
    # by rule and 500 subjects at a time (a province's first tick names a million; PostgreSQL
    # takes at most 65,535 parameters a statement)
    chunks = [
        (rule, part)
        for rule in sorted({k[0] for k in keys})
        for part in batches(sorted({k[1] for k in keys if k[0] == rule}))
    ]
    for rule, subjects in chunks:
        for found in session.execute(
            select(
                AlertRecord.id,
                AlertRecord.rule,
                AlertRecord.subject,
                AlertRecord.period,
                AlertRecord.silenced_by,
                AlertRecord.inhibited_by,
                AlertRecord.acked_at,
                AlertRecord.notified_at,
            ).where(AlertRecord.rule == rule, AlertRecord.subject.in_(subjects))
        ):
            by_key[(found.rule, found.subject, found.period)] = (
                found.id,
                silenced.get(found.id, found.silenced_by),
                found.inhibited_by,
                found.acked_at,
                found.notified_at,
            )
    for change in changes:
        if change.change == "rescheduled":
            continue  # the due time moved, the duty did not: nobody is told twice for it
        hit = by_key.get((change.rule, change.subject, change.period or ""))
        if hit is None:
            continue
        alert_id, silence, inhibitor, acked_at, notified_at = hit
        if inhibitor or (silence and change.change != "resolved"):
            continue
        if change.change == "escalated" and acked_at is not None:
            continue  # acknowledged: it stops climbing toward new people
        if change.change == "resolved" and notified_at is None:
            continue  # nobody was told, nobody needs the all-clear
        wanted.append((alert_id, change.change))
    if renotify:
        chosen = {alert_id for alert_id, _ in wanted}
        # only alerts told nothing yet, or told longer ago than the shortest reminder interval
        shortest = min((r.renotify_hours for r in rulebook), default=24.0)
        due_rows = session.execute(
            select(AlertRecord.id, AlertRecord.rule, AlertRecord.silenced_by, AlertRecord.notified_at).where(
                AlertRecord.state.in_(OPEN_STATES),
                AlertRecord.acked_at.is_(None),
                AlertRecord.inhibited_by.is_(None),
                AlertRecord.notified_at.is_(None)
                | (AlertRecord.notified_at <= now - timedelta(hours=shortest)),
            )
        )
        for due_row in due_rows:
            if silenced.get(due_row.id, due_row.silenced_by) or due_row.id in chosen:
                continue
            if due_row.notified_at is None:
                # held back while it fired (silenced or inhibited then): tell now that it is not
                wanted.append((due_row.id, "fired"))
                continue
            hours = rulebook[due_row.rule].renotify_hours if due_row.rule in rulebook.rules else 24.0
            if due_row.notified_at + timedelta(hours=hours) <= now:
                wanted.append((due_row.id, "reminder"))
    # A province's first tick calls for a million messages: they are planned, checked and added
    # a chunk of alerts at a time, and each chunk's objects leave the session once flushed.
    queued = 0
    for part in batches(wanted, ENQUEUE_CHUNK):
        queued += _queue(
            session, rulebook, part, silenced, officials, now, channels,
            digest_below_level, templates, language, links,
        )  # fmt: skip
    return queued


def _queue(
    session: Session,
    rulebook: Rulebook,
    wanted: Sequence[tuple[int, str]],
    silenced: dict[int, int | None],
    officials: dict[str, Official],
    now: datetime,
    channels: Sequence[str],
    digest_below_level: int | None,
    templates: Path | None,
    language: str,
    links: LinkMaker | None = None,
) -> int:
    loaded: dict[int, AlertRecord] = {}
    ids = sorted({alert_id for alert_id, _ in wanted})
    for part in batches(ids):
        loaded.update({r.id: r for r in session.scalars(select(AlertRecord).where(AlertRecord.id.in_(part)))})
    rows = [(loaded[alert_id], kind) for alert_id, kind in wanted if alert_id in loaded]
    for row, _ in rows:
        row.silenced_by = silenced.get(row.id, row.silenced_by)
    # First what each alert calls for, then which of those messages exist already (one query per
    # 500 keys: the first tick of a city queues a hundred thousand), then the new ones.
    plans: list[tuple[AlertRecord, str, list[str], bool, list[tuple[str, str, str]]]] = []
    for row, kind in rows:
        stamp = iso_shanghai(now) if kind == "reminder" else f"{kind}:{row.level}"
        recipients: list[str] = [str(r) for r in row.recipients]
        told_group = True
        if kind == "resolved":
            # the all-clear goes to those who were told, not to whoever the ladder names now
            recipients = sorted(
                set(
                    session.scalars(
                        select(Notification.recipient).where(
                            Notification.alert_id == row.id, Notification.created_at >= row.fired_at
                        )
                    )
                )
            )
            told_group = GROUP in recipients
            recipients = [r for r in recipients if r != GROUP]
        spec = rulebook.rules.get(row.rule)
        held = (
            digest_below_level is not None
            and row.level < digest_below_level
            and not (spec is not None and spec.immediate)
        )
        people = [(r, c) for r in recipients for c in channels if not capabilities(c).group]
        group = [(GROUP, c) for c in channels if capabilities(c).group and (recipients or told_group)]
        planned: list[tuple[str, str, str]] = []
        for recipient, channel in people + group:
            official = officials.get(str(recipient))
            if recipient != GROUP and not reachable(channel, official):
                continue
            key = notification_key(
                row.rule, row.subject, row.period, iso_shanghai(row.fired_at), stamp, recipient, channel
            )
            planned.append((recipient, channel, key))
        plans.append((row, kind, recipients, held, planned))
    new_keys = [key for *_, planned in plans for _, _, key in planned]
    existing: set[str] = set()
    with session.no_autoflush:
        for chunk in batches(new_keys):
            existing.update(session.scalars(select(Notification.key).where(Notification.key.in_(chunk))))
    queued = 0
    added: list[Notification] = []
    for row, kind, recipients, held, planned in plans:
        for recipient, channel, key in planned:
            if key in existing:
                continue
            existing.add(key)
            subject = _subject(rulebook, row, kind)
            text = _text(row, kind) + (_names(recipients, officials) if recipient == GROUP else "")
            # an all-clear asks nothing of anyone: no link to act on it
            acting = links is not None and kind != "resolved"
            link = links.url(recipient, row.id, now) if links and acting and recipient != GROUP else None
            html = None
            if templates is not None:
                values = context(rulebook, row, subject, kind, language)
                values["link"] = link
                if capabilities(channel).sms:
                    text = sms_text(templates, values) or text
                elif capabilities(channel).html:
                    html = render(templates, "email.html.j2", values)
            if link is not None:
                text = (
                    sms_with_link(text, link) if capabilities(channel).sms else f"{text}\n{LINK_MARK}{link}"
                )
            elif links is not None and acting and recipient == GROUP:
                text += _group_links(links, recipients, officials, row.id, now)
            added.append(
                Notification(
                    key=key,
                    alert_id=row.id,
                    kind=kind,
                    channel=channel,
                    recipient=str(recipient),
                    subject=subject,
                    text=text,
                    html=html,
                    status="held" if held and recipient != GROUP else "queued",
                    attempts=0,
                    created_at=now,
                    next_attempt_at=now,
                )
            )
            queued += 1
        row.notified_at = now
    session.add_all(added)
    session.flush()
    for obj in [*loaded.values(), *added]:
        session.expunge(obj)
    return queued


def make_digests(
    session: Session, now: datetime, is_workday: bool, digest_time: time, links: LinkMaker | None = None
) -> int:
    """On a working day from the digest time on: one message per recipient and channel gathering
    what was held for the digest. Idempotent: a day's digest is made once (its key says the day).

    With `links`, the digest carries one action link, for its official and this digest, to a page
    listing what it gathered; the items' own link lines are left out (an SMS would cut them)."""
    local = now.astimezone(SHANGHAI)
    if not is_workday or local.time() < digest_time:
        return 0
    day = local.date().isoformat()
    cutoff = datetime.combine(local.date(), digest_time, tzinfo=SHANGHAI)
    held = list(
        session.scalars(
            # what was held before today's digest time; later ones wait for tomorrow's
            select(Notification)
            .where(Notification.status == "held", Notification.created_at <= cutoff)
            .order_by(Notification.id)
        )
    )
    groups: dict[tuple[str, str], list[Notification]] = {}
    for row in held:
        groups.setdefault((row.recipient, row.channel), []).append(row)
    made = 0
    for (recipient, channel), rows in groups.items():
        key = notification_key("digest", day, recipient, channel)
        if session.scalar(select(Notification.id).where(Notification.key == key)) is not None:
            continue  # today's digest went out already: these wait for the next one
        subject = f"【每日督办汇总】{day} 共{len(rows)}项"
        items = [(r.subject, action_links(r.text)[0] if links is not None else r.text) for r in rows]
        digest = Notification(
            key=key,
            alert_id=None,
            kind="digest",
            channel=channel,
            recipient=recipient,
            subject=subject,
            text="\n\n".join(f"{i}. {title}\n{text}" for i, (title, text) in enumerate(items, 1)),
            status="queued",
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
        session.add(digest)
        session.flush()  # its id: the link names the digest
        if links is not None and recipient != GROUP:
            link = links.digest_url(recipient, digest.id, now)
            if capabilities(channel).sms:
                digest.text = sms_with_link(f"{subject}：" + "；".join(title for title, _ in items), link)
            else:
                digest.text += f"\n\n{LINK_MARK}{link}"
                if capabilities(channel).html:
                    digest.html = digest_html(subject, items, link)
        for row in rows:
            row.status = "digested"
            row.digest_id = digest.id
        made += 1
    session.flush()
    return made


def quiet_until(now: datetime, window: tuple[time, time] | None) -> datetime | None:
    """The end of the quiet window `now` falls in (Shanghai time), or None outside it."""
    if window is None:
        return None
    start, end = window
    local = now.astimezone(SHANGHAI)
    t = local.time()
    inside = (start <= t or t < end) if start > end else (start <= t < end)
    if not inside:
        return None
    end_day = local.date() + timedelta(days=1) if start > end and t >= start else local.date()
    return datetime.combine(end_day, end, tzinfo=SHANGHAI)


@dataclass(frozen=True)
class Outcome:
    id: int
    channel: str
    status: str  # sent, retry, dead, deferred (quiet hours or over the rate)
    error: str | None = None


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
    ) -> None:
        self.sessions = sessions
        self.notifiers = notifiers
        self.settings = settings
        self.worker = worker
        self.rng = rng or random.Random()
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

    def _recipient(self, session: Session, who: str) -> Recipient:
        official = session.get(Official, who)
        if official is None:
            return Recipient(name=who)
        return Recipient(name=official.name, email=official.email, phone=official.phone)

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
        async with contextlib.AsyncExitStack() as batch:
            # channels that can keep a connection for the batch (email) open a session for it
            keeping = {id(n): n for n in self.notifiers.values() if hasattr(n, "session")}
            for notifier in keeping.values():
                await batch.enter_async_context(notifier.session())
            return await self._send_all(rows, now)

    async def _send_all(self, rows: list[Notification], now: datetime) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for row in rows:
            wait = quiet_until(now, self.settings.quiet_window(row.channel))
            if wait is not None:
                await asyncio.to_thread(self._defer, row, wait)
                outcomes.append(Outcome(row.id, row.channel, "deferred"))
                continue
            limit = self.settings.rate_per_minute.get(row.channel)
            if limit is not None:
                recent = [t for t in self._recent.get(row.channel, []) if t > now - timedelta(minutes=1)]
                self._recent[row.channel] = recent
                if len(recent) >= limit:
                    await asyncio.to_thread(self._defer, row, min(recent) + timedelta(minutes=1))
                    outcomes.append(Outcome(row.id, row.channel, "deferred"))
                    continue
                recent.append(now)
            notifier = self.notifiers.get(row.channel)
            with self.sessions() as session:
                recipient = self._recipient(session, row.recipient)
            message = Message(
                recipient=recipient,
                subject=row.subject,
                text=row.text,
                html=row.html,
                idempotency_key=row.key,
            )
            try:
                if notifier is None:
                    raise TransportError(f"channel {row.channel!r} is not configured", permanent=True)
                receipt = await notifier.send(message)
            except TransportError as exc:
                outcome = await asyncio.to_thread(self._failed, row, now, str(exc), exc.permanent)
            except Exception as exc:  # a bug in a channel must not lose the row: retry it
                log.exception("channel %s failed unexpectedly", row.channel)
                outcome = await asyncio.to_thread(self._failed, row, now, f"{type(exc).__name__}", False)
            else:
                outcome = await asyncio.to_thread(self._sent, row, now, receipt.provider_id)
            outcomes.append(outcome)
        return outcomes

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
