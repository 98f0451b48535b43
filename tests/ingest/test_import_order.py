"""`import` takes rosters first, told from events and ledgers by extension and headings alone,
then reads and stores one file at a time."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from click.testing import CliRunner

from monitor.cli import cli
from monitor.ingest.files import is_roster_file

ROOT = Path(__file__).resolve().parents[2]


def sheet_file(path: Path, title: str, header: list[str]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    sheet.append(header)
    book.save(path)
    return path


def test_rosters_are_told_by_extension_and_headings(tmp_path: Path) -> None:
    (tmp_path / "units.csv").write_text("id,name,kind\nu1,区工信局,department\n", encoding="utf-8")
    (tmp_path / "events.csv").write_text("id,type,at\n", encoding="utf-8")
    (tmp_path / "走访台账.csv").write_text("编号,日期,走访人员,企业名称或信用代码\n", encoding="utf-8")
    (tmp_path / "events.jsonl").write_text("{}\n", encoding="utf-8")
    (tmp_path / "roster.yaml").write_text("units: []\n", encoding="utf-8")
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    rosters = {
        "roster.yaml": True,
        "units.csv": True,
        "events.csv": False,
        "走访台账.csv": False,
        "events.jsonl": False,
        "broken.xlsx": False,
    }
    sheet_file(tmp_path / "units.xlsx", "units", ["id", "name", "kind"])
    sheet_file(tmp_path / "visits.xlsx", "走访台账", ["编号", "日期", "走访人员", "企业名称或信用代码"])
    sheet_file(tmp_path / "events.xlsx", "Sheet", ["id", "type", "at"])
    rosters |= {"units.xlsx": True, "visits.xlsx": False, "events.xlsx": False}
    assert {name: is_roster_file(tmp_path / name) for name in rosters} == rosters


def test_events_named_before_their_roster_are_stored_after_it(db_url: str) -> None:
    events, roster = ROOT / "config/examples/events.jsonl", ROOT / "config/examples/roster.yaml"
    result = CliRunner().invoke(
        cli, ["--db", db_url, "import", str(events), str(roster)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        lines[0].startswith(f"{roster}: ") and lines[1] == f"{events}: 921 accepted, 0 duplicate, 0 rejected"
    )
