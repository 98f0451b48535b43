"""Channel messages from the shipped templates: SMS fits one message, email says it all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.alerts.messages import (
    SMS_LIMIT,
    SMS_MAX,
    Addressee,
    Style,
    compose,
    outgoing_text,
    render,
    sms_text,
    template_variables,
)
from monitor.clock import parse_instant
from monitor.rulebook import load_rulebook
from monitor.store.models import AlertRecord

ROOT = Path(__file__).resolve().parents[2]
RULEBOOK = load_rulebook(ROOT / "rules")
ROW = AlertRecord(
    rule="case-complex-5-workdays",
    subject="case:C202410001",
    period="",
    state="overdue",
    level=2,
    due_at=parse_instant("2024-10-10T23:59:59"),
    recipients=["o1"],
    clause="二",
    message="【逾期】企业诉求C202410001（宿迁恒达机械有限公司，用地）为复杂问题，区行政审批局未在5个工作日内处理反馈，逾期2个工作日。",
)


def test_sms_is_one_message_with_duty_state_and_due() -> None:
    text = sms_text(ROOT / "config/templates", template_variables(RULEBOOK, ROW, "s", "escalated"))
    assert text is not None and len(text) <= SMS_LIMIT
    assert text.startswith("逾期2级：复杂问题5个工作日内处理反馈") and "10-10 23:59" in text


def _row(**changes: object) -> AlertRecord:
    columns = ("rule", "subject", "period", "state", "level", "due_at", "recipients", "clause", "message")
    return AlertRecord(**{**{c: getattr(ROW, c) for c in columns}, **changes})


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("kind", ["fired", "escalated", "reminder", "resolved"])
def test_the_shipped_sms_templates_carry_no_signature(language: str, kind: str) -> None:
    """The signature is the channel's (its sign_name), not the template's: a district's name in
    the template doubled it beside the vendor's and went out in every other district's texts."""
    for row in (ROW, _row(state="warning", level=0), _row(period="2024-10")):
        text = sms_text(ROOT / "config/templates", template_variables(RULEBOOK, row, "s", kind, language))
        assert text is not None
        assert not re.search(r"【[^】]*】|\[[^\]]*\]", text), text
        assert "宿豫" not in text and "Suyu" not in text, text


@pytest.mark.parametrize("signature", ["【宿豫营商】", "【沭阳县营商环境办】"])
def test_the_sms_as_delivered_has_its_channels_signature_once_within_one_part(signature: str) -> None:
    """What the phone shows is the vendor's signature (SignName) and then the text dutywatch
    handed over: the signature once, the whole in one part."""
    style = Style(ROOT / "config/templates", signatures={"sms-aliyun": signature})
    row = _row(resolved_at=parse_instant("2024-10-12T10:00"))
    for kind in ("fired", "escalated", "reminder", "resolved"):
        text = compose(RULEBOOK, row, kind, Addressee("sms-aliyun"), style).text
        delivered = signature + outgoing_text("sms-aliyun", text, style.signature("sms-aliyun"))
        assert delivered.count("【") == 1 and delivered.count(signature) == 1, delivered
        assert len(delivered) <= SMS_LIMIT, delivered
        assert ("宿豫" in delivered) == ("宿豫" in signature), delivered


def _sized(length: int) -> dict[str, object]:
    """The shipped template's variables with a subject that makes its text `length` characters."""
    variables = template_variables(RULEBOOK, ROW, "s", "escalated")
    rendered = render(ROOT / "config/templates", "sms.txt.j2", variables)
    assert rendered is not None
    variables["subject_id"] = "case:" + "C" * (len(ROW.subject) - 5 + length - len(rendered))
    assert len(render(ROOT / "config/templates", "sms.txt.j2", variables) or "") == length
    return variables


def test_an_sms_counts_the_signature_once_on_both_sides_of_one_part() -> None:
    signature = "【宿豫区营商环境办】"
    room = SMS_LIMIT - len(signature)
    fits = sms_text(ROOT / "config/templates", _sized(room), signature)
    assert fits is not None and len(signature + fits) == SMS_LIMIT and not fits.endswith("…")
    assert render(ROOT / "config/templates", "sms.txt.j2", _sized(room)) == fits  # left whole
    over = sms_text(ROOT / "config/templates", _sized(room + 1), signature)
    assert over is not None and len(signature + over) == SMS_LIMIT and over.endswith("…")
    # without a signature the same text is whole in one part
    assert sms_text(ROOT / "config/templates", _sized(room + 1)) == render(
        ROOT / "config/templates", "sms.txt.j2", _sized(room + 1)
    )


def test_the_text_an_sms_channel_is_handed_leaves_room_for_its_signature_once() -> None:
    """A stored text longer than an SMS may be (a rule's own message, without templates) is cut
    when handed over so that signature and text are `SMS_MAX` characters at most."""
    signature = "【宿豫营商】"
    room = SMS_MAX - len(signature)
    assert outgoing_text("sms-aliyun", "字" * room, signature) == "字" * room  # just fits: whole
    over = outgoing_text("sms-aliyun", "字" * (room + 1), signature)
    assert len(signature + over) == SMS_MAX and over == "字" * (room - 1) + "…"
    assert outgoing_text("sms-aliyun", "字" * (room + 1)) == "字" * (room + 1)  # no signature: fits
    assert len(outgoing_text("sms-aliyun", "字" * (SMS_MAX + 1))) == SMS_MAX
    assert outgoing_text("email", "字" * 1000, signature) == "字" * 1000  # only SMS is cut


def test_email_html_says_duty_clause_subject_due_level_and_what_to_do() -> None:
    html = render(
        ROOT / "config/templates",
        "email.html.j2",
        template_variables(RULEBOOK, ROW, "【逾期·第2级】复杂问题", "escalated"),
    )
    assert html is not None
    for part in (
        "复杂问题5个工作日内处理反馈",
        "制度（二）",
        "case:C202410001",
        "2024-10-10 23:59:59",
        "第2级",
        "请立即办理并反馈",
    ):
        assert part in html


def test_html_escapes_what_users_typed() -> None:
    row = AlertRecord(
        **{
            **{
                c: getattr(ROW, c)
                for c in ("rule", "subject", "period", "state", "level", "due_at", "recipients", "clause")
            },
            "message": "<script>alert(1)</script>",
        }
    )
    html = render(ROOT / "config/templates", "email.html.j2", template_variables(RULEBOOK, row, "s", "fired"))
    assert html is not None and "<script>" not in html and "&lt;script&gt;" in html


def test_a_missing_template_falls_back(tmp_path: Path) -> None:
    assert render(tmp_path, "email.html.j2", {}) is None


def test_english_templates_and_a_rules_own_template_come_first(tmp_path: Path) -> None:
    english = sms_text(ROOT / "config/templates", template_variables(RULEBOOK, ROW, "s", "escalated", "en"))
    assert english is not None and english.startswith(
        "Overdue L2: Feedback on complex problems within 5 working days"
    )
    (tmp_path / "sms.txt.j2").write_text("generic {{ title }}", encoding="utf-8")
    (tmp_path / "case-complex-5-workdays.sms.txt.j2").write_text("own {{ subject_id }}", encoding="utf-8")
    assert sms_text(tmp_path, template_variables(RULEBOOK, ROW, "s", "fired")) == "own case:C202410001"
