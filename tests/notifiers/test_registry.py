"""The channel registry: every entry builds from its own settings, the flat `notify.vendors` keys
fill those settings, a channel without what it cannot go without is left out (and its rows
dead-letter saying so), and each class states the capabilities the outbox goes by."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from monitor.alerts.dispatch import Dispatcher
from monitor.clock import parse_instant
from monitor.config import Settings
from monitor.runtime.service import build_notifiers
from monitor.store.db import session_factory
from monitor.store.models import Notification, Official
from notifiers import CHANNELS, build, capabilities, channel_class
from notifiers.base import Channel, ChannelSettings
from notifiers.console import ConsoleNotifier, FileNotifier
from notifiers.email import EmailNotifier
from notifiers.robots import DingtalkNotifier, WebhookNotifier, WecomNotifier
from notifiers.sms import AliyunSmsNotifier, HttpSmsNotifier, TencentSmsNotifier

NOW = parse_instant("2024-10-14T09:00")

# every setting of every channel, as an operator writes them today (smtp, notify, notify.vendors)
FULL: dict[str, Any] = {
    "smtp": {"url": "smtp://dw:pw@mail.suyu.example.cn:587?starttls=true", "sender": "dw@suyu.example.cn"},
    "notify": {
        "channels": list(CHANNELS),
        "file_path": "var/sent.jsonl",
        "sender_name": "督办",
        "vendors": {
            "wecom_key": "wk",
            "wecom_base_url": "https://gw.suyu.example.cn/wecom/",
            "dingtalk_token": "dt",
            "dingtalk_secret": "ds",
            "webhook_url": "https://hooks.suyu.example.cn/in",
            "webhook_secret": "whs",
            "aliyun_access_key_id": "LTAI",
            "aliyun_access_key_secret": "as",
            "aliyun_sign_name": "宿豫营商",
            "aliyun_template_code": "SMS_1",
            "tencent_secret_id": "AKID",
            "tencent_secret_key": "ts",
            "tencent_sdk_app_id": "1400000000",
            "tencent_sign_name": "宿豫营商",
            "tencent_template_id": "7",
            "tencent_base_url": "https://gw.suyu.example.cn/tencent",
            "sms_http_url": "https://sms.suyu.example.cn/send",
            "sms_http_method": "PUT",
            "sms_http_template": '{"to": "{{ phone }}"}',
            "sms_http_headers": {"X-Api-Key": "k"},
            "sms_http_success_field": "code",
            "sms_http_success_value": "0",
            "sms_http_sign_name": "宿豫营商",
            "sms_http_sign_in_text": False,
        },
    },
}

CLASSES = {
    "console": ConsoleNotifier,
    "file": FileNotifier,
    "email": EmailNotifier,
    "sms-aliyun": AliyunSmsNotifier,
    "sms-tencent": TencentSmsNotifier,
    "sms-http": HttpSmsNotifier,
    "wecom": WecomNotifier,
    "dingtalk": DingtalkNotifier,
    "webhook": WebhookNotifier,
}


def test_the_registry_names_each_channel_class() -> None:
    assert {name: channel_class(name) for name in CHANNELS} == CLASSES
    for cls in CLASSES.values():
        assert issubclass(cls, Channel) and issubclass(cls.settings_model, ChannelSettings)


@pytest.mark.parametrize("name", list(CHANNELS))
def test_each_entry_builds_from_its_settings(name: str) -> None:
    settings = Settings.model_validate(FULL)
    values = settings.channel_values(name)
    model = channel_class(name).settings_model.from_values(values)
    assert model is not None and model.model_config.get("frozen")
    notifier = build(name, values)
    assert type(notifier) is CLASSES[name]


def test_the_flat_vendor_keys_reach_each_channel() -> None:
    built = build_notifiers(Settings.model_validate(FULL), tuple(CHANNELS))
    assert list(built) == list(CHANNELS)
    assert isinstance(built["file"], FileNotifier) and built["file"].path == Path("var/sent.jsonl")
    email = built["email"]
    assert isinstance(email, EmailNotifier)
    assert (email.server.host, email.server.port, email.server.starttls) == (
        "mail.suyu.example.cn",
        587,
        True,
    )
    assert (email.sender, email.sender_name) == ("dw@suyu.example.cn", "督办")
    assert built["wecom"] == WecomNotifier("wk", base_url="https://gw.suyu.example.cn/wecom")
    assert built["dingtalk"] == DingtalkNotifier("dt", "ds")
    assert built["webhook"] == WebhookNotifier("https://hooks.suyu.example.cn/in", "whs")
    assert built["sms-aliyun"] == AliyunSmsNotifier("LTAI", "as", "宿豫营商", "SMS_1")
    assert built["sms-tencent"] == TencentSmsNotifier(
        "AKID", "ts", "1400000000", "宿豫营商", "7", base_url="https://gw.suyu.example.cn/tencent"
    )
    assert built["sms-http"] == HttpSmsNotifier(
        "https://sms.suyu.example.cn/send",
        '{"to": "{{ phone }}"}',
        "PUT",
        {"X-Api-Key": "k"},
        "code",
        "0",
        "宿豫营商",
        sign_in_text=False,
    )


def test_secrets_from_the_environment_reach_their_channel(tmp_path: Path) -> None:
    from monitor.config import load_settings

    config = tmp_path / "dutywatch.yaml"
    config.write_text("notify:\n  channels: [wecom, dingtalk]\n", encoding="utf-8")
    settings = load_settings(
        config, environ={"DUTYWATCH_WECOM_KEY": "wk-env", "DUTYWATCH_DINGTALK_TOKEN": "dt-env"}
    )
    built = build_notifiers(settings, ("wecom", "dingtalk"))
    assert built["wecom"] == WecomNotifier("wk-env")
    assert built["dingtalk"] == DingtalkNotifier("dt-env", "")  # no secret: built as before


def test_a_channel_without_its_settings_is_left_out() -> None:
    built = build_notifiers(Settings(notify={"channels": list(CHANNELS)}), tuple(CHANNELS))  # type: ignore[arg-type]
    assert list(built) == ["console", "file"]  # no SMTP URL, no vendor keys
    empty = Settings.model_validate({"notify": {"vendors": {"wecom_key": "", "sms_http_url": ""}}})
    assert build_notifiers(empty, ("wecom", "sms-http")) == {}
    assert build("pigeon", {}) is None


def test_the_rows_of_a_channel_left_out_are_dead_lettered_saying_so(engine: Engine) -> None:
    settings = Settings(notify={"channels": ["file", "wecom"]})  # type: ignore[arg-type]
    notifiers = build_notifiers(settings, ("file", "wecom"))
    assert list(notifiers) == ["file"]
    with session_factory(engine)() as session:
        session.add(Official(id="o1", name="张伟", role="staff"))
        session.add(
            Notification(
                key="k1",
                kind="fired",
                channel="wecom",
                recipient="group",
                subject="s",
                text="t",
                status="queued",
                attempts=0,
                created_at=NOW,
                next_attempt_at=NOW,
            )
        )
        session.commit()
    dispatcher = Dispatcher(session_factory(engine), notifiers, settings.notify, "w1", random.Random(1))
    (outcome,) = asyncio.run(dispatcher.run_once(NOW))
    assert (outcome.status, outcome.error) == ("dead", "channel 'wecom' is not configured")
    with session_factory(engine)() as session:
        row = session.scalars(select(Notification)).one()
    assert (row.status, row.last_error) == ("dead", "channel 'wecom' is not configured")


@pytest.mark.parametrize(
    ("name", "address", "group", "sms", "html"),
    [
        ("console", None, False, False, False),
        ("file", None, False, False, False),
        ("email", "email", False, False, True),
        ("sms-aliyun", "phone", False, True, False),
        ("sms-tencent", "phone", False, True, False),
        ("sms-http", "phone", False, True, False),
        ("wecom", None, True, False, False),
        ("dingtalk", None, True, False, False),
        ("webhook", None, True, False, False),
        ("pigeon", None, False, False, False),  # an old row's name: the defaults
    ],
)
def test_capabilities_are_what_the_outbox_branched_on(
    name: str, address: str | None, group: bool, sms: bool, html: bool
) -> None:
    cls = capabilities(name)
    assert (cls.address, cls.group, cls.sms, cls.html) == (address, group, sms, html)


def test_importing_the_registry_and_the_config_loads_no_channel() -> None:
    code = (
        "import sys, notifiers, monitor.config\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('notifiers.') and m != 'notifiers.base')\n"
        "assert loaded == [], loaded\n"
        "assert 'aiosmtplib' not in sys.modules and 'httpx' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
