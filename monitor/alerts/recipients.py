"""Who a notification goes to, resolved in one place.

A notification's recipient is an official's id, `unit:<id>` for a unit with no head, or `GROUP`
for a channel that posts to a group chat or a system. `contact` says who that is (the name the
messages use and the addresses the channels use), `reachable` whether a channel has an address
for them, and `audience` who an alert's message goes to: the people its ladder names now, or,
for the all-clear, those who were told.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.store.models import AlertRecord, Notification, Official
from notifiers import capabilities
from notifiers.base import Recipient

# the recipient of a message on a channel that posts to a group chat or a system, not to a person
# (`Channel.group`): one message per alert change
GROUP = "group"


def contact(who: str, official: Official | None) -> Recipient:
    """The recipient `who` as the channels see it: the official's name and addresses, or only the
    id itself for a unit with no head, the group, or an official no longer in the roster."""
    if official is None:
        return Recipient(name=who)
    return Recipient(name=official.name, email=official.email, phone=official.phone)


def reachable(channel: str, recipient: Recipient) -> bool:
    """Whether the channel has an address for this recipient (robots and files always do)."""
    address = capabilities(channel).address
    if address == "email":
        return bool(recipient.email)
    if address == "phone":
        return bool(recipient.phone)
    return True


def audience(session: Session, row: AlertRecord, kind: str) -> tuple[list[str], bool]:
    """Who a message about this alert goes to, and whether the group channels get one: for the
    all-clear, those who were told of it (not whoever the ladder names now) and the group if it
    was told; otherwise the people the alert names, and the group."""
    if kind != "resolved":
        return [str(r) for r in row.recipients], True
    told = set(
        session.scalars(
            select(Notification.recipient).where(
                Notification.alert_id == row.id, Notification.created_at >= row.fired_at
            )
        )
    )
    return sorted(told - {GROUP}), GROUP in told
