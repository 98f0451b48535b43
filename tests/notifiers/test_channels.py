"""SMS and chat channels against fake vendor servers on loopback: the documented request shape,
signatures recomputed independently, and success, throttling, 5xx and auth errors mapped."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from notifiers.base import Message, Receipt, Recipient, TransportError
from notifiers.robots import DingtalkNotifier, WebhookNotifier, WecomNotifier
from notifiers.signing import aliyun_rpc_signature, dingtalk_sign, tencent_tc3_signature, webhook_signature
from notifiers.sms import AliyunSmsNotifier, HttpSmsNotifier, TencentSmsNotifier


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeVendor:
    url: str
    seen: list[Seen] = field(default_factory=list)
    replies: list[tuple[int, Any]] = field(default_factory=list)


@pytest.fixture
def vendor() -> Iterator[FakeVendor]:
    state = FakeVendor("")

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            state.seen.append(
                Seen(
                    self.command,
                    parts.path,
                    {k: v[0] for k, v in parse_qs(parts.query).items()},
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
            )
            status, reply = state.replies.pop(0) if state.replies else (200, {})
            data = json.dumps(reply, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _handle

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


MESSAGE = Message(
    Recipient("张伟", phone="13951234567"), "【逾期】复杂问题", "企业诉求C1已逾期2个工作日。", "key-1"
)


def send(notifier: Any) -> Receipt:
    return asyncio.run(notifier.send(MESSAGE))


def failure(notifier: Any) -> TransportError:
    with pytest.raises(TransportError) as err:
        asyncio.run(notifier.send(MESSAGE))
    return err.value


def test_aliyun_sms_request_shape_signature_and_replies(vendor: FakeVendor) -> None:
    sms = AliyunSmsNotifier("AKID", "SECRET", "宿豫营商", "SMS_1", base_url=vendor.url)
    vendor.replies = [
        (200, {"Code": "OK", "BizId": "900"}),
        (200, {"Code": "isv.BUSINESS_LIMIT_CONTROL"}),
        (200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL"}),
        (503, {}),
    ]
    assert send(sms).provider_id == "900"
    query = dict(vendor.seen[0].query)
    signature = query.pop("Signature")
    assert signature == aliyun_rpc_signature(query, "SECRET")
    assert (query["Action"], query["PhoneNumbers"], query["OutId"], query["SignName"]) == (
        "SendSms",
        "13951234567",
        "key-1",
        "宿豫营商",
    )
    assert json.loads(query["TemplateParam"]) == {"content": MESSAGE.text}
    assert failure(sms).permanent is False  # throttled
    assert failure(sms).permanent is True  # bad number
    assert failure(sms).permanent is False  # 5xx


def test_tencent_sms_request_shape_signature_and_replies(vendor: FakeVendor) -> None:
    sms = TencentSmsNotifier("SID", "SKEY", "1400000000", "宿豫营商", "1001", base_url=vendor.url)
    vendor.replies = [
        (200, {"Response": {"SendStatusSet": [{"Code": "Ok", "SerialNo": "s-1"}], "RequestId": "r"}}),
        (200, {"Response": {"Error": {"Code": "LimitExceeded.PhoneNumberDailyLimit"}}}),
        (200, {"Response": {"Error": {"Code": "AuthFailure.SignatureFailure"}}}),
    ]
    assert send(sms).provider_id == "s-1"
    seen = vendor.seen[0]
    assert (
        seen.method == "POST"
        and seen.headers["x-tc-action"] == "SendSms"
        and seen.headers["x-tc-version"] == "2021-01-11"
    )
    body = json.loads(seen.body)
    assert body["PhoneNumberSet"] == ["+8613951234567"] and body["SmsSdkAppId"] == "1400000000"
    timestamp = int(seen.headers["x-tc-timestamp"])
    expected = tencent_tc3_signature("SKEY", "sms", "sms.tencentcloudapi.com", timestamp, seen.body.decode())
    assert seen.headers["authorization"].endswith(f"Signature={expected}")
    assert "Credential=SID/" in seen.headers["authorization"]
    assert failure(sms).permanent is False
    assert failure(sms).permanent is True


def test_wecom_robot_text_mentions_and_errors(vendor: FakeVendor) -> None:
    robot = WecomNotifier("ROBOT-KEY", base_url=vendor.url)
    vendor.replies = [
        (200, {"errcode": 0}),
        (200, {"errcode": 45009, "errmsg": "freq"}),
        (200, {"errcode": 93000, "errmsg": "bad key"}),
    ]
    send(robot)
    seen = vendor.seen[0]
    assert seen.path == "/cgi-bin/webhook/send" and seen.query == {"key": "ROBOT-KEY"}
    body = json.loads(seen.body)
    assert body["msgtype"] == "text" and body["text"]["mentioned_mobile_list"] == ["13951234567"]
    assert failure(robot).permanent is False
    error = failure(robot)
    assert error.permanent is True and "ROBOT-KEY" not in str(error)


@pytest.mark.parametrize("make", ["wecom", "dingtalk"])
def test_a_robots_system_busy_is_retried_not_dead_lettered(vendor: FakeVendor, make: str) -> None:
    """-1 is 系统繁忙 in both vendors' global error codes; a 200 without any errcode reads as -1."""
    robot = (
        WecomNotifier("K", base_url=vendor.url)
        if make == "wecom"
        else DingtalkNotifier("TOKEN", "SEC", base_url=vendor.url, clock_ms=lambda: 1700000000000)
    )
    vendor.replies = [(200, {"errcode": -1, "errmsg": "system busy"}), (200, {}), (200, {"errcode": 40001})]
    assert failure(robot).permanent is False
    assert failure(robot).permanent is False
    assert failure(robot).permanent is True


