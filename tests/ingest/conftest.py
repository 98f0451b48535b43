"""A small district roster in a fresh database, for ingest tests."""

from __future__ import annotations

from collections.abc import Iterator
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


def roster_workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    """An XLSX roster: one sheet per section, in order, each its heading row then its rows."""
    import openpyxl

    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    for i, (title, rows) in enumerate(sheets.items()):
        sheet = first if i == 0 else book.create_sheet(title)
        sheet.title = title
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path
