"""The ledgers (台账) officials keep in Excel or CSV, with Chinese column headings: visits,
contacts, cases and reviews. Rows become events of the event schema (docs/events.md);
officials, enterprises and units are matched to the roster by id, credit code or exact name,
and every unmatched or ambiguous row is reported by sheet, row and reason.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.clock import SHANGHAI
from monitor.ingest.outcome import RecordOutcome, Rejection
from monitor.store.models import Enterprise, Official, Unit
from monitor.yamlsource import SourceError

LEDGERS: dict[str, tuple[str, list[str]]] = {
    "visits": ("走访台账", ["编号", "日期", "走访人员", "企业名称或信用代码", "是否与负责人座谈", "备注"]),
    "contacts": ("联系台账", ["编号", "日期", "联系人员", "企业名称或信用代码", "联系方式", "备注"]),
    "cases": (
        "诉求台账",
        [
            "编号",
            "受理日期",
            "企业名称或信用代码",
            "渠道",
            "难易程度",
            "类别",
            "承办单位",
            "反馈日期",
            "办结日期",
            "满意度",
            "问题描述",
        ],
    ),
    "reviews": ("评价台账", ["编号", "日期", "单位", "评分", "渠道", "整改日期"]),
}
REQUIRED = {
    "visits": ["日期", "走访人员", "企业名称或信用代码"],
    "contacts": ["日期", "联系人员", "企业名称或信用代码"],
    "cases": ["编号", "受理日期", "企业名称或信用代码", "难易程度", "类别", "承办单位"],
    "reviews": ["编号", "日期", "单位", "评分"],
}
CONTACT = {"电话": "phone", "微信": "wechat", "平台": "platform", "一企来办": "platform", "其他": "other"}
CHANNEL = {
    "窗口": "window",
    "热线": "hotline",
    "12345": "hotline",
    "平台": "platform",
    "走访": "visit",
    "座谈会": "forum",
    "监督员": "supervisor",
    "其他": "other",
}
COMPLEXITY = {"简单": "simple", "复杂": "complex", "重大": "major"}
SATISFACTION = {"满意": "satisfied", "基本满意": "basically_satisfied", "不满意": "unsatisfied"}
YES = {"是", "有", "true", "yes", "y", "1", "√", "✓"}
NO = {"否", "无", "没有", "false", "no", "n", "0", "×", "✗"}
_SPLIT = re.compile(r"[、,，;；/\s]+")
# a date as offices write it: 2026-11-03, 2026/11/3, 2026.11.3, 2026年11月3日, maybe a time after
_DATE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:(?:\s+|T)(\d{1,2})[:：](\d{2})(?:[:：](\d{2}))?)?"
)


def kind_of(sheet: str, header: list[str]) -> str | None:
    """Which ledger a sheet is, by its name or its headings."""
    names = set(header)
    fitting = [kind for kind in LEDGERS if set(REQUIRED[kind]) <= names]
    named = [kind for kind in fitting if LEDGERS[kind][0] in sheet]
    chosen = named or fitting
    return chosen[0] if chosen else None


def ledger_named(sheet: str, header: list[str], where: str) -> str | None:
    """A sheet named as a ledger (走访台账, ...) but lacking a required heading is refused naming
    it, rather than read as something else."""
    for kind, (title, _) in LEDGERS.items():
        if title in sheet:
            missing = [h for h in REQUIRED[kind] if h not in header]
            raise SourceError(where, 1, f"a {title} needs the heading(s) {', '.join(missing)}")
    return None


def check_headings(kind: str, header: list[str], where: str) -> None:
    """Refuse a ledger with a heading we do not know or one given twice: its column would be
    ignored (a misspelt 是否与负责人座谈 made every visit "no talk with the head")."""
    title, known = LEDGERS[kind]
    seen: set[str] = set()
    for heading in header:
        if not heading:
            continue
        if heading not in known:
            raise SourceError(
                where,
                1,
                f"unknown column heading {heading!r} in the {title}; its headings are {'、'.join(known)}",
            )
        if heading in seen:
            raise SourceError(where, 1, f"column heading {heading!r} appears twice in the {title}")
        seen.add(heading)


@dataclass
class Matcher:
    """The roster by id, credit code and exact name, to turn ledger names into references."""

    officials: dict[str, list[str]]
    enterprises: dict[str, list[str]]
    units: dict[str, list[str]]

    @classmethod
    def load(cls, session: Session) -> Matcher:
        def index(rows: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
            out: dict[str, list[str]] = {}
            for ident, name in rows:
                out.setdefault(ident, []).append(ident)
                if name != ident:
                    out.setdefault(name, []).append(ident)
            return out

        return cls(
            index(session.execute(select(Official.id, Official.name)).all()),
            index(session.execute(select(Enterprise.id, Enterprise.name)).all()),
            index(session.execute(select(Unit.id, Unit.name)).all()),
        )

    @staticmethod
    def _one(pool: dict[str, list[str]], value: str, what: str, column: str) -> str:
        found = sorted(set(pool.get(value.strip(), [])))
        if not found:
            raise Rejection(column, f"no {what} named {value.strip()!r} in the roster")
        if len(found) > 1:
            raise Rejection(
                column, f"{value.strip()!r} is ambiguous: {what}s {', '.join(found)}; write the id"
            )
        return found[0]

    def official(self, value: str, column: str) -> str:
        return self._one(self.officials, value, "official", column)

    def enterprise(self, value: str, column: str) -> str:
        return self._one(
            self.enterprises, value.upper() if len(value.strip()) == 18 else value, "enterprise", column
        )

    def unit(self, value: str, column: str) -> str:
        return self._one(self.units, value, "unit", column)


def _text(row: dict[str, Any], column: str) -> str:
    value = row.get(column)
    return "" if value is None else str(value).strip()


def _day(row: dict[str, Any], column: str) -> str:
    """The cell's date (and time, if given) as ISO 8601; a date alone is taken as 09:00."""
    value = _text(row, column)
    if not value:
        raise Rejection(column, "required")
    found = _DATE.fullmatch(value)
    if found is None:
        try:  # a date cell of the workbook arrives as ISO 8601 already
            return datetime.fromisoformat(value).isoformat()
        except ValueError:
            raise Rejection(
                column, f"{value!r} is not a date (2026-11-03, 2026/11/3 or 2026年11月3日)"
            ) from None
    year, month, day_, hour, minute, second = found.groups()
    try:
        at = datetime(int(year), int(month), int(day_), int(hour or 9), int(minute or 0), int(second or 0))
    except ValueError as exc:
        raise Rejection(column, f"{value!r} is not a date: {exc}") from None
    return at.isoformat(timespec="seconds" if second else "minutes")


