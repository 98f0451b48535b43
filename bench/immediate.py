"""Immediate means immediate, measured from outside: HTTP 200 for an event an immediate rule waits
for (a major case opened, `case-major-to-meeting`) → the mail accepted by a real SMTP server
(aiosmtpd on loopback), while a background stream of ordinary events (contacts) keeps arriving.

    python -m bench.immediate                          # both setups, results to bench/RESULTS*.md
    python -m bench.immediate --setup sqlite --cases 20 --no-write

Setups, each on the shipped configuration (config/dutywatch.yaml: `tick_seconds: 60`, the
dispatcher's 5 s poll) over the demo district:
- `sqlite`: one daemon; the cases and the stream are posted to it;
- `postgresql`: a leader and a standby on one database; the cases are posted **to the standby**
  (it stores them and NOTIFYs the leader), the stream to both; then the leader is SIGKILLed and
  the bench reads, from the new leader's log, when it took the lock and when its first
  evaluation committed.

Every figure is a wall-clock time in this process: the HTTP 200 received, the SMTP DATA accepted
(first and last mail of the case: a major case mails each of its officials). A case not mailed
within `--give-up` seconds counts as that long. The machine is shared: read the spread, not the
last digit.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from aiosmtpd.controller import Controller
from sqlalchemy import text

from bench.schemas import scratch_schema
from monitor.clock import SHANGHAI, utcnow
from monitor.demo.district import generate_district
from monitor.store.db import make_engine

ROOT = Path(__file__).resolve().parent.parent
DUTYWATCH = [sys.executable, "-m", "monitor"]
PG_URL = os.environ.get("DUTYWATCH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
RESULTS = {"sqlite": ROOT / "bench/RESULTS.md", "postgresql": ROOT / "bench/RESULTS-postgresql.md"}
HEADING = "## Immediate events: HTTP 200 → SMTP accepted"
# the same benchmark run on main before issue 18 (b0b4ce9, 2026-12-05, 20 cases, 50 events/s)
BEFORE = {
    "sqlite": "Before issue 18 (main at b0b4ce9, this benchmark, 20 cases): to the first mail p50"
    " 4.33 s, p95 4.67 s, max 4.69 s — an immediate evaluation at most every 5 s, then the"
    " dispatcher's 5 s poll.",
    "postgresql": "Before issue 18 (main at b0b4ce9, this benchmark, 20 cases): p50 64.1 s, p95"
    " 64.7 s, max 64.7 s — a case the standby stored waited for the leader's next tick (60 s,"
    " jittered); each case was posted just after the previous one's mail, in phase with that"
    " tick, hence near its worst case (at random phase the issue measured 15.6 / 45.6 / 63.5 s"
    " min / median / max). The new leader's first evaluation came 60.6 s after it took the"
    " lock (its first scheduled tick).",
}
ENTERPRISE = generate_district(utcnow().astimezone(SHANGHAI).date())[0]["enterprises"][0]["id"]


class Inbox:
    """Each accepted mail's arrival (monotonic seconds) and text, for matching to its case."""

    def __init__(self) -> None:
        self.mails: list[tuple[float, str, str]] = []  # (accepted, To, subject and text)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        accepted = time.monotonic()
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        texts = [str(message["Subject"] or "")]
        for part in message.walk():
            if part.get_content_maintype() == "text":
                texts.append(str(part.get_content()))
        with self._lock:
            self.mails.append((accepted, str(message["To"]), "\n".join(texts)))
        return "250 OK"

    def arrivals(self, needle: str) -> list[float]:
        with self._lock:
            return [at for at, _, body in self.mails if needle in body]

    def recipients(self, needle: str) -> list[str]:
        with self._lock:
            return [to for _, to, body in self.mails if needle in body]


@dataclass
class Latencies:
    """Seconds from the HTTP 200 to the first and to the last mail of each case."""

    first: list[float] = field(default_factory=list)
    last: list[float] = field(default_factory=list)
    missed: int = 0  # cases with no mail within `give_up` (counted as `give_up` above)

    @staticmethod
    def summary(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        if not ordered:
            return {}
        return {
            "p50": round(statistics.median(ordered), 3),
            "p95": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 3),
            "max": round(ordered[-1], 3),
            "min": round(ordered[0], 3),
        }


