"""Enqueue works a chunk of alerts at a time (bounded memory on a province's first tick): the
outbox it fills is the same whatever the chunk size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from monitor.alerts import enqueue as enqueue_module
from monitor.clock import parse_instant
from monitor.ingest.events import ingest_events
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.runtime.service import Service
from monitor.store.models import AlertRecord, Notification
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
