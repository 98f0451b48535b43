"""A ledger is read as written or refused, naming the heading or cell: no column ignored, no
yes/no guessed, no cell dropped; dates as Chinese offices write them are read."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.clock import SHANGHAI
from monitor.config import Settings
from monitor.ingest.events import ingest_events
from monitor.ingest.files import read_file
from monitor.ingest.ledgers import LEDGERS, in_ledger_words, ledger_events
from monitor.ingest.outcome import RecordOutcome
from monitor.store.models import Activity, Event
from monitor.yamlsource import SourceError
from tests.ingest.conftest import NOW

VISITS = ["编号", "日期", "走访人员", "企业名称或信用代码", "是否与负责人座谈", "备注"]


def workbook(path: Path, header: list[Any], *rows: list[Any], title: str = "走访台账") -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def import_ledger(session: Session, path: Path) -> list[RecordOutcome]:
    """As `dutywatch import` reads a ledger: a refusal names the ledger's column."""
    loaded = read_file(path)
    records, unmatched = ledger_events(session, loaded.ledger)
    stored = in_ledger_words(records, ingest_events(session, records, now=NOW, settings=Settings()))
    outcomes = loaded.problems + unmatched + stored
    session.commit()
    return outcomes


@pytest.mark.parametrize("suffix", ["xlsx", "csv"])
def test_an_unknown_heading_refuses_the_file_naming_it(tmp_path: Path, suffix: str) -> None:
    header = [*VISITS[:4], "是否与企业负责人座谈", "备注"]
    row = ["V1", "2024-10-03", "张伟", "宿豫恒达机械有限公司", "是", ""]
    if suffix == "xlsx":
        path = workbook(tmp_path / "visits.xlsx", header, row)
    else:
        path = tmp_path / "走访台账.csv"
        path.write_text(",".join(header) + "\n" + ",".join(row) + "\n", encoding="utf-8")
    with pytest.raises(SourceError, match="unknown column heading '是否与企业负责人座谈' in the 走访台账"):
        read_file(path)


def test_a_ledger_sheet_without_a_required_heading_is_refused_naming_it(tmp_path: Path) -> None:
    path = workbook(tmp_path / "visits.xlsx", ["编号", "走访日期", "走访人员", "企业名称或信用代码"], ["V1"])
    with pytest.raises(SourceError, match="a 走访台账 needs the heading\\(s\\) 日期"):
        read_file(path)


def test_a_yes_no_cell_with_another_value_is_refused_not_read_as_no(session: Session, tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "visits.xlsx",
        VISITS,
        ["V1", "2024-10-03", "张伟", "宿豫恒达机械有限公司", "是", ""],
        ["V2", "2024-10-04", "张伟", "宿豫恒达机械有限公司", "也许", ""],
        ["V3", "2024-10-05", "张伟", "宿豫恒达机械有限公司", "否", ""],
        ["V4", "2024-10-06", "张伟", "宿豫恒达机械有限公司", None, ""],
    )
    outcomes = import_ledger(session, path)
    assert [str(o) for o in outcomes if o.status == "rejected"] == [
        f"{path}:走访台账!3: 是否与负责人座谈: '也许' is neither 是 nor 否"
    ]
    talked = dict(session.execute(select(Activity.event_id, Activity.talked_with_head)).all())
    assert talked == {"visit-V1": True, "visit-V3": False, "visit-V4": False}


