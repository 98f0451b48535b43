"""The one small interface every channel implements.

A notifier sends one rendered message to one recipient and returns a receipt, or raises
`TransportError` saying whether the failure is permanent (bad address, rejected credentials,
invalid template: dead-letter it) or transient (5xx, timeout, throttling: retry later). The
dispatcher, not the notifier, decides about retries and records the outcome.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, Self

from pydantic import BaseModel, ConfigDict

# An action link (monitor/alerts/links.py) is a line of its own in a message's text: "办理：<url>" in a
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
    """Sending failed; `permanent` says whether retrying can help, `unreachable` whether the
    server did not answer at all (refused the connection, or timed out): then the batch's other
    messages for it would wait as long, and the dispatcher leaves them for the retry."""

    def __init__(self, message: str, *, permanent: bool = False, unreachable: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.unreachable = unreachable


class Notifier(Protocol):
    async def send(self, message: Message) -> Receipt:
        """Deliver the message or raise TransportError."""


class ChannelSettings(BaseModel):
    """A channel's own settings: frozen, checked, nothing else accepted.

    The fields without a default are what the channel cannot go without: when one is missing or
    empty, the channel is not configured (`from_values` gives None), it is left out, and the
    dispatcher dead-letters its rows saying so."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Self | None:
        """The settings from these values (None ones ignored), or None when one without a default
        is missing or empty."""
        given = {name: value for name, value in values.items() if value is not None}
        for name, info in cls.model_fields.items():
            if info.is_required() and not given.get(name):
                return None
        return cls.model_validate(given)


class NoSettings(ChannelSettings):
    """A channel that needs no settings."""


class Channel:
    """What each channel class says about itself besides `send`: the settings model it is built
    from (`from_settings`), and the capabilities the outbox shapes and addresses messages by,
    rather than by channel names."""

    settings_model: ClassVar[type[ChannelSettings]] = NoSettings
    # what an official needs for a message to be queued to them: an email address, a phone
    # number, or nothing (a group chat, a system, a file)
    address: ClassVar[Literal["email", "phone"] | None] = None
    # posts to a group chat or a system, not to a person: one message per alert change, naming
    # the officials (and carrying one action link per official named)
    group: ClassVar[bool] = False
    # a text message of a few parts: the SMS template shapes its text, the action link goes at its
    # end and the text gives way to it (monitor/alerts/messages.py, `sms_with_link`)
    sms: ClassVar[bool] = False
    # sends an HTML body besides the text (the email template, the digest table)
    html: ClassVar[bool] = False

    @classmethod
    def from_settings(cls, settings: Any) -> Self:
        """The channel built from its settings (an instance of `settings_model`)."""
        raise NotImplementedError

    async def send(self, message: Message) -> Receipt:
        raise NotImplementedError
