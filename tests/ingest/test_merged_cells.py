"""Merged cells in a ledger workbook read as a person sees them: a 单位 or 日期 merged down over
several records reaches each of them, and nothing else moves (monitor/ingest/merged.py)."""

from __future__ import annotations

import zipfile
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
from monitor.ingest.merged import sheet_parts
from monitor.ingest.outcome import RecordOutcome
from monitor.ingest.workbook import ImportLimits
from monitor.store.models import Event
from monitor.yamlsource import SourceError
from tests.ingest.conftest import NOW, read_apart, roster_workbook

VISITS = LEDGERS["visits"][1]
CONTACTS = LEDGERS["contacts"][1]
REVIEWS = LEDGERS["reviews"][1]
HENGDA = "宿豫恒达机械有限公司"


def workbook(
    path: Path, sheets: dict[str, list[list[Any]]], merged: dict[str, list[str]] | None = None
) -> Path:
    """A workbook of one sheet per title, its cells merged by openpyxl as Excel does."""
    return roster_workbook(path, sheets, merged)


def add_merges(path: Path, refs: list[str], part: str = "xl/worksheets/sheet1.xml") -> Path:
    """Merge ranges in a saved workbook by writing its <mergeCells> straight into the sheet's
    part, leaving every cell as it is: what openpyxl's API will not write (a whole column
    merged, overlapping ranges, a covered cell keeping its text as LibreOffice can)."""
    block = f'<mergeCells count="{len(refs)}">' + "".join(f'<mergeCell ref="{r}"/>' for r in refs)
    members = _members(path)
    assert b"<mergeCells" not in members[part]
    members[part] = members[part].replace(
        b"</sheetData>", b"</sheetData>" + block.encode() + b"</mergeCells>"
    )
    _write(path, members)
    return path


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def import_ledger(session: Session, path: Path) -> list[RecordOutcome]:
    """As `dutywatch import` reads a ledger: a refusal names the ledger's column."""
    loaded = read_file(path)
    records, unmatched = ledger_events(session, loaded.ledger)
    stored = in_ledger_words(records, ingest_events(session, records, now=NOW, settings=Settings()))
    session.commit()
    return loaded.problems + unmatched + stored


def refused(outcomes: list[RecordOutcome]) -> list[str]:
    return [str(o) for o in outcomes if o.status == "rejected"]


def payloads(session: Session) -> dict[str, dict[str, Any]]:
    return {i: p for i, p in session.execute(select(Event.id, Event.payload))}


def local_at(session: Session) -> dict[str, datetime]:
    return {
        i: at.astimezone(SHANGHAI).replace(tzinfo=None)
        for i, at in session.execute(select(Event.id, Event.at))
    }


def test_a_unit_and_a_date_merged_down_reach_every_record_of_their_range(
    session: Session, tmp_path: Path
) -> None:
    """单位 written once over three reviews, 日期 over two, 渠道 (optional) over four: each row of
    a range has its value; the row just after a range has its own, here none."""
    path = workbook(
        tmp_path / "reviews.xlsx",
        {
            "评价台账": [
                REVIEWS,
                ["R1", "2024-10-15", "区工信局", 4, "热线", None],
                ["R2", None, None, 5, None, None],
                ["R3", "2024-10-16", None, 3, None, None],
                ["R4", "2024-10-17", None, 4, None, None],  # just after the 单位's range
                ["R5", "2024-10-18", "区行政审批局", 2, None, None],  # just after the 渠道's
            ]
        },
        {"评价台账": ["C2:C4", "B2:B3", "E2:E5"]},
    )
    outcomes = import_ledger(session, path)
    assert refused(outcomes) == [f"{path}:评价台账!5: 单位: required"]
    stored = payloads(session)
    assert {i: p["unit"] for i, p in stored.items()} == {
        "review-R1": "u-gxj",
        "review-R2": "u-gxj",
        "review-R3": "u-gxj",
        "review-R5": "u-spj",
    }
    assert local_at(session)["review-R2"] == datetime(2024, 10, 15, 9, 0)
    assert {i: p.get("channel") for i, p in stored.items()} == {
        "review-R1": "热线",
        "review-R2": "热线",
        "review-R3": "热线",
        "review-R5": None,
    }
    assert [row["渠道"] for _, _, row in read_file(path).ledger] == ["热线", "热线", "热线", "热线", None]


