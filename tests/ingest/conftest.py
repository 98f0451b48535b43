"""A small district roster in a fresh database, for ingest tests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.ingest.events import ingest_events
from monitor.ingest.outcome import RecordOutcome
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.store.db import session_factory

E1 = "91321311MA1XYA001H"
E2 = "91321311MA1XYA002L"
NOW = datetime(2024, 11, 1, 2, 0, tzinfo=UTC)

ROSTER: dict[str, Any] = {
    "units": [
        {"id": "u-gxj", "name": "区工信局", "kind": "department", "head": "o-head"},
        {"id": "u-spj", "name": "区行政审批局", "kind": "department"},
    ],
    "officials": [
        {"id": "o-head", "name": "李局长", "unit": "u-gxj", "role": "unit_head", "phone": "13800000001"},
        {"id": "o-zhang", "name": "张伟", "unit": "u-gxj", "role": "staff", "email": "zhang@suyu.example.cn"},
        {"id": "o-li", "name": "李娜", "unit": "u-spj", "role": "staff"},
    ],
    "enterprises": [
        {"id": E1, "name": "宿豫恒达机械有限公司", "town": "顺河街道", "above_scale": True},
        {"id": E2, "name": "宿迁华泰纺织有限公司"},
    ],
    "pairings": [{"official": "o-zhang", "enterprise": E1, "from": "2024-01-01"}],
    "projects": [
        {
            "id": "p1",
            "name": "产业园项目",
            "unit": "u-gxj",
            "manager": "o-zhang",
            "items": [{"id": "i1", "name": "立项备案", "due": "2024-10-10"}],
        },
    ],
}


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as s:
        roster, problems = load_roster(ROSTER, "roster")
        assert not problems
        assert all(o.status == "accepted" for o in upsert_roster(s, roster))
        s.commit()
        yield s


def ingest(session: Session, *records: object, now: datetime = NOW) -> list[RecordOutcome]:
    outcomes = ingest_events(
        session, [(f"[{i}]", r) for i, r in enumerate(records)], now=now, settings=Settings()
    )
    session.commit()
    return outcomes


def roster_workbook(
    path: Path,
    sheets: Mapping[str, Sequence[Sequence[object]]],
    merged: Mapping[str, list[str]] | None = None,
) -> Path:
    """An XLSX workbook (a roster: one sheet per section), in order, each sheet its heading row
    then its rows; `merged`: ranges merged by openpyxl as Excel does, the value kept in the
    top-left cell of each range, the others emptied."""
    import openpyxl

    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    for i, (title, rows) in enumerate(sheets.items()):
        sheet = first if i == 0 else book.create_sheet(title)
        sheet.title = title
        for row in rows:
            sheet.append(list(row))
        for ref in (merged or {}).get(title, []):
            sheet.merge_cells(ref)
    book.save(path)
    return path


def read_apart(path: Path) -> tuple[str, int]:
    """`read_file` of the path in a process of its own: what it said (the refusal's reason, or
    how many ledger rows it read) and the process's peak RSS in MiB. VmHWM, not ru_maxrss: Linux
    carries ru_maxrss across fork and exec, so a child of a large pytest process would report
    the parent's size, not its own."""
    import subprocess
    import sys

    probe = (
        "from pathlib import Path\n"
        "from monitor.ingest.files import read_file\n"
        "from monitor.yamlsource import SourceError\n"
        "try:\n"
        f"    print(len(read_file(Path({str(path)!r})).ledger))\n"
        "except SourceError as exc:\n"
        "    print(exc.reason)\n"
        "hwm = [line for line in Path('/proc/self/status').read_text().splitlines() if line.startswith('VmHWM')]\n"
        "print(int(hwm[0].split()[1]) // 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True
    )
    said, peak_mib = done.stdout.splitlines()
    return said, int(peak_mib)
