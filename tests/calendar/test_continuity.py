"""A district crossing into a year whose State Council notice is not out yet, through the daemon.

December 2026: one complex case overdue since the 8th, one received on the 28th whose fifth
working day lies in 2027. Provisionally (the default) every 2026 alert stays, the new case's
clock is marked provisional, 2027 evaluates with provisional alerts; then the notice arrives, a
reload re-derives the due times, the move is a `rescheduled` transition (in the tick and in the
backtest) and nobody is told twice. In strict mode the uncomputable duty alone is set aside.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import yaml
from click.testing import CliRunner
from prometheus_client import generate_latest
from sqlalchemy import Engine, select

from monitor.alerts.lifecycle import Transition
from monitor.api.app import create_app
from monitor.cli import cli
from monitor.clock import iso_shanghai, parse_instant, utcnow
from monitor.evaluation.message import PROVISIONAL_SUFFIX
from monitor.ingest.events import ingest_events
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.runtime.service import Service
from monitor.store.db import session_factory
from monitor.store.models import AlertRecord, Notification, ObligationRecord
from monitor.tokens import create_token
from tests.service.conftest import ROOT, serving

RULE = "case-complex-5-workdays"
FICTIONAL = ROOT / "tests/data/fictional/2027-notice.txt"
ENTERED = "2027-01-07T11:00:00+08:00"
ROSTER = {
    "units": [
        {
            "id": "u-spj",
            "name": "区行政审批局",
            "kind": "department",
            "head": "o-spj-head",
            "leader": "o-leader",
        },
        {"id": "u-ysb", "name": "区营商办", "kind": "department", "head": "o-ysb-head", "leader": "o-leader"},
    ],
    "officials": [
        {"id": "o-leader", "name": "王区长", "unit": "u-ysb", "role": "district_leader"},
        {"id": "o-spj-head", "name": "陈局长", "unit": "u-spj", "role": "unit_head"},
        {"id": "o-ysb-head", "name": "赵主任", "unit": "u-ysb", "role": "unit_head"},
    ],
    "enterprises": [{"id": "91321311MA1XYA001H", "name": "宿豫恒达机械有限公司", "town": "顺河街道"}],
}


def case(case_id: str, at: str) -> tuple[str, dict[str, object]]:
    return f"{case_id}-open", {
        "id": f"{case_id}-open",
        "type": "case_opened",
        "at": at,
        "case": case_id,
        "enterprise": "91321311MA1XYA001H",
        "channel": "window",
        "complexity": "complex",
        "category": "用地手续",
        "unit": "u-spj",
    }


# A notice for the test (not 2027's real one): 4 January off, so the new case is due on the 6th.
NOTICE = """year: 2027
notice: 测试用通知（非真实安排）
entered: 2027-01-07T11:00:00+08:00
holidays: [2027-01-01, 2027-01-04]
"""


def write_config(tmp_path: Path, db_url: str, unannounced: str) -> Path:
    (tmp_path / "calendar").mkdir(exist_ok=True)
    config = {
        "database_url": db_url,
        "rules_dir": str(ROOT / "rules"),
        "heartbeat_file": str(tmp_path / "heartbeat"),
        "calendar": {"overrides_dir": str(tmp_path / "calendar"), "unannounced": unannounced},
        "notify": {"channels": ["file"], "file_path": str(tmp_path / "sent.jsonl")},
    }
    path = tmp_path / "dutywatch.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def district(engine: Engine) -> None:
    with session_factory(engine)() as session:
        roster, problems = load_roster(ROSTER, "roster")
        assert not problems and {o.status for o in upsert_roster(session, roster)} == {"accepted"}
        from monitor.config import Settings

        outcomes = ingest_events(
            session,
            [case("c-old", "2026-12-01T10:00"), case("c-new", "2026-12-28T10:00")],
            now=parse_instant("2026-12-28T12:00"),
            settings=Settings(),
        )
        assert {o.status for o in outcomes} == {"accepted"}
        session.commit()


def service_for(config: Path) -> Service:
    from monitor.config import load_settings

    return Service(load_settings(config), config_path=config)


def alerts(engine: Engine) -> dict[str, AlertRecord]:
    with session_factory(engine)() as session:
        rows = session.scalars(select(AlertRecord).where(AlertRecord.rule == RULE)).all()
        return {r.subject: r for r in rows}


def obligation(engine: Engine, subject: str) -> ObligationRecord:
    with session_factory(engine)() as session:
        return session.scalars(
            select(ObligationRecord).where(ObligationRecord.rule == RULE, ObligationRecord.subject == subject)
        ).one()


def notifications(engine: Engine) -> list[tuple[str, str]]:
    with session_factory(engine)() as session:
        return [
            (subject, kind)
            for subject, kind in session.execute(
                select(AlertRecord.subject, Notification.kind)
                .join(AlertRecord, AlertRecord.id == Notification.alert_id)
                .where(AlertRecord.rule == RULE)
                .order_by(Notification.id)
            )
        ]


def tick(service: Service, instant: str) -> list[Transition]:
    now = parse_instant(instant)
    service.tick(now)
    asyncio.run(service.dispatcher.run_once(now))
    return [c for c in service.last_changes if c.rule == RULE]


@contextlib.contextmanager
def serving_at(service: Service, at: str) -> Iterator[tuple[str, dict[str, str]]]:
    """The daemon's API over real HTTP, its clock at `at`: (base URL, headers of a read token)."""
    with session_factory(service.engine)() as session:
        token = create_token(session, "reader", ("read",), utcnow())
        session.commit()
    app = create_app(service)
    now: datetime = parse_instant(at)
    app.state.clock = lambda: now
    with serving(app) as url:
        yield url, {"Authorization": f"Bearer {token}"}


