"""The holiday-notice parser (monitor/calendar_notice.py) against the published notices."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest

from monitor.calendar_notice import Notice, NoticeError, parse_notice

NOTICES = Path(__file__).parent / "data" / "notices"
NUMBERS = {2024: "国办发明电〔2023〕7号", 2025: "国办发明电〔2024〕12号", 2026: "国办发明电〔2025〕7号"}


def notice_text(year: int) -> str:
    return (NOTICES / f"{year}.txt").read_text(encoding="utf-8")


def days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]


def differences(notice: Notice, year: int) -> list[tuple[date, bool]]:
    """The dates where the notice and chinesecalendar's data disagree (none, when both are right)."""
    return [
        (d, notice.is_workday(d))
        for d in days_of(year)
        if notice.is_workday(d) != chinese_calendar.is_workday(d)
    ]


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_the_published_notice_gives_the_package_calendar_day_by_day(year: int) -> None:
    notice = parse_notice(notice_text(year))
    assert notice.year == year
    assert differences(notice, year) == []


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_the_notice_is_named_by_title_and_document_number(year: int) -> None:
    notice = parse_notice(notice_text(year))
    assert notice.name == f"国务院办公厅关于{year}年部分节假日安排的通知（{NUMBERS[year]}）"


def test_holidays_are_the_weekdays_off_and_workdays_the_weekend_days_worked() -> None:
    notice = parse_notice(notice_text(2025))
    assert [d.day for d in notice.workdays()] == [
        date(2025, 1, 26),
        date(2025, 2, 8),
        date(2025, 4, 27),
        date(2025, 9, 28),
        date(2025, 10, 11),
    ]
    assert all(d.day.weekday() < 5 for d in notice.holidays())
    assert date(2025, 5, 31) not in {d.day for d in notice.holidays()}  # a Saturday off needs no line
    assert notice.day(date(2025, 1, 26)) is not None
    assert notice.workdays()[0].reason == "春节调休"
    assert notice.holidays()[0].reason == "元旦"
    assert notice.day(date(2025, 10, 8)).festival == "国庆节、中秋节"  # type: ignore[union-attr]


def test_an_encouragement_sets_no_date() -> None:
    """2024 encourages rest on 除夕 (9 February): the day stays a working day, as in the package."""
    notice = parse_notice(notice_text(2024))
    assert notice.is_workday(date(2024, 2, 9))
    assert [line for line, _ in notice.advisories] == [10]


def test_a_date_of_the_previous_year_is_kept_apart() -> None:
    notice = parse_notice(notice_text(2019))
    assert [(d.day, d.working) for d in notice.adjacent_days()] == [
        (date(2018, 12, 29), True),
        (date(2018, 12, 30), False),
        (date(2018, 12, 31), False),
    ]
    assert [d.day for d in notice.holidays()] == [
        date(2019, 1, 1),
        *[date(2019, 2, d) for d in (4, 5, 6, 7, 8)],
        date(2019, 4, 5),
        date(2019, 5, 1),
        date(2019, 6, 7),
        date(2019, 9, 13),
        *[date(2019, 10, d) for d in (1, 2, 3, 4, 7)],
    ]
    assert [d.day for d in notice.holidays(2018)] == [date(2018, 12, 31)]


def test_the_document_number_in_the_title_line_and_half_width_text() -> None:
    text = notice_text(2025).replace(
        "国务院办公厅关于2025年部分节假日安排的通知\n国办发明电〔2024〕12号",
        "国务院办公厅关于2025年部分节假日安排的通知(国办发明电[2024]12号)",
    )
    half = (
        text.replace("：", ":")
        .replace("（", "(")
        .replace("）", ")")
        .replace("，", ", ")
        .replace("1月1日", "1 月 1 日")
    )
    notice = parse_notice(half)
    assert notice.number == "国办发明电〔2024〕12号"
    published = parse_notice(notice_text(2025))
    assert [(d.day, d.working) for d in notice.days] == [(d.day, d.working) for d in published.days]
    assert differences(notice, 2025) == []


def test_without_a_document_number_the_notice_is_the_title() -> None:
    text = notice_text(2026).replace("国办发明电〔2025〕7号\n", "")
    assert parse_notice(text).name == "国务院办公厅关于2026年部分节假日安排的通知"


def test_items_alone_need_the_year() -> None:
    items = "\n".join(
        line for line in notice_text(2026).splitlines() if line[:2] in {f"{n}、" for n in "一二三四五六七"}
    )
    with pytest.raises(NoticeError, match="line 1: no year"):
        parse_notice(items)
    notice = parse_notice(items, year=2026)
    assert differences(notice, 2026) == []
    assert notice.name == "国务院办公厅关于2026年部分节假日安排的通知"


def test_a_year_that_contradicts_the_title_is_refused() -> None:
    with pytest.raises(NoticeError, match="years disagree"):
        parse_notice(notice_text(2026), year=2027)


def replace_line(text: str, number: int, new: str) -> str:
    lines = text.splitlines()
    lines[number - 1] = new
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("line", "new", "reason"),
    [
        # cut in the middle of the 春节 item
        (10, "二、春节：1月28日（农历除夕、周二）至2月4日", "does not end with 。"),
        (
            10,
            "二、春节：1月28日（农历除夕、周二）至2月4日（农历正月初七、周二）放假调休，共9天。",
            "says 9 days",
        ),
        (
            10,
            "二、春节：1月28日（农历除夕、周三）至2月4日（农历正月初七、周二）放假调休，共8天。",
            "says 周三",
        ),
        (
            10,
            "二、春节：1月28日至2月4日放假调休，共8天。1月26日（周日）、2月8日（周六）值班。",
            "neither 放假 nor 上班",
        ),
        (10, "二、春季：1月28日至2月4日放假调休，共8天。", "not a holiday of the law"),
        (10, "三、春节：1月28日至2月4日放假调休，共8天。", "item 2 expected"),
        (10, "二、春节：1月28日至2月30日放假调休，共8天。", "is not a date in 2025"),
        (
            10,
            "二、春节：1月28日至2月4日放假调休，共8天。1月26日（周日）；2月8日（周六）上班。",
            "cannot read",
        ),
        (
            10,
            "二、春节：1月28日（农历除夕、周二）至2月4日（农历正月初七、周二）放假调休，共8天。1月28日上班。",
            "both a day off and a working day",
        ),
        (12, "三、清明节：4月4日（周五）至6日（周日）放假，共3天。此处乱码@@", "does not end with 。"),
        (7, "经国务院批准，现将2025年的安排印发给你们", "unexpected text"),
    ],
)
def test_a_garbled_line_is_refused_with_its_number(line: int, new: str, reason: str) -> None:
    with pytest.raises(NoticeError, match=reason) as caught:
        parse_notice(replace_line(notice_text(2025), line, new))
    assert caught.value.line == line
    assert str(caught.value).startswith(f"line {line}: ")


def test_a_truncated_notice_is_refused_at_its_last_line() -> None:
    truncated = "\n".join(notice_text(2025).splitlines()[:13])  # ends after 三、清明节 (line 12)
    with pytest.raises(NoticeError, match="no item for 劳动节、端午节、中秋节、国庆节") as caught:
        parse_notice(truncated)
    assert caught.value.line == 12


def test_an_empty_text_is_refused() -> None:
    with pytest.raises(NoticeError, match="line 1: the text is empty"):
        parse_notice("\n \n")
