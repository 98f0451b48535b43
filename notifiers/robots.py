"""Group robots of the chat tools Chinese government teams use (WeCom, DingTalk), and a generic
signed JSON webhook."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from urllib.parse import quote

from pydantic import SecretStr

from notifiers.base import Channel, ChannelSettings, Message, Receipt, TransportError, action_links
from notifiers.http import json_body, request, truncate_utf8
from notifiers.signing import dingtalk_sign, webhook_signature

# retried, not dead-lettered: throttling, and -1, "system busy" in both vendors' global error
# codes (a 200 reply without an errcode reads as -1: the vendor's anomaly, tried again)
WECOM_THROTTLED = {-1, 45009}
DINGTALK_THROTTLED = {-1, 130101, 410100}
WECOM_MARKDOWN_BYTES = 4096


def _markdown(message: Message, limit: int | None = None) -> str:
    """The message as robot markdown: the subject in bold, the text, then each action link as a
    markdown link on a line of its own. Cut to `limit` bytes of UTF-8, the links stay whole and the
    text gives way (a link cut short opens nothing)."""
    text, links = action_links(message.text)
    lines = [f"[{who}办理]({url})" if who else f"[确认收到 · 登记办理]({url})" for who, url in links]
    tail = "\n\n" + "\n\n".join(lines) if lines else ""
    head = f"**{message.subject}**\n"
    if limit is not None:
        room = limit - len((head + tail).encode("utf-8"))
        text = truncate_utf8(text, max(room, 0)) if room > 3 else ""
    return head + text + tail


def _base(url: str | None, default: str) -> str:
    return (url or default).rstrip("/")


class WecomSettings(ChannelSettings):
    key: SecretStr
    base_url: str | None = None  # the public endpoint by default; a gateway's on a closed network


@dataclass(frozen=True)
class WecomNotifier(Channel):
    """WeCom (企业微信) group robot; the key in the URL is the secret.

    A message with action links goes as markdown, whose links open with a tap (a text message
    shows the address as text); others as text, which can mention the recipient's phone."""

    settings_model = WecomSettings
    group = True

    key: str
    base_url: str = "https://qyapi.weixin.qq.com"
    markdown: bool = False

    @classmethod
    def from_settings(cls, settings: WecomSettings) -> WecomNotifier:
        return cls(settings.key.get_secret_value(), base_url=_base(settings.base_url, cls.base_url))

    async def send(self, message: Message) -> Receipt:
        text = f"{message.subject}\n{message.text}"
        if self.markdown or action_links(message.text)[1]:
            body: dict[str, object] = {
                "msgtype": "markdown",
                "markdown": {"content": _markdown(message, WECOM_MARKDOWN_BYTES)},
            }
        else:
            content: dict[str, object] = {"content": truncate_utf8(text, 2048)}
            if message.recipient.phone:
                content["mentioned_mobile_list"] = [message.recipient.phone]
            body = {"msgtype": "text", "text": content}
        url = f"{self.base_url}/cgi-bin/webhook/send?key={quote(self.key)}"
        reply = json_body(await request("POST", url, json=body, redact=self.key))
        code = int(reply.get("errcode", -1))
        if code != 0:
            raise TransportError(
                f"WeCom errcode {code}: {reply.get('errmsg', '')}", permanent=code not in WECOM_THROTTLED
            )
        return Receipt(None)


class DingtalkSettings(ChannelSettings):
    token: SecretStr
    secret: SecretStr = SecretStr("")
    base_url: str | None = None


@dataclass(frozen=True)
class DingtalkNotifier(Channel):
    """DingTalk custom robot with the signed URL (timestamp in ms within an hour of the server)."""

    settings_model = DingtalkSettings
    group = True

    access_token: str
    secret: str
    base_url: str = "https://oapi.dingtalk.com"
    clock_ms: object = None  # a callable giving the time in ms, for tests

    @classmethod
    def from_settings(cls, settings: DingtalkSettings) -> DingtalkNotifier:
        return cls(
            settings.token.get_secret_value(),
            settings.secret.get_secret_value(),
            base_url=_base(settings.base_url, cls.base_url),
        )

    async def send(self, message: Message) -> Receipt:
        now = self.clock_ms() if callable(self.clock_ms) else int(time.time() * 1000)
        url = (
            f"{self.base_url}/robot/send?access_token={quote(self.access_token)}"
            f"&timestamp={now}&sign={dingtalk_sign(self.secret, now)}"
        )
        at = {"atMobiles": [message.recipient.phone] if message.recipient.phone else [], "isAtAll": False}
        body: dict[str, object]
        if action_links(message.text)[1]:
            # markdown, so that each action link opens with a tap; the mention is made in the text
            mention = f"\n\n@{message.recipient.phone}" if message.recipient.phone else ""
            markdown = {"title": message.subject, "text": _markdown(message) + mention}
            body = {"msgtype": "markdown", "markdown": markdown, "at": at}
        else:
            body = {"msgtype": "text", "text": {"content": f"{message.subject}\n{message.text}"}, "at": at}
        reply = json_body(await request("POST", url, json=body, redact=self.access_token))
        code = int(reply.get("errcode", -1))
        if code != 0:
            raise TransportError(
                f"DingTalk errcode {code}: {reply.get('errmsg', '')}",
                permanent=code not in DINGTALK_THROTTLED,
            )
        return Receipt(None)


class WebhookSettings(ChannelSettings):
    url: str
    secret: SecretStr = SecretStr("")


@dataclass(frozen=True)
class WebhookNotifier(Channel):
    """A JSON POST signed with `X-Dutywatch-Signature: sha256=<hex HMAC of the raw body>`."""

    settings_model = WebhookSettings
    group = True

    url: str
    secret: str

    @classmethod
    def from_settings(cls, settings: WebhookSettings) -> WebhookNotifier:
        return cls(settings.url, settings.secret.get_secret_value())

    async def send(self, message: Message) -> Receipt:
        body = json.dumps(
            {
                "recipient": message.recipient.name,
                "subject": message.subject,
                "text": message.text,
                "id": message.idempotency_key,
            },
            ensure_ascii=False,
        ).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Dutywatch-Signature": webhook_signature(self.secret, body),
            "Idempotency-Key": message.idempotency_key,
        }
        await request("POST", self.url, content=body, headers=headers)
        return Receipt(None)
