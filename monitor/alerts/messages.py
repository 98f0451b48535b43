"""The one place a notification's text is shaped: its subject, its body, its SMS text.

`compose` gives an alert message for one recipient on one channel (subject, text, HTML),
`compose_digest` a daily digest, `outgoing_text` what a channel is handed at sending time; the
outbox and the channels shape nothing themselves.

Jinja2 templates (config/templates) go around the rule's own message. Email gets an HTML part that says the duty, the clause, the subject, the due time, the state
and level, and what to do; SMS gets one short message (70 characters, one SMS in Chinese,
counting the signature its channel prints first: `Style.signatures`; templates carry none).
Templates exist per channel in Chinese and English, and a rule may have its own
(`<rule-id>.sms.txt.j2`), found most specific first.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jinja2

from monitor.clock import iso_shanghai
from monitor.rulebook import Rulebook
from monitor.store.models import AlertRecord
from notifiers import capabilities
from notifiers.base import LINK_MARK

SMS_LIMIT = 70
# what an SMS may be at most, its signature included (the vendors' limit): a longer text is cut
SMS_MAX = 300
# with its action link an SMS is two concatenated parts (67 characters each): the link whole,
# the text cut to what is left
SMS_LINK_LIMIT = 134
STATE_WORDS = {
    "zh": {"warning": "提醒", "overdue": "逾期", "resolved": "已解决"},
    "en": {"warning": "Reminder", "overdue": "Overdue", "resolved": "Resolved"},
}
ACTIONS = {
    "zh": {
        "warning": ("请在截止前办结，并在系统或台账中登记。", "请按期办结"),
        "overdue": ("请立即办理并反馈；已按制度逐级报告。", "请立即办理反馈"),
        "resolved": ("此事项已办结或不再需要督办，无需处理。", "已解除"),
    },
    "en": {
        "warning": ("Please complete it before the due time and record it.", "Please complete in time"),
        "overdue": ("Please act and give feedback now; it has been reported up the ladder.", "Act now"),
        "resolved": ("This duty is met or no longer followed up: nothing to do.", "Cleared"),
    },
}


@cache
def _environment(folder: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=jinja2.select_autoescape(["html.j2"]),
        undefined=jinja2.StrictUndefined,
    )


def template_variables(
    rulebook: Rulebook, row: AlertRecord, subject: str, kind: str, language: str = "zh"
) -> dict[str, object]:
    rule = rulebook.rules.get(row.rule)
    state = "resolved" if kind == "resolved" else row.state
    lang = "en" if language == "en" else "zh"
    words, actions = STATE_WORDS[lang], ACTIONS[lang]
    return {
        "rule": row.rule,
        "language": lang,
        "subject": subject,
        "message": row.message,
        "title": rule.title.get(lang) if rule else row.rule,
        "quote": rule.quote if rule else "",
        "clause": row.clause,
        "subject_id": row.subject,
        "period": row.period,
        "due": iso_shanghai(row.due_at).replace("T", " "),
        "state_word": words.get(state, state),
        "level": row.level,
        "action": actions.get(state, actions["overdue"])[0],
        "action_short": actions.get(state, actions["overdue"])[1],
        "link": None,  # the official's action link (monitor/alerts/links.py), when one is sent
    }


def candidates(name: str, rule: str | None, language: str) -> list[str]:
    """Most specific first: the rule's own template in the language, the generic one in the
    language, then the same in Chinese (`email.html.j2`, `email.en.html.j2`, `<rule>.email.html.j2`)."""
    localised = name if language == "zh" else name.replace(".", f".{language}.", 1)
    names = [localised, name] if localised != name else [name]
    return [f"{rule}.{n}" for n in names if rule] + names


def render(folder: Path, name: str, values: dict[str, object]) -> str | None:
    """The best template's text, or None when the folder has none for this name."""
    rule = values.get("rule")
    language = str(values.get("language", "zh"))
    try:
        template = _environment(str(folder)).select_template(
            candidates(name, str(rule) if rule else None, language)
        )
    except jinja2.TemplatesNotFound:
        return None
    return template.render(**values).strip()


def sms_text(folder: Path, values: dict[str, object], signature: str = "") -> str | None:
    """The template's SMS text within one part, counting the signature the vendor puts before it."""
    text = render(folder, "sms.txt.j2", values)
    if text is None:
        return None
    room = SMS_LIMIT - len(signature)
    return text if len(text) <= room else text[: max(room - 1, 0)] + "…"


def sms_with_link(text: str, link: str, signature: str = "") -> str:
    """The SMS text and its action link within two parts, counting the signature the channel's
    vendor puts before the text (【宿豫营商】: its characters are the message's too, and it is
    never the text's): the link is never cut, the text may be."""
    room = SMS_LINK_LIMIT - len(signature) - len(link) - 1
    if len(text) > room:
        text = text[: max(room - 1, 0)] + "…"
    return f"{text} {link}"


BUTTON_STYLE = (
    "display: inline-block; padding: 12px 24px; background: #1a56db; color: #fff; "
    "text-decoration: none; border-radius: 6px; font-size: 16px"
)