@dataclass
class Result:
    setup: str
    cases: int
    background_events_per_s: float
    background_accepted: int = 0
    first_mail: dict[str, float] = field(default_factory=dict)
    all_mails: dict[str, float] = field(default_factory=dict)
    missed: int = 0
    mails_per_case: float = 0.0
    duplicates: int = 0  # a case mailed twice to one official: must be 0
    # leader/standby only: the takeover after a SIGKILL of the leader
    takeover_s: float | None = None  # SIGKILL → the standby logs that it leads
    first_evaluation_s: float | None = None  # it leads → its first evaluation committed
    takeover_case_s: float | None = None  # a case posted right after the kill → its first mail
    seconds: float = 0.0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _database(setup: str, folder: Path) -> Iterator[str]:
    if setup == "sqlite":
        yield f"sqlite:///{folder / 'dw.db'}"
        return
    with scratch_schema(PG_URL, "immediate") as url:
        yield url


def _config(folder: Path, url: str, smtp_port: int) -> Path:
    """The shipped configuration, pointed at this database and mail server."""
    config = yaml.safe_load((ROOT / "config/dutywatch.yaml").read_text(encoding="utf-8"))
    config.update(
        database_url=url,
        rules_dir=str(ROOT / "rules"),
        heartbeat_file=str(folder / "heartbeat"),
        calendar={**config.get("calendar", {}), "overrides_dir": str(ROOT / "config/calendar")},
        smtp={"url": f"smtp://127.0.0.1:{smtp_port}", "sender": "dutywatch@suyu.example.cn"},
        notify={"channels": ["email"]},
    )
    path = folder / "dutywatch.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def _cli(config: Path, *args: str) -> str:
    run = subprocess.run(
        [*DUTYWATCH, "--config", str(config), *args],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if run.returncode != 0:
        raise RuntimeError(f"dutywatch {' '.join(args)} failed: {run.stderr}")
    return run.stdout.strip()


def _start(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [*DUTYWATCH, "--config", str(config), "run", "--log-format", "json"],
            cwd=config.parent,
            env={**os.environ, "DUTYWATCH_LISTEN": f"127.0.0.1:{port}"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _readyz(url: str) -> dict[str, Any] | None:
    try:
        body: dict[str, Any] = httpx.get(f"{url}/readyz", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return None
    return body


def _wait(what: str, condition: Any, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting: {what}")
        time.sleep(0.1)


def _outbox_due(url: str) -> int:
    """Rows the dispatcher would send now (digests wait for their morning, not counted)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT status, next_attempt_at FROM outbox WHERE status IN ('queued', 'sending')")
            ).all()
    finally:
        engine.dispose()
    now = utcnow()
    due = 0
    for status, next_attempt in rows:
        instant = datetime.fromisoformat(next_attempt) if isinstance(next_attempt, str) else next_attempt
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=now.tzinfo)
        due += status == "sending" or instant <= now
    return due


def major_case(case: str) -> dict[str, object]:
    # opened a moment ago (an event of the future waits for its time)
    opened = (utcnow() - timedelta(seconds=5)).astimezone(SHANGHAI).replace(microsecond=0)
    return {
        "id": f"ev-{case}",
        "type": "case_opened",
        "at": opened.isoformat(),
        "case": case,
        "enterprise": ENTERPRISE,
        "channel": "forum",
        "complexity": "major",
        "category": "用地",
        "unit": "u-spj",
    }


class Stream:
    """Ordinary events (contacts of paired officials) at a steady rate, in batches of ten, spread
    over the replicas as a balancer would."""

    def __init__(self, urls: list[str], token: str, per_second: float) -> None:
        roster = generate_district(utcnow().astimezone(SHANGHAI).date())[0]
        self.pairs = [(p["official"], p["enterprise"]) for p in roster["pairings"] if p.get("official")]
        self.urls = urls
        self.auth = {"Authorization": f"Bearer {token}"}
        self.per_second = per_second
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stream", daemon=True)

    def __enter__(self) -> Stream:
        if self.per_second > 0:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)

    def _run(self) -> None:
        run = uuid.uuid4().hex[:6]
        n = 0
        interval = 10 / self.per_second
        next_at = time.monotonic()
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                official, enterprise = self.pairs[n % len(self.pairs)]
                at = (utcnow() - timedelta(seconds=5)).astimezone(SHANGHAI).replace(microsecond=0)
                batch = [
                    {
                        "id": f"bg-{run}-{n}-{k}",
                        "type": "contact",
                        "at": at.isoformat(),
                        "official": official,
                        "enterprise": enterprise,
                        "channel": "phone",
                    }
                    for k in range(10)
                ]
                url = self.urls[n % len(self.urls)]
                n += 1
                try:
                    reply = client.post(f"{url}/v1/events", json=batch, headers=self.auth)
                    if reply.status_code == 200:
                        self.accepted += int(reply.json()["accepted"])
                except httpx.HTTPError:
                    pass  # a replica being killed
                next_at += interval
                self._stop.wait(max(0.0, next_at - time.monotonic()))


def measure(
    url: str, auth: dict[str, str], inbox: Inbox, cases: list[str], give_up: float, rng: random.Random
) -> Latencies:
    """Post each case alone, wait for its first mail, pause a little; then collect every mail."""
    posted: dict[str, float] = {}
    out = Latencies()
    with httpx.Client(timeout=30) as client:
        for case in cases:
            reply = client.post(f"{url}/v1/events", json=major_case(case), headers=auth)
            ok = time.monotonic()
            if reply.status_code != 200 or reply.json()["accepted"] != 1:
                raise RuntimeError(f"{case} was not accepted: {reply.text}")
            posted[case] = ok
            deadline = ok + give_up
            while not inbox.arrivals(f"{case}（") and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.3, 1.0))  # not back to back: each measured on its own
    time.sleep(2)  # the last mails of the last case
    for case, ok in posted.items():
        arrivals = inbox.arrivals(f"{case}（")
        if not arrivals:
            out.missed += 1
            out.first.append(give_up)
            out.last.append(give_up)
            continue
        out.first.append(min(arrivals) - ok)
        out.last.append(max(arrivals) - ok)
    return out


def _log_times(log: Path, message: str) -> list[float]:
    """Wall-clock times (epoch seconds) of the daemon's JSON log lines starting with `message`."""
    times = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if str(entry.get("message", "")).startswith(message):
            times.append(datetime.fromisoformat(entry["time"]).timestamp())
    return times


@contextmanager
def _daemons() -> Iterator[list[subprocess.Popen[bytes]]]:
    """The daemons started into the list, stopped (SIGTERM, then SIGKILL) on the way out: before
    their database goes."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def run_setup(
    setup: str, cases: int, per_second: float, give_up: float, seed: int, keep: bool = False
) -> Result:
    rng = random.Random(seed)
    folder = Path(tempfile.mkdtemp(prefix=f"dutywatch-immediate-{setup}-"))
    inbox = Inbox()
    smtp_port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    result = Result(setup, cases, per_second)
    started = time.monotonic()
    try:
        with _database(setup, folder) as url, _daemons() as processes:
            config = _config(folder, url, smtp_port)
            _cli(config, "demo")
            token = _cli(config, "token", "create", "--name", "bench", "--scopes", "ingest")
            auth = {"Authorization": f"Bearer {token}"}
            replicas = 1 if setup == "sqlite" else 2
            ports = [_free_port() for _ in range(replicas)]
            urls = [f"http://127.0.0.1:{p}" for p in ports]
            logs = [folder / f"daemon-{i}.log" for i in range(replicas)]
            for port, log in zip(ports, logs, strict=True):
                processes.append(_start(config, port, log))
                time.sleep(1.0 if replicas > 1 else 0)  # the first to start leads
            states: list[dict[str, Any] | None] = []

            def settled() -> bool:
                states[:] = [_readyz(u) for u in urls]
                roles = sorted(str(s.get("role")) for s in states if s is not None)
                leads = [s for s in states if s is not None and s.get("role") == "leader"]
                return (
                    len(roles) == replicas
                    and len(leads) == 1
                    and (leads[0].get("leader") or {}).get("last_tick") is not None
                )

            _wait("a leader that ticked", settled)
            leader = next(i for i, s in enumerate(states) if s is not None and s["role"] == "leader")
            target = leader if replicas == 1 else 1 - leader  # the standby takes the cases
            # the first tick mails the district's standing alerts: measure once they are out
            _wait("the first tick's mails sent", lambda: _outbox_due(url) == 0, 600)
            with Stream(urls, token, per_second) as stream:
                time.sleep(3)  # the stream running before the first case
                names = [f"IMB-{setup[:2].upper()}{i:03d}" for i in range(cases)]
                latencies = measure(urls[target], auth, inbox, names, give_up, rng)
                if replicas > 1:
                    _takeover(result, processes, leader, urls, logs, auth, inbox, give_up)
                result.background_accepted = stream.accepted
            result.first_mail = Latencies.summary(latencies.first)
            result.all_mails = Latencies.summary(latencies.last)
            result.missed = latencies.missed
            per_case = [len(inbox.arrivals(f"{n}（")) for n in names]
            result.mails_per_case = round(sum(per_case) / max(1, len(per_case)), 2)
            result.duplicates = _duplicates(inbox, names)
    finally:
        controller.stop()
        if keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    result.seconds = round(time.monotonic() - started, 1)
    return result


def _duplicates(inbox: Inbox, names: list[str]) -> int:
    """Mails of one case to one official beyond the first."""
    return sum(len(r) - len(set(r)) for r in (inbox.recipients(f"{n}（") for n in names))


def _takeover(
    result: Result,
    processes: list[subprocess.Popen[bytes]],
    leader: int,
    urls: list[str],
    logs: list[Path],
    auth: dict[str, str],
    inbox: Inbox,
    give_up: float,
) -> None:
    """SIGKILL the leader; post a case to the survivor at once; read its log for the takeover."""
    standby = 1 - leader
    killed = time.time()
    processes[leader].send_signal(signal.SIGKILL)
    processes[leader].wait(10)
    case = "IMB-TAKEOVER"
    with httpx.Client(timeout=30) as client:
        reply = client.post(f"{urls[standby]}/v1/events", json=major_case(case), headers=auth)
    ok = time.monotonic()
    if reply.status_code != 200 or reply.json()["accepted"] != 1:
        raise RuntimeError(f"{case} was not accepted: {reply.text}")
    deadline = ok + give_up
    while not inbox.arrivals(f"{case}（") and time.monotonic() < deadline:
        time.sleep(0.005)
    arrivals = inbox.arrivals(f"{case}（")
    result.takeover_case_s = round((min(arrivals) if arrivals else deadline) - ok, 3)
    _wait("the new leader's log", lambda: bool(_log_times(logs[standby], "tick:")), 60)
    led = [t for t in _log_times(logs[standby], "this process is now the leader") if t >= killed]
    ticks = [t for t in _log_times(logs[standby], "tick:") if led and t >= led[0]]
    if led:
        result.takeover_s = round(led[0] - killed, 3)
    if led and ticks:
        result.first_evaluation_s = round(ticks[0] - led[0], 3)


def write_results(result: Result) -> None:
    """Replace (or add) this benchmark's section of the setup's RESULTS file."""
    path = RESULTS[result.setup]
    body = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    head, _, rest = body.partition(HEADING)
    tail = rest.partition("\n## ")[2] if rest else ""
    section = _section(result)
    path.write_text(head.rstrip("\n") + "\n\n" + section + ("\n## " + tail if tail else ""), encoding="utf-8")


def _section(r: Result) -> str:
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    what = (
        "one SQLite daemon"
        if r.setup == "sqlite"
        else "a leader and a standby on PostgreSQL, each case posted **to the standby**"
    )
    lines = [
        HEADING,
        "",
        f"- date: {datetime.now(SHANGHAI).date().isoformat()}; machine: {machine}",
        f"- command: `python -m bench.immediate --setup {r.setup} --cases {r.cases}"
        f" --background {r.background_events_per_s:g}`",
        f"- {what}; the shipped configuration (`tick_seconds: 60`, the dispatcher's 5 s poll) over"
        f" the demo district; {r.background_events_per_s:g} ordinary events/s in the background"
        f" ({r.background_accepted} accepted during the run)",
        "",
        "| seconds from HTTP 200 | p50 | p95 | max | min |",
        "|---|---|---|---|---|",
        _row("to the first mail accepted", r.first_mail),
        _row(f"to every mail of the case ({r.mails_per_case:g} a case)", r.all_mails),
        "",
        f"{r.cases} major cases (`case_opened`, complexity `major`, rule `case-major-to-meeting`),"
        f" posted one at a time; {r.missed} not mailed within the give-up time;"
        f" {r.duplicates} mailed twice.",
    ]
    if r.setup == "postgresql":
        lines += [
            "",
            f"Takeover: the leader SIGKILLed, the standby logged that it leads {r.takeover_s} s later"
            f" (it polls the lock every 2 s); its first evaluation committed {r.first_evaluation_s} s"
            f" after that; a case posted to it right after the kill was mailed {r.takeover_case_s} s"
            " after its HTTP 200.",
        ]
    lines += ["", BEFORE[r.setup], ""]
    return "\n".join(lines)


def _row(label: str, figures: dict[str, float]) -> str:
    cells = [str(figures.get(k, "—")) for k in ("p50", "p95", "max", "min")]
    return f"| {label} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--setup", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--background", type=float, default=50.0, help="ordinary events a second")
    parser.add_argument("--give-up", type=float, default=90.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS*.md")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (daemon logs)")
    args = parser.parse_args()
    for setup in args.setup or ["sqlite", "postgresql"]:
        result = run_setup(setup, args.cases, args.background, args.give_up, args.seed, args.keep)
        print(json.dumps(asdict(result), indent=2, ensure_ascii=False))
        if not args.no_write:
            write_results(result)


if __name__ == "__main__":
    main()
