"""The daemon's lifecycle, run in this process: SIGTERM lets the evaluation in flight finish and
closes the database; a port that is taken is a clean exit 1, not a hang."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from monitor.config import Settings
from monitor.daemon import serve
from monitor.evaluation.evaluate import Evaluation
from monitor.runtime.service import Service
from tests.service.conftest import free_port, settings_for

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


class SlowService(Service):
    """A service whose tick lasts long enough for SIGTERM to arrive in the middle of it."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.leadership.key = uuid.uuid4().int % 2**62
        self.started = threading.Event()
        self.finished: list[datetime] = []

    def tick(self, now: datetime | None = None) -> Evaluation:
        self.started.set()
        time.sleep(1.0)
        evaluation = super().tick(now)
        self.finished.append(evaluation.at)
        return evaluation


def test_sigterm_finishes_the_evaluation_in_flight_then_closes(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(db_url, tmp_path, listen=f"127.0.0.1:{free_port()}")
    service = SlowService(settings)

    def terminate_mid_tick() -> None:
        assert service.started.wait(20)
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate_mid_tick)
    killer.start()
    code = asyncio.run(serve(settings, service=service))
    killer.join()
    assert code == 0  # serve() exits 1 when the drain overruns its 10 s budget
    assert len(service.finished) == 1 and settings.heartbeat_file.exists()
    with pytest.raises(RuntimeError):  # the evaluation thread is shut down
        service.executor.submit(print)


@SQLITE_ONLY
def test_a_listen_port_in_use_exits_1(db_url: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = settings_for(db_url, tmp_path, listen=f"127.0.0.1:{port}")
        assert asyncio.run(asyncio.wait_for(serve(settings), 15)) == 1
