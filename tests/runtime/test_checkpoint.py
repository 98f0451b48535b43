"""The tick, not an ingest's commit, copies SQLite's WAL into the database (store.db.checkpoint):
after its writes, every tick, full or continued."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from monitor.clock import parse_instant
from monitor.runtime import service as service_module
from monitor.runtime.service import Service
from tests.service.conftest import settings_for


def test_each_tick_checkpoints_after_its_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service(settings_for(f"sqlite:///{tmp_path / 'd.db'}", tmp_path))
    done: list[Any] = []
    real = service_module.checkpoint

    def spy(engine: Any) -> Any:
        with service.sessions() as session:  # the tick's record is written by then
            done.append(session.execute(text("SELECT count(*) FROM ticks")).scalar())
        result = real(engine)
        assert result is not None and result[0] == 0 and result[1] == result[2], result
        return result

    monkeypatch.setattr(service_module, "checkpoint", spy)
    try:
        service.tick(parse_instant("2026-03-02T10:00"))  # a full evaluation
        service.tick(parse_instant("2026-03-02T10:01"))  # continued
    finally:
        service.close()
    assert done == [1, 1]


def test_the_daemon_checkpoints_sqlite_every_few_seconds_and_leaves_postgresql_alone() -> None:
    """Between ticks too: with synchronous=NORMAL the checkpoint's sync is what survives a power
    cut, so a quiet daemon must not leave its last commits unsynced until 10,000 pages pile up."""
    from monitor.config import Settings
    from monitor.runtime.scheduler import CHECKPOINT_SECONDS, build_scheduler

    async def job() -> None:
        return None

    with_checkpoint = build_scheduler(Settings(), tick=job, dispatch=job, lead=job, checkpoint=job)
    planned = with_checkpoint.get_job("checkpoint")
    assert planned is not None and planned.trigger.interval.total_seconds() == CHECKPOINT_SECONDS
    assert build_scheduler(Settings(), tick=job, dispatch=job, lead=job).get_job("checkpoint") is None
