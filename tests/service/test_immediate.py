"""Immediate means immediate, with a real daemon and a real SMTP server: a major case's mail is
sent because the accepted event woke the evaluation and the evaluation woke the dispatcher.

The tick and the dispatcher's poll are set to 300 s and the test gives up after 60 s, so a mail
that arrives at all arrived without waiting for either of them, however slow the machine: the
test asserts causality, not speed (bench/immediate.py measures the speed).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import Message
from pathlib import Path

import httpx
import pytest

from bench.immediate import major_case
from monitor.api.app import create_app
from monitor.clock import SHANGHAI, utcnow
from monitor.demo.district import generate_district
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.runtime.scheduler import Evaluations
from monitor.runtime.service import Service
from monitor.store.db import session_factory
from monitor.tokens import create_token
from tests.conftest import MailServer
from tests.service.conftest import DUTYWATCH, cli, free_port, serving, settings_for


def body_of(message: Message) -> str:
    """Every text part of a mail, decoded."""
    texts = []
    for part in message.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            texts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(texts)


def mails_naming(mail_server: MailServer, needle: str) -> list[Message]:
    return [m for m in list(mail_server.inbox.messages) if needle in body_of(m)]


@dataclass
class Running:
    url: str
    auth: dict[str, str]
    process: subprocess.Popen[str]


@pytest.fixture
def mailing_daemon(workdir: Path, mail_server: MailServer) -> Iterator[Running]:
    config = workdir / "dutywatch.yaml"
    written = config.read_text(encoding="utf-8")
    assert "tick_seconds: 1\n" in written
    config.write_text(
        written.replace("tick_seconds: 1\n", "tick_seconds: 300\n")
        + f"smtp: {{sender: dutywatch@suyu.example.cn, ca_file: {mail_server.cert}, timeout_seconds: 5}}\n"
        "notify: {channels: [email], dispatch_seconds: 300}\n",
        encoding="utf-8",
    )
    assert cli(workdir, "demo").returncode == 0
    token = cli(workdir, "token", "create", "--name", "ops", "--scopes", "read,ingest").stdout.strip()
    port = free_port()
    env = {
        **os.environ,
        "DUTYWATCH_LISTEN": f"127.0.0.1:{port}",
        "DUTYWATCH_SMTP_URL": f"smtp://dutywatch:s3cret@localhost:{mail_server.port}?starttls=true",
    }
    process = subprocess.Popen(
        [*DUTYWATCH, "--config", str(config), "run"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert time.monotonic() < deadline, "the daemon did not become ready"
            try:
                ready = httpx.get(f"{url}/readyz", timeout=2)
                if ready.status_code == 200 and ready.json()["leader"]["last_tick"] is not None:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield Running(url, {"Authorization": f"Bearer {token}"}, process)
    finally:
        process.kill()
        process.wait(10)


def test_a_major_case_is_mailed_without_waiting_for_tick_or_poll(
    mailing_daemon: Running, mail_server: MailServer
) -> None:
    posted = httpx.post(
        f"{mailing_daemon.url}/v1/events", headers=mailing_daemon.auth, json=major_case("IMM-1"), timeout=30
    )
    assert posted.json()["accepted"] == 1, posted.text
    deadline = time.monotonic() + 60  # a fifth of the tick and the poll: only the wake-ups can send it
    while not mails_naming(mail_server, "IMM-1"):
        assert time.monotonic() < deadline, "the major case's mail waited for a tick or a poll"
        time.sleep(0.05)
    # a burst of major cases: each mailed, and each once, still before any poll
    burst = [major_case(f"IMM-B{i}") for i in range(10)]
    posted = httpx.post(
        f"{mailing_daemon.url}/v1/events", headers=mailing_daemon.auth, json=burst, timeout=30
    )
    assert posted.json()["accepted"] == 10, posted.text
    deadline = time.monotonic() + 60
    while not all(mails_naming(mail_server, f"IMM-B{i}（") for i in range(10)):
        assert time.monotonic() < deadline, "a major case of the burst waited for a poll"
        time.sleep(0.05)
    for case in ["IMM-1", *(f"IMM-B{i}" for i in range(10))]:
        recipients = [m["To"] for m in mails_naming(mail_server, f"{case}（")]
        assert len(recipients) == len(set(recipients)), f"{case} was mailed twice to one official"
    assert mailing_daemon.process.poll() is None


class RecordingEvaluations(Evaluations):
    """Wake-ups asked of the evaluations, recorded instead of run."""

    def __init__(self, service: Service) -> None:
        super().__init__(service)
        self.woken = 0
        self.timed: list[datetime] = []

    async def wake(self) -> None:
        self.woken += 1

    def wake_at(self, instants: Iterable[datetime]) -> None:
        self.timed += list(instants)


def test_news_wakes_the_evaluation_history_waits_for_the_tick(tmp_path: Path) -> None:
    # a backfill of last year's cases over HTTP must not run an evaluation per request
    service = Service(settings_for(f"sqlite:///{tmp_path / 'dw.db'}", tmp_path))
    evaluations = RecordingEvaluations(service)
    try:
        roster = generate_district(utcnow().astimezone(SHANGHAI).date())[0]
        with session_factory(service.engine)() as session:
            upsert_roster(session, load_roster(roster, "demo")[0])
            token = create_token(session, "feeder", ("ingest",), utcnow())
            session.commit()
        with serving(create_app(service, evaluations)) as url:

            def post(case: str, opened: datetime) -> None:
                event = {**major_case(case), "at": opened.astimezone(SHANGHAI).isoformat()}
                answer = httpx.post(
                    f"{url}/v1/events", json=event, headers={"Authorization": f"Bearer {token}"}, timeout=30
                )
                assert answer.json()["accepted"] == 1, answer.text

            now = utcnow()
            post("OLD-1", now - timedelta(days=10))
            assert evaluations.woken == 0 and evaluations.timed == []
            post("NEW-1", now - timedelta(hours=2))
            assert evaluations.woken == 1
            ahead = now + timedelta(seconds=30)
            post("AHEAD-1", ahead)  # woken now, and timed for when it happens
            assert evaluations.woken == 2 and ahead.replace(microsecond=0) in [
                t.replace(microsecond=0) for t in evaluations.timed
            ]
    finally:
        service.close()