def test_wecom_text_is_cut_at_2048_bytes_on_a_character_boundary(vendor: FakeVendor) -> None:
    robot = WecomNotifier("K", base_url=vendor.url)
    vendor.replies = [(200, {"errcode": 0})]
    asyncio.run(robot.send(Message(Recipient("x"), "s", "督" * 2000, "k")))
    content = json.loads(vendor.seen[0].body)["text"]["content"]
    assert len(content.encode("utf-8")) <= 2048


def test_dingtalk_robot_is_signed_and_maps_throttling(vendor: FakeVendor) -> None:
    robot = DingtalkNotifier("TOKEN", "SEC", base_url=vendor.url, clock_ms=lambda: 1700000000000)
    vendor.replies = [
        (200, {"errcode": 0}),
        (200, {"errcode": 130101, "errmsg": "send too fast"}),
        (200, {"errcode": 310000}),
    ]
    send(robot)
    seen = vendor.seen[0]
    assert (
        seen.path == "/robot/send"
        and seen.query["access_token"] == "TOKEN"
        and seen.query["timestamp"] == "1700000000000"
    )
    from urllib.parse import unquote_plus

    assert seen.query["sign"] == unquote_plus(dingtalk_sign("SEC", 1700000000000))
    assert json.loads(seen.body)["at"]["atMobiles"] == ["13951234567"]
    assert failure(robot).permanent is False
    assert failure(robot).permanent is True


def test_webhook_is_signed_with_an_idempotency_key(vendor: FakeVendor) -> None:
    hook = WebhookNotifier(f"{vendor.url}/hook", "HOOKSECRET")
    vendor.replies = [(200, {}), (500, {}), (401, {"error": "bad signature"})]
    send(hook)
    seen = vendor.seen[0]
    assert seen.headers["x-dutywatch-signature"] == webhook_signature("HOOKSECRET", seen.body)
    assert seen.headers["idempotency-key"] == "key-1"
    assert failure(hook).permanent is False
    assert failure(hook).permanent is True


def test_generic_sms_gateway_from_a_template(vendor: FakeVendor) -> None:
    gateway = HttpSmsNotifier(
        f"{vendor.url}/sms/send",
        '{"mobile": "{{ phone }}", "content": {{ text | json }}, "msgId": "{{ id }}"}',
        headers={"Content-Type": "application/json"},
        success_field="result",
        success_value="0",
    )
    vendor.replies = [(200, {"result": 0}), (200, {"result": 17})]
    send(gateway)
    assert json.loads(vendor.seen[0].body) == {
        "mobile": "13951234567",
        "content": MESSAGE.text,
        "msgId": "key-1",
    }
    assert failure(gateway).permanent is True


def test_a_gateway_puts_its_signature_before_the_text_once(vendor: FakeVendor) -> None:
    """A platform that sends the text as given gets 【sign_name】 before it from the channel (the
    text dutywatch stored has none); one that prints its own takes sign_name as a field."""
    gateway = HttpSmsNotifier(
        f"{vendor.url}/sms/send",
        '{"mobile": "{{ phone }}", "content": {{ text | json }}}',
        sign_name="宿豫营商",
    )
    vendor.replies = [(200, {}), (200, {})]
    send(gateway)
    content = json.loads(vendor.seen[0].body)["content"]
    assert content == "【宿豫营商】" + MESSAGE.text and content.count("【") == 1
    printing = HttpSmsNotifier(
        f"{vendor.url}/sms/send",
        '{"content": {{ text | json }}, "sign": {{ sign_name | json }}}',
        sign_name="宿豫营商",
        sign_in_text=False,
    )
    send(printing)
    assert json.loads(vendor.seen[1].body) == {"content": MESSAGE.text, "sign": "宿豫营商"}


def test_cloud_vendors_get_the_signature_as_sign_name_and_never_in_the_text(vendor: FakeVendor) -> None:
    aliyun = AliyunSmsNotifier("AKID", "SECRET", "宿豫营商", "SMS_1", base_url=vendor.url)
    tencent = TencentSmsNotifier("SID", "SKEY", "1400000000", "宿豫营商", "1001", base_url=vendor.url)
    vendor.replies = [
        (200, {"Code": "OK"}),
        (200, {"Response": {"SendStatusSet": [{"Code": "Ok"}]}}),
    ]
    send(aliyun)
    send(tencent)
    query, body = vendor.seen[0].query, json.loads(vendor.seen[1].body)
    assert (query["SignName"], json.loads(query["TemplateParam"])["content"]) == ("宿豫营商", MESSAGE.text)
    assert (body["SignName"], body["TemplateParamSet"]) == ("宿豫营商", [MESSAGE.text])


