"""`dutywatch notify test` sends through the real outbox and channel and reports what the outbox
recorded: a real SMTP server (aiosmtpd, STARTTLS, authentication), the file channel, and
refusals that name the unknown official or channel and queue nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.header import decode_header, make_header
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from sqlalchemy import select

from monitor.cli import cli
from monitor.store.db import ensure_schema, make_engine, session_factory
from monitor.store.models import AuditEntry, Notification, Official
from tests.conftest import MailServer

ROOT = Path(__file__).resolve().parents[2]
ZHANG = Official(
    id="o-zhang", name="张伟", role="staff", email="zhang.wei@suyu.example.cn", phone="13951234567"
)
LI = Official(id="o-li", name="李娜", role="staff", email=None, phone=None)


@dataclass
class Setup:
    config: Path
    db_url: str
    notifications: Path

    def run(self, *args: str, smtp_url: str | None = None) -> Result:
        env = {"DUTYWATCH_SMTP_URL": smtp_url} if smtp_url else {}
        return CliRunner().invoke(cli, ["--config", str(self.config), "notify", "test", *args], env=env)

    def outbox(self) -> list[Notification]:
        engine = make_engine(self.db_url)
        try:
            with session_factory(engine)() as session:
                return list(session.scalars(select(Notification).order_by(Notification.id)))
        finally:
            engine.dispose()


@pytest.fixture
def setup(tmp_path: Path, mail_server: MailServer) -> Setup:
    db_url = f"sqlite:///{tmp_path / 'dw.db'}"
    engine = make_engine(db_url)
    ensure_schema(engine)
    with session_factory(engine)() as session:
        session.add_all([Official(**_columns(o)) for o in (ZHANG, LI)])
        session.commit()
    engine.dispose()
    notifications = tmp_path / "notifications.jsonl"
    config = {
        "database_url": db_url,
        "rules_dir": str(ROOT / "rules"),
        "calendar": {"overrides_dir": str(ROOT / "config/calendar")},
        "smtp": {
            "sender": "dutywatch@suyu.example.cn",
            "ca_file": str(mail_server.cert),
            "timeout_seconds": 5,
        },
        "notify": {"channels": ["email", "file"], "file_path": str(notifications), "quiet_hours": {}},
    }
    path = tmp_path / "dutywatch.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return Setup(path, db_url, notifications)


def _columns(official: Official) -> dict[str, object]:
    return {c: getattr(official, c) for c in ("id", "name", "role", "email", "phone")}


def decoded(header: str) -> str:
    return str(make_header(decode_header(header)))


def smtp(mail_server: MailServer, password: str = "s3cret") -> str:
    return f"smtp://dutywatch:{password}@localhost:{mail_server.port}?starttls=true"


def test_a_test_email_goes_through_the_outbox_to_the_mail_server(
    setup: Setup, mail_server: MailServer
) -> None:
    result = setup.run(
        "--official", "o-zhang", "--channel", "email", "--format", "json", smtp_url=smtp(mail_server)
    )
    assert result.exit_code == 0, result.output
    [answer] = json.loads(result.output)
    [mail] = mail_server.inbox.messages
    assert decoded(mail["To"]) == "张伟 <zhang.wei@suyu.example.cn>" and "测试" in decoded(mail["Subject"])
    [row] = setup.outbox()
    # the answer is the outbox's record: the row was sent, by the dispatcher, with the Message-ID
    assert (row.kind, row.channel, row.recipient, row.status, row.attempts) == (
        "test",
        "email",
        "o-zhang",
        "sent",
        1,
    )
    assert answer == {"id": row.id, "channel": "email", "status": "sent", "detail": mail["Message-ID"]}
    assert row.provider_id == mail["Message-ID"]


def test_a_failed_test_email_reports_the_stored_reason_and_is_not_retried(
    setup: Setup, mail_server: MailServer
) -> None:
    result = setup.run(
        "--official", "o-zhang", "--channel", "email", smtp_url=smtp(mail_server, "wrong-pass")
    )
    assert result.exit_code == 1
    assert "failed" in result.output and "SMTP authentication rejected" in result.output
    assert "wrong-pass" not in result.output and not mail_server.inbox.messages
    [row] = setup.outbox()
    assert row.status == "dead" and row.last_error is not None and "authentication" in row.last_error


def test_the_file_channel_and_every_channel_by_default(setup: Setup, mail_server: MailServer) -> None:
    result = setup.run("--official", "o-zhang", "--channel", "file")
    assert result.exit_code == 0, result.output
    [line] = setup.notifications.read_text(encoding="utf-8").splitlines()
    written = json.loads(line)
    assert written["to"] == "张伟" and "测试" in written["subject"]
    assert [r.status for r in setup.outbox()] == ["sent"]

    both = setup.run("--official", "o-zhang", "--format", "json", smtp_url=smtp(mail_server))
    assert both.exit_code == 0, both.output
    assert [(r["channel"], r["status"]) for r in json.loads(both.output)] == [
        ("email", "sent"),
        ("file", "sent"),
    ]
    assert len(mail_server.inbox.messages) == 1 and len(setup.notifications.read_text().splitlines()) == 2
    # an official with no email is told only where there is an address for them: the file
    only_file = setup.run("--official", "o-li", "--format", "json", smtp_url=smtp(mail_server))
    assert [r["channel"] for r in json.loads(only_file.output)] == ["file"]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--official", "nobody"], "no official 'nobody' in the roster"),
        (["--official", "o-zhang", "--channel", "pigeon"], "unknown channel 'pigeon'; channels are console"),
        (
            ["--official", "o-zhang", "--channel", "wecom"],
            "channel 'wecom' is not configured (notify.channels: email, file)",
        ),
        (["--official", "o-li", "--channel", "email"], "李娜 (o-li) has no email address for email"),
    ],
)
def test_an_unknown_official_or_channel_is_refused_and_nothing_queued(
    setup: Setup, args: list[str], reason: str
) -> None:
    result = setup.run(*args)
    assert result.exit_code == 2 and f"refused: {reason}" in result.output
    assert setup.outbox() == []


def test_the_test_is_audited_with_who_and_what(setup: Setup) -> None:
    assert setup.run("--official", "o-zhang", "--channel", "file").exit_code == 0
    engine = make_engine(setup.db_url)
    try:
        with session_factory(engine)() as session:
            [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "notify.test"))
            assert entry.target == "official o-zhang" and entry.actor.startswith("cli:")
            assert entry.detail["channels"] == ["file"]
    finally:
        engine.dispose()
