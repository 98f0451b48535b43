"""A reload changes how notifications go out: the operator who fixes a wrong SMTP server (or
password, quiet hours, retries) and reloads gets the next batch through the fixed one, and the
tick enqueues for the channels the reloaded config names, without a restart."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import yaml
from sqlalchemy import select

from monitor.clock import utcnow
from monitor.config import load_settings
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.runtime.service import Service
from monitor.store.models import Notification
from tests.conftest import MailServer
from tests.service.conftest import ROOT

CODE = "91321311MA037K6DU7"


def _config(path: Path, db: Path, port: int, cert: Path, channels: list[str]) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "database_url": f"sqlite:///{db}",
                "rules_dir": str(ROOT / "rules"),
                "heartbeat_file": str(path.parent / "heartbeat"),
                "smtp": {
                    "url": f"smtp://dutywatch:s3cret@localhost:{port}?starttls=true",
                    "sender": "dutywatch@suyu.example.cn",
                    "ca_file": str(cert),
                    "timeout_seconds": 5,
                },
                "notify": {"channels": channels, "quiet_hours": {}},
            }
        ),
        encoding="utf-8",
    )
    return path


def test_a_reload_sends_the_next_batch_through_the_fixed_smtp_server(
    tmp_path: Path, mail_server: MailServer, closed_port: int
) -> None:
    config = _config(
        tmp_path / "dutywatch.yaml", tmp_path / "dw.db", closed_port, mail_server.cert, ["email"]
    )
    service = Service(load_settings(config), config_path=config)
    try:
        roster, problems = load_roster(
            {
                "units": [{"id": "u-a", "name": "区甲局", "kind": "department"}],
                "officials": [{"id": "o-a", "name": "张三", "unit": "u-a", "role": "staff", "email": "zs@suyu.example.cn"}],
                "enterprises": [{"id": CODE, "name": "甲公司", "town": "顺河街道", "above_scale": True}],
                "pairings": [{"official": "o-a", "enterprise": CODE, "from": "2024-01-01"}],
            },
            "roster",
        )  # fmt: skip
        assert not problems
        now = utcnow()
        with service.sessions() as session:
            upsert_roster(session, roster)
            for i in (1, 2):
                session.add(
                    Notification(
                        key=f"k{i}", alert_id=None, kind="fired", channel="email", recipient="o-a",
                        subject=f"【逾期】{i}", text="企业诉求已逾期。", status="queued", attempts=0,
                        created_at=now, next_attempt_at=now,
                    )
                )  # fmt: skip
            session.commit()
        # the first batch goes to a port nobody listens on: the first waits for a retry, and the
        # second is left for that time untried (the server did not answer)
        [first, second] = asyncio.run(service.dispatcher.run_once(now))
        assert (first.status, second.status) == ("retry", "deferred")
        _config(config, tmp_path / "dw.db", mail_server.port, mail_server.cert, ["email"])
        assert service.reload() == (True, "reloaded")
        later = now + timedelta(hours=1)
        assert [o.status for o in asyncio.run(service.dispatcher.run_once(later))] == ["sent", "sent"]
        assert len(mail_server.inbox.messages) == 2
        # and a config that names no channel any more: the ticks enqueue for none
        _config(config, tmp_path / "dw.db", mail_server.port, mail_server.cert, ["console"])
        assert service.reload()[0] and service.channels == ("console",)
        assert service.settings.channels() == ("console",)
        with service.sessions() as session:
            assert {r.status for r in session.scalars(select(Notification))} == {"sent"}
        # the next tick finds the pairing's duties unmet since 2024 and tells its official on the
        # console alone: nothing more is queued for the mail server
        service.tick(now)
        with service.sessions() as session:
            told = session.execute(select(Notification.channel).where(Notification.alert_id.is_not(None)))
            channels = [channel for (channel,) in told]
        assert channels and set(channels) == {"console"}
    finally:
        service.close()