def _choice(row: dict[str, Any], column: str, allowed: dict[str, str], default: str) -> str:
    """A cell that must be one of the ledger's words; blank is the default, anything else refused."""
    value = _text(row, column)
    if not value:
        return default
    if value not in allowed:
        raise Rejection(column, f"{value!r} is not one of {'、'.join(allowed)}")
    return allowed[value]


def _yes_no(row: dict[str, Any], column: str) -> bool:
    """A 是/否 cell; blank is no, anything else than yes or no is refused, never read as no."""
    value = _text(row, column)
    if value.lower() in YES:
        return True
    if not value or value.lower() in NO:
        return False
    raise Rejection(column, f"{value!r} is neither 是 nor 否")


def _id(kind: str, row: dict[str, Any], fields: dict[str, Any]) -> str:
    given = _text(row, "编号")
    if given:
        return f"{kind}-{given}"
    digest = hashlib.sha1(repr(sorted(fields.items())).encode("utf-8")).hexdigest()[:16]
    return f"{kind}-{digest}"


def _people_enterprise_day(
    row: dict[str, Any], people_column: str, match: Matcher
) -> tuple[list[str], str, str]:
    """Who went or called (one or more officials), which enterprise, and when."""
    people = [match.official(p, people_column) for p in _SPLIT.split(_text(row, people_column)) if p]
    enterprise = match.enterprise(_text(row, "企业名称或信用代码"), "企业名称或信用代码")
    return people, enterprise, _day(row, "日期")


def _visit_events(row: dict[str, Any], match: Matcher) -> list[dict[str, Any]]:
    """A visit row: one visit by everyone who went."""
    people, enterprise, at = _people_enterprise_day(row, "走访人员", match)
    fields: dict[str, Any] = {
        "type": "visit",
        "at": at,
        "officials": people,
        "enterprise": enterprise,
        "talked_with_head": _yes_no(row, "是否与负责人座谈"),
    }
    return [{"id": _id("visit", row, fields), **fields}]


