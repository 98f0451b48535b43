"""Identifiers in one normal form: spaces, JSON numbers and numeric spreadsheet cells name the
same event; control characters in ids and names are refused per record, never a crash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.cli import cli
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.store.models import Activity, Event, Official
from tests.ingest.conftest import E1, E2, ingest


def visit(event_id: object, enterprise: str = E1) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "visit",
        "at": "2024-10-15T10:00",
        "official": "o-zhang",
        "enterprise": enterprise,
    }


def test_an_id_with_surrounding_spaces_is_the_same_event(session: Session) -> None:
    assert [o.status for o in ingest(session, visit("v-1"))] == ["accepted"]
    outcomes = ingest(session, visit(" v-1 "), visit("v-2", E2), visit("\u3000v-3\u3000"))
    assert [(o.status, o.id) for o in outcomes] == [
        ("duplicate", "v-1"),
        ("accepted", "v-2"),
        ("accepted", "v-3"),
    ]
    assert set(session.scalars(select(Event.id))) == {"v-1", "v-2", "v-3"}
    assert set(session.scalars(select(Activity.event_id))) == {"v-1", "v-2", "v-3"}


def test_a_json_number_as_id_is_its_digits(session: Session) -> None:
    assert [o.status for o in ingest(session, visit(17), visit("18"), visit(19.0))] == ["accepted"] * 3
    outcomes = ingest(session, visit("17"), visit(18), visit(" 19 "), visit("v-new", E2))
    assert [o.status for o in outcomes] == ["duplicate", "duplicate", "duplicate", "accepted"]
    assert session.scalar(select(Event.payload).where(Event.id == "17"))["id"] == "17"


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (True, "must be a string or a whole number, not a boolean"),
        (1.5, "must be a string or a whole number, not 1.5"),
        ("v\t1", "contains a tab, line break or other control character"),
        ("v\r\n1", "contains a tab, line break or other control character"),
        ("   ", "must not be empty"),
    ],
)
def test_an_id_that_cannot_be_one_is_rejected_alone(session: Session, bad: object, reason: str) -> None:
    outcomes = ingest(session, visit(bad), visit("v-good"))
    assert (outcomes[0].status, outcomes[0].field, outcomes[0].reason) == ("rejected", "id", reason)
    assert outcomes[1].status == "accepted"
    assert session.scalar(select(func.count()).select_from(Event)) == 1


def test_other_identifiers_are_normalised_too(session: Session) -> None:
    opened = {
        "id": "c-open",
        "type": "case_opened",
        "at": "2024-10-15T10:00",
        "case": 42,
        "enterprise": f" {E1} ",
        "channel": "window",
        "complexity": "simple",
        "category": "用地",
        "unit": " u-gxj ",
    }
    feedback = {"id": "c-fb", "type": "case_feedback", "at": "2024-10-15T11:00", "case": " 42 "}
    assert [o.status for o in ingest(session, opened, feedback)] == ["accepted", "accepted"]


@pytest.mark.parametrize("name", ["张\r\n伟", "张\t伟", "张\u2028伟", "张\x85伟"])
def test_names_with_line_breaks_or_tabs_are_refused_at_the_door(session: Session, name: str) -> None:
    roster, problems = load_roster(
        {
            "officials": [
                {"id": "o-bad", "name": name, "unit": "u-gxj", "role": "staff", "email": "b@x.cn"},
                {
                    "id": "o-mail",
                    "name": "王芳",
                    "unit": "u-gxj",
                    "role": "staff",
                    "email": "w@x.cn\r\nBcc:y@x.cn",
                },
                {"id": "o-ok", "name": "王芳", "unit": "u-gxj", "role": "staff"},
            ]
        },
        "roster",
    )
    assert [(p.id, p.field, p.reason) for p in problems] == [
        ("o-bad", "officials[0].name", "contains a tab, line break or other control character"),
        ("o-mail", "officials[1].email", "contains a tab, line break or other control character"),
    ]
    upsert_roster(session, roster)
    session.commit()
    assert session.get(Official, "o-ok") is not None and session.get(Official, "o-bad") is None


def test_numeric_id_cells_in_an_xlsx_import_neither_crash_nor_lose_the_file(
    db_url: str, tmp_path: Path
) -> None:
    roster = Path(__file__).resolve().parents[2] / "config/examples/roster.yaml"
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", db_url, "import", str(roster)], catch_exceptions=False).exit_code == 0
    import yaml

    data = yaml.safe_load(roster.read_text(encoding="utf-8"))
    official = next(o for o in data["officials"] if o["role"] == "staff")["id"]
    enterprise = data["enterprises"][0]["id"]
    path = tmp_path / "events.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "events"
    sheet.append(["id", "type", "at", "official", "enterprise"])
    sheet.append([1001, "visit", "2024-12-02T10:00", official, enterprise])
    sheet.append([1002.0, "visit", "2024-12-03T10:00", official, enterprise])
    sheet.append(["  1003 ", "visit", "2024-12-04T10:00", official, enterprise])
    book.save(path)
    first = runner.invoke(cli, ["--db", db_url, "import", str(path)], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "3 accepted, 0 duplicate, 0 rejected" in first.output
    again = runner.invoke(cli, ["--db", db_url, "import", str(path)], catch_exceptions=False)
    assert "0 accepted, 3 duplicate, 0 rejected" in again.output
