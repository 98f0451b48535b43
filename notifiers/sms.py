"""SMS through Alibaba Cloud, Tencent Cloud, and a generic HTTP gateway whose request is a
template in config (local government SMS platforms vary).

The text is sent as the message carries it: the outbox shapes it for SMS (monitor/alerts/
messages.py: the template's short text, the action link, at most `SMS_MAX` characters, each
counting the channel's signature). The signature (【宿豫营商】 on the phone) is the channel's
`sign_name` and never the text's: Alibaba Cloud and Tencent Cloud take it as `SignName` and print
it themselves; the HTTP gateway has it put before the text (`sign_in_text`), or passes it in the
request for a platform that prints it itself."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import jinja2
from pydantic import Field, SecretStr

from notifiers.base import Channel, ChannelSettings, Message, Receipt, TransportError
from notifiers.http import json_body, request
from notifiers.signing import aliyun_rpc_signature, tencent_tc3_signature

ALIYUN_TRANSIENT = {"isv.BUSINESS_LIMIT_CONTROL", "isp.SYSTEM_ERROR", "Throttling.User", "isv.OUT_OF_SERVICE"}


def _base(url: str | None, default: str) -> str:
    return (url or default).rstrip("/")


class AliyunSmsSettings(ChannelSettings):
    access_key_id: str
    access_key_secret: SecretStr = SecretStr("")
    sign_name: str = ""
    template_code: str = ""
    base_url: str | None = None  # the public endpoint by default; a gateway's on a closed network


@dataclass(frozen=True)
class AliyunSmsNotifier(Channel):
    settings_model = AliyunSmsSettings
    address = "phone"
    sms = True

    access_key_id: str
    access_key_secret: str
    sign_name: str
    template_code: str
    param_name: str = "content"
    base_url: str = "https://dysmsapi.aliyuncs.com"
    region: str = "cn-hangzhou"

    @classmethod
    def from_settings(cls, settings: AliyunSmsSettings) -> AliyunSmsNotifier:
        return cls(
            settings.access_key_id,
            settings.access_key_secret.get_secret_value(),
            settings.sign_name,
            settings.template_code,
            base_url=_base(settings.base_url, cls.base_url),
        )

    async def send(self, message: Message) -> Receipt:
        if not message.recipient.phone:
            raise TransportError(f"{message.recipient.name} has no phone number", permanent=True)
        params = {
            "AccessKeyId": self.access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "OutId": message.idempotency_key,
            "PhoneNumbers": message.recipient.phone,
            "RegionId": self.region,
            "SignName": self.sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "TemplateCode": self.template_code,
            "TemplateParam": json.dumps(
                {self.param_name: message.text, **message.params}, ensure_ascii=False
            ),
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
        }
        params["Signature"] = aliyun_rpc_signature(params, self.access_key_secret)
        reply = json_body(await request("GET", f"{self.base_url}/", params=params))
        code = str(reply.get("Code"))
        if code != "OK":
            raise TransportError(
                f"Alibaba Cloud SMS {code}: {reply.get('Message', '')}",
                permanent=code not in ALIYUN_TRANSIENT,
            )
        return Receipt(str(reply.get("BizId")) if reply.get("BizId") else None)


class TencentSmsSettings(ChannelSettings):
    secret_id: str
    secret_key: SecretStr = SecretStr("")
    sdk_app_id: str = ""
    sign_name: str = ""
    template_id: str = ""
    base_url: str | None = None


@dataclass(frozen=True)
class TencentSmsNotifier(Channel):
    settings_model = TencentSmsSettings
    address = "phone"
    sms = True

    secret_id: str
    secret_key: str
    sdk_app_id: str
    sign_name: str
    template_id: str
    region: str = "ap-guangzhou"
    host: str = "sms.tencentcloudapi.com"
    base_url: str = "https://sms.tencentcloudapi.com"

    @classmethod
    def from_settings(cls, settings: TencentSmsSettings) -> TencentSmsNotifier:
        return cls(
            settings.secret_id,
            settings.secret_key.get_secret_value(),
            settings.sdk_app_id,
            settings.sign_name,
            settings.template_id,
            base_url=_base(settings.base_url, cls.base_url),
        )

    async def send(self, message: Message) -> Receipt:
        if not message.recipient.phone:
            raise TransportError(f"{message.recipient.name} has no phone number", permanent=True)
        phone = (
            message.recipient.phone
            if message.recipient.phone.startswith("+")
            else f"+86{message.recipient.phone}"
        )
        payload = json.dumps(
            {
                "PhoneNumberSet": [phone],
                "SmsSdkAppId": self.sdk_app_id,
                "SignName": self.sign_name,
                "TemplateId": self.template_id,
                "TemplateParamSet": [message.text],
                "SessionContext": message.idempotency_key,
            },
            ensure_ascii=False,
        )
        timestamp = int(time.time())
        signature = tencent_tc3_signature(self.secret_key, "sms", self.host, timestamp, payload)
        day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
        headers = {
            "Authorization": (
                f"TC3-HMAC-SHA256 Credential={self.secret_id}/{day}/sms/tc3_request, "
                f"SignedHeaders=content-type;host, Signature={signature}"
            ),
            "Content-Type": "application/json; charset=utf-8",
            "Host": self.host,
            "X-TC-Action": "SendSms",
            "X-TC-Version": "2021-01-11",
            "X-TC-Region": self.region,
            "X-TC-Timestamp": str(timestamp),
        }
        reply = json_body(
            await request("POST", f"{self.base_url}/", content=payload.encode("utf-8"), headers=headers)
        )
        response = reply.get("Response", {})
        error = response.get("Error") if isinstance(response, dict) else None
        if error:
            code = str(error.get("Code", ""))
            transient = code.startswith(("LimitExceeded", "InternalError", "RequestLimitExceeded"))
            raise TransportError(f"Tencent Cloud SMS {code}", permanent=not transient)
        statuses = response.get("SendStatusSet") or [{}]
        status = statuses[0]
        if status.get("Code") != "Ok":
            code = str(status.get("Code"))
            raise TransportError(f"Tencent Cloud SMS {code}", permanent=not code.startswith("LimitExceeded"))
        return Receipt(str(status.get("SerialNo")) if status.get("SerialNo") else None)


class HttpSmsSettings(ChannelSettings):
    url: str
    method: str = "POST"
    template: str = ""  # the request body, a Jinja2 template of phone, text, subject, id and sign_name
    headers: dict[str, str] = Field(default_factory=dict)
    success_field: str | None = None
    success_value: str | None = None
    sign_name: str = ""  # the signature the platform registered, without 【】
    # put 【sign_name】 before the text (platforms that send the text as given); false for one that
    # prints its signature itself (from its account, or from {{ sign_name }} in the request)
    sign_in_text: bool = True


@dataclass(frozen=True)
class HttpSmsNotifier(Channel):
    """A gateway described in config: method, URL, headers and a Jinja2 body template; success is a
    status in [200, 300) and, when given, a JSON field equal to a value. With `sign_name` and
    `sign_in_text`, the template's `text` starts with the signature (【sign_name】)."""

    settings_model = HttpSmsSettings
    address = "phone"
    sms = True

    url: str
    body_template: str
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    success_field: str | None = None
    success_value: str | None = None
    sign_name: str = ""
    sign_in_text: bool = True

    @classmethod
    def from_settings(cls, settings: HttpSmsSettings) -> HttpSmsNotifier:
        return cls(
            settings.url,
            settings.template,
            settings.method,
            dict(settings.headers),
            settings.success_field,
            settings.success_value,
            settings.sign_name,
            settings.sign_in_text,
        )

    def text(self, message: Message) -> str:
        """The text as the gateway is handed it: after the signature when it goes in the text."""
        if self.sign_name and self.sign_in_text:
            return f"【{self.sign_name}】{message.text}"
        return message.text

    async def send(self, message: Message) -> Receipt:
        if not message.recipient.phone:
            raise TransportError(f"{message.recipient.name} has no phone number", permanent=True)
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
        env.filters["json"] = lambda v: json.dumps(v, ensure_ascii=False)
        try:
            body = env.from_string(self.body_template).render(
                phone=message.recipient.phone,
                text=self.text(message),
                subject=message.subject,
                id=message.idempotency_key,
                sign_name=self.sign_name,
            )
        except jinja2.TemplateError as exc:
            raise TransportError(f"SMS gateway template: {exc}", permanent=True) from None
        response = await request(
            self.method,
            self.url,
            content=body.encode("utf-8"),
            headers=self.headers,
            redact=[value for value in self.headers.values() if len(value) >= 6],  # API keys
        )
        if self.success_field:
            reply = json_body(response)
            if str(reply.get(self.success_field)) != str(self.success_value):
                raise TransportError(
                    f"SMS gateway answered {self.success_field}={reply.get(self.success_field)!r}",
                    permanent=True,
                )
        return Receipt(None)