def _contact_events(row: dict[str, Any], match: Matcher) -> list[dict[str, Any]]:
    """A contact row: one contact per official, each id naming its official when there are several."""
    people, enterprise, at = _people_enterprise_day(row, "联系人员", match)
    channel = _choice(row, "联系方式", CONTACT, "other")
    out = []
    for person in people:
        fields = {
            "type": "contact",
            "at": at,
            "official": person,
            "enterprise": enterprise,
            "channel": channel,
        }
        out.append({"id": _id("contact", row, fields) + (f"-{person}" if len(people) > 1 else ""), **fields})
    return out


def _case_opened(row: dict[str, Any], match: Matcher) -> dict[str, Any]:
    complexity = COMPLEXITY.get(_text(row, "难易程度"))
    if complexity is None:
        raise Rejection("难易程度", f"{_text(row, '难易程度')!r} is not 简单, 复杂 or 重大")
    case = _text(row, "编号")
    opened: dict[str, Any] = {
        "id": f"case-{case}-opened",
        "type": "case_opened",
        "at": _day(row, "受理日期"),
        "case": case,
        "enterprise": match.enterprise(_text(row, "企业名称或信用代码"), "企业名称或信用代码"),
        "channel": _choice(row, "渠道", CHANNEL, "other"),
        "complexity": complexity,
        "category": _text(row, "类别"),
        "unit": match.unit(_text(row, "承办单位"), "承办单位"),
    }
    if _text(row, "问题描述"):
        opened["summary"] = _text(row, "问题描述")
    return opened


def _on_the_day(row: dict[str, Any], column: str, opened: dict[str, Any]) -> str:
    """The date of `column` of what `opened` began (a case received, a review given); one given
    as a date alone on that day is taken as no earlier than it. 即知即办 answers the same day: a
    date alone is 09:00 (a date cell 00:00), which is before a case received that afternoon, and
    the answer was refused as coming before the case (a rectification, before its review)."""
    at = _day(row, column)
    when, received = _local(datetime.fromisoformat(at)), _local(datetime.fromisoformat(opened["at"]))
    written = _DATE.fullmatch(_text(row, column))
    date_only = (written is not None and written.group(4) is None) or when.time() == time(0, 0)
    if date_only and when.date() == received.date() and when < received:
        return str(opened["at"])
    return at


def _local(at: datetime) -> datetime:
    """Shanghai's wall-clock time of a cell's instant (one typed with an offset, or none)."""
    return at.astimezone(SHANGHAI).replace(tzinfo=None) if at.tzinfo is not None else at


def _case_feedback(row: dict[str, Any], opened: dict[str, Any]) -> dict[str, Any]:
    """The handling unit's feedback, on the day of 反馈日期."""
    case = opened["case"]
    return {
        "id": f"case-{case}-feedback",
        "type": "case_feedback",
        "at": _on_the_day(row, "反馈日期", opened),
        "case": case,
        "unit": opened["unit"],
    }


def _case_closed(row: dict[str, Any], opened: dict[str, Any]) -> dict[str, Any]:
    """The case closed on the day of 办结日期, which needs the enterprise's satisfaction."""
    satisfaction = SATISFACTION.get(_text(row, "满意度"))
    if satisfaction is None:
        raise Rejection("满意度", "a closed case needs 满意, 基本满意 or 不满意")
    case = opened["case"]
    return {
        "id": f"case-{case}-closed",
        "type": "case_closed",
        "at": _on_the_day(row, "办结日期", opened),
        "case": case,
        "satisfaction": satisfaction,
    }


def _case_events(row: dict[str, Any], match: Matcher) -> list[dict[str, Any]]:
    """A case row: the case opened, and its feedback and closing when their dates are filled in."""
    opened = _case_opened(row, match)
    events = [opened]
    if _text(row, "反馈日期"):
        events.append(_case_feedback(row, opened))
    if _text(row, "办结日期"):
        events.append(_case_closed(row, opened))
    return events


def _rating(row: dict[str, Any]) -> int:
    written = _text(row, "评分")
    # a whole number 1-5; 3.7 used to become 3 without a word
    if not re.fullmatch(r"[1-5](\.0*)?", written):
        raise Rejection("评分", f"{written!r} is not a whole number 1-5")
    return int(float(written))


def _review_events(row: dict[str, Any], match: Matcher) -> list[dict[str, Any]]:
    """A review row: the review, and its rectification when 整改日期 is filled in."""
    review = _text(row, "编号")
    rating = _rating(row)
    given: dict[str, Any] = {
        "id": f"review-{review}",
        "type": "review",
        "at": _day(row, "日期"),
        "review": review,
        "unit": match.unit(_text(row, "单位"), "单位"),
        "rating": rating,
    }
    if _text(row, "渠道"):
        given["channel"] = _text(row, "渠道")
    events = [given]
    if _text(row, "整改日期"):
        events.append(
            {
                "id": f"review-{review}-rectified",
                "type": "review_rectified",
                "at": _on_the_day(row, "整改日期", given),
                "review": review,
            }
        )
    return events


