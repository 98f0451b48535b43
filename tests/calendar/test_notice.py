"""The holiday-notice parser and import (monitor/calendar/notice.py, monitor/calendar/notice_import.py)."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest

from monitor.calendar.notice import Notice, NoticeError, parse_notice
from monitor.calendar.notice_import import ImportPlan, ImportRefused, plan_import, write_year_files
from monitor.calendar.working_days import Unannounced, WorkCalendar, YearOverride, load_overrides

NOTICES = Path(__file__).parents[1] / "data" / "notices"
NUMBERS = {
    2023: "国办发明电〔2022〕16号",
    2024: "国办发明电〔2023〕7号",
    2025: "国办发明电〔2024〕12号",
    2026: "国办发明电〔2025〕7号",
}


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


# 2023 too: its 元旦 starts on 31 December 2022 (a Saturday, which needs no line anywhere)
@pytest.mark.parametrize("year", [2023, 2024, 2025, 2026])
def test_the_published_notice_gives_the_package_calendar_day_by_day(year: int) -> None:
    notice = parse_notice(notice_text(year))
    assert notice.year == year
    assert differences(notice, year) == []


@pytest.mark.parametrize("year", [2023, 2024, 2025, 2026])
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
        (12, "二、春节：1月28日（农历除夕、周二）至2月4日", "does not end with 。"),
        (
            12,
            "二、春节：1月28日（农历除夕、周二）至2月4日（农历正月初七、周二）放假调休，共9天。",
            "says 9 days",
        ),
        (
            12,
            "二、春节：1月28日（农历除夕、周三）至2月4日（农历正月初七、周二）放假调休，共8天。",
            "says 周三",
        ),
        (
            12,
            "二、春节：1月28日至2月4日放假调休，共8天。1月26日（周日）、2月8日（周六）值班。",
            "neither 放假 nor 上班",
        ),
        (12, "二、春季：1月28日至2月4日放假调休，共8天。", "not a holiday of the law"),
        (12, "三、春节：1月28日至2月4日放假调休，共8天。", "item 2 expected"),
        (12, "二、春节：1月28日至2月30日放假调休，共8天。", "is not a date in 2025"),
        (
            12,
            "二、春节：1月28日至2月4日放假调休，共8天。1月26日（周日）；2月8日（周六）上班。",
            "cannot read",
        ),
        (
            12,
            "二、春节：1月28日（农历除夕、周二）至2月4日（农历正月初七、周二）放假调休，共8天。1月28日上班。",
            "both a day off and a working day",
        ),
        (14, "三、清明节：4月4日（周五）至6日（周日）放假，共3天。此处乱码@@", "does not end with 。"),
        (10, "一元旦：1月1日（周三）放假1天，不调休。", "reads like the 元旦 item"),
        (10, "一、元旦1月1日（周三）放假1天，不调休。", "reads like the 元旦 item"),
        (12, "二、春节 1月28日至2月4日放假调休，共8天。", "reads like the 春节 item"),
        (13, "此处乱码", "unexpected text after the items"),
        (23, "附件：2025年放假安排表", "unexpected text after the closing paragraph"),
    ],
)
def test_a_garbled_line_is_refused_with_its_number(line: int, new: str, reason: str) -> None:
    with pytest.raises(NoticeError, match=reason) as caught:
        parse_notice(replace_line(notice_text(2025), line, new))
    assert caught.value.line == line
    assert str(caught.value).startswith(f"line {line}: ")


def test_a_truncated_notice_is_refused_at_its_last_line() -> None:
    truncated = "\n".join(notice_text(2025).splitlines()[:15])  # ends after 三、清明节 (line 14)
    with pytest.raises(NoticeError, match="no item for 劳动节、端午节、中秋节、国庆节") as caught:
        parse_notice(truncated)
    assert caught.value.line == 14


def test_an_empty_text_is_refused() -> None:
    with pytest.raises(NoticeError, match="line 1: the text is empty"):
        parse_notice("\n \n")


# Invented texts (no real arrangement): a year the package lacks, with a make-up Saturday and a
# bridging Thursday of the previous December, and a year after it with a date of 2027.
INVENTED_2027 = """国务院办公厅关于2027年部分节假日安排的通知

一、元旦：2026年12月31日（周四）至2027年1月3日（周日）放假调休，共4天。2026年12月26日（周六）上班。
二、春节：2月5日（农历除夕、周五）至11日（周四）放假调休，共7天。2月14日（周日）上班。
三、清明节：4月5日（周一）放假，与周末连休。
四、劳动节：5月1日（周六）至5日（周三）放假调休，共5天。5月8日（周六）上班。
五、端午节：6月9日（周三）放假1天，不调休。
六、中秋节：9月15日（周三）放假1天，不调休。
七、国庆节：10月1日（周五）至7日（周四）放假调休，共7天。10月9日（周六）上班。
"""
INVENTED_2028 = """国务院办公厅关于2028年部分节假日安排的通知

