"""Messages per channel: Jinja2 templates (config/templates) around the rule's own message.

Email gets an HTML part that says the duty, the clause, the subject, the due time, the state
and level, and what to do; SMS gets one short message (70 characters, one SMS in Chinese).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

from monitor.clock import iso_shanghai
from monitor.rulebook import Rulebook
from monitor.store.models import AlertRecord

SMS_LIMIT = 70
STATE_WORDS = {"warning": "提醒", "overdue": "逾期", "resolved": "已解决"}
ACTIONS = {
    "warning": ("请在截止前办结，并在系统或台账中登记。", "请按期办结"),
    "overdue": ("请立即办理并反馈；已按制度逐级报告。", "请立即办理反馈"),
    "resolved": ("此事项已办结或不再需要督办，无需处理。", "已解除"),
}


@cache
def _environment(folder: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=jinja2.select_autoescape(["html.j2"]),
        undefined=jinja2.StrictUndefined,
    )


def context(rulebook: Rulebook, row: AlertRecord, subject: str, kind: str) -> dict[str, object]:
    rule = rulebook.rules.get(row.rule)
    state = "resolved" if kind == "resolved" else row.state
    return {
        "subject": subject,
        "message": row.message,
        "title": rule.title.zh if rule else row.rule,
        "quote": rule.quote if rule else "",
        "clause": row.clause,
        "subject_id": row.subject,
        "period": row.period,
        "due": iso_shanghai(row.due_at).replace("T", " "),
        "state_word": STATE_WORDS.get(state, state),
        "level": row.level,
        "action": ACTIONS.get(state, ACTIONS["overdue"])[0],
        "action_short": ACTIONS.get(state, ACTIONS["overdue"])[1],
    }


def render(folder: Path, name: str, values: dict[str, object]) -> str | None:
    """The template's text, or None when the folder has no such template."""
    try:
        template = _environment(str(folder)).get_template(name)
    except jinja2.TemplateNotFound:
        return None
    return template.render(**values).strip()


def sms_text(folder: Path, values: dict[str, object]) -> str | None:
    text = render(folder, "sms.txt.j2", values)
    if text is None:
        return None
    return text if len(text) <= SMS_LIMIT else text[: SMS_LIMIT - 1] + "…"
