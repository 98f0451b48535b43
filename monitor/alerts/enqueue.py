"""Alert changes into outbox rows: every notification is a row before anything is sent.

`enqueue` turns alert transitions (and due reminders) into rows, one per recipient and channel,
each with an idempotency key, so a repeated tick or a restart never queues a message twice: the
key names the alert's life (rule, subject, period, when it fired), the step (the change and
level, or the reminder's instant), the recipient and the channel, and a key already in the
outbox is not queued again. It also keeps the alerts' silence marks in step with the active
silences. Sending is the dispatcher's (monitor/alerts/dispatch.py); the daily digest gathers
what was held for it (monitor/alerts/digest.py).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from monitor.alerts.lifecycle import Transition, alert_rows
from monitor.alerts.links import LinkMaker
from monitor.alerts.messages import Addressee, Composed, Style, compose
from monitor.alerts.recipients import GROUP, audience, contact, reachable
from monitor.alerts.silences import active_silences, silencing
from monitor.clock import iso_shanghai
from monitor.config import Settings
from monitor.rulebook import Rulebook
from monitor.store.batches import batches
from monitor.store.models import OPEN_STATES, AlertRecord, Notification, Official, Silence
from notifiers import capabilities

# A province's first tick calls for a million messages: they are planned, checked and added a
# chunk of alerts at a time, and each chunk's objects leave the session once flushed.
ENQUEUE_CHUNK = 5_000

log = logging.getLogger(__name__)


def notification_key(*parts: object) -> str:
    """A notification's idempotency key: the same parts always give the same key."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:48]


@dataclass(frozen=True)
class Run:
    """What enqueue needs from the run: the rules, the instant, the channels every recipient is
    told on, how messages are shaped, and the action links (None: none are sent).

    With `digest_below_level`, a person's warnings and overdue alerts below that level (of rules
    that are not immediate) are held for the daily digest instead of going out at once."""

    rulebook: Rulebook
    now: datetime
    channels: Sequence[str]
    digest_below_level: int | None = None
    style: Style = field(default_factory=Style)
    links: LinkMaker | None = None

    @classmethod
    def configured(
        cls,
        settings: Settings,
        rulebook: Rulebook,
        now: datetime,
        channels: Sequence[str],
        links: LinkMaker | None,
    ) -> Run:
        """The run as the settings shape it (digest level, templates, language)."""
        return cls(
            rulebook,
            now,
            channels,
            settings.notify.digest_below_level,
            Style(settings.templates_dir, settings.language, settings.sms_signatures()),
            links,
        )


@dataclass(frozen=True)
class Stored:
    """What the outbox reads of the alert a transition names."""

    id: int
    silenced_by: int | None
    inhibited_by: str | None
    acked_at: datetime | None
    notified_at: datetime | None
    rule: str = ""  # what a silence matches on
    subject: str = ""
    unit_id: str | None = None
    open: bool = True  # warning or overdue (a resolved alert keeps the mark it had)


@dataclass(frozen=True)
class Wanted:
    """An alert that calls for a message, and which (fired, escalated, reminder, resolved)."""

    alert_id: int
    kind: str


@dataclass(frozen=True)
class Delivery:
    """One message to one recipient (an official, `unit:<id>` or GROUP) on one channel."""

    recipient: str
    channel: str
    key: str

    @property
    def group(self) -> bool:
        return self.recipient == GROUP


@dataclass(frozen=True)
class Planned:
    """The messages one alert calls for: to whom (`recipients`: the people, named in a group
    message), whether a person's wait for the digest, and each delivery."""

    row: AlertRecord
    kind: str
    recipients: tuple[str, ...]
    held: bool
    deliveries: tuple[Delivery, ...]


def enqueue(session: Session, run: Run, changes: Sequence[Transition], *, renotify: bool = True) -> int:
    """Queue the messages these transitions (and, with `renotify`, due reminders) call for;
    returns how many."""
    silences = active_silences(session, run.now)
    if renotify:
        silenced = _mark_silences(session, silences)
        stored = _stored(session, changes, silenced)
    else:
        # a tick's chunk: only the alerts its transitions name are marked here (the tick's last
        # call, with reminders, marks every open alert once)
        stored, silenced = _mark_named(session, silences, _stored(session, changes, {}))
    if not run.channels:
        return 0  # nobody to tell: the alerts stay untold (notified_at unset) until a channel is
    wanted = [
        Wanted(hit.id, change.change)
        for change in changes
        if (hit := stored.get((change.rule, change.subject, change.period or ""))) is not None
        and _calls_for_message(change, hit)
    ]
    if renotify:
        wanted += _due(session, run, silenced, {w.alert_id for w in wanted})
    if not wanted:
        return 0  # most of a tick's chunks: nothing told (the roster is not read for nothing)
    officials = {o.id: o for o in session.scalars(select(Official))}
    queued = 0
    for part in batches(wanted, ENQUEUE_CHUNK):
        queued += _queue(session, run, part, silenced, officials)
    return queued


