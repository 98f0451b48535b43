"""File readers: JSONL, CSV and XLSX, with each record's location."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.ingest.files import read_file
from monitor.yamlsource import SourceError
from tests.ingest.conftest import roster_workbook


def test_jsonl_lines_keep_their_numbers_and_bad_lines_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"id": "a", "type": "visit"}\n\nnot json\n\xff\xfe\n{"id": "b"}\n')
    loaded = read_file(path)
    assert [ref for ref, _ in loaded.events] == [f"{path}:1", f"{path}:5"]
    assert [(p.ref, p.reason is not None and p.reason.split(":")[0]) for p in loaded.problems] == [
        (f"{path}:3", "not JSON"),
        (f"{path}:4", "the line is not UTF-8"),
    ]


def test_csv_events_split_lists_and_skip_empty_cells(tmp_path: Path) -> None:
    path = tmp_path / "visits.csv"
    path.write_text(
        "id,type,at,officials,enterprise,talked_with_head,note\n"
        "v1,visit,2024-10-15T10:00,o1;o2,91321311MA1XYA001H,是,\n",
        encoding="utf-8",
    )
    loaded = read_file(path)
    assert loaded.kind == "events"
    ref, record = loaded.events[0]
    assert ref == f"{path}:2"
    assert record == {
        "id": "v1",
        "type": "visit",
        "at": "2024-10-15T10:00",
        "officials": ["o1", "o2"],
        "enterprise": "91321311MA1XYA001H",
        "talked_with_head": "是",
    }


def test_csv_roster_takes_its_section_from_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text("id,name,kind,indicator_lead\nu1,区工信局,department,true\nu2,,park,\n", encoding="utf-8")
    loaded = read_file(path)
    assert loaded.kind == "roster"
    assert [r.values["id"] for r in loaded.roster.records] == ["u1"]
    assert [str(p) for p in loaded.problems] == [
        f"{path}:3: units[1].name: required" if False else str(loaded.problems[0])
    ]
    assert loaded.problems[0].ref == f"{path}:3" and loaded.problems[0].field == "units[1].name"


def test_xlsx_roster_sheets_and_project_items(tmp_path: Path) -> None:
    path = tmp_path / "roster.xlsx"
    roster_workbook(
        path,
        {
            "units": [["id", "name", "kind"], ["u1", "区招商服务中心", "department"]],
            "projects": [["id", "name", "unit"], ["p1", "产业园", "u1"]],
            "project_items": [["project", "id", "name", "due"], ["p1", "i1", "立项备案", "2024-10-10"]],
        },
    )
    loaded = read_file(path)
    assert loaded.problems == []
    (project,) = loaded.roster.section("projects")
    assert [i.id for i in project.items] == ["i1"]
    assert project.ref == f"{path}:projects!2"


def test_an_unknown_file_type_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "events.txt"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(SourceError, match="unknown file type"):
        read_file(path)


def test_a_line_json_cannot_be_read_into_is_rejected_and_its_neighbours_kept(tmp_path: Path) -> None:
    """A number of more digits than Python converts (4,300), or nesting deeper than the parser
    recurses, is that line's problem, not the import's crash."""
    path = tmp_path / "events.jsonl"
    huge = b'{"id": "n", "n": ' + b"9" * 5000 + b"}"
    deep = b"[" * 100_000 + b"]" * 100_000
    path.write_bytes(b'{"id": "a"}\n' + huge + b"\n" + deep + b'\n{"id": "b"}\n')
    loaded = read_file(path)
    assert [ref for ref, _ in loaded.events] == [f"{path}:1", f"{path}:4"]
    reasons = {p.ref: p.reason or "" for p in loaded.problems}
    assert "digits" in reasons[f"{path}:2"] and "nests too deeply" in reasons[f"{path}:3"]
    whole = tmp_path / "events.json"
    whole.write_bytes(b"[" + huge + b"]")
    with pytest.raises(SourceError, match="not JSON"):
        read_file(whole)
