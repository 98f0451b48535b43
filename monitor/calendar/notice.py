"""Parse the State Council's yearly holiday notice into the days it sets.

Text in, a typed `Notice` out: 国务院办公厅关于YYYY年部分节假日安排的通知 as published — a title,
the addressees, a preamble, numbered items such as
`二、春节：1月28日（农历除夕、周二）至2月4日（农历正月初七、周二）放假调休，共8天。1月26日（周日）、2月8日（周六）上班。`,
a closing paragraph, the signature and the date. Before the first item the prose (addressees,
preamble, a news agency's lead line) is read for the year only; from the first item on every
line must be an item, the closing paragraph, the signature or the date. A line the parser
cannot place, a weekday in brackets that contradicts its date, a `共N天` that does not match its
range or a festival of the law without an item (a truncated text) raises `NoticeError` naming
the line, so an import never rests on half a notice.

Dates without a year belong to the notice's year; a range end or a list item without a month
takes the month and year of the date before it (`2月10日至17日`, `2022年12月31日至2023年1月2日`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property

#: The holidays of 全国年节及纪念日放假办法 (since 2008): every notice has an item for each.
FESTIVALS = ("元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节")

_NUMERALS = {n: i + 1 for i, n in enumerate("一二三四五六七八九十")}
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_WEEKDAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")

# Matched after NFKC, which turns full-width brackets, colons, commas and digits half-width.
_DOCNO = r"国办发(?:明电)?[〔\[(](\d{4})[〕\])](\d+)号"
_TITLE_RE = re.compile(rf"^(?:国务院办公厅)?关于(\d{{4}})年部分节假日安排的通知(?:\(({_DOCNO})\))?$")
_DOCNO_LINE_RE = re.compile(rf"^\(?({_DOCNO})\)?$")
_DOCNO_RE = re.compile(_DOCNO)
_ITEM_RE = re.compile(r"^([一二三四五六七八九十]+)、([^:]+):(.*)$")
_DATE_RE = re.compile(r"(?:(\d{4})年)?(?:(\d{1,2})月)?(\d{1,2})日(?:\(([^)]*)\))?")
_PREAMBLE_YEAR_RE = re.compile(r"现将(\d{4})年")
_TITLE_IN_TEXT_RE = re.compile(r"关于(\d{4})年部分节假日安排的通知")
_FESTIVAL = "|".join(FESTIVALS)
# an item whose numeral, 、 or colon got lost: festival names straight followed by a date
_LOOSE_ITEM_RE = re.compile(rf"^(?:[一二三四五六七八九十]+[、.]?)?({_FESTIVAL})(?:、(?:{_FESTIVAL}))*:?\d")
_TITLE_HEAD_RE = re.compile(r"(?:国务院办公厅)?关于\d{4}年")
_SIGNED_RE = re.compile(r"^\d{4}年\d{1,2}月\d{1,2}日$")
_COUNT_RE = re.compile(r"^共(\d+)天$")
_REST_CLAUSES = ("不调休", "与周末连休")


class NoticeError(ValueError):
    """The text is not a notice this parser reads whole; `line` is 1-based."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class NoticeDay:
    """One date the notice sets: off (`working` false) or a working day, and for which item."""

    day: date
    working: bool
    festival: str
    line: int

    @property
    def reason(self) -> str:
        """`春节` for a day off, `春节调休` for a weekend day made a working day."""
        return f"{self.festival}调休" if self.working else self.festival


