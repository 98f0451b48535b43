"""The vendors' published signing examples (Alibaba Cloud, Tencent Cloud, DingTalk docs), reproduced exactly."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import unquote_plus

from notifiers.signing import (
    aliyun_rpc_signature,
    aliyun_v3_signature,
    dingtalk_sign,
    percent_encode,
    tencent_tc3_signature,
    webhook_signature,
)


def test_aliyun_rpc_v2_published_example() -> None:
    params = {
        "AccessKeyId": "testId",
        "Action": "SendSms",
        "Format": "XML",
        "OutId": "123",
        "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou",
        "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007",
        "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }
    assert aliyun_rpc_signature(params, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_aliyun_percent_encoding_rules() -> None:
    assert percent_encode("a b*c~d/") == "a%20b%2Ac~d%2F"


def test_aliyun_v3_published_example() -> None:
    headers = {
        "host": "ecs.cn-shanghai.aliyuncs.com",
        "x-acs-action": "RunInstances",
        "x-acs-version": "2014-05-26",
        "x-acs-date": "2023-10-26T10:22:32Z",
        "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
        "x-acs-content-sha256": hashlib.sha256(b"").hexdigest(),
    }
    query = {"ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd", "RegionId": "cn-shanghai"}
    hashed, signed, signature = aliyun_v3_signature("POST", "/", query, headers, b"", "YourAccessKeySecret")
    assert hashed == "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
    assert signature == "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
    assert signed == "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"


def test_tencent_tc3_published_example() -> None:
    payload = '{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    signature = tencent_tc3_signature(
        "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", "cvm", "cvm.tencentcloudapi.com", 1551113065, payload
    )
    assert signature == "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"


def test_dingtalk_sign_is_the_documented_construction() -> None:
    secret, ts = "SEC0123456789abcdef", 1577262236757
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    assert unquote_plus(dingtalk_sign(secret, ts)) == expected


def test_webhook_signature_is_hmac_sha256_of_the_raw_body() -> None:
    assert webhook_signature("key", b"{}") == "sha256=" + hmac.new(b"key", b"{}", hashlib.sha256).hexdigest()