# The events each ledger's row stands for.
_ROW_EVENTS: dict[str, Callable[[dict[str, Any], Matcher], list[dict[str, Any]]]] = {
    "visits": _visit_events,
    "contacts": _contact_events,
    "cases": _case_events,
    "reviews": _review_events,
}


# the ledger column each event field comes from, by event type: a refusal by ingest names the
# column the clerk typed in, not the event's field
_COLUMNS: dict[str, dict[str, str]] = {
    "visit": {"at": "日期", "officials": "走访人员", "enterprise": "企业名称或信用代码", "talked_with_head": "是否与负责人座谈"},
    "contact": {"at": "日期", "official": "联系人员", "enterprise": "企业名称或信用代码", "channel": "联系方式"},
    "case_opened": {
        "at": "受理日期", "case": "编号", "enterprise": "企业名称或信用代码", "channel": "渠道",
        "complexity": "难易程度", "category": "类别", "unit": "承办单位", "summary": "问题描述",
    },
    "case_feedback": {"at": "反馈日期", "case": "编号", "unit": "承办单位"},
    "case_closed": {"at": "办结日期", "case": "编号", "satisfaction": "满意度"},
    "review": {"at": "日期", "review": "编号", "unit": "单位", "rating": "评分", "channel": "渠道"},
    "review_rectified": {"at": "整改日期", "review": "编号"},
}  # fmt: skip


def in_ledger_words(records: list[tuple[str, object]], outcomes: list[RecordOutcome]) -> list[RecordOutcome]:
    """Ingest's outcomes of a ledger's events (one per record, in order), a refusal's field named
    as the ledger's column (the id is 编号)."""
    named = []
    for (_, record), outcome in zip(records, outcomes, strict=True):
        if outcome.status == "rejected" and outcome.field is not None and isinstance(record, dict):
            columns = {"id": "编号", **_COLUMNS.get(str(record.get("type")), {})}
            column = columns.get(outcome.field)
            if column is not None:
                outcome = replace(outcome, field=column)
        named.append(outcome)
    return named


def row_events(kind: str, row: dict[str, Any], match: Matcher) -> list[dict[str, Any]]:
    """The events one ledger row stands for; raises Rejection naming the column and reason."""
    for column in REQUIRED[kind]:
        if not _text(row, column):
            raise Rejection(column, "required")
    return _ROW_EVENTS[kind](row, match)


def ledger_events(
    session: Session, rows: Iterable[tuple[str, str, dict[str, Any]]]
) -> tuple[list[tuple[str, object]], list[RecordOutcome]]:
    """(ref, kind, row) into (ref, event) records for ingest, and the rows that could not be matched."""
    match = Matcher.load(session)
    records: list[tuple[str, object]] = []
    problems: list[RecordOutcome] = []
    for ref, kind, row in rows:
        try:
            records += [(ref, event) for event in row_events(kind, row, match)]
        except Rejection as exc:
            problems.append(RecordOutcome(ref, _text(row, "编号") or None, "rejected", exc.field, exc.reason))
    return records, problems


def write_template(kind: str, path: Path) -> None:
    """A blank ledger workbook: the headings, frozen, with widths and the allowed values listed."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.worksheet.datavalidation import DataValidation

    title, columns = LEDGERS[kind]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    sheet.append(columns)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for i, column in enumerate(columns):
        sheet.column_dimensions[chr(ord("A") + i)].width = max(12, 2 * len(column) + 4)
    choices = {
        "是否与负责人座谈": ["是", "否"],
        "联系方式": list(CONTACT),
        "渠道": list(CHANNEL) if kind == "cases" else [],
        "难易程度": list(COMPLEXITY),
        "满意度": list(SATISFACTION),
        "评分": ["1", "2", "3", "4", "5"],
    }
    for i, column in enumerate(columns):
        allowed = choices.get(column)
        if allowed:
            rule = DataValidation(type="list", formula1='"' + ",".join(allowed) + '"', allow_blank=True)
            sheet.add_data_validation(rule)
            letter = chr(ord("A") + i)
            rule.add(f"{letter}2:{letter}2000")
    book.save(path)