def test_a_cell_beyond_the_headings_refuses_its_row(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "走访台账.csv"
    path.write_text(
        ",".join(VISITS)
        + "\nV1,2024-10-03,张伟,宿豫恒达机械有限公司,是,,\nV2,2024-10-04,张伟,宿豫恒达机械有限公司,是,上门,多出的一格\n",
        encoding="utf-8",
    )
    outcomes = import_ledger(session, path)
    assert [str(o) for o in outcomes if o.status == "rejected"] == [
        f"{path}:3: column G: '多出的一格' is in a column without a heading; name the column or remove the cell"
    ]
    assert list(session.scalars(select(Event.id))) == ["visit-V1"]
    book = workbook(
        tmp_path / "visits.xlsx",
        [*VISITS, None],
        ["V5", "2024-10-07", "张伟", "宿豫恒达机械有限公司", "是", "", "旁注"],
        ["V6", "2024-10-08", "张伟", "宿豫恒达机械有限公司", "是", "", None],
    )
    outcomes = import_ledger(session, book)
    assert [(o.ref, o.field) for o in outcomes if o.status == "rejected"] == [
        (f"{book}:走访台账!2", "column G")
    ]
    assert set(session.scalars(select(Event.id))) == {"visit-V1", "visit-V6"}


def test_an_unknown_contact_or_channel_word_is_refused(session: Session, tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "contacts.xlsx",
        ["编号", "日期", "联系人员", "企业名称或信用代码", "联系方式", "备注"],
        ["C1", "2024-10-03", "张伟", "宿豫恒达机械有限公司", "飞鸽传书", ""],
        ["C2", "2024-10-03", "张伟", "宿豫恒达机械有限公司", "微信", ""],
        title="联系台账",
    )
    outcomes = import_ledger(session, path)
    assert [(o.field, o.reason) for o in outcomes if o.status == "rejected"] == [
        ("联系方式", "'飞鸽传书' is not one of 电话、微信、平台、一企来办、其他")
    ]


def test_dates_as_offices_write_them(session: Session, tmp_path: Path) -> None:
    written = [
        "2024/10/3",
        "2024年10月4日",
        "2024-10-5",
        "2024.10.6 14:30",
        "2024 年 10 月 7 日",
        "2024/2/30",
        "下周三",
    ]
    rows = [[f"V{i}", day, "张伟", "宿豫恒达机械有限公司", "否", ""] for i, day in enumerate(written)]
    path = workbook(tmp_path / "visits.xlsx", VISITS, *rows)
    outcomes = import_ledger(session, path)
    assert [(o.ref.rsplit("!", 1)[1], o.field, o.reason) for o in outcomes if o.status == "rejected"] == [
        ("7", "日期", "'2024/2/30' is not a date: day is out of range for month"),
        ("8", "日期", "'下周三' is not a date (2026-11-03, 2026/11/3 or 2026年11月3日)"),
    ]
    stored = dict(session.execute(select(Event.id, Event.at)).all())
    local = {i: at.astimezone(SHANGHAI).replace(tzinfo=None) for i, at in stored.items()}
    assert local == {
        "visit-V0": datetime(2024, 10, 3, 9, 0),
        "visit-V1": datetime(2024, 10, 4, 9, 0),
        "visit-V2": datetime(2024, 10, 5, 9, 0),
        "visit-V3": datetime(2024, 10, 6, 14, 30),
        "visit-V4": datetime(2024, 10, 7, 9, 0),
    }


def test_numeric_number_cells_are_ids_and_a_reimport_changes_nothing(
    session: Session, tmp_path: Path
) -> None:
    path = workbook(
        tmp_path / "visits.xlsx",
        VISITS,
        [1001, "2024-10-03", "张伟", "宿豫恒达机械有限公司", "是", ""],
        [1002.0, "2024-10-04", "张伟", "宿豫恒达机械有限公司", "否", ""],
    )
    assert [o.status for o in import_ledger(session, path)] == ["accepted", "accepted"]
    assert [o.status for o in import_ledger(session, path)] == ["duplicate", "duplicate"]
    assert set(session.scalars(select(Event.id))) == {"visit-1001", "visit-1002"}


def test_an_event_csv_row_with_a_cell_past_the_headings_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "id,type,at\nv1,visit,2024-10-15T10:00\nv2,visit,2024-10-15T10:00,o-zhang\n", encoding="utf-8"
    )
    loaded = read_file(path)
    assert [ref for ref, _ in loaded.events] == [f"{path}:2"]
    assert [str(p) for p in loaded.problems] == [
        f"{path}:3: column D: 'o-zhang' is in a column without a heading; name the column or remove the cell"
    ]


def test_a_rating_that_is_not_a_whole_number_1_to_5_is_refused(session: Session, tmp_path: Path) -> None:
    header = ["编号", "日期", "单位", "评分", "渠道", "整改日期"]
    rows = [
        [f"R{i}", "2024-10-03", "区工信局", rating, "", ""]
        for i, rating in enumerate([3.7, "五", 6, 4.0, "2"])
    ]
    path = workbook(tmp_path / "reviews.xlsx", header, *rows, title="评价台账")
    outcomes = import_ledger(session, path)
    assert [(o.field, o.reason) for o in outcomes if o.status == "rejected"] == [
        ("评分", "'3.7' is not a whole number 1-5"),
        ("评分", "'五' is not a whole number 1-5"),
        ("评分", "'6' is not a whole number 1-5"),
    ]
    assert sorted(session.scalars(select(Event.id))) == ["review-R3", "review-R4"]


CASES = LEDGERS["cases"][1]


