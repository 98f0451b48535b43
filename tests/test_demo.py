"""The demo generator: deterministic, valid, and the committed examples are its output."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import yaml
from click.testing import CliRunner
from sqlalchemy import Engine

from monitor.cli import cli
from monitor.config import Settings
from monitor.demo import generate_district
from monitor.ingest.credit_code import credit_code_problem
from monitor.ingest.events import FIELDS, ingest_events
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.store.db import session_factory

ROOT = Path(__file__).resolve().parent.parent
END = date(2024, 12, 31)


def test_same_seed_same_district_and_another_seed_another() -> None:
    assert generate_district(END, seed=1) == generate_district(END, seed=1)
    assert generate_district(END, seed=1) != generate_district(END, seed=2)


def test_events_are_ordered_unique_valid_and_end_on_the_end_date() -> None:
    roster, events = generate_district(END)
    assert all(credit_code_problem(e["id"]) is None for e in roster["enterprises"])
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    assert len({e["id"] for e in events}) == len(events)
    assert max(e["at"] for e in events) < "2025-01-01"
    assert {e["type"] for e in events} >= set(FIELDS) - {"case_assigned"}


def test_committed_examples_are_what_the_generator_writes(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["demo", "--end", "2024-12-31", "--seed", "1", "--write-examples", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    for name in ("roster.yaml", "events.jsonl"):
        assert (tmp_path / name).read_text(encoding="utf-8") == (ROOT / "config/examples" / name).read_text(
            encoding="utf-8"
        ), f"config/examples/{name} is stale: regenerate it with `dutywatch demo --write-examples`"


def test_examples_import_with_no_rejection(engine: Engine) -> None:
    roster = yaml.safe_load((ROOT / "config/examples/roster.yaml").read_text(encoding="utf-8"))
    lines = (ROOT / "config/examples/events.jsonl").read_text(encoding="utf-8").splitlines()
    with session_factory(engine)() as session:
        parsed, problems = load_roster(roster, "roster")
        assert problems == []
        assert {o.status for o in upsert_roster(session, parsed)} == {"accepted"}
        from monitor.clock import parse_instant

        outcomes = ingest_events(
            session,
            [(str(i), json.loads(line)) for i, line in enumerate(lines, 1)],
            now=parse_instant("2025-01-01T00:00"),
            settings=Settings(),
        )
        session.commit()
    assert {o.status for o in outcomes} == {"accepted"}
