"""An XLSX import is held to what it may inflate to and hold: a zip bomb is refused with the
limit named, before openpyxl reads it, and without the memory it would have taken."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import openpyxl
import pytest

from monitor.config import Settings
from monitor.ingest.files import read_file
from monitor.ingest.workbook import MIB, ImportLimits
from monitor.yamlsource import SourceError
from tests.ingest.conftest import read_apart


def events_workbook(path: Path, rows: int, text: str = "") -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "events"
    sheet.append(["id", "type", "at", "note"])
    for i in range(rows):
        sheet.append([f"e{i}", "visit", "2024-10-15T10:00", f"{text}{i}" if text else None])
    book.save(path)
    return path


def declare_size(path: Path, member: str, size: int) -> None:
    """Rewrite a member's uncompressed size in the zip's central directory (what it claims)."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at != -1:
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + name_length] == member.encode():
            struct.pack_into("<I", data, at + 24, size)
        at = data.find(b"PK\x01\x02", at + 46)
    path.write_bytes(bytes(data))


def test_the_limits_are_the_settings_defaults() -> None:
    ingest = Settings().ingest
    assert (ingest.max_xlsx_inflated_bytes, ingest.max_import_rows) == (64 * MIB, 200_000)
    assert ImportLimits() == ImportLimits(ingest.max_xlsx_inflated_bytes, ingest.max_import_rows)


def test_a_workbook_declaring_gigabytes_is_refused_naming_the_limit(tmp_path: Path) -> None:
    path = events_workbook(tmp_path / "bomb.xlsx", 3)
    declare_size(path, "xl/worksheets/sheet1.xml", 1_500_000_000)
    with pytest.raises(SourceError) as refused:
        read_file(path)
    assert refused.value.reason == (
        "the workbook inflates to 1431 MiB (as declared), more than the import limit of 64 MiB "
        "(ingest.max_xlsx_inflated_bytes); split it or raise the limit"
    )


def test_a_workbook_understating_its_size_is_refused_as_damaged(tmp_path: Path) -> None:
    path = events_workbook(tmp_path / "big.xlsx", 300, "x" * 10_000)  # ~3 MiB of XML in 30 KiB
    assert path.stat().st_size < 100_000
    assert read_file(path, ImportLimits(max_xlsx_inflated_bytes=4 * MIB)).events  # under the limit: read
    with pytest.raises(
        SourceError, match=r"inflates to 3 MiB \(as declared\), more than the import limit of 1 MiB"
    ):
        read_file(path, ImportLimits(max_xlsx_inflated_bytes=1 * MIB))
    # a sheet that claims 1,000 bytes is inflated no further than that, and its checksum fails
    declare_size(path, "xl/worksheets/sheet1.xml", 1000)
    with pytest.raises(SourceError, match=r"not a readable XLSX workbook: Bad CRC-32"):
        read_file(path, ImportLimits(max_xlsx_inflated_bytes=1 * MIB))


def test_a_workbook_with_more_rows_than_the_limit_is_refused(tmp_path: Path) -> None:
    path = events_workbook(tmp_path / "rows.xlsx", 30)
    assert len(read_file(path, ImportLimits(max_rows=30)).events) == 30
    with pytest.raises(SourceError, match=r"more than 29 rows, the import limit \(ingest.max_import_rows\)"):
        read_file(path, ImportLimits(max_rows=29))


def test_a_real_bomb_is_refused_in_little_memory(tmp_path: Path) -> None:
    """A 300 MiB sheet in a file of about 1 MB, read in a process of its own to measure its peak."""
    path = events_workbook(tmp_path / "real.xlsx", 1)
    bomb = tmp_path / "real-bomb.xlsx"
    row = b'<row r="2"><c r="A2" t="inlineStr"><is><t>' + b"x" * 4000 + b"</t></is></c></row>"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            if member.filename != "xl/worksheets/sheet1.xml":
                target.writestr(member, source.read(member))
                continue
            with target.open(member.filename, "w", force_zip64=True) as sheet:
                sheet.write(
                    b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
                )
                for _ in range(300 * MIB // len(row)):
                    sheet.write(row)
                sheet.write(b"</sheetData></worksheet>")
    assert bomb.stat().st_size < 4 * MIB
    reason, peak_mib = read_apart(bomb)
    assert reason.startswith("the workbook inflates to 300 MiB (as declared), more than the import limit")
    assert peak_mib < 200, f"peak RSS {peak_mib} MiB"


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_text_file_with_more_rows_than_the_limit_is_refused_as_a_workbook_is(
    tmp_path: Path, suffix: str
) -> None:
    # text files were bounded only by their size (512 MiB): hundreds of millions of tiny rows
    path = tmp_path / f"rows{suffix}"
    if suffix == ".csv":
        lines = ["id,type,at", *(f"e{i},visit,2024-10-15T10:00" for i in range(30))]
    else:
        lines = [f'{{"id": "e{i}", "type": "visit", "at": "2024-10-15T10:00"}}' for i in range(30)]
    path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")  # blank lines are not rows
    assert len(read_file(path, ImportLimits(max_rows=30)).events) == 30
    with pytest.raises(SourceError, match=r"more than 29 rows, the import limit \(ingest.max_import_rows\)"):
        read_file(path, ImportLimits(max_rows=29))
