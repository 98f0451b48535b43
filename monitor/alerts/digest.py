"""The daily digest and quiet hours: when held messages go out, and when none may.

`make_digests` gathers, on a working day from the digest time on, what `enqueue` held for the
digest into one message per recipient and channel; what a silence or an inhibition kept out of
that digest follows in a digest of its own once it is released. `quiet_until` says how long a
channel's quiet hours hold a message back (the dispatcher defers it, never drops it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerts.enqueue import notification_key
from monitor.alerts.links import LinkMaker
from monitor.alerts.messages import Composed, compose_digest
from monitor.alerts.recipients import GROUP
from monitor.clock import SHANGHAI
from monitor.store.models import AlertRecord, Notification
from notifiers.base import action_links


def make_digests(
    session: Session,
    now: datetime,
    is_workday: bool,
    digest_time: time,
    links: LinkMaker | None = None,
    signatures: Mapping[str, str] | None = None,
) -> int:
    """On a working day from the digest time on: one message per recipient and channel gathering
    what was held for the digest, each alert listed once, by its newest message (`_newest`; the
    older ones are gathered with it). Idempotent: a day's digest is made once (its key says the
    day).

    What a silence or an inhibition kept out of the day's digest (`_held`) is told once released,
    as quiet hours defer a message: in the day's digest if that is still to be made, else in a
    later digest the same day, whose key names the rows it gathers (the same rows never make two
    digests; a row leaves "held" in the transaction that writes its digest). Waiting for the next
    morning instead would lose them to a daily silence over the digest time: kept back again at
    every digest, told never. Rows held after the day's digest time still wait for tomorrow's,
    and a day off makes no digest, a later one neither.

    With `links`, the digest carries one action link, for its official and this digest, to a page
    listing what it gathered; the items' own link lines are left out (an SMS would cut them).
    `signatures`: what each SMS channel's vendor puts before a message (it takes room too)."""
    local = now.astimezone(SHANGHAI)
    if not is_workday or local.time() < digest_time:
        return 0
    day = local.date().isoformat()
    made = 0
    for (recipient, channel), rows in _held(
        session, datetime.combine(local.date(), digest_time, SHANGHAI)
    ).items():
        key = notification_key("digest", day, recipient, channel)
        if _exists(session, key):
            # today's digest went out already: these were kept out of it (silenced or inhibited
            # then) and are released now; a key naming them, which no digest can have made
            # already (a row leaves "held" in the transaction that writes its digest)
            key = notification_key("digest", day, recipient, channel, *(r.id for r in rows))
        items = [(r.subject, action_links(r.text)[0] if links is not None else r.text) for r in _newest(rows)]
        digest = _digest(session, key, recipient, channel, compose_digest(day, items, channel), now)
        if links is not None and recipient != GROUP:
            url = links.digest_url(recipient, digest.id, now)
            linked = compose_digest(day, items, channel, url, (signatures or {}).get(channel, ""))
            digest.text, digest.html = linked.text, linked.html
        for row in rows:
            row.status = "digested"
            row.digest_id = digest.id
        made += 1
    session.flush()
    return made


def _newest(rows: Sequence[Notification]) -> list[Notification]:
    """What a digest lists of the rows it gathers: each alert once, by its newest row (the
    alert's state now: its level, its wording), where the alert's oldest row stood.

    An alert can have several rows held for one digest: a warning then its breach, both below
    the digest level, between two digests; above all, a row a silence or an inhibition kept
    back, still held once it ends while the alert's `notified_at` stays the row's, so `enqueue`
    holds a reminder beside it as soon as the release makes the alert due (or an escalation
    after). The digest listed the alert once per row ("fired" and "reminder": the same duty
    twice, in an old wording and the current one). The older rows are gathered all the same
    (status "digested", their `digest_id` says which digest told them, a later digest's key
    names them), only not listed: nothing is lost, nor left held to be told again.

    An all-clear and an earlier row of the same life never meet here: a resolved alert's other
    rows are withdrawn (`_held`), so the all-clear is listed alone, and it tells the story (the
    alert's message, then that it is done); an official told both would read of a duty only to
    read, in the next item, that it needs nothing. An all-clear of an earlier life, held with
    rows of the alert firing again since, is older than them: the newest row, what the alert
    calls for now, is listed."""
    newest: dict[object, Notification] = {}
    for row in rows:
        alert: object = row.alert_id if row.alert_id is not None else ("row", row.id)
        kept = newest.get(alert)
        if kept is None or (row.created_at, row.id) > (kept.created_at, kept.id):
            newest[alert] = row  # the dict keeps the alert where its first (oldest) row put it
    return list(newest.values())


def _exists(session: Session, key: str) -> bool:
    return session.scalar(select(Notification.id).where(Notification.key == key)) is not None


def _held(session: Session, cutoff: datetime) -> dict[tuple[str, str], list[Notification]]:
    """What was held before today's digest time (later ones wait for tomorrow's), by recipient
    and channel, oldest first; of alerts that still call for it now.

    A held message of an alert acknowledged or resolved since is withdrawn: nobody is reminded of
    what they said they have in hand, or of what is done. A held all-clear is never withdrawn nor
    kept back: it is told to those who were told, whatever came since (a resolved alert keeps the
    silence and inhibition marks it had).

    One of an alert silenced now (`silenced_by`: the tick marks it just before, from the silences
    active at its instant, a daily window's too) stays held, as quiet hours hold a message: it is
    told once the silence ends, unless the alert is acknowledged or resolved by then.

    One of an alert inhibited now stays held too, and is told once the inhibition ends, unless
    the alert is acknowledged or resolved by then (then it is withdrawn, as above). Inhibited
    means visible but not notified: the inhibiting alert, told in its own right, says all this
    one would, so the digest does not say it twice (`enqueue` queues nothing for an inhibited
    alert either). Held rather than withdrawn, because the inhibition may end with this alert
    still open (the inhibiting alert resolved first), and then nothing else would tell it: the
    held row marked the alert told (`notified_at`), and `enqueue` tells an alert held back while
    inhibited, once it no longer is, only if it was never told; withdrawn, it would be heard of
    at its next reminder at best. So the digest treats an inhibition as `enqueue` does, as a
    silence that lasts while the inhibiting alert fires."""
    groups: dict[tuple[str, str], list[Notification]] = {}
    rows = session.execute(
        select(
            Notification,
            AlertRecord.state,
            AlertRecord.acked_at,
            AlertRecord.fired_at,
            AlertRecord.silenced_by,
            AlertRecord.inhibited_by,
        )
        .outerjoin(AlertRecord, AlertRecord.id == Notification.alert_id)
        .where(Notification.status == "held", Notification.created_at <= cutoff)
        .order_by(Notification.id)
    )
    for row, state, acked_at, fired_at, silenced_by, inhibited_by in rows:
        if row.kind != "resolved":  # an all-clear is told to those who were told, whatever came since
            if state == "resolved" or (
                acked_at is not None and fired_at is not None and acked_at >= fired_at
            ):
                row.status = "withdrawn"
                continue
            if silenced_by is not None or inhibited_by is not None:
                continue
        groups.setdefault((row.recipient, row.channel), []).append(row)
    return groups


def _digest(
    session: Session, key: str, recipient: str, channel: str, message: Composed, now: datetime
) -> Notification:
    """The digest's row, flushed: its id names it in the link."""
    digest = Notification(
        key=key,
        alert_id=None,
        kind="digest",
        channel=channel,
        recipient=recipient,
        subject=message.subject,
        text=message.text,
        html=message.html,
        status="queued",
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(digest)
    session.flush()
    return digest


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
