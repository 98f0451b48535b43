"""One overdue case walked through warning, breach, each escalation level, acknowledgement and
resolution: exactly which messages go to whom, and when."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import yaml
from sqlalchemy import Engine, select, update

from monitor.clock import parse_instant
from monitor.ingest.events import ingest_events
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.runtime.service import Service
from monitor.store.db import session_factory
from monitor.store.models import AlertRecord, Notification
from tests.service.conftest import ROOT, settings_for


def test_a_case_from_warning_to_resolution(db_url: str, tmp_path: Path, engine: Engine) -> None:
    spec = yaml.safe_load((ROOT / "rules/tests/case-complex-5-workdays.yaml").read_text(encoding="utf-8"))
    outbox_file = tmp_path / "sent.jsonl"
    settings = settings_for(db_url, tmp_path, notify={"channels": ["file"], "file_path": outbox_file})
    with session_factory(engine)() as session:
        upsert_roster(session, load_roster(spec["roster"], "roster")[0])
        ingest_events(
            session,
            [(e["id"], e) for e in spec["events"]],
            now=parse_instant("2024-11-01"),
            settings=settings,
        )
        session.commit()
    service = Service(settings)
    sent: list[tuple[str, str, str, str]] = []

    def live(instant: str) -> None:
        now = parse_instant(instant)
        service.tick(now)
        asyncio.run(service.dispatcher.run_once(now))
        for line in (
            outbox_file.read_text(encoding="utf-8").splitlines()[len(sent) :] if outbox_file.exists() else []
        ):
            entry = json.loads(line)
            sent.append((instant, entry["to"], entry["subject"], entry["id"]))

    try:
        live("2024-10-10T10:00")  # c1's last working day: a warning
        live("2024-10-10T12:00")  # nothing new: no second message
        live("2024-10-11T09:00")  # breach: level 1, the receiving unit's head
        live("2024-10-14T09:00")  # level 2: 区营商办 too, and the escalation alert
        with session_factory(engine)() as session:
            session.execute(
                update(AlertRecord)
                .where(AlertRecord.rule == "case-complex-5-workdays", AlertRecord.subject == "case:c1")
                .values(
                    acked_by="陈局长", acked_at=parse_instant("2024-10-14T10:00"), ack_reason="已组织会办"
                )
            )
            session.commit()
        live("2024-10-18T09:00")  # level 3: the acknowledged alert stops climbing; the ladder alert goes on
        live("2024-10-21T11:00")  # feedback: resolved, the all-clear to those who were told
        with session_factory(engine)() as session:
            rows = session.execute(
                select(
                    Notification.created_at,
                    Notification.recipient,
                    Notification.kind,
                    Notification.subject,
                    Notification.status,
                )
                .join(AlertRecord, AlertRecord.id == Notification.alert_id)
                .where(AlertRecord.subject == "case:c1")
                .order_by(Notification.id)
            ).all()
            digests = session.execute(
                select(
                    Notification.created_at, Notification.recipient, Notification.text, Notification.status
                )
                .where(Notification.kind == "digest", Notification.recipient == "o-spj-head")
                .order_by(Notification.id)
            ).all()
    finally:
        service.close()
    utc = parse_instant("2024-10-10").tzinfo
    story = [(r[0].astimezone(utc).isoformat()[:16], r[1], r[2], r[3], r[4]) for r in rows]
    # the warning and the level-1 breach wait for the daily digest (08:30 on working days); level 2
    # and up go out at once; the all-clear goes to those who were told
    assert story == [
        ("2024-10-10T02:00", "o-spj-head", "fired", "【提醒】复杂问题5个工作日内处理反馈", "digested"),
        (
            "2024-10-11T01:00",
            "o-spj-head",
            "escalated",
            "【逾期·第1级】复杂问题5个工作日内处理反馈",
            "digested",
        ),
        ("2024-10-14T01:00", "o-spj-head", "escalated", "【逾期·第2级】复杂问题5个工作日内处理反馈", "sent"),
        ("2024-10-14T01:00", "o-ysb-head", "escalated", "【逾期·第2级】复杂问题5个工作日内处理反馈", "sent"),
        (
            "2024-10-14T01:00",
            "o-ysb-head",
            "fired",
            "【逾期·第2级】分级会办，仍无法解决的报送区营商办提请区领导会办",
            "sent",
        ),
        (
            "2024-10-18T01:00",
            "o-ysb-head",
            "escalated",
            "【逾期·第3级】分级会办，仍无法解决的报送区营商办提请区领导会办",
            "sent",
        ),
        (
            "2024-10-18T01:00",
            "o-leader",
            "escalated",
            "【逾期·第3级】分级会办，仍无法解决的报送区营商办提请区领导会办",
            "sent",
        ),
        ("2024-10-21T03:00", "o-spj-head", "resolved", "【已解决】复杂问题5个工作日内处理反馈", "sent"),
        ("2024-10-21T03:00", "o-ysb-head", "resolved", "【已解决】复杂问题5个工作日内处理反馈", "sent"),
        (
            "2024-10-21T03:00",
            "o-leader",
            "resolved",
            "【已解决】分级会办，仍无法解决的报送区营商办提请区领导会办",
            "sent",
        ),
        (
            "2024-10-21T03:00",
            "o-ysb-head",
            "resolved",
            "【已解决】分级会办，仍无法解决的报送区营商办提请区领导会办",
            "sent",
        ),
    ]
    # the 10-11 digest carries the warning held the day before; the next tick on a working day
    # (10-14: no tick ran on the make-up Saturday 10-12) carries the level-1 breach
    about_c1 = [d for d in digests if "企业诉求c1（" in d[2]]
    assert [(d[0].astimezone(utc).isoformat()[:16], d[3]) for d in about_c1] == [
        ("2024-10-11T01:00", "sent"),
        ("2024-10-14T01:00", "sent"),
    ]
    assert "【提醒】复杂问题5个工作日内处理反馈" in about_c1[0][2]
    assert "【逾期·第1级】复杂问题5个工作日内处理反馈" in about_c1[1][2]
    assert sum(1 for line in sent if line[1] == "陈局长") >= 3