def digest_html(subject: str, items: Sequence[tuple[str, str]], link: str) -> str:
    """A daily digest's email body: each item's subject and text, then the button that opens the
    digest's page (every item there, each a tap from its own page)."""
    parts = [
        '<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>\n"
        "<body style=\"font-family: 'PingFang SC', 'Microsoft YaHei', sans-serif; line-height: 1.6\">",
        f'<h2 style="margin: 0 0 .5em">{html.escape(subject)}</h2>',
        "<ol>",
        *(
            f"<li><b>{html.escape(title)}</b><br>{html.escape(text).replace(chr(10), '<br>')}</li>"
            for title, text in items
        ),
        "</ol>",
        f'<p><a href="{html.escape(link)}" id="act" style="{BUTTON_STYLE}">逐项确认 · 登记办理</a></p>',
        '<p style="color: #777; font-size: 12px">本邮件由 dutywatch 按宿豫区优化营商环境制度自动发送。</p>',
        "</body></html>",
    ]
    return "\n".join(parts)


@dataclass(frozen=True)
class Composed:
    """A notification's text as the outbox stores it and the channel sends it."""

    subject: str
    text: str
    html: str | None = None


@dataclass(frozen=True)
class Style:
    """How this run shapes messages: the template folder (None: the rule's own message), the
    language, and the signature each SMS channel's vendor puts before every message (its
    characters count toward the parts a message takes)."""

    templates: Path | None = None
    language: str = "zh"
    signatures: Mapping[str, str] = field(default_factory=dict)

    def signature(self, channel: str) -> str:
        return self.signatures.get(channel, "")


@dataclass(frozen=True)
class Addressee:
    """Who one alert message is for and on which channel. A message to a group chat or a system
    names the officials it concerns (`named`) and carries one action link per official
    (`group_links`: name and URL); a message to one official carries their own `link`."""

    channel: str
    group: bool = False
    named: tuple[str, ...] = ()
    link: str | None = None
    group_links: tuple[tuple[str, str], ...] = ()


def subject_line(rulebook: Rulebook, row: AlertRecord, kind: str) -> str:
    """An alert message's subject: its state and level, the rule's title, whether it reminds."""
    title = rulebook[row.rule].title.zh if row.rule in rulebook.rules else row.rule
    words = STATE_WORDS["zh"]
    if kind == "resolved":
        return f"【{words['resolved']}】{title}"
    level = f"·第{row.level}级" if row.level else ""
    again = "（再次提醒）" if kind == "reminder" else ""
    return f"【{words.get(row.state, row.state)}{level}】{title}{again}"


def body(row: AlertRecord, kind: str) -> str:
    """An alert message's text without a template: the rule's message (the all-clear says so)."""
    if kind == "resolved":
        return f"以下事项已办结或不再需要督办（{iso_shanghai(row.resolved_at or row.changed_at)[:16]}）：\n{row.message}"
    return row.message


def _named(names: Sequence[str]) -> str:
    return "\n请" + "、".join(names) + "知悉。"


def _templated(
    rulebook: Rulebook, row: AlertRecord, kind: str, to: Addressee, style: Style, plain: Composed
) -> Composed:
    """The template's SMS text or HTML part, when the folder has one for the channel."""
    if style.templates is None:
        return plain
    values = template_variables(rulebook, row, plain.subject, kind, style.language)
    values["link"] = to.link
    if capabilities(to.channel).sms:
        signed = sms_text(style.templates, values, style.signature(to.channel))
        return Composed(plain.subject, signed or plain.text)
    if capabilities(to.channel).html:
        return Composed(plain.subject, plain.text, render(style.templates, "email.html.j2", values))
    return plain


def compose(rulebook: Rulebook, row: AlertRecord, kind: str, to: Addressee, style: Style) -> Composed:
    """The message an alert change (`kind`: fired, escalated, reminder, resolved) sends to one
    addressee: subject, text (with the action link: whole at the end of an SMS, a line of its
    own elsewhere) and, on channels that send one, HTML."""
    plain = Composed(
        subject_line(rulebook, row, kind), body(row, kind) + (_named(to.named) if to.group else "")
    )
    shaped = _templated(rulebook, row, kind, to, style, plain)
    text = shaped.text
    if to.link is not None:
        text = (
            sms_with_link(text, to.link, style.signature(to.channel))
            if capabilities(to.channel).sms
            else f"{text}\n{LINK_MARK}{to.link}"
        )
    elif to.group_links:
        text += "\n" + "\n".join(f"{name}{LINK_MARK}{url}" for name, url in to.group_links)
    return Composed(shaped.subject, text, shaped.html)


def digest_subject(day: str, count: int) -> str:
    return f"【每日督办汇总】{day} 共{count}项"


def compose_digest(
    day: str, items: Sequence[tuple[str, str]], channel: str, link: str | None = None, signature: str = ""
) -> Composed:
    """A daily digest of `items` (subject, text) on a channel; with `link`, the one action link to
    the digest's page: the whole SMS is then the subjects and the link, other channels add it as a
    line of its own (and an HTML table, on channels that send one)."""
    subject = digest_subject(day, len(items))
    text = "\n\n".join(f"{i}. {title}\n{text}" for i, (title, text) in enumerate(items, 1))
    if link is None:
        return Composed(subject, text)
    if capabilities(channel).sms:
        titles = f"{subject}：" + "；".join(title for title, _ in items)
        return Composed(subject, sms_with_link(titles, link, signature))
    html_part = digest_html(subject, items, link) if capabilities(channel).html else None
    return Composed(subject, f"{text}\n\n{LINK_MARK}{link}", html_part)


def outgoing_text(channel: str, text: str, signature: str = "") -> str:
    """The text a channel is handed for a stored message: an SMS channel gets what fits in
    `SMS_MAX` characters beside its signature (the vendors' limit; the vendor or the channel puts
    the signature before the text), the others the text as stored."""
    room = SMS_MAX - len(signature)
    if not capabilities(channel).sms or len(text) <= room:
        return text
    return text[: max(room - 1, 0)] + "…"
