"""The daily digest gathers what was held for it, of alerts that still call for it: one
acknowledged or resolved since is withdrawn, one silenced now waits for the silence to end."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from monitor.alerts.digest import make_digests
from monitor.alerts.enqueue import notification_key
from monitor.store.db import session_factory
from monitor.store.models import AlertRecord, Notification

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 10:00 on a Monday in Shanghai
FIRED = NOW - timedelta(days=2)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as s:
        yield s


def _alert(session: Session, subject: str, **values: object) -> int:
    row = AlertRecord(
        rule="pairing-monthly-visit", subject=subject, period="2026-11", state="overdue", level=1,
        due_at=FIRED, recipients=["o-a"], clause="二", message="m", fired_at=FIRED, changed_at=FIRED,
    )  # fmt: skip
    for name, value in values.items():
        setattr(row, name, value)
    session.add(row)
    session.flush()
    return row.id


def _hold(
    session: Session, alert_id: int, created: datetime = NOW - timedelta(hours=20), kind: str = "fired"
) -> None:
    session.add(
        Notification(
            key=notification_key("held", alert_id, kind, created.isoformat()), alert_id=alert_id, kind=kind,
            channel="email", recipient="o-a", subject=f"【逾期】{alert_id}", text=f"alert {alert_id}",
            status="held", attempts=0, created_at=created, next_attempt_at=created,
        )
    )  # fmt: skip
    session.flush()


def _status(session: Session) -> dict[int, str]:
    rows = session.execute(
        select(Notification.alert_id, Notification.status).where(
            Notification.kind != "digest", Notification.kind != "resolved"
        )
    )
    return {alert_id: status for alert_id, status in rows}


def test_a_digest_gathers_only_what_still_calls_for_it(session: Session) -> None:
    open_ = _alert(session, "pairing:o-a:1")
    resolved = _alert(session, "pairing:o-a:2", state="resolved", resolved_at=NOW - timedelta(hours=1))
    acked = _alert(session, "pairing:o-a:3", acked_at=FIRED, acked_by="o-a")  # in its own second
    acked_before = _alert(session, "pairing:o-a:4", acked_at=FIRED - timedelta(seconds=1), acked_by="o-a")
    silenced = _alert(session, "pairing:o-a:5", silenced_by=1)
    for alert_id in (open_, resolved, acked, acked_before, silenced):
        _hold(session, alert_id)
    _hold(session, resolved, kind="resolved")  # its all-clear, held too: told all the same
    assert make_digests(session, NOW, True, time(8, 30)) == 1
    digest = session.scalars(select(Notification).where(Notification.kind == "digest")).one()
    gathered = session.execute(
        select(Notification.alert_id, Notification.kind).where(Notification.digest_id == digest.id)
    ).all()
    # an acknowledgement of an earlier life of the alert (before it fired again) does not count
    assert sorted(gathered) == sorted([(open_, "fired"), (acked_before, "fired"), (resolved, "resolved")])
    assert _status(session) == {
        open_: "digested",
        acked_before: "digested",
        resolved: "withdrawn",
        acked: "withdrawn",
        silenced: "held",
    }
    # the silence ends: the next working day's digest tells it
    session.get(AlertRecord, silenced).silenced_by = None  # type: ignore[union-attr]
    session.flush()
    assert make_digests(session, NOW + timedelta(days=1), True, time(8, 30)) == 1
    assert _status(session)[silenced] == "digested"
