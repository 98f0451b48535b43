"""The one small interface every channel implements.

A notifier sends one rendered message to one recipient and returns a receipt, or raises
`TransportError` saying whether the failure is permanent (bad address, rejected credentials,
invalid template: dead-letter it) or transient (5xx, timeout, throttling: retry later). The
dispatcher, not the notifier, decides about retries and records the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


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
