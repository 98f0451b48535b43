"""A workbook whose recorded dimension is smaller than what its sheets hold is read whole: openpyxl's
read-only mode gives no row or column past the `<dimension>` a writer recorded, and some writers
record `A1` for a full sheet; every record after the first row was left out without a word."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.orm import Session

from monitor.ingest.files import is_roster_file, read_file
from tests.ingest.test_merged_cells import (
    HENGDA,
    VISITS,
    _members,
    _write,
    add_merges,
    import_ledger,
    payloads,
    refused,
    workbook,
)

PART = "xl/worksheets/sheet1.xml"


def recorded(path: Path, dimension: bytes | None) -> Path:
    """The workbook with its first sheet's recorded dimension replaced (None: left out)."""
    members = _members(path)
    element = b"" if dimension is None else b'<dimension ref="' + dimension + b'"/>'
    members[PART], found = re.subn(rb"<dimension ref=\"[^\"]*\" ?/>", element, members[PART])
    assert found == 1
    _write(path, members)
    return path


def visits(path: Path) -> Path:
    return workbook(
        path,
        {
            "走访台账": [
                VISITS,
                ["V1", "2024-10-14", "张伟", HENGDA, "是", None],
                ["V2", "2024-10-15", "张伟", HENGDA, "否", None],
                ["V3", "2024-10-16", "张伟", HENGDA, "否", "上门座谈"],
            ]
        },
    )


def test_a_sheet_recorded_as_one_cell_is_read_to_its_last_row_and_column(
    session: Session, tmp_path: Path
) -> None:
    path = recorded(visits(tmp_path / "台账.xlsx"), b"A1")
    assert refused(import_ledger(session, path)) == []
    stored = payloads(session)
    assert sorted(stored) == ["visit-V1", "visit-V2", "visit-V3"]
    # the last column (备注, F) lies past the recorded A1 too: read, not cut off
    assert [row["备注"] for _, _, row in read_file(path).ledger] == [None, None, "上门座谈"]


def test_a_dimension_one_row_short_loses_no_row_and_a_right_one_reads_the_same(
    session: Session, tmp_path: Path
) -> None:
    """The edge: recorded to row 3 of 4, and to row 4 of 4 (as Excel writes it), and none."""
    short = recorded(visits(tmp_path / "short.xlsx"), b"A1:F3")
    exact = recorded(visits(tmp_path / "exact.xlsx"), b"A1:F4")
    missing = recorded(visits(tmp_path / "none.xlsx"), None)
    for path in (short, exact, missing):
        assert [row["编号"] for _, _, row in read_file(path).ledger] == ["V1", "V2", "V3"]
    assert refused(import_ledger(session, short)) == []
    assert len(payloads(session)) == 3


def test_a_sheet_with_merges_is_read_to_the_last_row_its_part_holds(session: Session, tmp_path: Path) -> None:
    """With merged ranges the part is read for them, and its rows up to the last one it holds,
    whatever the recorded dimension says."""
    path = add_merges(recorded(visits(tmp_path / "台账.xlsx"), b"A1:F2"), ["C2:C4"])
    rows = [(row["编号"], row["走访人员"]) for _, _, row in read_file(path).ledger]
    assert rows == [("V1", "张伟"), ("V2", "张伟"), ("V3", "张伟")]


def test_a_roster_heading_past_the_recorded_dimension_is_seen(tmp_path: Path) -> None:
    """Telling a roster from a ledger reads the heading row whole too: a ledger recorded as A1
    would otherwise read as one heading, 编号, and pass for a roster."""
    path = recorded(visits(tmp_path / "台账.xlsx"), b"A1")
    assert not is_roster_file(path)
