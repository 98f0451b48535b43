"""Roster ingest: record checks with locations, references across file and database, idempotent upsert."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, select

from monitor.ingest.files import read_file, read_roster_file
from monitor.ingest.roster import upsert_roster
from monitor.store.db import session_factory
from monitor.store.models import Official, Pairing, ProjectItem, Unit

YAML = """\
units:
  - {id: u1, name: 区工信局, kind: department, head: o1}
  - {id: u2, name: 区工信局, kind: department}
  - {id: u3, name: 顺河街道, kind: village}
officials:
  - {id: o1, name: 李局长, unit: u1, role: unit_head}
  - {id: o2, name: 张伟, unit: u3, role: staff}
  - {id: o3, name: 王五, unit: u1, role: mayor}
enterprises:
  - {id: 91321311MA1XYA001H, name: 恒达}
  - {id: 91321311MA1XYA001J, name: 错码}
pairings:
  - {official: o1, enterprise: 91321311MA1XYA001H, from: 2024-01-01}
  - {official: o2, enterprise: 91321311MA1XYA001H, from: 2024-01-01}
  - {official: o1, unit: u1, enterprise: 91321311MA1XYA001H, from: 2024-01-01}
projects:
  - id: p1
    name: 产业园
    unit: u1
    manager: o1
    items:
      - {id: i1, name: 立项, due: 2024-10-10}
      - {id: i2, name: 用地, due: 2024-13-01}
"""


def test_roster_problems_name_file_line_field_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "roster.yaml"
    path.write_text(YAML, encoding="utf-8")
    _, problems = read_roster_file(path)
    text = "\n".join(str(p) for p in problems)
    assert f"{path}:4: units[2].kind: 'village' is not one of" in text
    assert f"{path}:8: officials[2].role: 'mayor' is not one of" in text
    assert f"{path}:11: enterprises[1].id: invalid unified social credit code" in text
    assert f"{path}:15: pairings[2].official: give exactly one of official or unit" in text
    assert f"{path}:17: projects[0].items[1].due: not a date" in text
    # a record naming a rejected one is rejected too: o2's unit u3 was refused, so o2, then o2's pairing
    assert f"{path}:7: officials.unit: unknown unit 'u3'" in text
    assert f"{path}:14: pairings.official: unknown official 'o2'" in text
    assert "unit name '区工信局' is already used" in text


def test_upsert_is_idempotent_and_updates_in_place(tmp_path: Path, engine: Engine) -> None:
    path = tmp_path / "roster.yaml"
    path.write_text(
        "units: [{id: u1, name: 区工信局, kind: department}]\n"
        "officials: [{id: o1, name: 李局长, unit: u1, role: unit_head}]\n"
        "enterprises: [{id: 91321311MA1XYA001H, name: 恒达}]\n"
        "pairings: [{official: o1, enterprise: 91321311MA1XYA001H, from: 2024-01-01}]\n"
        "projects: [{id: p1, name: 产业园, unit: u1, items: [{id: i1, name: 立项, due: 2024-10-10}]}]\n",
        encoding="utf-8",
    )
    make = session_factory(engine)
    for _ in range(2):
        with make() as session:
            outcomes = upsert_roster(session, read_file(path).roster)
            session.commit()
        assert {o.status for o in outcomes} == {"accepted"}
    with make() as session:
        assert session.scalar(select(func.count()).select_from(Pairing)) == 1
        assert session.scalar(select(func.count()).select_from(ProjectItem)) == 1
    path.write_text(
        path.read_text(encoding="utf-8").replace("from: 2024-01-01}", "from: 2024-01-01, to: 2024-06-30}"),
        encoding="utf-8",
    )
    with make() as session:
        upsert_roster(session, read_file(path).roster)
        session.commit()
        pairing = session.scalars(select(Pairing)).one()
        assert pairing.end is not None and pairing.end.isoformat() == "2024-06-30"


def test_references_resolve_against_the_database(tmp_path: Path, engine: Engine) -> None:
    first = tmp_path / "units.yaml"
    first.write_text("units: [{id: u1, name: 区工信局, kind: department}]\n", encoding="utf-8")
    second = tmp_path / "officials.yaml"
    second.write_text("officials: [{id: o1, name: 李局长, unit: u1, role: unit_head}]\n", encoding="utf-8")
    with session_factory(engine)() as session:
        upsert_roster(session, read_file(first).roster)
        outcomes = upsert_roster(session, read_file(second).roster)
        session.commit()
        assert [o.status for o in outcomes] == ["accepted"]
        assert session.scalar(select(Official.unit_id)) == "u1"
        assert session.scalar(select(Unit.name)) == "区工信局"


def test_a_roster_workbooks_date_cells_are_dates(tmp_path: Path, engine: Engine) -> None:
    """A pairing's `from` and a project item's `due` typed as Excel dates arrive as midnights
    (2024-01-01T00:00:00): read as the dates they are, as `YYYY-MM-DD` text is."""
    from datetime import date, datetime

    from monitor.ingest.files import read_file
    from tests.ingest.conftest import roster_workbook

    path = roster_workbook(
        tmp_path / "roster.xlsx",
        {
            "units": [["id", "name", "kind"], ["u-a", "区甲局", "department"]],
            "officials": [["id", "name", "unit", "role"], ["o-a", "张三", "u-a", "staff"]],
            "enterprises": [["id", "name"], ["91321311MA037K6DU7", "甲公司"]],
            "pairings": [
                ["official", "enterprise", "from", "to"],
                ["o-a", "91321311MA037K6DU7", datetime(2024, 1, 1), datetime(2024, 12, 31)],
            ],
        },
    )
    loaded = read_file(path)
    assert loaded.problems == []
    (pairing,) = loaded.roster.section("pairings")
    assert (pairing.values["from"], pairing.values["to"]) == (date(2024, 1, 1), date(2024, 12, 31))
    with session_factory(engine)() as session:
        assert {o.status for o in upsert_roster(session, loaded.roster)} == {"accepted"}
        session.commit()
        stored = session.execute(select(Pairing.start, Pairing.end)).one()
    assert tuple(stored) == (date(2024, 1, 1), date(2024, 12, 31))