@dataclass(frozen=True)
class Notice:
    """What a notice says: its year, title, document number and every date it names."""

    year: int
    title: str
    number: str | None
    days: tuple[NoticeDay, ...]
    advisories: tuple[tuple[int, str], ...] = ()  # (line, sentence): 鼓励… sentences set no date

    @property
    def name(self) -> str:
        """The title with the document number, as an override file's `notice` names it."""
        return f"{self.title}（{self.number}）" if self.number else self.title

    def day(self, day: date) -> NoticeDay | None:
        """The notice's entry for a date, if it names the date."""
        return self._by_date.get(day)

    @cached_property
    def _by_date(self) -> dict[date, NoticeDay]:
        # asked for every day of the year by the import; the days never change (frozen)
        return {d.day: d for d in self.days}

    def is_workday(self, day: date) -> bool:
        """The day as the notice makes it: its dates win, the others follow Monday to Friday."""
        entry = self.day(day)
        return entry.working if entry is not None else day.weekday() < 5

    def holidays(self, year: int | None = None) -> list[NoticeDay]:
        """The Monday-to-Friday dates off in `year` (default the notice's), in date order."""
        want = self.year if year is None else year
        return sorted(
            (d for d in self.days if d.day.year == want and not d.working and d.day.weekday() < 5),
            key=lambda d: d.day,
        )

    def workdays(self, year: int | None = None) -> list[NoticeDay]:
        """The Saturdays and Sundays made working days in `year` (default the notice's)."""
        want = self.year if year is None else year
        return sorted(
            (d for d in self.days if d.day.year == want and d.working and d.day.weekday() >= 5),
            key=lambda d: d.day,
        )

    def adjacent_days(self) -> list[NoticeDay]:
        """The dates the notice sets outside its own year (a make-up day of late December)."""
        return sorted((d for d in self.days if d.day.year != self.year), key=lambda d: d.day)


def _normalise(line: str) -> str:
    # NFKC makes full-width brackets, colons, commas and digits half-width (、 and 。 stay);
    # spaces carry nothing in this text, and pasted copies are full of them (`放假 1 天`).
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", line))


def _docno(match: re.Match[str]) -> str:
    """The document number in its published form, whatever brackets the copy used."""
    found = _DOCNO_RE.search(match.group(0))
    assert found is not None  # only called on text that matched _DOCNO
    kind = "国办发明电" if "明电" in found.group(0) else "国办发"
    return f"{kind}〔{found.group(1)}〕{found.group(2)}号"


class _ItemParser:
    """The dates of one numbered item; `year` is the notice's, for dates written without one."""

    def __init__(self, year: int, line: int, festival: str) -> None:
        self.year = year
        self.line = line
        self.festival = festival
        self.days: list[NoticeDay] = []
        self.advisories: list[tuple[int, str]] = []

    def fail(self, reason: str) -> NoticeError:
        return NoticeError(self.line, reason)

    def parse(self, body: str) -> None:
        if not body.endswith(("。", ".")):
            raise self.fail(f"the {self.festival} item does not end with 。 (a truncated text?)")
        for sentence in filter(None, re.split(r"[。.]", body)):
            if sentence.startswith("鼓励"):
                # an encouragement (2024: rest on 除夕 with annual leave) changes no date
                self.advisories.append((self.line, sentence))
            elif sentence.endswith("上班"):
                self._workdays(sentence[: -len("上班")])
            elif "放假" in sentence:
                self._days_off(sentence)
            else:
                raise self.fail(f"cannot read {sentence!r}: neither 放假 nor 上班")

    def _date(self, text: str, pos: int, before: date | None) -> tuple[date, int]:
        match = _DATE_RE.match(text, pos)
        if match is None:
            raise self.fail(f"expected a date such as 1月1日 at {text[pos:]!r}")
        year_s, month_s, day_s, note = match.groups()
        if month_s is None and before is None:
            raise self.fail(f"{match.group(0)!r} has no month")
        year = int(year_s) if year_s else (before.year if before and not month_s else self.year)
        month = int(month_s) if month_s else before.month if before else 0
        try:
            value = date(year, month, int(day_s))
        except ValueError:
            raise self.fail(f"{match.group(0)!r} is not a date in {year}") from None
        if note is not None:
            self._check_weekday(value, match.group(0), note)
        return value, match.end()

    def _check_weekday(self, value: date, written: str, note: str) -> None:
        for part in re.split(r"[、,]", note):
            found = re.fullmatch(r"(?:周|星期)([一二三四五六日天])", part)
            if found and _WEEKDAYS[found.group(1)] != value.weekday():
                raise self.fail(
                    f"{written} says {part} but {value.isoformat()} is a {_WEEKDAY_NAMES[value.weekday()]}"
                )

    def _days_off(self, sentence: str) -> None:
        start, pos = self._date(sentence, 0, None)
        end = start
        if sentence.startswith("至", pos):
            end, pos = self._date(sentence, pos + 1, start)
        if end < start:
            raise self.fail(f"the range ends ({end}) before it starts ({start})")
        head = re.match(r"放假(?:调休|公休)?(?:(\d+)天)?", sentence[pos:])
        if head is None:
            raise self.fail(f"expected 放假 after the dates, not {sentence[pos:]!r}")
        counts = [int(head.group(1))] if head.group(1) else []
        rest = sentence[pos + head.end() :]
        for clause in filter(None, rest.split(",")):
            said = _COUNT_RE.match(clause)
            if said:
                counts.append(int(said.group(1)))
            elif clause not in _REST_CLAUSES:
                raise self.fail(f"cannot read {clause!r} in {sentence!r}")
        length = (end - start).days + 1
        for count in counts:
            if count != length:
                raise self.fail(f"{sentence!r} says {count} days but {start} to {end} is {length}")
        day = start
        while day <= end:
            self.days.append(NoticeDay(day, False, self.festival, self.line))
            day += timedelta(days=1)

    def _workdays(self, listing: str) -> None:
        pos, before = 0, None
        while True:
            before, pos = self._date(listing, pos, before)
            self.days.append(NoticeDay(before, True, self.festival, self.line))
            if pos == len(listing):
                return
            if listing[pos] not in "、,":
                raise self.fail(f"cannot read {listing[pos:]!r} before 上班")
            pos += 1


