"""The daemon lives through the example district's year under a simulated clock: its events arrive
as they happened, it ticks every morning and dispatches, and what it does matches the backtest.

The daemon's own Service does the work (ingest as the API does, tick, outbox, digests, the monthly
report, the dispatcher to a real SMTP server and a file channel); only the clock is simulated.
Afterwards `dutywatch backtest` over the same stored history prints the very same transitions.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import Message as MimeMessage
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from sqlalchemy import select

from monitor.cli import cli
from monitor.clock import parse_instant
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.runtime.service import Service
from monitor.store.models import Notification
from tests.service.conftest import ROOT, free_port, settings_for

EXAMPLES = ROOT / "config/examples"
FIRST, LAST = "2024-01-01", "2024-12-31"


@dataclass
class Inbox:
    messages: list[MimeMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


# SQLite only: a few minutes of the suite; the evaluation is the same on PostgreSQL (other tests)
@pytest.mark.timeout(900)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_year_lived_under_a_simulated_clock_is_the_backtest(db_url: str, tmp_path: Path) -> None:
    inbox = Inbox()
    port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    settings = settings_for(
        db_url,
        tmp_path,
        smtp={"url": f"smtp://127.0.0.1:{port}", "sender": "dutywatch@suyu.example.cn"},
        notify={"channels": ["email", "file"], "file_path": tmp_path / "sent.jsonl"},
    )
    service = Service(settings)
    try:
        roster = yaml.safe_load((EXAMPLES / "roster.yaml").read_text(encoding="utf-8"))
        with service.sessions() as session:
            upsert_roster(session, load_roster(roster, "roster.yaml")[0])
            session.commit()
        events = sorted(
            (
                json.loads(line)
                for line in (EXAMPLES / "events.jsonl").read_text(encoding="utf-8").splitlines()
            ),
            key=lambda e: parse_instant(e["at"]),
        )
        # history before the year arrives at once, as an import would bring it
        at, last = parse_instant(f"{FIRST}T09:00"), parse_instant(f"{LAST}T23:59:59")
        lived: list[dict[str, Any]] = []
        fed = 0
        while at <= last:
            batch = []
            while fed < len(events) and parse_instant(events[fed]["at"]) <= at:
                batch.append((events[fed]["id"], events[fed]))
                fed += 1
            if batch:
                outcomes = service.ingest(batch)
                assert {o.status for o in outcomes} == {"accepted"}, [
                    o for o in outcomes if o.status != "accepted"
                ]
            service.tick(at)
            lived += [t.record() for t in service.last_changes]
            asyncio.run(service.dispatcher.run_once(at))
            at += timedelta(days=1)
        # the rest of the year's events arrive after the last morning tick: the backtest sees them too
        rest = [(e["id"], e) for e in events[fed:]]
        if rest:
            service.ingest(rest)

        with service.sessions() as session:
            rows = list(session.scalars(select(Notification)))
        # every notification that left went out once; nothing is stuck but what waits by design
        assert Counter(r.key for r in rows).most_common(1)[0][1] == 1
        statuses = Counter(r.status for r in rows)
        assert statuses["dead"] == 0 and statuses["sending"] == 0
        sent_file = [
            json.loads(line) for line in (tmp_path / "sent.jsonl").read_text(encoding="utf-8").splitlines()
        ]
        assert len(sent_file) == sum(1 for r in rows if r.channel == "file" and r.status == "sent")
        mails = list(inbox.messages)
        assert len(mails) == sum(1 for r in rows if r.channel == "email" and r.status == "sent")
        assert len({m["Message-ID"] for m in mails}) == len(mails)
        # twelve monthly reports (December 2023 to November 2024), each to the same people
        reports = Counter(m["Subject"] for m in mails if "督办月报" in str(m["Subject"]))
        assert len(reports) == 12 and len(set(reports.values())) == 1
    finally:
        smtp.stop()
        service.close()

    lived_kinds = Counter(r["transition"] for r in lived)
    assert lived_kinds["fired"] > 100 and lived_kinds["escalated"] > 0 and lived_kinds["resolved"] > 0
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["--db", db_url, "backtest", "--from", FIRST, "--to", LAST, "--format", "json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    replayed = [json.loads(line) for line in result.output.splitlines()]
    # the backtest starts with nothing open, the daemon with what the history before had opened:
    # both see the same year from the first morning on
    assert replayed == lived
