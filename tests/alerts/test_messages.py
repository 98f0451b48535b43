"""Channel messages from the shipped templates: SMS fits one message, email says it all."""

from __future__ import annotations

from pathlib import Path

from monitor.alerts.messages import SMS_LIMIT, render, sms_text, template_variables
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
    assert text.startswith("【宿豫营商】逾期2级：复杂问题5个工作日内处理反馈") and "10-10 23:59" in text


def test_an_sms_template_leaves_room_for_the_vendors_signature() -> None:
    variables = template_variables(RULEBOOK, ROW, "s", "escalated")
    whole = sms_text(ROOT / "config/templates", variables)
    assert whole is not None and len(whole) < SMS_LIMIT  # one part alone
    signature = "【宿豫区营商环境办】"  # with it, the same text needs cutting to stay one part
    assert len(signature + whole) > SMS_LIMIT
    signed = sms_text(ROOT / "config/templates", variables, signature)
    assert signed is not None and len(signature + signed) == SMS_LIMIT and signed.endswith("…")
    assert whole.startswith(signed[:-1])


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
        "[Suyu] Overdue L2: Feedback on complex problems within 5 working days"
    )
    (tmp_path / "sms.txt.j2").write_text("generic {{ title }}", encoding="utf-8")
    (tmp_path / "case-complex-5-workdays.sms.txt.j2").write_text("own {{ subject_id }}", encoding="utf-8")
    assert sms_text(tmp_path, template_variables(RULEBOOK, ROW, "s", "fired")) == "own case:C202410001"
