"""Enqueue works a chunk of alerts at a time (bounded memory on a province's first tick): the
outbox it fills is the same whatever the chunk size."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from monitor.alerts import enqueue as enqueue_module
from monitor.alerts.enqueue import Run
from monitor.alerts.lifecycle import Transition
from monitor.clock import parse_instant
from monitor.ingest.events import ingest_events
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.runtime import ticker as ticker_module
from monitor.runtime.service import Service
from monitor.store.models import AlertRecord, Notification, Silence
from tests.service.conftest import ROOT, settings_for

EXAMPLES = ROOT / "config/examples"


def _outbox_after_a_tick(url: str, tmp_path: Path) -> tuple[list[tuple[Any, ...]], int]:
    service = Service(
        settings_for(url, tmp_path, notify={"channels": ["file", "wecom"], "file_path": tmp_path / "s.jsonl"})
    )
    try:
        with service.sessions() as session:
            upsert_roster(
                session, load_roster(yaml.safe_load((EXAMPLES / "roster.yaml").read_text()), "r")[0]
            )
            lines = (EXAMPLES / "events.jsonl").read_text(encoding="utf-8").splitlines()
            at = parse_instant("2024-06-20T10:00")
            history = [e for e in map(json.loads, lines) if parse_instant(e["at"]) <= at]
            ingest_events(session, [(e["id"], e) for e in history], now=at, settings=service.settings)
            session.commit()
        service.tick(at)
        with service.sessions() as session:
            rows = session.execute(
                select(Notification.key, Notification.kind, Notification.channel, Notification.recipient,
                       Notification.text, Notification.status)
            ).all()  # fmt: skip
            told = session.scalars(select(AlertRecord.id).where(AlertRecord.notified_at.is_not(None))).all()
        return sorted(tuple(r) for r in rows), len(told)
    finally:
        service.close()


def test_chunks_of_three_queue_what_one_chunk_queues(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole, told = _outbox_after_a_tick(f"sqlite:///{tmp_path / 'whole.db'}", tmp_path)
    monkeypatch.setattr(enqueue_module, "ENQUEUE_CHUNK", 3)
    chunked, told_chunked = _outbox_after_a_tick(f"sqlite:///{tmp_path / 'chunked.db'}", tmp_path)
    assert len(whole) > 30 and told > 10
    assert chunked == whole and told_chunked == told


def _silenced_tick(url: str, tmp_path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The example district's first tick with a silence on half its subjects: the outbox and
    every alert's silence mark."""
    service = Service(
        settings_for(url, tmp_path, notify={"channels": ["file"], "file_path": tmp_path / "s.jsonl"})
    )
    at = parse_instant("2024-06-20T10:00")
    try:
        with service.sessions() as session:
            upsert_roster(
                session, load_roster(yaml.safe_load((EXAMPLES / "roster.yaml").read_text()), "r")[0]
            )
            lines = (EXAMPLES / "events.jsonl").read_text(encoding="utf-8").splitlines()
            history = [e for e in map(json.loads, lines) if parse_instant(e["at"]) <= at]
            ingest_events(session, [(e["id"], e) for e in history], now=at, settings=service.settings)
            session.add(
                Silence(
                    subject="pairing:*",
                    starts_at=parse_instant("2024-06-01"),
                    ends_at=parse_instant("2024-07-01"),
                    created_by="测试",
                    reason="集中走访月",
                    created_at=parse_instant("2024-06-01"),
                )
            )
            session.commit()
        service.tick(at)
        with service.sessions() as session:
            outbox = session.execute(
                select(Notification.key, Notification.recipient, Notification.text)
            ).all()
            marks = session.execute(
                select(AlertRecord.rule, AlertRecord.subject, AlertRecord.period, AlertRecord.silenced_by)
            ).all()
        return sorted(tuple(r) for r in outbox), sorted(tuple(r) for r in marks)
    finally:
        service.close()


