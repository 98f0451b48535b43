"""A UTF-8 byte order mark (Notepad and Excel write one) is read past in every import format."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.ingest.files import read_file

BOM = "\ufeff"
RECORD = '{"id": "v1", "type": "visit", "at": "2024-10-15T10:00"}'


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("events.jsonl", f"{RECORD}\n{RECORD.replace('v1', 'v2')}\n"),
        ("events.json", f"[{RECORD}, {RECORD.replace('v1', 'v2')}]"),
        ("events.csv", "id,type,at\nv1,visit,2024-10-15T10:00\nv2,visit,2024-10-15T10:00\n"),
    ],
)
def test_event_files_with_a_bom_read_like_those_without(tmp_path: Path, name: str, text: str) -> None:
    plain, marked = tmp_path / "plain" / name, tmp_path / "marked" / name
    for path, content in ((plain, text), (marked, BOM + text)):
        path.parent.mkdir()
        path.write_text(content, encoding="utf-8")
    read, with_bom = read_file(plain), read_file(marked)
    assert with_bom.problems == [] and [r for _, r in with_bom.events] == [r for _, r in read.events]
    assert [r["id"] for _, r in with_bom.events] == ["v1", "v2"]  # type: ignore[index]


def test_a_yaml_roster_with_a_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "roster.yaml"
    path.write_text(BOM + "units:\n  - {id: u1, name: 区工信局, kind: department}\n", encoding="utf-8")
    loaded = read_file(path)
    assert loaded.problems == [] and [r.values["id"] for r in loaded.roster.records] == ["u1"]