def _lines(text: str) -> list[tuple[int, str, str]]:
    """The non-empty lines as (number, as written, normalised), a title broken in two joined.

    Printed copies break the title after the year (国务院办公厅关于2024年 / 部分节假日安排的通知).
    """
    lines: list[tuple[int, str, str]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = _normalise(raw)
        if not line:
            continue
        if lines and _TITLE_HEAD_RE.fullmatch(lines[-1][2]) and line.startswith("部分节假日安排的通知"):
            first, written, head = lines[-1]
            lines[-1] = (first, written.strip() + raw.strip(), head + line)
            continue
        lines.append((lineno, raw, line))
    return lines


def _refuse_loose_item(lineno: int, line: str) -> None:
    """Name an item that lost its numeral, 、 or colon, rather than call it stray text."""
    if found := _LOOSE_ITEM_RE.match(line):
        raise NoticeError(
            lineno, f"reads like the {found.group(1)} item but does not open as 一、元旦：… does"
        )


def _title_of(year: int) -> str:
    return f"国务院办公厅关于{year}年部分节假日安排的通知"


def _closes(line: str) -> bool:
    """The closing paragraph (2026's opens with an encouragement)."""
    return "节假日期间" in line or line.startswith("鼓励")


def _signs(line: str) -> bool:
    """The signature, its date or the publication mark, which may follow the closing paragraph."""
    return line == "国务院办公厅" or bool(_SIGNED_RE.match(line)) or line == "(此件公开发布)"


@dataclass
class _Layout:
    """The notice's lines sorted into its parts: title and number, the prose before the items
    (read for the year only), the numbered items, the closing paragraph and the signature."""

    title: str | None = None
    number: str | None = None
    title_year: int | None = None
    preamble_year: int | None = None
    items: list[tuple[int, int, str, str]] = field(default_factory=list)  # (line, numeral, festivals, body)
    last: int = 0  # the number of the last line read
    closed: bool = False  # after the closing paragraph nothing but the signature may follow

    def read(self, lineno: int, raw: str, line: str) -> None:
        self.last = lineno
        if (m := _TITLE_RE.match(line)) and self.title is None and not self.items:
            self._title(int(m.group(1)))
            self.number = _docno(m) if m.group(2) else self.number
        elif m := _DOCNO_LINE_RE.match(line):
            self.number = _docno(m)
        elif (m := _ITEM_RE.match(line)) and not self.closed:
            self.items.append((lineno, _NUMERALS.get(m.group(1), 0), m.group(2), m.group(3)))
        elif not self.items:
            self._prose(lineno, line)
        else:
            self._after_items(lineno, raw, line)

    def _title(self, year: int) -> None:
        self.title_year = year
        self.title = _title_of(year)

    def _prose(self, lineno: int, line: str) -> None:
        """Before the items: addressees, preamble (2025's explains the amended law), a news
        agency's lead line. Prose that sets no date; a garbled item here leaves its festival
        without an item, which is refused once all lines are read."""
        _refuse_loose_item(lineno, line)
        if found := _PREAMBLE_YEAR_RE.search(line):
            self.preamble_year = int(found.group(1))
        if self.title_year is None and (found := _TITLE_IN_TEXT_RE.search(line)):
            self._title(int(found.group(1)))

    def _after_items(self, lineno: int, raw: str, line: str) -> None:
        """The closing paragraph, then only the signature: anything else is refused."""
        if _closes(line):
            self.closed = True
        elif not (self.closed and _signs(line)):
            _refuse_loose_item(lineno, line)
            where = "after the closing paragraph" if self.closed else "after the items"
            raise NoticeError(lineno, f"unexpected text {where}: {raw.strip()[:40]!r}")

    def year(self, given: int | None) -> int:
        """The one year the caller, the title and the preamble agree on."""
        known = [y for y in (given, self.title_year, self.preamble_year) if y is not None]
        if not known:
            raise NoticeError(
                1, "no year: the title 国务院办公厅关于YYYY年部分节假日安排的通知 is missing (pass --year)"
            )
        if len(set(known)) > 1:
            raise NoticeError(
                1,
                f"the years disagree: given {given}, title {self.title_year}, preamble {self.preamble_year}",
            )
        return known[0]


def _check_festivals(lineno: int, names: str, seen: dict[str, int]) -> None:
    """Each festival an item names is one of the law's, with no item before it."""
    for festival in names.split("、"):
        if festival not in FESTIVALS:
            raise NoticeError(lineno, f"{festival!r} is not a holiday of the law ({'、'.join(FESTIVALS)})")
        if festival in seen:
            raise NoticeError(lineno, f"{festival} already has an item on line {seen[festival]}")
        seen[festival] = lineno


def _read_items(layout: _Layout, year: int) -> tuple[list[NoticeDay], list[tuple[int, str]]]:
    """The days the items set and their advisories: items numbered in order from 一, one per
    festival of the law, every festival with one."""
    days: list[NoticeDay] = []
    advisories: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for index, (lineno, numeral, names, body) in enumerate(layout.items, start=1):
        if numeral != index:
            raise NoticeError(lineno, f"item {index} expected, the line starts with another number")
        _check_festivals(lineno, names, seen)
        parser = _ItemParser(year, lineno, names)
        parser.parse(body)
        days.extend(parser.days)
        advisories.extend(parser.advisories)
    missing = [f for f in FESTIVALS if f not in seen]
    if missing:
        raise NoticeError(
            layout.last, f"the text ends with no item for {'、'.join(missing)} (a truncated notice?)"
        )
    return days, advisories


def parse_notice(text: str, year: int | None = None) -> Notice:
    """The notice in `text`; `year` is required when the title is missing and must match it."""
    layout = _Layout()
    for lineno, raw, line in _lines(text):
        layout.read(lineno, raw, line)
    if layout.last == 0:
        raise NoticeError(1, "the text is empty")
    the_year = layout.year(year)
    if not layout.items:
        raise NoticeError(layout.last, "no numbered item (一、元旦：…) in the text")
    days, advisories = _read_items(layout, the_year)
    _check_conflicts(days)
    return Notice(
        year=the_year,
        title=layout.title or _title_of(the_year),
        number=layout.number,
        days=tuple(days),
        advisories=tuple(advisories),
    )


def _check_conflicts(days: Iterable[NoticeDay]) -> None:
    seen: dict[date, NoticeDay] = {}
    for entry in days:
        other = seen.setdefault(entry.day, entry)
        if other.working != entry.working:
            raise NoticeError(
                entry.line, f"{entry.day} is both a day off and a working day (see line {other.line})"
            )


__all__ = ["FESTIVALS", "Notice", "NoticeDay", "NoticeError", "parse_notice"]
