"""Notification channels behind one small interface (`notifiers.base.Notifier`), in one registry.

`CHANNELS` maps each channel's name (what `notify.channels` lists) to its class by an import
string, resolved on first use and cached: importing this package loads no channel, and no vendor
client that is never used. Each class (`notifiers.base.Channel`) declares its settings model and
builds itself from it (`from_settings`), and says as attributes what the outbox shapes and
addresses its messages by (`address`, `group`, `sms`, `html`). A new channel is a class in a
module of its own and a line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import cache
from typing import Any

from notifiers.base import Channel

CHANNELS: dict[str, str] = {
    "console": "notifiers.console:ConsoleNotifier",
    "file": "notifiers.console:FileNotifier",
    "email": "notifiers.email:EmailNotifier",
    "sms-aliyun": "notifiers.sms:AliyunSmsNotifier",
    "sms-tencent": "notifiers.sms:TencentSmsNotifier",
    "sms-http": "notifiers.sms:HttpSmsNotifier",
    "wecom": "notifiers.robots:WecomNotifier",
    "dingtalk": "notifiers.robots:DingtalkNotifier",
    "webhook": "notifiers.robots:WebhookNotifier",
}


def unknown_channel(name: str) -> str | None:
    """Why `name` is not a channel, naming the ones there are; None when it is one."""
    if name in CHANNELS:
        return None
    return f"unknown channel {name!r}; channels are {', '.join(CHANNELS)}"


@cache
def channel_class(name: str) -> type[Channel]:
    """The class of a channel by its name; KeyError for an unknown one."""
    module, _, attr = CHANNELS[name].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    assert isinstance(cls, type) and issubclass(cls, Channel), CHANNELS[name]
    return cls


def capabilities(name: str) -> type[Channel]:
    """What a channel says about itself (its class's attributes); for a name that is no channel
    (an outbox row from before it was checked) the defaults: a person's channel that needs no
    address, plain text."""
    return channel_class(name) if name in CHANNELS else Channel


def build(name: str, values: Mapping[str, Any]) -> Channel | None:
    """The channel `name` built from its settings' values, or None when it is not configured (a
    setting it cannot go without is missing or empty) or is no channel at all."""
    if name not in CHANNELS:
        return None
    cls = channel_class(name)
    settings = cls.settings_model.from_values(values)
    return None if settings is None else cls.from_settings(settings)