def test_an_answer_dated_the_day_a_case_came_is_on_that_day_not_before_the_case(
    session: Session, tmp_path: Path
) -> None:
    """即知即办: a case received at 14:30 and answered "the same day" (a date alone, typed or a
    date cell), or received on a date cell and answered on a typed date, is answered then; it was
    refused as coming before the case. An answer with its own time keeps it."""
    day = datetime(2024, 10, 15)
    row = ["宿豫恒达机械有限公司", "窗口", "简单", "用工", "区工信局"]
    path = workbook(
        tmp_path / "cases.xlsx",
        CASES,
        ["K1", "2024-10-15 14:30", *row, day, "", ""],
        ["K2", "2024-10-15 14:30", *row, "2024-10-15", "2024年10月15日", "满意"],
        ["K3", day, *row, "2024-10-15", "", ""],
        ["K4", "2024-10-15 14:30", *row, "2024-10-15 16:00", "", ""],
        ["K5", "2024-10-15 14:30", *row, "2024-10-15 10:00", "", ""],  # a time of its own: refused
        # an instant with its offset against a date alone, both ways (compared in Shanghai time)
        ["K6", "2024-10-15T14:30:00+08:00", *row, "2024-10-15", "", ""],
        ["K7", "2024-10-15", *row, "2024-10-15T02:00:00Z", "", ""],
        title="诉求台账",
    )
    outcomes = import_ledger(session, path)
    refused = [(o.id, o.field, o.reason) for o in outcomes if o.status == "rejected"]
    # named as the ledger's column, in Shanghai time
    assert refused == [
        ("case-K5-feedback", "反馈日期", "before case 'K5' was opened (2024-10-15T14:30:00+08:00)")
    ]
    stored = {
        i: at.astimezone(SHANGHAI).replace(tzinfo=None)
        for i, at in session.execute(select(Event.id, Event.at))
    }
    assert stored["case-K1-feedback"] == datetime(2024, 10, 15, 14, 30)
    assert stored["case-K2-feedback"] == stored["case-K2-closed"] == datetime(2024, 10, 15, 14, 30)
    assert stored["case-K3-opened"] == datetime(2024, 10, 15, 0, 0)
    assert stored["case-K3-feedback"] == datetime(2024, 10, 15, 9, 0)
    assert stored["case-K4-feedback"] == datetime(2024, 10, 15, 16, 0)
    assert stored["case-K6-feedback"] == datetime(2024, 10, 15, 14, 30)
    assert stored["case-K7-feedback"] == datetime(2024, 10, 15, 10, 0)  # its own time, after 09:00


def test_a_hidden_sheet_with_rows_refuses_the_workbook_naming_it(session: Session, tmp_path: Path) -> None:
    """A hidden copy of a ledger (a draft) was imported beside the sheet shown, without a word;
    an empty hidden sheet (some templates carry one) is no matter."""
    path = workbook(
        tmp_path / "visits.xlsx", VISITS, ["V1", "2024-10-15", "张伟", "宿豫恒达机械有限公司", "否", ""]
    )
    book = openpyxl.load_workbook(path)
    draft = book.copy_worksheet(book["走访台账"])
    draft.title = "走访台账 (2)"
    draft.sheet_state = "hidden"
    empty = book.create_sheet("lists")
    empty.sheet_state = "hidden"
    book.save(path)
    with pytest.raises(SourceError, match=r"the sheet '走访台账 \(2\)' is hidden"):
        read_file(path)
    del book["走访台账 (2)"]
    book.save(path)
    assert [o.status for o in import_ledger(session, path)] == ["accepted"]


def test_a_row_whose_number_was_taken_by_other_content_names_the_number_column(
    session: Session, tmp_path: Path
) -> None:
    first = workbook(
        tmp_path / "a.xlsx", VISITS, ["V9", "2024-10-15", "张伟", "宿豫恒达机械有限公司", "否", ""]
    )
    assert [o.status for o in import_ledger(session, first)] == ["accepted"]
    changed = workbook(
        tmp_path / "b.xlsx", VISITS, ["V9", "2024-10-15", "张伟", "宿豫恒达机械有限公司", "是", ""]
    )
    [outcome] = import_ledger(session, changed)
    assert (outcome.status, outcome.field) == ("rejected", "编号") and "conflict" in (outcome.reason or "")


def test_a_bad_review_rectified_the_day_it_was_given_is_rectified_then(
    session: Session, tmp_path: Path
) -> None:
    header = LEDGERS["reviews"][1]
    path = workbook(
        tmp_path / "reviews.xlsx",
        header,
        ["R1", "2024-10-15 14:30", "区工信局", 1, "", "2024-10-15"],
        ["R2", "2024-10-15 14:30", "区工信局", 1, "", "2024-10-15 10:00"],  # its own time: refused
        title="评价台账",
    )
    outcomes = import_ledger(session, path)
    assert [(o.id, o.field) for o in outcomes if o.status == "rejected"] == [
        ("review-R2-rectified", "整改日期")
    ]
    stored = {
        i: at.astimezone(SHANGHAI).replace(tzinfo=None)
        for i, at in session.execute(select(Event.id, Event.at))
    }
    assert stored["review-R1-rectified"] == datetime(2024, 10, 15, 14, 30)
