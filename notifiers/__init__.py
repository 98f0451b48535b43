"""Notification channels behind one small interface (`notifiers.base.Notifier`).

The registry names each channel's class by an import string, resolved on first use and cached:
importing this package loads no channel, and no vendor client that is never used.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

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


@cache
def channel_class(name: str) -> Any:
    """The class of a channel by its name; KeyError for an unknown one."""
    module, _, attr = CHANNELS[name].partition(":")
    return getattr(importlib.import_module(module), attr)