def test_a_tick_written_in_small_chunks_marks_and_queues_as_one_chunk_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each write chunk marks only its own alerts (a province's first tick has thousands of
    chunks: reading every open alert for each was quadratic); the tick's last step marks the
    rest. The outcome is the same as marking everything at once."""
    whole_outbox, whole_marks = _silenced_tick(f"sqlite:///{tmp_path / 'whole.db'}", tmp_path)

    def slices(items: Any, seconds: float = 0.0, first: int = 0) -> Any:
        for i in range(0, len(items), 7):
            yield items[i : i + 7]

    monkeypatch.setattr(ticker_module, "timed_chunks", slices)
    outbox, marks = _silenced_tick(f"sqlite:///{tmp_path / 'chunked.db'}", tmp_path)
    silenced = [m for m in whole_marks if m[3] is not None]
    assert silenced and all(m[1].startswith("pairing:") for m in silenced)
    assert len(silenced) < len(whole_marks)  # case alerts are not under the silence: told
    assert {k for k, *_ in whole_outbox} and not any("pairing:" in str(r) for r in whole_outbox)
    assert (outbox, marks) == (whole_outbox, whole_marks)


def test_a_chunk_marks_the_alerts_it_names_and_leaves_the_others(db_url: str, tmp_path: Path) -> None:
    at = parse_instant("2024-06-20T10:00")
    service = Service(
        settings_for(db_url, tmp_path, notify={"channels": ["file"], "file_path": tmp_path / "s"})
    )
    try:
        with service.sessions() as session:
            silence = Silence(
                rule="r1",
                starts_at=at,
                ends_at=at + timedelta(days=1),
                created_by="a",
                reason="b",
                created_at=at,
            )
            session.add(silence)
            session.flush()
            values = {"period": "", "state": "overdue", "level": 1, "due_at": at, "recipients": [],
                      "clause": "c", "message": "m", "fired_at": at, "changed_at": at}  # fmt: skip
            named = AlertRecord(rule="r1", subject="case:named", **values)
            other = AlertRecord(rule="r1", subject="case:other", **values)
            stale = AlertRecord(rule="r2", subject="case:stale", silenced_by=silence.id + 1, **values)
            session.add_all([named, other, stale])
            session.commit()
            run = Run(service.loaded.rulebook, at, ("file",))
            fired = Transition(at, "r1", "case:named", None, "fired", "overdue", 1, at)
            assert enqueue_module.enqueue(session, run, [fired], renotify=False) == 0  # silenced
            session.commit()
            marks = dict(session.execute(select(AlertRecord.subject, AlertRecord.silenced_by)).all())
            assert marks == {"case:named": silence.id, "case:other": None, "case:stale": silence.id + 1}
            enqueue_module.enqueue(session, run, [], renotify=True)  # the tick's last step: all of them
            session.commit()
            marks = dict(session.execute(select(AlertRecord.subject, AlertRecord.silenced_by)).all())
            assert marks == {"case:named": silence.id, "case:other": silence.id, "case:stale": None}
    finally:
        service.close()


def test_an_alert_nobody_can_be_reached_for_is_said_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Email only, and a roster without one address: nothing can be queued, and the log says
    which alert and whom, once per transition, instead of nothing at all."""
    import logging

    roster = yaml.safe_load((EXAMPLES / "roster.yaml").read_text())
    for official in roster["officials"]:
        official.pop("email", None)
    service = Service(
        settings_for(
            f"sqlite:///{tmp_path / 'dw.db'}", tmp_path,
            smtp={"url": "smtp://127.0.0.1:9", "sender": "dw@suyu.example.cn"}, notify={"channels": ["email"]},
        )
    )  # fmt: skip
    try:
        with service.sessions() as session:
            upsert_roster(session, load_roster(roster, "r")[0])
            lines = (EXAMPLES / "events.jsonl").read_text(encoding="utf-8").splitlines()
            at = parse_instant("2024-06-20T10:00")
            history = [e for e in map(json.loads, lines) if parse_instant(e["at"]) <= at]
            ingest_events(session, [(e["id"], e) for e in history], now=at, settings=service.settings)
            session.commit()
        with caplog.at_level(logging.WARNING, logger="monitor.alerts.enqueue"):
            service.tick(at)
        said = [r.getMessage() for r in caplog.records if "can be reached on email" in r.getMessage()]
        with service.sessions() as session:
            told = session.scalars(select(AlertRecord).where(AlertRecord.notified_at.is_not(None))).all()
            queued = session.scalars(select(Notification)).all()
        assert queued == [] and len(told) > 10
        assert len(said) == len(told)
        assert any(f"{a.rule} {a.subject} fired" in line for a in told for line in said)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="monitor.alerts.enqueue"):
            service.tick(at + timedelta(minutes=1))
        assert not [r for r in caplog.records if "can be reached" in r.getMessage()]  # said once
    finally:
        service.close()
