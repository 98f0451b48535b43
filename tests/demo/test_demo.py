"""The demo district: deterministic, valid, realistic in time, every alert on show, and the
committed examples are exactly the generator's output."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import Engine, func, select, text

from monitor.calendar.working_days import WorkCalendar
from monitor.cli import cli
from monitor.clock import SHANGHAI, parse_instant
from monitor.config import Settings
from monitor.demo.district import generate_district, history_start
from monitor.ingest.credit_code import credit_code_problem
from monitor.ingest.events import FIELDS, ingest_events
from monitor.ingest.outcome import RecordOutcome
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.rulebook import load_rulebook
from monitor.store.db import make_engine, session_factory
from monitor.store.models import Event

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "config/examples"
END = date(2024, 12, 31)
CALENDAR = WorkCalendar()
DISTRICT = generate_district(END, seed=1, calendar=CALENDAR)
ROSTER, EVENTS = DISTRICT


def _day(event: dict[str, Any]) -> date:
    return datetime.fromisoformat(event["at"]).astimezone(SHANGHAI).date()


def test_same_end_and_seed_give_the_same_district() -> None:
    assert generate_district(END, seed=1, calendar=WorkCalendar()) == DISTRICT


def test_another_seed_gives_another_district() -> None:
    assert generate_district(END, seed=2, calendar=CALENDAR) != DISTRICT


def test_every_enterprise_has_a_valid_unified_social_credit_code_of_suyu() -> None:
    codes = [e["id"] for e in ROSTER["enterprises"]]
    assert len(codes) == len(set(codes)) == 30
    assert [c for c in codes if credit_code_problem(c) is not None or not c.startswith("91321311")] == []


def test_the_units_the_policy_names_are_there_by_their_exact_names() -> None:
    names = {u["name"] for u in ROSTER["units"]}
    assert {
        "区工信局",
        "区营商办",
        "区行政审批局",
        "区综合指挥调度中心",
        "区作风办",
        "区招商服务中心",
    } <= names
    assert any(u.get("indicator_lead") for u in ROSTER["units"])


def test_pairings_include_leaders_units_one_begun_mid_year_and_one_ended() -> None:
    leaders = {o["id"] for o in ROSTER["officials"] if o["role"] == "district_leader"}
    pairings = ROSTER["pairings"]
    assert sum(p.get("official") in leaders for p in pairings) == 3
    assert sum("unit" in p for p in pairings) == 2
    assert len({p["from"] for p in pairings}) == 2
    assert sum("to" in p for p in pairings) == 1


def test_events_are_in_time_order() -> None:
    instants = [datetime.fromisoformat(e["at"]) for e in EVENTS]
    assert instants == sorted(instants)


def test_event_ids_are_unique() -> None:
    assert len({e["id"] for e in EVENTS}) == len(EVENTS)


def test_the_year_holds_every_event_type_of_the_design() -> None:
    assert {e["type"] for e in EVENTS} == set(FIELDS)


def test_events_stay_within_the_history_and_carry_the_shanghai_offset() -> None:
    assert min(_day(e) for e in EVENTS) >= history_start(END) == date(2023, 12, 1)
    assert max(_day(e) for e in EVENTS) == END
    assert {e["at"][-6:] for e in EVENTS} == {"+08:00"}


def test_events_fall_on_working_days_but_a_case_sent_in_online_on_a_sunday() -> None:
    off = [e for e in EVENTS if not CALENDAR.is_workday(_day(e))]
    assert [(e["type"], e["channel"], _day(e).weekday()) for e in off] == [("case_opened", "platform", 6)]


def test_some_events_fall_on_make_up_working_days() -> None:
    make_up = {d for d in map(_day, EVENTS) if d.weekday() >= 5 and CALENDAR.is_workday(d)}
    assert len(make_up) >= 3


def test_nothing_happens_during_the_spring_festival_holiday() -> None:
    assert [e for e in EVENTS if date(2024, 2, 10) <= _day(e) <= date(2024, 2, 17)] == []


def test_references_point_into_the_roster() -> None:
    officials = {o["id"] for o in ROSTER["officials"]}
    units = {u["id"] for u in ROSTER["units"]}
    assert {e["official"] for e in EVENTS if "official" in e} <= officials
    assert {o for e in EVENTS for o in e.get("officials", [])} <= officials
    assert {e["unit"] for e in EVENTS if "unit" in e} <= units


def _ingest(engine: Engine, roster: dict[str, Any], events: list[Any], now: str) -> list[RecordOutcome]:
    with session_factory(engine)() as session:
        parsed, problems = load_roster(roster, "roster")
        outcomes = problems + upsert_roster(session, parsed)
        outcomes += ingest_events(
            session,
            [(str(i), e) for i, e in enumerate(events, 1)],
            now=parse_instant(now),
            settings=Settings(),
        )
        session.commit()
    return outcomes


def test_a_history_ending_on_another_day_imports_with_no_rejection(engine: Engine) -> None:
    roster, events = generate_district(date(2026, 3, 4), seed=7, calendar=CALENDAR)
    assert [o for o in _ingest(engine, roster, events, "2026-03-04T23:59") if o.status != "accepted"] == []


def test_committed_examples_are_what_the_generator_writes(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["demo", "--end", "2024-12-31", "--seed", "1", "--write-examples", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    for name in ("roster.yaml", "events.jsonl"):
        assert (tmp_path / name).read_text(encoding="utf-8") == (EXAMPLES / name).read_text(
            encoding="utf-8"
        ), f"config/examples/{name} is stale: regenerate it with `dutywatch demo --write-examples`"


def _import_examples(engine: Engine) -> list[RecordOutcome]:
    roster = yaml.safe_load((EXAMPLES / "roster.yaml").read_text(encoding="utf-8"))
    lines = (EXAMPLES / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return _ingest(engine, roster, [json.loads(line) for line in lines], "2025-01-01T00:00")


def test_examples_import_into_a_fresh_database_with_no_rejection(engine: Engine) -> None:
    assert {o.status for o in _import_examples(engine)} == {"accepted"}


@pytest.fixture
def example_engine(engine: Engine) -> Engine:
    _import_examples(engine)
    return engine


def _alerts(engine: Engine, at: str) -> list[Any]:
    from monitor.evaluation.engine import DurableMatcher
    from monitor.evaluation.evaluate import evaluate

    rulebook = load_rulebook(ROOT / "rules")
    with session_factory(engine)() as session:
        result = evaluate(
            session, rulebook, CALENDAR, Settings(), parse_instant(at), DurableMatcher(rulebook)
        )
    return list(result.alerts)


def test_every_rule_alerts_at_the_end_of_the_year_or_mid_december(example_engine: Engine) -> None:
    at_end = {a.rule for a in _alerts(example_engine, "2024-12-31T18:00")}
    # a contact reminder is held back while the visit reminder of the same pairing and month is out
    assert "pairing-monthly-contact" not in at_end
    mid_december = {a.rule for a in _alerts(example_engine, "2024-12-18T10:00")}
    assert at_end | mid_december == {r.id for r in load_rulebook(ROOT / "rules")}


def test_the_end_of_the_year_shows_warnings_and_every_escalation_level(example_engine: Engine) -> None:
    alerts = _alerts(example_engine, "2024-12-31T18:00")
    assert {a.state for a in alerts} == {"warning", "overdue"}
    assert {a.level for a in alerts if a.state == "overdue"} >= {0, 1, 2, 3}


def test_demo_loads_the_district_and_a_second_run_adds_nothing(db_url: str) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["--db", db_url, "demo", "--end", "2024-12-31"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert f"demo events: {len(EVENTS)} accepted, 0 duplicate, 0 rejected" in first.output
    second = runner.invoke(cli, ["--db", db_url, "demo", "--end", "2024-12-31"], catch_exceptions=False)
    assert f"demo events: 0 accepted, {len(EVENTS)} duplicate, 0 rejected" in second.output


def test_demo_reset_starts_a_sqlite_database_afresh(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    runner = CliRunner()
    runner.invoke(cli, ["--db", url, "demo", "--end", "2024-06-30"], catch_exceptions=False)
    result = runner.invoke(
        cli, ["--db", url, "demo", "--end", "2024-12-31", "--reset"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Event)) == len(EVENTS)
    engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_demo_reset_on_postgresql_drops_only_dutywatchs_tables(db_url: str) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["--db", db_url, "demo", "--end", "2024-06-30"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    engine = make_engine(db_url)
    with engine.begin() as conn:
        schema = conn.scalar(text("SELECT current_schema()"))
        # another application's objects in the same schema, and a table named like one of ours
        # in another schema (another deployment): none of them is dutywatch's to drop
        conn.execute(text("CREATE TABLE their_notes (id int PRIMARY KEY, note text)"))
        conn.execute(text("INSERT INTO their_notes VALUES (1, 'keep me')"))
        conn.execute(text("CREATE SEQUENCE their_counter"))
        conn.execute(text(f'CREATE SCHEMA "{schema}_other"'))
        conn.execute(text(f'CREATE TABLE "{schema}_other".events (id text)'))
        conn.execute(text(f"INSERT INTO \"{schema}_other\".events VALUES ('theirs')"))
    try:
        result = runner.invoke(
            cli, ["--db", db_url, "demo", "--end", "2024-12-31", "--reset"], catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        assert "demo reset: dropped" in result.output
        with engine.connect() as conn:
            # afresh: only the December district's events, not June's as well
            assert conn.scalar(select(func.count()).select_from(Event)) == len(EVENTS)
            assert conn.scalar(text("SELECT note FROM their_notes")) == "keep me"
            assert conn.scalar(text("SELECT nextval('their_counter')")) == 1
            assert conn.scalar(text(f'SELECT id FROM "{schema}_other".events')) == "theirs"
            assert conn.scalar(text("SELECT count(*) FROM alembic_version")) == 1
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}_other" CASCADE'))
        engine.dispose()


def test_demo_for_a_year_without_calendar_data_exits_3_naming_the_year(tmp_path: Path) -> None:
    # before the package's first year: history we have no notice for is never guessed, and
    # nothing is written
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["demo", "--end", "2004-06-30", "--write-examples", str(out)])
    assert result.exit_code == 3
    assert "2003" in result.output
    assert not out.exists()


def test_demo_into_an_unannounced_year_runs_on_the_provisional_calendar(tmp_path: Path) -> None:
    """`make run` in January 2027, before the notice is loaded, still sets up the district."""
    result = CliRunner().invoke(
        cli,
        ["demo", "--end", "2027-01-15", "--write-examples", str(tmp_path / "out")],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "events.jsonl").stat().st_size > 0
