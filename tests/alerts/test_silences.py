"""Silences mute notifications (the alert stays, marked silenced) and, when they end, the
held-back alert is told; daily windows recur."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml
from click.testing import CliRunner
from sqlalchemy import Engine, select

from monitor.alerts.silences import active
from monitor.cli import cli
from monitor.clock import parse_instant
from monitor.ingest.events import ingest_events
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.runtime.service import Service
from monitor.store.db import session_factory
from monitor.store.models import AlertRecord, Notification, Silence
from tests.service.conftest import ROOT, settings_for


def test_a_silence_mutes_until_it_ends_then_the_alert_is_told(
    db_url: str, tmp_path: Path, engine: Engine
) -> None:
    spec = yaml.safe_load((ROOT / "rules/tests/case-complex-5-workdays.yaml").read_text(encoding="utf-8"))
    settings = settings_for(
        db_url, tmp_path, notify={"channels": ["file"], "file_path": tmp_path / "sent.jsonl"}
    )
    with session_factory(engine)() as session:
        upsert_roster(session, load_roster(spec["roster"], "roster")[0])
        ingest_events(
            session,
            [(e["id"], e) for e in spec["events"]],
            now=parse_instant("2024-11-01"),
            settings=settings,
        )
        session.commit()
    runner = CliRunner()
    added = runner.invoke(
        cli,
        [
            "--db",
            db_url,
            "silence",
            "add",
            "--subject",
            "case:c*",
            "--start",
            "2024-10-13T00:00",
            "--end",
            "2024-10-15T00:00",
            "--by",
            "赵主任",
            "--reason",
            "集中会办中",
        ],
    )
    assert added.exit_code == 0, added.output
    service = Service(settings)
    try:
        service.tick(parse_instant("2024-10-14T09:00"))  # c1 at level 2: silenced
        with session_factory(engine)() as session:
            c1 = session.scalars(
                select(AlertRecord).where(
                    AlertRecord.subject == "case:c1", AlertRecord.rule == "case-complex-5-workdays"
                )
            ).one()
            assert c1.silenced_by is not None and c1.state == "overdue"
            assert session.scalars(select(Notification).where(Notification.alert_id == c1.id)).all() == []
        service.tick(parse_instant("2024-10-15T09:00"))  # the silence ended: now it is told
        asyncio.run(service.dispatcher.run_once(parse_instant("2024-10-15T09:00")))
        with session_factory(engine)() as session:
            told = session.scalars(select(Notification).where(Notification.alert_id == c1.id)).all()
            assert {n.recipient for n in told} == {"o-spj-head", "o-ysb-head"} and {
                n.status for n in told
            } == {"sent"}
    finally:
        service.close()
    listed = runner.invoke(cli, ["--db", db_url, "silence", "list", "--all", "--format", "json"])
    assert "集中会办中" in listed.output


def test_a_daily_window_recurs_inside_its_dates() -> None:
    lunch = Silence(
        rule="x",
        starts_at=parse_instant("2024-10-01"),
        ends_at=parse_instant("2024-11-01"),
        daily="12:00-13:30",
        created_by="a",
        reason="b",
        created_at=parse_instant("2024-10-01"),
    )
    assert active(lunch, parse_instant("2024-10-08T12:30"))
    assert not active(lunch, parse_instant("2024-10-08T14:00"))
    assert not active(lunch, parse_instant("2024-11-02T12:30"))