一、元旦：2027年12月31日（周五）至2028年1月2日（周日）放假，共3天。
二、春节：1月25日至31日放假调休，共7天。
三、清明节：4月4日放假。
四、劳动节：5月1日放假。
五、端午节：5月29日放假。
六、国庆节、中秋节：10月1日至8日放假调休，共8天。
"""


def monday_to_friday_with(override: YearOverride, day: date) -> bool:
    """A year file's answer on its own, without the package behind it."""
    return day in override.workdays or (day.weekday() < 5 and day not in override.holidays)


def import_into(folder: Path, notice: Notice, unannounced: Unannounced = "provisional") -> ImportPlan:
    overrides, errors = load_overrides(folder)
    assert errors == []
    plan = plan_import(notice, WorkCalendar(overrides, unannounced=unannounced), folder)
    write_year_files(plan.files)
    return plan


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_the_written_file_loads_and_gives_the_package_calendar(tmp_path: Path, year: int) -> None:
    notice = parse_notice(notice_text(year))
    plan = import_into(tmp_path, notice)
    assert plan.changes == ()  # the package already says what the notice says
    assert [f.path.name for f in plan.files] == [f"{year}.yaml"]
    overrides, errors = load_overrides(tmp_path)
    assert errors == []
    [override] = overrides
    assert (override.year, override.notice) == (year, notice.name)
    assert override.holidays == {d.day for d in notice.holidays()}
    assert all(d.weekday() < 5 for d in override.holidays)
    assert all(d.weekday() >= 5 for d in override.workdays)
    wrong = [d for d in days_of(year) if monday_to_friday_with(override, d) != chinese_calendar.is_workday(d)]
    assert wrong == []


def test_the_difference_from_a_provisional_year_day_by_day(tmp_path: Path) -> None:
    plan = plan_import(parse_notice(INVENTED_2027), WorkCalendar(), tmp_path)
    assert plan.source == "provisional"
    assert [c.render() for c in plan.changes] == [
        "2026-12-26  official: rest-day  → notice: workday (元旦调休)",
        "2026-12-31  official: workday  → notice: rest-day (元旦)",
        "2027-02-11  provisional: workday  → notice: rest-day (春节)",
        "2027-02-14  provisional: rest-day  → notice: workday (春节调休)",
        "2027-05-05  provisional: workday  → notice: rest-day (劳动节)",
        "2027-05-08  provisional: rest-day  → notice: workday (劳动节调休)",
        "2027-10-06  provisional: workday  → notice: rest-day (国庆节)",
        "2027-10-07  provisional: workday  → notice: rest-day (国庆节)",
        "2027-10-09  provisional: rest-day  → notice: workday (国庆节调休)",
    ]


def test_an_uncovered_year_in_strict_mode_shows_the_days_the_file_lists(tmp_path: Path) -> None:
    notice = parse_notice(INVENTED_2027)
    plan = plan_import(notice, WorkCalendar(unannounced="strict"), tmp_path)
    assert plan.source == "uncovered"
    listed = [c for c in plan.changes if c.day.year == 2027]
    assert [c.day for c in listed] == sorted(d.day for d in [*notice.holidays(), *notice.workdays()])
    assert listed[0].render() == "2027-01-01  uncovered  → notice: rest-day (元旦)"


def test_the_imported_year_answers_as_the_notice_and_december_goes_to_a_package_year_file(
    tmp_path: Path,
) -> None:
    notice = parse_notice(INVENTED_2027)
    import_into(tmp_path, notice)
    overrides, errors = load_overrides(tmp_path)
    assert errors == []
    by_year = {o.year: o for o in overrides}
    assert sorted(by_year) == [2026, 2027]
    assert by_year[2026].workdays == {date(2026, 12, 26)}
    assert by_year[2026].holidays == {date(2026, 12, 31)}
    calendar = WorkCalendar(overrides)
    assert [d for d in days_of(2027) if calendar.is_workday(d) != notice.is_workday(d)] == []
    # the rest of 2026 still comes from the package
    assert [d for d in days_of(2026) if calendar.is_workday(d) != chinese_calendar.is_workday(d)] == [
        date(2026, 12, 26),
        date(2026, 12, 31),
    ]