def test_a_range_across_columns_keeps_its_value_in_its_first_column(session: Session, tmp_path: Path) -> None:
    """A value is not copied into a column of another meaning: 张伟 merged over 走访人员 and
    企业名称或信用代码 leaves the enterprise blank. A note merged over 备注 and the column beside
    it (its heading merged over both) is the 备注 of each row of the range, nothing in the other
    column; a text LibreOffice kept hidden in a covered cell is not read."""
    path = workbook(
        tmp_path / "visits.xlsx",
        {
            "走访台账": [
                [*VISITS, None],
                ["V1", "2024-10-14", "张伟", None, "是", None, None],
                ["V2", "2024-10-15", "张伟", HENGDA, "是", "座谈三家", None],
                ["V3", "2024-10-16", "张伟", HENGDA, "否", None, None],
                ["V4", "2024-10-17", "张伟", HENGDA, "否", None, None],
                ["V5", "2024-10-18", "张伟", HENGDA, "否", None, None],
                ["V6", "2024-10-19", "张伟", HENGDA, "否", "上门", "旧稿"],
            ]
        },
    )
    add_merges(path, ["F1:G1", "C2:D2", "F3:G5", "F7:G7"])
    outcomes = import_ledger(session, path)
    assert refused(outcomes) == [f"{path}:走访台账!2: 企业名称或信用代码: required"]
    assert {ref.rsplit("!", 1)[1]: row["备注"] for ref, _, row in read_file(path).ledger} == {
        "2": None,
        "3": "座谈三家",
        "4": "座谈三家",
        "5": "座谈三家",
        "6": None,
        "7": "上门",
    }
    assert sorted(payloads(session)) == ["visit-V2", "visit-V3", "visit-V4", "visit-V5", "visit-V6"]


def test_a_merged_heading_stays_a_heading(session: Session, tmp_path: Path) -> None:
    """备注 merged over two columns names one column, as before (naming both would refuse the
    sheet for a heading given twice); a heading merged down into the first record's row is not
    that record's value; a 走访人员 merged down below the headings fills."""
    path = workbook(
        tmp_path / "visits.xlsx",
        {
            "走访台账": [
                [*VISITS, None],
                ["V1", "2024-10-15", "张伟", HENGDA, None, None, None],
                ["V2", "2024-10-16", None, HENGDA, "是", None, None],
            ]
        },
        {"走访台账": ["F1:G1", "E1:E2", "C2:C3"]},
    )
    outcomes = import_ledger(session, path)
    assert refused(outcomes) == []
    stored = payloads(session)
    assert {i: (p["officials"], p["talked_with_head"]) for i, p in stored.items()} == {
        "visit-V1": (["o-zhang"], False),
        "visit-V2": (["o-zhang"], True),
    }


def test_each_sheet_reads_its_own_ranges_from_the_part_its_relationship_names(
    session: Session, tmp_path: Path
) -> None:
    """Two sheets whose parts are not in the order of the sheets (走访台账 in sheet2.xml, named
    by a relative target, 联系台账 in sheet1.xml, by an absolute one): the visits' merged 日期
    fills the visits; the contacts, merged nowhere, read as before, their blank 日期 refused."""
    path = workbook(
        tmp_path / "ledgers.xlsx",
        {
            "走访台账": [
                VISITS,
                ["V1", "2024-10-15", "张伟", HENGDA, "是", None],
                ["V2", None, "张伟", HENGDA, "否", None],
            ],
            "联系台账": [
                CONTACTS,
                ["C1", "2024-10-15", "张伟", HENGDA, "电话", None],
                ["C2", None, "张伟", HENGDA, None, None],
            ],
        },
        {"走访台账": ["B2:B3"]},
    )
    members = _members(path)
    first, second = members["xl/worksheets/sheet1.xml"], members["xl/worksheets/sheet2.xml"]
    members["xl/worksheets/sheet1.xml"], members["xl/worksheets/sheet2.xml"] = second, first
    rels = members["xl/_rels/workbook.xml.rels"].decode()
    assert 'Target="/xl/worksheets/sheet1.xml" Id="rId1"' in rels
    members["xl/_rels/workbook.xml.rels"] = (
        rels.replace(
            'Target="/xl/worksheets/sheet1.xml" Id="rId1"', 'Target="worksheets/sheet2.xml" Id="rId1"'
        )
        .replace(
            'Target="/xl/worksheets/sheet2.xml" Id="rId2"', 'Target="/xl/worksheets/sheet1.xml" Id="rId2"'
        )
        .encode()
    )
    _write(path, members)
    # the parts openpyxl reads the rows from
    book = openpyxl.load_workbook(path, read_only=True)
    with zipfile.ZipFile(path) as archive:
        assert (
            sheet_parts(archive, str(path))
            == {ws.title: ws._worksheet_path for ws in book.worksheets}
            == {
                "走访台账": "xl/worksheets/sheet2.xml",
                "联系台账": "xl/worksheets/sheet1.xml",
            }
        )
    book.close()
    outcomes = import_ledger(session, path)
    assert refused(outcomes) == [f"{path}:联系台账!3: 日期: required"]
    assert local_at(session) == {
        "visit-V1": datetime(2024, 10, 15, 9, 0),
        "visit-V2": datetime(2024, 10, 15, 9, 0),
        "contact-C1": datetime(2024, 10, 15, 9, 0),
    }


