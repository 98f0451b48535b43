"""The one small interface every channel implements.

A notifier sends one rendered message to one recipient and returns a receipt, or raises
`TransportError` saying whether the failure is permanent (bad address, rejected credentials,
invalid template: dead-letter it) or transient (5xx, timeout, throttling: retry later). The
dispatcher, not the notifier, decides about retries and records the outcome.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

# An action link (monitor/links.py) is a line of its own in a message's text: "办理：<url>" in a
# message to one official, "<name>办理：<url>" for each official a group message names. Plain
# channels show the line as it is; channels that render links (robots' markdown) make it one.
LINK_MARK = "办理："
_LINK_LINE = re.compile(r"^(?P<who>[^\n]{0,100}?)办理：(?P<url>https?://\S+)[ \t]*$", re.MULTILINE)


def action_links(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The text without its action-link lines, and the links as (whose, url); whose is empty in
    a message to one official."""
    links = [(m.group("who"), m.group("url")) for m in _LINK_LINE.finditer(text)]
    if not links:
        return text, []
    return _LINK_LINE.sub("", text).strip("\n").replace("\n\n\n", "\n\n"), links


@dataclass(frozen=True)
class Recipient:
    """Who a message is for, with the addresses the channels use."""

    name: str
    email: str | None = None
    phone: str | None = None
    address: str | None = None  # a channel-specific destination (robot key, webhook URL, file path)


@dataclass(frozen=True)
class Message:
    """A rendered notification for one recipient."""

    recipient: Recipient
    subject: str
    text: str
    idempotency_key: str  # stable per notification: email Message-ID, SMS OutId, webhook header
    html: str | None = None
    language: str = "zh"
    params: dict[str, str] = field(default_factory=dict)  # template variables for SMS vendors


@dataclass(frozen=True)
class Receipt:
    """What the provider answered: its message id, when it gives one."""

    provider_id: str | None = None


class TransportError(Exception):
    """Sending failed; `permanent` says whether retrying can help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Notifier(Protocol):
    async def send(self, message: Message) -> Receipt:
        """Deliver the message or raise TransportError."""