def crossed(tmp_path: Path, db_url: str, engine: Engine, unannounced: str) -> tuple[Path, Service]:
    """The district at 30 December 2026: c-old's 2026 alert stands, its level from 2026's days."""
    config = write_config(tmp_path, db_url, unannounced)
    district(engine)
    service = service_for(config)
    tick(service, "2026-12-30T10:00")
    found = alerts(engine)
    assert (found["case:c-old"].state, found["case:c-old"].level) == ("overdue", 3)
    assert found["case:c-old"].provisional is False
    return config, service


def test_a_december_district_crosses_into_an_unannounced_year_and_the_notice_replaces_it(
    db_url: str, tmp_path: Path, engine: Engine
) -> None:
    config, service = crossed(tmp_path, db_url, engine, "provisional")
    try:
        assert "case:c-new" not in alerts(engine)  # four working days left: nothing to say yet
        new = obligation(engine, "case:c-new")
        assert (new.status, new.provisional) == ("pending", True)
        assert iso_shanghai(new.due_at) == "2027-01-05T23:59:59+08:00"  # 1 January off by law

        tick(service, "2027-01-05T10:00")
        found = alerts(engine)
        assert (found["case:c-new"].state, found["case:c-new"].provisional) == ("warning", True)
        assert found["case:c-new"].message.endswith(PROVISIONAL_SUFFIX["zh"])
        assert found["case:c-old"].provisional is True  # its days overdue now run through 2027
        sent = (tmp_path / "sent.jsonl").read_text(encoding="utf-8")
        assert PROVISIONAL_SUFFIX["zh"] in sent  # the message says so too
        with serving_at(service, "2027-01-05T10:30") as (url, headers):
            listed = httpx.get(f"{url}/v1/alerts", params={"rule": RULE}, headers=headers, timeout=30).json()
            assert {a["subject"]: a["provisional"] for a in listed} == {
                "case:c-old": True,
                "case:c-new": True,
            }
            duties = httpx.get(
                f"{url}/v1/obligations", params={"rule": RULE}, headers=headers, timeout=30
            ).json()
            assert {d["subject"]: d["provisional"] for d in duties} == {
                "case:c-old": True,
                "case:c-new": True,
            }
            page = httpx.get(f"{url}/", params={"unit": "u-spj"}, headers=headers, timeout=30).text
            row = page[page.index("c-new") : page.index("</tr>", page.index("c-new"))]
            assert "data-provisional" in row and "2027-01-05 23:59" in row
            assert "2027年的国务院节假日安排尚未导入" in page  # and the banner says why
            clock = httpx.get(f"{url}/v1/cases/c-new", headers=headers, timeout=30).json()
            assert (clock["state"], clock["due"], clock["provisional"]) == (
                "warning",
                "2027-01-05T23:59:59+08:00",
                True,
            )
            assert [(c["rule"], c["provisional"]) for c in clock["clocks"]] == [
                (RULE, True),
                ("case-escalation", True),
            ]

        changes = tick(service, "2027-01-07T10:00")
        assert [(c.subject, c.change, c.level) for c in changes] == [("case:c-new", "escalated", 1)]
        told = notifications(engine)

        # the notice arrives (an invented one): 4 January is off, the case is due on the 6th,
        # still overdue at level 1; the operator imports its text as published
        imported = CliRunner().invoke(
            cli,
            [
                *("--config", str(config), "calendar", "import-notice", str(FICTIONAL), "--yes"),
                "--now",
                ENTERED,
            ],
            catch_exceptions=False,
        )
        assert imported.exit_code == 0, imported.output
        assert "2027-01-04  provisional: workday  → notice: rest-day (元旦)" in imported.stdout
        assert service.reload()[0]
        changes = tick(service, "2027-01-07T12:00")
        moved = [c for c in changes if c.subject == "case:c-new"]
        assert [(c.change, c.state, c.level) for c in moved] == [("rescheduled", "overdue", 1)]
        assert moved[0].record()["due"] == "2027-01-06T23:59:59+08:00"
        assert moved[0].record()["previous_due"] == "2027-01-05T23:59:59+08:00"
        found = alerts(engine)
        assert found["case:c-new"].provisional is False
        assert not found["case:c-new"].message.endswith(PROVISIONAL_SUFFIX["zh"])
        assert iso_shanghai(found["case:c-new"].due_at) == "2027-01-06T23:59:59+08:00"
        assert obligation(engine, "case:c-new").provisional is False
        assert notifications(engine) == told  # nobody is told twice for the same duty
    finally:
        service.close()

    # the backtest replays what the daemon knew: provisional before the notice was entered
    result = CliRunner().invoke(
        cli,
        [
            "--config",
            str(config),
            "backtest",
            "--from",
            "2027-01-05",
            "--to",
            "2027-01-08",
            "--format",
            "json",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    mine = [
        (x["at"][:10], x["transition"], x.get("previous_due"), x["due"])
        for x in lines
        if x["subject"] == "case:c-new"
    ]
    assert ("2027-01-08", "rescheduled", "2027-01-05T23:59:59+08:00", "2027-01-06T23:59:59+08:00") in mine


def test_strict_mode_sets_aside_the_uncomputable_duty_alone(
    db_url: str, tmp_path: Path, engine: Engine
) -> None:
    _, service = crossed(tmp_path, db_url, engine, "strict")
    try:
        assert obligation(engine, "case:c-new").status == "uncomputable"

        tick(service, "2027-01-05T10:00")
        found = alerts(engine)
        # the overdue 2026 alert is kept and still open; nothing pretends the year is known
        assert found["case:c-old"].state == "overdue" and found["case:c-old"].resolved_at is None
        assert "case:c-new" not in found
        assert obligation(engine, "case:c-new").status == "uncomputable"
        with serving_at(service, "2027-01-05T10:30") as (url, headers):
            duties = httpx.get(
                f"{url}/v1/obligations", params={"status": "uncomputable"}, headers=headers, timeout=30
            ).json()
            # the clock, the ladder step that watches it, and December's reports due in January
            assert sorted((d["rule"], d["subject"], d["due"]) for d in duties) == [
                (RULE, "case:c-new", None),
                ("case-escalation", "case:c-new", None),
                ("unit-monthly-review-report", "unit:u-spj", None),
                ("unit-monthly-review-report", "unit:u-ysb", None),
            ]
            clock = next(d for d in duties if d["rule"] == RULE)
            assert clock["due_not_before"] == "2026-12-31T23:59:59+08:00"
            page = httpx.get(f"{url}/", params={"unit": "u-spj"}, headers=headers, timeout=30).text
            row = page[page.index("c-new") : page.index("</tr>", page.index("c-new"))]
            assert "data-uncomputable" in row
            clock = httpx.get(f"{url}/v1/cases/c-new", headers=headers, timeout=30).json()
            assert {c["rule"]: (c["status"], c["due"]) for c in clock["clocks"]}[RULE] == (
                "uncomputable",
                None,
            )
        exposition = generate_latest(service.metrics.registry).decode()
        assert f'dutywatch_obligations{{rule="{RULE}",status="uncomputable",unit="u-spj"}} 1.0' in exposition
    finally:
        service.close()


def test_an_alert_whose_duty_becomes_uncomputable_is_held_not_resolved(
    db_url: str, tmp_path: Path, engine: Engine
) -> None:
    """Strict mode: the year file a warning rested on is withdrawn; the alert neither resolves
    (nobody gets an all-clear for a duty still owed) nor changes, until the year is known again."""
    config = write_config(tmp_path, db_url, "strict")
    year_file = tmp_path / "calendar" / "2027.yaml"
    year_file.write_text(NOTICE.replace("entered: 2027-01-07T11:00:00+08:00\n", ""), encoding="utf-8")
    district(engine)
    service = service_for(config)
    try:
        tick(service, "2027-01-06T10:00")  # due the 6th under the file: the last day warns
        assert alerts(engine)["case:c-new"].state == "warning"
        year_file.unlink()
        assert service.reload()[0]
        changes = tick(service, "2027-01-06T12:00")
        assert [c for c in changes if c.subject == "case:c-new"] == []
        kept = alerts(engine)["case:c-new"]
        assert (kept.state, kept.resolved_at) == ("warning", None)
        assert obligation(engine, "case:c-new").status == "uncomputable"
        assert obligation(engine, "case:c-new").due_at is not None
    finally:
        service.close()