def test_a_whole_column_merged_fills_the_records_and_makes_no_rows(session: Session, tmp_path: Path) -> None:
    """日期 merged from the first record to the sheet's last row (1,048,576): the three records
    have it, and the empty rows under them (bordered, ready for more, so the sheet reaches row
    40) stay empty, not records missing their other fields (the import may hold three rows here)."""
    from openpyxl.styles import Border, Side

    path = tmp_path / "visits.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "走访台账"
    for row in [
        VISITS,
        ["V1", "2024-10-15", "张伟", HENGDA, "是", None],
        ["V2", None, "李娜", HENGDA, "否", None],
        ["V3", None, "张伟", HENGDA, "否", None],
    ]:
        sheet.append(row)
    line = Side(style="thin")
    for cells in sheet["A5:F40"]:
        for cell in cells:
            cell.border = Border(left=line, right=line, top=line, bottom=line)
    book.save(path)
    add_merges(path, ["B2:B1048576"])
    assert openpyxl.load_workbook(path, read_only=True)["走访台账"].max_row == 40
    assert [row["日期"] for _, _, row in read_file(path, ImportLimits(max_rows=3)).ledger] == [
        "2024-10-15"
    ] * 3
    assert refused(import_ledger(session, path)) == []
    assert set(local_at(session).values()) == {datetime(2024, 10, 15, 9, 0)}


def test_overlapping_or_malformed_ranges_refuse_the_sheet_naming_them(tmp_path: Path) -> None:
    """Excel refuses a file whose merged ranges overlap as damaged; which value a shared cell
    shows is anyone's guess, so the sheet is refused, not read one way. So is a range that is
    not one of cells."""
    path = workbook(
        tmp_path / "visits.xlsx",
        {
            "走访台账": [
                VISITS,
                ["V1", "2024-10-15", "张伟", HENGDA, "是", None],
                ["V2", None, None, HENGDA, "否", None],
            ]
        },
    )
    original = path.read_bytes()
    add_merges(path, ["B2:B4", "A3:C3"])
    with pytest.raises(SourceError, match=r"走访台账:0: the merged ranges B2:B4 and A3:C3 overlap"):
        read_file(path)
    path.write_bytes(original)
    add_merges(path, ["B2:B3", "C:C"])
    with pytest.raises(
        SourceError, match=r"走访台账:0: not a readable XLSX workbook: merged range 'C:C' is not"
    ):
        read_file(path)


def test_more_merged_ranges_than_the_row_limit_refuse_the_sheet_in_little_memory(tmp_path: Path) -> None:
    """Each range is held while its sheet is read, so a sheet may have as many as the import may
    hold rows. A million ranges (a 5 MB file; openpyxl alone parsed them into 700 MB) are refused
    before a row is read, in a process of its own to measure its peak."""
    row = ["V1", "2024-10-15", "张伟", HENGDA, "是", None]
    small = add_merges(
        workbook(tmp_path / "small.xlsx", {"走访台账": [VISITS, row]}), [f"H{r}:I{r}" for r in range(3, 7)]
    )
    assert len(read_file(small, ImportLimits(max_rows=4)).ledger) == 1
    with pytest.raises(SourceError, match=r"走访台账:0: more than 3 merged cell ranges, the import limit"):
        read_file(small, ImportLimits(max_rows=3))
    path = workbook(tmp_path / "bomb.xlsx", {"走访台账": [VISITS, row]})
    members = _members(path)
    part = "xl/worksheets/sheet1.xml"
    block = b"".join(b'<mergeCell ref="H%d:I%d"/>' % (r, r) for r in range(3, 1_000_003))
    members[part] = members[part].replace(
        b"</sheetData>", b"</sheetData><mergeCells>" + block + b"</mergeCells>"
    )
    _write(path, members)
    assert path.stat().st_size < 8 * 1024 * 1024
    reason, peak_mib = read_apart(path)
    assert reason.startswith(
        "more than 200,000 merged cell ranges, the import limit (ingest.max_import_rows)"
    )
    assert peak_mib < 200, f"peak RSS {peak_mib} MiB"


def test_an_events_sheet_reads_its_merged_cells_as_a_ledger_does(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "events.xlsx",
        {
            "events": [
                ["id", "type", "at", "officials", "enterprise"],
                ["e1", "visit", "2024-10-15T10:00", "o-zhang", HENGDA],
                ["e2", "visit", None, "o-li", HENGDA],
                ["e3", "visit", "2024-10-16T10:00", "o-li", HENGDA],
            ]
        },
        {"events": ["C2:C3", "E2:E4"]},
    )
    events = [record for _, record in read_file(path).events]
    assert [(e["id"], e["at"], e["enterprise"]) for e in events] == [
        ("e1", "2024-10-15T10:00", HENGDA),
        ("e2", "2024-10-15T10:00", HENGDA),
        ("e3", "2024-10-16T10:00", HENGDA),
    ]
