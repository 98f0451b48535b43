"""The daemon's lanes: a lane that ends is counted and asks for the next batch; and a daemon
stopping while a mail server takes its time to answer the end of a message (RFC 5321
gives it ten minutes): the drain cuts the lane off within its 10 s, says so (exit 1), and leaves
the row claimed, to go again after the lease as a crash's would. Before, the drain closed the
database under the lane, logged `stopped`, exited 0, and the process lingered a further 30 s
waiting for the server to answer QUIT."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.clock import utcnow
from monitor.daemon import DRAIN_SECONDS, serve
from monitor.runtime.service import Service
from monitor.store.db import make_engine, session_factory
from monitor.store.models import Notification, Official
from tests.service.conftest import free_port, settings_for


class Mute:
    """An SMTP server that takes a message and never answers its end, nor QUIT."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.taken = threading.Event()
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        lines = connection.makefile("rb")
        connection.sendall(b"220 mute\r\n")
        for line in lines:
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                connection.sendall(b"250 ok\r\n")
            elif verb == b"DATA":
                connection.sendall(b"354 go on\r\n")
                for data in lines:
                    if data == b".\r\n":
                        break
                self.taken.set()  # and no answer

    def close(self) -> None:
        self.listener.close()
        for connection in self.connections:
            connection.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_lane_waiting_on_a_mute_mail_server_is_cut_off_within_the_drain(
    db_url: str, tmp_path: Path
) -> None:
    server = Mute()
    database = f"sqlite:///{tmp_path / 'drain.db'}"
    settings = settings_for(
        database,
        tmp_path,
        smtp={
            "url": f"smtp://localhost:{server.port}",
            "sender": "dw@suyu.example.cn",
            "timeout_seconds": 30,
        },
        notify={"channels": ["email"], "quiet_hours": {}},
        listen=f"127.0.0.1:{free_port()}",
    )
    service = Service(settings)
    now = utcnow()
    with service.sessions() as session:
        session.add(Official(id="o1", name="张伟", role="staff", email="zhang.wei@suyu.example.cn"))
        session.add(
            Notification(
                key="k1", alert_id=None, kind="fired", channel="email", recipient="o1", subject="【督办】",
                text="企业诉求已逾期。", status="queued", attempts=0, created_at=now, next_attempt_at=now,
            )
        )  # fmt: skip
        session.commit()
    stopped: list[float] = []

    async def run() -> int:
        async def stop_once_the_message_is_taken() -> None:
            while not server.taken.is_set():
                await asyncio.sleep(0.05)
            stopped.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGTERM)

        asyncio.get_running_loop().create_task(stop_once_the_message_is_taken())
        return await serve(settings, service=service)

    try:
        code = asyncio.run(run())
        ended = time.monotonic()
    finally:
        server.close()
    assert stopped, "the mail server never took the message"
    assert code == 1  # said: a message was cut off mid-send
    assert ended - stopped[0] < DRAIN_SECONDS  # the drain's bound, not the server's QUIT
    engine = make_engine(database)
    try:
        with session_factory(engine)() as session:
            row = session.scalars(select(Notification)).one()
            # claimed, as a crash leaves it: sent again after the lease
            assert (row.status, row.attempts) == ("sending", 1)
    finally:
        engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_lane_that_ends_is_counted_and_asks_for_the_next_batch(db_url: str, tmp_path: Path) -> None:
    """What queued behind a busy channel goes when its lane ends, not at the next poll: the
    service tells `after_lane` (the daemon's `Dispatches.soon`), once per lane, after counting
    the lane's outcomes in the metrics."""
    settings = settings_for(
        db_url,
        tmp_path,
        notify={"channels": ["file"], "file_path": str(tmp_path / "sent.jsonl"), "quiet_hours": {}},
    )
    service = Service(settings)
    try:
        now = utcnow()
        with service.sessions() as session:
            session.add(Official(id="o1", name="张伟", role="staff"))
            for i in range(2):
                session.add(
                    Notification(
                        key=f"k{i}", alert_id=None, kind="fired", channel="file", recipient="o1",
                        subject="【督办】", text="企业诉求已逾期。", status="queued", attempts=0,
                        created_at=now, next_attempt_at=now,
                    )
                )  # fmt: skip
            session.commit()
        asked: list[int] = []
        service.after_lane = lambda: asked.append(len(asked))

        async def dispatch() -> bool:
            full = await service.dispatch()  # starts the lane and returns
            await asyncio.wait(service.dispatcher.lanes())
            return full

        assert asyncio.run(dispatch()) is False  # two rows: not a full batch
        assert asked == [0]  # one lane, one ask
        sent = service.metrics.notifications.labels("file", "sent")._value.get()
        assert sent == 2
    finally:
        service.close()
