"""The tick in a process of its own, so that the API keeps its interpreter while a tick runs.

A full tick is seconds of Python (5 s at M, minutes at L). On a thread of the daemon it held the
interpreter lock for about half of that against the requests being served: `POST /v1/events`
ran 2.35-2.9 times slower while full ticks ran (docs/scaling.md). In a process of its own the
tick has an interpreter of its own; the daemon keeps the metrics, the heartbeat and the log, and
what a tick leaves for the next (the baseline, monitor/runtime/ticker.py) lives in that process.

The daemon sends its setup first — `(settings, rulebook, calendar)`, its worker name, channels
and log level — then one request at a time, each answered before the next (the daemon's tick
lock), the process's log records coming in between:

- `("tick", at, key, loaded)` → `("ticked", Ticked)` or `("failed", database, text)`; `loaded`
  is `(settings, rulebook, calendar)` when they changed since the last tick (a reload), else
  None: the process compiles its own matcher from the rules;
- `("forget",)` → `("forgotten",)`: the next tick is a full one;
- `("log", fields)` from the process at any time during a request: a log record.

The process ends when the socket closes: the daemon closed it or ended. It dies with the daemon
(a SIGKILL to the daemon kills it too, on Linux), so a standby taking over never finds an
orphan still writing a tick; it ignores the terminal's and the service manager's SIGINT,
SIGTERM and SIGHUP, which are the daemon's to act on (it drains, then closes the socket). If it
dies, the daemon's tick fails with the reason and the next tick starts a new one (a full tick:
the baseline died with it).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SATimeoutError

from monitor.calendar.working_days import WorkCalendar
from monitor.config import Settings
from monitor.evaluation.evaluate import Evaluator
from monitor.rulebook import Rulebook
from monitor.runtime.ticker import Ticked, Ticker

log = logging.getLogger("dutywatch")
_Loaded = tuple[Settings, Rulebook, WorkCalendar]


class TickFailed(RuntimeError):
    """The tick failed in the evaluation process (or the process ended): what it said, and
    whether the database was the cause (for the metrics)."""

    def __init__(self, message: str, *, database: bool = False) -> None:
        super().__init__(message)
        self.database = database


def database_failed(exc: BaseException) -> bool:
    """Whether a tick failed because of the database (unreachable, locked, timed out), here or
    in the evaluation process (for the metrics)."""
    return isinstance(exc, DBAPIError | SATimeoutError) or (isinstance(exc, TickFailed) and exc.database)


class EvaluationProcess:
    """A `Ticker` in a process of its own, with the Ticker's `tick`, `forget` and `close`.

    The process is `python -m monitor.runtime.evaluation_process`, a fresh interpreter (a fork
    would copy the daemon's threads, sockets and pools; multiprocessing's spawn would import the
    daemon's main script again, which a script without a main guard does not survive), talking
    over a socket pair it inherits: requests and answers, and its log records in between. It is
    started by the first tick (a standby that never leads never starts one), and again by the
    tick after it ended."""

    def __init__(self, settings: Settings, worker: str, loaded: Evaluator) -> None:
        self._worker = worker
        self._sent: tuple[Settings, Evaluator] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        # Linux sends the death signal when the *thread* that started the process ends: every
        # start goes through this one thread, which lives as long as this object
        self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dutywatch-evaluation-start")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _running(self, settings: Settings, loaded: Evaluator) -> Connection:
        """The process's connection, the process started if none runs (or it ended)."""
        if self._process is not None and self._process.poll() is not None:
            code = self._end(wait=0)
            log.warning("evaluation process: it ended (exit code %s); starting a new one", code)
        if self._conn is None:
            self._starter.submit(self._start, settings, loaded).result()
        assert self._conn is not None
        return self._conn

    def _start(self, settings: Settings, loaded: Evaluator) -> None:
        ours, theirs = socket.socketpair()
        # the daemon's own code, whatever the working directory holds (-P: no cwd on the path)
        paths = [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]
        with theirs:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-P",
                    "-m",
                    "monitor.runtime.evaluation_process",
                    str(theirs.fileno()),
                    str(os.getpid()),
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)},
                start_new_session=True,  # a terminal's Ctrl-C is the daemon's, even during its imports
            )
        self._conn = Connection(ours.detach())
        setup = (
            (settings, loaded.rulebook, loaded.calendar),
            self._worker,
            logging.getLogger().level,
        )
        try:
            self._conn.send(setup)
        except OSError as exc:
            code = self._end(wait=5.0)
            raise TickFailed(f"the evaluation process ended as it started (exit code {code})") from exc
        self._sent = (settings, loaded)

    def tick(self, at: datetime, key: bytes, settings: Settings, loaded: Evaluator) -> Ticked:
        conn = self._running(settings, loaded)
        fresh: _Loaded | None = None
        if self._sent is None or self._sent[0] is not settings or self._sent[1] is not loaded:
            fresh = (settings, loaded.rulebook, loaded.calendar)
        reply = self._ask(conn, ("tick", at, key, fresh))
        self._sent = (settings, loaded)
        if reply[0] == "failed":
            raise TickFailed(reply[2], database=reply[1])
        ticked = reply[1]
        assert isinstance(ticked, Ticked)
        return ticked

    def forget(self) -> None:
        """The next tick is a full one (a process started anew starts with one anyway)."""
        if self._conn is not None and self._process is not None and self._process.poll() is None:
            self._ask(self._conn, ("forget",))

    def _ask(self, conn: Connection, message: tuple[object, ...]) -> tuple[Any, ...]:
        """Send a request; relay the log records that come before its answer; the answer."""
        try:
            conn.send(message)
            while True:
                reply: tuple[Any, ...] = conn.recv()
                if reply[0] != "log":
                    return reply
                record = logging.makeLogRecord(reply[1])
                logging.getLogger(record.name).handle(record)
        except (EOFError, OSError) as exc:
            code = self._end(wait=5.0)
            raise TickFailed(f"the evaluation process ended (exit code {code})") from exc

    def _end(self, wait: float) -> int | None:
        """Close the socket (the process ends when it reads its end) and wait for it; the exit
        code, None if it had to be killed."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        process, self._process = self._process, None
        if process is None:
            return None
        try:
            return process.wait(wait)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
            return None

    def close(self) -> None:
        """End the process after the tick it runs, if any (the daemon's drain waited for it)."""
        self._end(wait=60.0)
        self._starter.shutdown(wait=True)


class _Forward(logging.Handler):
    """The evaluation process's log records, sent to the daemon between its answers (formatted
    here: what is sent is plain data)."""

    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self._conn = conn
        self._sending = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = dict(record.__dict__)
            fields.update(msg=record.getMessage(), args=None, exc_info=None, exc_text=None)
            if record.exc_info:
                fields["msg"] += "\n" + "".join(traceback.format_exception(*record.exc_info))
            with self._sending:
                self._conn.send(("log", fields))
        except Exception:
            self.handleError(record)


def _die_with_parent(daemon: int) -> None:
    """Ask Linux to SIGKILL this process when the daemon dies (prctl PR_SET_PDEATHSIG); elsewhere
    the closed socket ends it after the tick it runs."""
    import ctypes
    import ctypes.util

    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != daemon:  # the daemon died before the request took hold
        os._exit(1)


def _serve(conn: Connection, daemon: int) -> None:
    """The evaluation process: a Ticker answering the daemon's requests until the socket closes."""
    _die_with_parent(daemon)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    loaded, worker, level = conn.recv()
    root = logging.getLogger()
    root.handlers[:] = [_Forward(conn)]
    root.setLevel(level)

    from monitor.store.db import engine_for

    settings, rulebook, calendar = loaded
    evaluator = Evaluator.of(rulebook, calendar)
    engine = engine_for(settings)
    ticker = Ticker(engine, worker, settings, evaluator)
    try:
        while True:
            try:
                message = conn.recv()
            except EOFError:
                break
            if message[0] == "forget":
                ticker.forget()
                conn.send(("forgotten",))
                continue
            _, at, key, fresh = message
            try:
                if fresh is not None:  # a reload: the next tick takes it
                    settings, rulebook, calendar = fresh
                    evaluator = Evaluator.of(rulebook, calendar)
                answer: tuple[object, ...] = ("ticked", ticker.tick(at, key, settings, evaluator))
            except Exception as exc:
                log.error("evaluation process: the tick failed\n%s", traceback.format_exc())
                answer = ("failed", database_failed(exc), f"{type(exc).__name__}: {exc}")
            conn.send(answer)
    finally:
        engine.dispose()


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])), int(sys.argv[2]))