def _mark_silences(session: Session, silences: Sequence[Silence]) -> dict[int, int | None]:
    """The silence each open alert falls under now (by alert id), its marks updated to match.

    Silences are rare: only while one is active (or one just ended, leaving marks) are all open
    alerts read to mark them; a province has hundreds of thousands, and a tick changes few."""
    silenced: dict[int, int | None] = {}
    if not silences and not _any_marked(session):
        return silenced
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
    return silenced


def _mark_named(
    session: Session, silences: Sequence[Silence], stored: dict[tuple[str, str, str], Stored]
) -> tuple[dict[tuple[str, str, str], Stored], dict[int, int | None]]:
    """The named alerts with the silence each falls under now, their marks updated to match.

    A tick enqueues its transitions a write chunk at a time (a province's first tick: thousands
    of chunks); marking reads only the chunk's own alerts, never every open alert again."""
    silenced: dict[int, int | None] = {}
    muted: list[dict[str, Any]] = []
    for key, hit in stored.items():
        if not hit.open:
            continue
        silence = silencing(silences, hit) if silences else None
        silenced[hit.id] = silence
        if silence != hit.silenced_by:
            muted.append({"id": hit.id, "silenced_by": silence})
            stored[key] = replace(hit, silenced_by=silence)
    if muted:
        session.execute(update(AlertRecord), muted)
    return stored, silenced


def _any_marked(session: Session) -> bool:
    """Whether an open alert still carries a silence's mark."""
    return (
        session.scalar(
            select(AlertRecord.id)
            .where(AlertRecord.state.in_(OPEN_STATES), AlertRecord.silenced_by.is_not(None))
            .limit(1)
        )
        is not None
    )


def _stored(
    session: Session, changes: Sequence[Transition], silenced: Mapping[int, int | None]
) -> dict[tuple[str, str, str], Stored]:
    """The stored alerts the transitions name, by (rule, subject, period)."""
    keys = {(c.rule, c.subject, c.period or "") for c in changes}
    found: dict[tuple[str, str, str], Stored] = {}
    columns = [
        AlertRecord.id,
        AlertRecord.rule,
        AlertRecord.subject,
        AlertRecord.period,
        AlertRecord.silenced_by,
        AlertRecord.inhibited_by,
        AlertRecord.acked_at,
        AlertRecord.notified_at,
        AlertRecord.unit_id,
        AlertRecord.state,
    ]
    for hit in alert_rows(session, columns, keys):
        found[(hit.rule, hit.subject, hit.period)] = Stored(
            hit.id,
            silenced.get(hit.id, hit.silenced_by),
            hit.inhibited_by,
            hit.acked_at,
            hit.notified_at,
            hit.rule,
            hit.subject,
            hit.unit_id,
            hit.state in OPEN_STATES,
        )
    return found


def _calls_for_message(change: Transition, alert: Stored) -> bool:
    """Whether a transition of this alert is told to anyone."""
    if change.change == "rescheduled":
        return False  # the due time moved, the duty did not: nobody is told twice for it
    if alert.inhibited_by or (alert.silenced_by and change.change != "resolved"):
        return False
    if change.change == "escalated" and alert.acked_at is not None:
        return False  # acknowledged: it stops climbing toward new people
    # nobody was told of it, nobody needs the all-clear
    return not (change.change == "resolved" and alert.notified_at is None)


def _due(session: Session, run: Run, silenced: Mapping[int, int | None], chosen: set[int]) -> list[Wanted]:
    """Open alerts (not acknowledged, inhibited, silenced or already chosen) whose reminder is
    due, and those held back while they fired (silenced or inhibited then): tell now that they
    are not."""
    # only alerts told nothing yet, or told longer ago than the shortest reminder interval
    shortest = min((r.renotify_hours for r in run.rulebook), default=24.0)
    due_rows = session.execute(
        select(AlertRecord.id, AlertRecord.rule, AlertRecord.silenced_by, AlertRecord.notified_at).where(
            AlertRecord.state.in_(OPEN_STATES),
            AlertRecord.acked_at.is_(None),
            AlertRecord.inhibited_by.is_(None),
            AlertRecord.notified_at.is_(None)
            | (AlertRecord.notified_at <= run.now - timedelta(hours=shortest)),
        )
    )
    wanted: list[Wanted] = []
    for due_row in due_rows:
        if silenced.get(due_row.id, due_row.silenced_by) or due_row.id in chosen:
            continue
        if due_row.notified_at is None:
            wanted.append(Wanted(due_row.id, "fired"))
        elif due_row.notified_at + timedelta(hours=_renotify_hours(run.rulebook, due_row.rule)) <= run.now:
            wanted.append(Wanted(due_row.id, "reminder"))
    return wanted


def _renotify_hours(rulebook: Rulebook, rule: str) -> float:
    return rulebook[rule].renotify_hours if rule in rulebook.rules else 24.0