def test_unreachable_vendor_is_transient(closed_port: int) -> None:
    robot = WecomNotifier("K", base_url=f"http://127.0.0.1:{closed_port}")
    refused = failure(robot)
    # and unreachable: the dispatcher leaves the batch's other messages for it to the retry
    assert refused.permanent is False and refused.unreachable is True


def test_a_vendor_that_answers_with_an_error_is_not_unreachable(vendor: FakeVendor) -> None:
    """A 503 is an answer: the next message of the batch is tried (it may be answered 200)."""
    vendor.replies.append((503, {}))
    refused = failure(WecomNotifier("K", base_url=vendor.url))
    assert (refused.permanent, refused.unreachable) == (False, False)


def test_sms_without_a_phone_is_permanent(vendor: FakeVendor) -> None:
    sms = AliyunSmsNotifier("A", "S", "n", "t", base_url=vendor.url)
    with pytest.raises(TransportError) as err:
        asyncio.run(sms.send(Message(Recipient("无号码"), "s", "t", "k")))
    assert err.value.permanent and vendor.seen == []


# --- action links (monitor/alerts/links.py): a tap opens them in the chat tools -------------------------

LINK_A = "https://dw.suyu.gov.cn/l/NDIuMWE0ZjAuby1h.c2lnbmF0dXJlLWE"
LINK_B = "https://dw.suyu.gov.cn/l/NDIuMWE0ZjAuby1i.c2lnbmF0dXJlLWI"
GROUP_TEXT = f"企业诉求C1已逾期2个工作日。\n请张伟、李娜知悉。\n张伟办理：{LINK_A}\n李娜办理：{LINK_B}"


def test_action_link_lines_are_told_from_the_text() -> None:
    from notifiers.base import action_links

    assert action_links("没有链接。") == ("没有链接。", [])
    text, links = action_links(GROUP_TEXT)
    assert text == "企业诉求C1已逾期2个工作日。\n请张伟、李娜知悉。"
    assert links == [("张伟", LINK_A), ("李娜", LINK_B)]
    assert action_links(f"逾期。\n办理：{LINK_A}") == ("逾期。", [("", LINK_A)])
    # an address in the middle of a sentence is not an action link
    assert action_links(f"见 {LINK_A} 说明")[1] == []


def test_wecom_sends_a_message_with_links_as_markdown_links(vendor: FakeVendor) -> None:
    robot = WecomNotifier("K", base_url=vendor.url)
    vendor.replies = [(200, {"errcode": 0})]
    asyncio.run(robot.send(Message(Recipient("group"), "【逾期·第1级】复杂问题", GROUP_TEXT, "k")))
    body = json.loads(vendor.seen[0].body)
    assert body["msgtype"] == "markdown"
    content = body["markdown"]["content"]
    assert content.startswith("**【逾期·第1级】复杂问题**\n企业诉求C1已逾期2个工作日。")
    assert f"[张伟办理]({LINK_A})" in content and f"[李娜办理]({LINK_B})" in content
    assert f"办理：{LINK_A}" not in content  # each address once, as a link


def test_wecom_keeps_the_links_whole_when_the_text_is_cut(vendor: FakeVendor) -> None:
    robot = WecomNotifier("K", base_url=vendor.url)
    vendor.replies = [(200, {"errcode": 0})]
    long = "督" * 3000 + f"\n张伟办理：{LINK_A}\n李娜办理：{LINK_B}"
    asyncio.run(robot.send(Message(Recipient("group"), "s", long, "k")))
    content = json.loads(vendor.seen[0].body)["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 4096
    assert content.endswith(f"[张伟办理]({LINK_A})\n\n[李娜办理]({LINK_B})") and "…" in content


def test_dingtalk_sends_a_message_with_a_link_as_markdown(vendor: FakeVendor) -> None:
    robot = DingtalkNotifier("TOKEN", "SEC", base_url=vendor.url, clock_ms=lambda: 1700000000000)
    vendor.replies = [(200, {"errcode": 0})]
    text = f"企业诉求C1已逾期2个工作日。\n办理：{LINK_A}"
    asyncio.run(robot.send(Message(Recipient("张伟", phone="13951234567"), "【逾期】复杂问题", text, "k")))
    body = json.loads(vendor.seen[0].body)
    assert body["msgtype"] == "markdown" and body["markdown"]["title"] == "【逾期】复杂问题"
    assert f"[确认收到 · 登记办理]({LINK_A})" in body["markdown"]["text"]
    # the mention: the number in the text and in `at`, as DingTalk's markdown wants it
    assert body["markdown"]["text"].endswith("@13951234567") and body["at"]["atMobiles"] == ["13951234567"]