def test_a_date_of_a_year_with_its_own_file_amends_that_file(tmp_path: Path) -> None:
    import_into(tmp_path, parse_notice(INVENTED_2027))
    before = {o.year: o for o in load_overrides(tmp_path)[0]}[2027]
    plan = import_into(tmp_path, parse_notice(INVENTED_2028))
    assert [f.path.name for f in plan.files] == ["2028.yaml", "2027.yaml"]
    after = {o.year: o for o in load_overrides(tmp_path)[0]}[2027]
    assert after.holidays == before.holidays | {date(2027, 12, 31)}
    assert after.workdays == before.workdays
    assert after.notice == f"{before.notice}；国务院办公厅关于2028年部分节假日安排的通知"


def test_a_date_of_a_year_without_a_notice_refuses_the_import(tmp_path: Path) -> None:
    with pytest.raises(
        ImportRefused, match=r"2027-12-31 \(元旦\) lies in 2027, which has no notice loaded"
    ) as caught:
        plan_import(parse_notice(INVENTED_2028), WorkCalendar(), tmp_path)
    assert caught.value.line == 3


def test_a_date_the_official_calendar_already_has_is_reported_ignored(tmp_path: Path) -> None:
    plan = plan_import(parse_notice(notice_text(2019)), WorkCalendar(), tmp_path)
    assert plan.ignored == (
        "2018-12-29  workday (元旦调休): ignored, the official 2018 calendar already has it",
        "2018-12-31  rest-day (元旦): ignored, the official 2018 calendar already has it",
    )
    assert [f.year for f in plan.files] == [2019]


def test_a_notice_the_package_contradicts_is_written_so_that_the_notice_wins(tmp_path: Path) -> None:
    """2019's labour-day days were amended after the notice; the package has the amendment."""
    notice = parse_notice(notice_text(2019))
    plan = import_into(tmp_path, notice)
    assert [c.day for c in plan.changes] == [
        date(2019, 4, 28),
        date(2019, 5, 2),
        date(2019, 5, 3),
        date(2019, 5, 5),
    ]
    calendar = WorkCalendar(load_overrides(tmp_path)[0])
    assert [d for d in days_of(2019) if calendar.is_workday(d) != notice.is_workday(d)] == []


def test_a_failed_write_leaves_no_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "2026.yaml").write_text("year: 2026\nnotice: 原文件\nholidays: []\n", encoding="utf-8")
    plan = plan_import(parse_notice(INVENTED_2027), WorkCalendar(load_overrides(tmp_path)[0]), tmp_path)
    assert len(plan.files) == 2
    calls: list[int] = []

    def fail_on_second(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail_on_second)
    with pytest.raises(OSError, match="No space left"):
        write_year_files(plan.files)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026.yaml"]
    assert (tmp_path / "2026.yaml").read_text(
        encoding="utf-8"
    ) == "year: 2026\nnotice: 原文件\nholidays: []\n"


def test_a_file_is_replaced_by_a_rename_keeping_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "2027.yaml"
    target.write_text("year: 2027\nnotice: 旧\n", encoding="utf-8")
    target.chmod(0o640)
    inode = target.stat().st_ino
    import_into(tmp_path, parse_notice(INVENTED_2027))
    assert target.stat().st_ino != inode  # a new file renamed over the old, never rewritten in place
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026.yaml", "2027.yaml"]


def test_a_printed_copy_with_the_title_broken_and_indented_lines() -> None:
    text = notice_text(2024).replace("关于2024年部分节假日安排的通知\n", "关于2024年\n部分节假日安排的通知\n")
    indented = "\n".join(f"\u3000\u3000{line}  " for line in text.splitlines())
    notice = parse_notice(indented)
    assert notice.name == "国务院办公厅关于2024年部分节假日安排的通知（国办发明电〔2023〕7号）"
    assert differences(notice, 2024) == []


def test_a_news_agency_copy_takes_the_year_from_its_lead_line() -> None:
    head = "国务院办公厅关于2026年部分节假日安排的通知\n国办发明电〔2025〕7号\n"
    lead = "新华社北京11月4日电　国务院办公厅关于2026年部分节假日安排的通知，全文如下：\n"
    text = notice_text(2026).replace(head, lead).replace("现将2026年", "现将")
    notice = parse_notice(text)
    assert (notice.year, notice.name) == (2026, "国务院办公厅关于2026年部分节假日安排的通知")
    assert differences(notice, 2026) == []


def test_a_previous_year_date_that_needs_no_line_is_neither_written_nor_reported(tmp_path: Path) -> None:
    notice = parse_notice(notice_text(2023))
    assert [d.day for d in notice.adjacent_days()] == [date(2022, 12, 31)]
    plan = plan_import(notice, WorkCalendar(), tmp_path)
    assert (plan.ignored, [f.year for f in plan.files], plan.changes) == ((), [2023], ())