def _queue(
    session: Session,
    run: Run,
    wanted: Sequence[Wanted],
    silenced: Mapping[int, int | None],
    officials: Mapping[str, Official],
) -> int:
    """Queue one chunk's messages: first what each alert calls for, then which of those messages
    exist already (one query per 500 keys: the first tick of a city queues a hundred thousand),
    then the new ones."""
    loaded = _load(session, wanted, silenced)
    plans = [
        _plan(session, run, loaded[w.alert_id], w.kind, officials) for w in wanted if w.alert_id in loaded
    ]
    existing = _existing_keys(session, [d.key for plan in plans for d in plan.deliveries])
    added: list[Notification] = []
    for plan in plans:
        if plan.recipients and not plan.deliveries:
            # nobody it is for has an address on any channel in use: said, not left silent, once
            # per message it would have sent (a transition, a reminder)
            log.warning(
                "%s %s %s: none of %s can be reached on %s; no message queued (add an address to the roster)",
                plan.row.rule, plan.row.subject, plan.kind, ", ".join(plan.recipients), ", ".join(run.channels),
            )  # fmt: skip
        for delivery in plan.deliveries:
            if delivery.key in existing:
                continue
            existing.add(delivery.key)
            added.append(_notification(run, plan, delivery, officials))
        plan.row.notified_at = run.now
    session.add_all(added)
    session.flush()
    for obj in [*loaded.values(), *added]:
        session.expunge(obj)
    return len(added)


def _load(
    session: Session, wanted: Sequence[Wanted], silenced: Mapping[int, int | None]
) -> dict[int, AlertRecord]:
    """The wanted alerts' rows by id, their silence marks as found now."""
    loaded: dict[int, AlertRecord] = {}
    for part in batches(sorted({w.alert_id for w in wanted})):
        loaded.update({r.id: r for r in session.scalars(select(AlertRecord).where(AlertRecord.id.in_(part)))})
    for row in loaded.values():
        row.silenced_by = silenced.get(row.id, row.silenced_by)
    return loaded


def _existing_keys(session: Session, keys: Sequence[str]) -> set[str]:
    """Those of the keys the outbox holds already."""
    existing: set[str] = set()
    with session.no_autoflush:
        for chunk in batches(keys):
            existing.update(session.scalars(select(Notification.key).where(Notification.key.in_(chunk))))
    return existing


def _plan(
    session: Session, run: Run, row: AlertRecord, kind: str, officials: Mapping[str, Official]
) -> Planned:
    recipients, told_group = audience(session, row, kind)
    spec = run.rulebook.rules.get(row.rule)
    held = (
        run.digest_below_level is not None
        and row.level < run.digest_below_level
        and not (spec is not None and spec.immediate)
    )
    deliveries = tuple(_deliveries(run, row, kind, recipients, told_group, officials))
    return Planned(row, kind, tuple(recipients), held, deliveries)


def _deliveries(
    run: Run,
    row: AlertRecord,
    kind: str,
    recipients: Sequence[str],
    told_group: bool,
    officials: Mapping[str, Official],
) -> Iterator[Delivery]:
    """Each person on each of their channels they have an address on, then the group channels
    (when anyone, or the group before, is told)."""
    stamp = iso_shanghai(run.now) if kind == "reminder" else f"{kind}:{row.level}"
    people = [(r, c) for r in recipients for c in run.channels if not capabilities(c).group]
    group = [(GROUP, c) for c in run.channels if capabilities(c).group and (recipients or told_group)]
    for recipient, channel in people + group:
        if recipient != GROUP and not reachable(channel, contact(recipient, officials.get(recipient))):
            continue
        key = notification_key(
            row.rule, row.subject, row.period, iso_shanghai(row.fired_at), stamp, recipient, channel
        )
        yield Delivery(recipient, channel, key)


def _addressee(run: Run, plan: Planned, delivery: Delivery, officials: Mapping[str, Official]) -> Addressee:
    """Whom the delivery's message names and the action links it carries: an all-clear asks
    nothing of anyone (no link to act on it); a group message one link per named official, each
    acting as themselves, never as the group."""
    links = run.links if plan.kind != "resolved" else None
    if not delivery.group:
        link = links.url(delivery.recipient, plan.row.id, run.now) if links is not None else None
        return Addressee(delivery.channel, link=link)
    named = tuple(contact(r, officials.get(r)).name for r in plan.recipients)
    group_links = (
        ()
        if links is None
        else tuple(
            (officials[r].name, links.url(r, plan.row.id, run.now)) for r in plan.recipients if r in officials
        )
    )
    return Addressee(delivery.channel, group=True, named=named, group_links=group_links)


def _notification(
    run: Run, plan: Planned, delivery: Delivery, officials: Mapping[str, Official]
) -> Notification:
    message: Composed = compose(
        run.rulebook, plan.row, plan.kind, _addressee(run, plan, delivery, officials), run.style
    )
    return Notification(
        key=delivery.key,
        alert_id=plan.row.id,
        kind=plan.kind,
        channel=delivery.channel,
        recipient=delivery.recipient,
        subject=message.subject,
        text=message.text,
        html=message.html,
        status="held" if plan.held and not delivery.group else "queued",
        attempts=0,
        created_at=run.now,
        next_attempt_at=run.now,
    )
