"""The tick, not an ingest's commit, copies SQLite's WAL into the database (store.db.checkpoint):
after its writes, every tick, full or continued."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from monitor.clock import parse_instant
from monitor.runtime import ticker as ticker_module
from monitor.runtime.service import Service
from monitor.store.db import ensure_schema
from tests.service.conftest import settings_for


def test_each_tick_checkpoints_after_its_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service(settings_for(f"sqlite:///{tmp_path / 'd.db'}", tmp_path))
    done: list[Any] = []
    real = ticker_module.checkpoint

    def spy(engine: Any) -> Any:
        with service.sessions() as session:  # the tick's record is written by then
            done.append(session.execute(text("SELECT count(*) FROM ticks")).scalar())
        result = real(engine)
        assert result is not None and result[0] == 0 and result[1] == result[2], result
        return result

    monkeypatch.setattr(ticker_module, "checkpoint", spy)
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


def test_ingest_starts_a_checkpoint_off_its_commit_once_enough_events_were_written(
    db_url: str, tmp_path: Path
) -> None:
    """`WalCopier`: not at every-1 events since the last, at every; one at a time; and on
    PostgreSQL never (it keeps its own log)."""
    from monitor.store.db import WalCopier, make_engine

    engine = make_engine(db_url)
    ensure_schema(engine)
    copier = WalCopier(engine, every=3)
    try:
        if engine.dialect.name != "sqlite":
            assert copier.wrote(10**6) is None
            return
        assert copier.wrote(0) is None and copier.wrote(2) is None
        with engine.begin() as conn:  # something in the log to copy
            conn.execute(text("INSERT INTO ticks (name, at, seconds, alerts, transitions, worker) "
                              "VALUES ('last', '2026-01-01', 0, 0, 0, 't')"))  # fmt: skip
        started = copier.wrote(1)
        assert started is not None
        busy, frames, copied = started.result(10)
        assert busy == 0 and frames > 0 and copied == frames  # the whole log, in the database
        assert copier.wrote(2) is None  # counted again from the last
        assert copier.wrote(1) is not None
        copier.close()  # the daemon drains: a request finishing after it still gets its answer
        assert copier.wrote(3) is None
    finally:
        copier.close()
        engine.dispose()


def test_a_service_copies_the_log_as_its_ingest_fills_it(tmp_path: Path) -> None:
    """What ingest accepted counts (the rejected not), and the copy runs beside it."""
    from monitor.store.db import WalCopier
    from tests.evaluation.test_steady import _events, _roster

    service = Service(settings_for(f"sqlite:///{tmp_path / 'd.db'}", tmp_path))
    service.wal.close()
    service.wal = WalCopier(service.engine, every=3)
    started: list[Any] = []
    real = service.wal.wrote
    service.wal.wrote = lambda events: started.append((events, real(events)))  # type: ignore[method-assign]
    try:
        _roster((service,))
        service.ingest([("[0]", {"id": "x", "type": "visit"})])  # rejected
        service.ingest([(f"[{i}]", e) for i, e in enumerate(_events()[:2])])
        assert [(n, f) for n, f in started] == [(0, None), (2, None)]
        service.ingest([("[0]", _events()[2])])
        assert started[-1][0] == 1 and started[-1][1] is not None
        busy, frames, copied = started[-1][1].result(10)
        assert busy == 0 and copied == frames > 0
    finally:
        service.close()
