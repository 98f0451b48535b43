"""Logs are JSON lines with tokens, passwords, phone numbers and emails masked."""

from __future__ import annotations

import json
import logging

from monitor.logs import JsonFormatter, mask


def test_secrets_and_contacts_are_masked() -> None:
    text = mask(
        "Authorization: Bearer dw_abcdefghijklmnop token dw_zyxwvutsrqponm smtp://user:s3cret@mail:587 "
        "phone 13951234567 mail zhang.wei@suyu.example.cn url ?access_token=T0KEN&sign=S1G"
    )
    for secret in (
        "abcdefghijklmnop",
        "zyxwvutsrqponm",
        "s3cret",
        "13951234567",
        "zhang.wei@",
        "T0KEN",
        "S1G",
    ):
        assert secret not in text
    assert "139****4567" in text and "z***@suyu.example.cn" in text


def test_a_record_is_one_json_line() -> None:
    record = logging.LogRecord("dutywatch", logging.INFO, __file__, 1, "sent to %s", ("13951234567",), None)
    record.fields = {"alerts": 3}
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert "\n" not in line and entry["message"] == "sent to 139****4567" and entry["alerts"] == 3


def test_phone_numbers_in_other_spellings_are_masked_and_other_numbers_kept() -> None:
    text = mask("+86 139 5123 4567, 139-5123-4567, 0527-84351234; at 2026-11-25 01:22, id 1700000000000")
    for secret in ("5123", "8435"):
        assert secret not in text
    assert "0527-****1234" in text and "2026-11-25 01:22" in text and "1700000000000" in text
