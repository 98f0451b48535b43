"""The daily digest gathers what was held for it, of alerts that still call for it: one
acknowledged or resolved since is withdrawn, one silenced or inhibited now waits for the silence
or inhibition to end, and is told then (in a later digest of the same day if the day's went). It
lists each alert once, by its newest message, and gathers the older ones with it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from monitor.alerts.digest import make_digests
from monitor.alerts.enqueue import Run, enqueue, notification_key
from monitor.alerts.messages import digest_subject
from monitor.clock import SHANGHAI
from monitor.rulebook import Rulebook, load_rulebook
from monitor.store.db import session_factory
from monitor.store.models import AlertRecord, Notification, Official, Silence

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 10:00 on a Monday in Shanghai
FIRED = NOW - timedelta(days=2)
MONDAY = date(2026, 11, 30)
DIGEST_TIME = time(8, 30)
RULEBOOK = load_rulebook(Path(__file__).resolve().parents[2] / "rules")


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


def _at(hour: int, minute: int, second: int = 0, day: int = 0) -> datetime:
    """An instant in Shanghai, `day` days after Monday 30 November 2026."""
    return datetime.combine(MONDAY + timedelta(days=day), time(hour, minute, second), SHANGHAI)


def _tick(session: Session, at: datetime, is_workday: bool = True) -> int:
    """What a tick's last transaction does: mark the alerts the silences active at `at` mute
    (`enqueue`; no channel, so nothing is queued), then make the digests."""
    enqueue(session, Run(Rulebook({}, {}), at, ()), [], renotify=True)
    return make_digests(session, at, is_workday, DIGEST_TIME)


def _digests(session: Session) -> list[tuple[str, list[tuple[int | None, str, datetime]]]]:
    """Each digest's key and what it gathered (alert, kind, when held), oldest digest first."""
    made = []
    for digest in session.scalars(
        select(Notification).where(Notification.kind == "digest").order_by(Notification.id)
    ):
        gathered = session.execute(
            select(Notification.alert_id, Notification.kind, Notification.created_at)
            .where(Notification.digest_id == digest.id)
            .order_by(Notification.id)
        )
        made.append((digest.key, [(a, k, c) for a, k, c in gathered]))
    return made


def test_what_a_daily_silence_over_the_digest_time_kept_out_is_told_when_it_ends(session: Session) -> None:
    # every morning 08:00-10:00 one alert is silenced: the 08:30 digest goes without it, and
    # the day's digest having gone, it used to wait for the next one, silenced again: never told
    ordinary = _alert(session, "pairing:o-a:1")
    quiet = _alert(session, "pairing:o-a:2")
    longer = _alert(session, "pairing:o-a:3")  # under a second silence, ending later
    for subject, daily in (("pairing:o-a:2", "08:00-10:00"), ("pairing:o-a:3", "08:00-10:30")):
        session.add(
            Silence(
                subject=subject, starts_at=_at(0, 0, day=-7), ends_at=_at(0, 0, day=7), daily=daily,
                created_by="赵主任", reason="早会", created_at=_at(0, 0, day=-7),
            )
        )  # fmt: skip
    sunday = _at(18, 0, day=-1)
    for alert_id in (ordinary, quiet, longer):
        _hold(session, alert_id, sunday)
    main_key = notification_key("digest", "2026-11-30", "o-a", "email")

    assert _tick(session, _at(8, 29, 59)) == 0  # before the digest time
    assert _tick(session, _at(8, 30, 0)) == 1
    assert _digests(session) == [(main_key, [(ordinary, "fired", sunday)])]
    assert _status(session)[quiet] == "held"  # silenced at the digest time: kept out
    assert session.get(AlertRecord, quiet).silenced_by is not None  # type: ignore[union-attr]

    # held after the day's digest time: tomorrow's digest, silence or not
    _hold(session, ordinary, _at(8, 30, 1))
    _hold(session, quiet, _at(8, 30, 1))
    assert _tick(session, _at(9, 59, 59)) == 0  # the silence's last second
    assert _tick(session, _at(10, 0, 0), is_workday=False) == 0  # a day off makes none
    assert _tick(session, _at(10, 0, 0)) == 1  # it ended: told now
    main, (late_key, late) = _digests(session)
    assert main == (main_key, [(ordinary, "fired", sunday)])
    assert late_key != main_key and late == [(quiet, "fired", sunday)]
    # once: a repeated tick, or the next, makes no other digest of these rows (nor of the later ones)
    assert _tick(session, _at(10, 0, 0)) == 0
    assert _tick(session, _at(10, 0, 1)) == 0
    assert len(_digests(session)) == 2
    # the second silence ends: what it kept out makes a digest of its own too
    assert _tick(session, _at(10, 29, 59)) == 0
    assert _tick(session, _at(10, 30, 0)) == 1
    assert _digests(session)[2][1] == [(longer, "fired", sunday)]
    assert _tick(session, _at(10, 30, 1)) == 0

    # Tuesday: the same again for what was held after Monday's digest time
    assert _tick(session, _at(8, 30, 0, day=1)) == 1
    assert _digests(session)[3] == (
        notification_key("digest", "2026-12-01", "o-a", "email"),
        [(ordinary, "fired", _at(8, 30, 1))],
    )
    assert _tick(session, _at(9, 59, 59, day=1)) == 0
    assert _tick(session, _at(10, 0, 0, day=1)) == 1
    assert _digests(session)[4][1] == [(quiet, "fired", _at(8, 30, 1))]
    assert set(_status(session).values()) == {"digested"}


def test_an_inhibited_alerts_held_message_waits_for_the_inhibition_to_end(session: Session) -> None:
    # held when nothing inhibited it; then an overdue quarterly visit came to inhibit it
    by = "pairing-quarterly-visit"
    ordinary = _alert(session, "pairing:o-a:1")
    inhibited = _alert(session, "pairing:o-a:2", inhibited_by=by)
    acked = _alert(session, "pairing:o-a:3", inhibited_by=by, acked_at=FIRED, acked_by="o-a")
    resolved = _alert(session, "pairing:o-a:4", inhibited_by=by, state="resolved", resolved_at=_at(7, 0))
    sunday = _at(18, 0, day=-1)
    for alert_id in (ordinary, inhibited, acked, resolved):
        _hold(session, alert_id, sunday)
    _hold(session, resolved, _at(7, 0), kind="resolved")  # its all-clear: told, inhibited or not

    assert make_digests(session, _at(8, 29, 59), True, DIGEST_TIME) == 0
    assert make_digests(session, _at(8, 30, 0), True, DIGEST_TIME) == 1
    assert _digests(session)[0][1] == [(ordinary, "fired", sunday), (resolved, "resolved", _at(7, 0))]
    # inhibited: not told (its inhibiting alert tells it all), nor withdrawn; acknowledged or
    # resolved: withdrawn, inhibited or not
    assert _status(session) == {
        ordinary: "digested",
        inhibited: "held",
        acked: "withdrawn",
        resolved: "withdrawn",
    }

    assert make_digests(session, _at(10, 59, 59), True, DIGEST_TIME) == 0  # still inhibited
    # the quarterly visit is made: the 11:00 tick lifts the inhibition, the contact is still due
    session.get(AlertRecord, inhibited).inhibited_by = None  # type: ignore[union-attr]
    session.flush()
    assert make_digests(session, _at(11, 0, 0), True, DIGEST_TIME) == 1
    assert _digests(session)[1][1] == [(inhibited, "fired", sunday)]
    assert make_digests(session, _at(11, 0, 1), True, DIGEST_TIME) == 0
    assert _status(session)[inhibited] == "digested"


def _gathered(session: Session, digest: Notification) -> list[tuple[int | None, str, str]]:
    return [
        (a, k, s)
        for a, k, s in session.execute(
            select(Notification.alert_id, Notification.kind, Notification.status)
            .where(Notification.digest_id == digest.id)
            .order_by(Notification.id)
        )
    ]


def test_an_alert_held_again_while_inhibited_is_listed_once_by_its_newest_message(session: Session) -> None:
    # the reviewer's case, with the shipped rules: held on Wednesday, then inhibited (escalated
    # to level 1 meanwhile, told to nobody); the inhibition ends at 07:00 on Monday, and the
    # 08:30 tick holds a reminder (notified_at is Wednesday's) beside the row still held
    session.add(Official(id="o-a", name="王科长", unit_id="u-gxj", role="staff", email="o-a@example.cn"))
    wednesday = _at(10, 0, day=-5)
    alert = _alert(session, "pairing:o-a:1", level=0, message="逾期，未升级", fired_at=wednesday)
    run = Run(RULEBOOK, wednesday, ("email",), digest_below_level=2)
    assert enqueue(session, run, [], renotify=True) == 1  # held for Thursday's digest
    ordinary = _alert(session, "pairing:o-a:2", notified_at=_at(18, 0, day=-1))  # held on Sunday
    row = session.get(AlertRecord, alert)
    assert row is not None
    row.inhibited_by, row.level, row.message = "pairing-quarterly-visit", 1, "逾期，已升级至第1级"
    session.flush()
    assert make_digests(session, _at(8, 30, day=-4), True, DIGEST_TIME) == 0  # kept back
    _hold(session, ordinary, _at(18, 0, day=-1))
    row.inhibited_by = None  # 07:00: the inhibition ends
    session.flush()

    monday = _at(8, 30)
    assert enqueue(session, replace(run, now=monday), [], renotify=True) == 1  # the reminder, held
    assert make_digests(session, monday, True, DIGEST_TIME) == 1
    digest = session.scalars(select(Notification).where(Notification.kind == "digest")).one()
    # both rows are gathered by this digest; the alert is listed once, as it stands now
    assert _gathered(session, digest) == [
        (alert, "fired", "digested"),
        (ordinary, "fired", "digested"),
        (alert, "reminder", "digested"),
    ]
    assert digest.subject == digest_subject("2026-11-30", 2)
    assert digest.text == (
        "1. 【逾期·第1级】每月走访挂钩企业并与负责人座谈（再次提醒）\n逾期，已升级至第1级"
        f"\n\n2. 【逾期】{ordinary}\nalert {ordinary}"
    )
    assert session.scalars(select(Notification).where(Notification.status == "held")).all() == []
    assert make_digests(session, _at(8, 30, 1), True, DIGEST_TIME) == 0  # once


def test_what_a_silence_kept_back_twice_is_told_once_in_the_later_digest(session: Session) -> None:
    # a silence over the digest time: the alert's rows wait together, and the later digest
    # that tells them, keyed by all their ids, lists the alert once
    alert = _alert(session, "pairing:o-a:1", silenced_by=1)
    other = _alert(session, "pairing:o-a:2")
    _hold(session, alert, _at(18, 0, day=-2))
    _hold(session, other, _at(18, 0, day=-1))
    _hold(session, alert, _at(8, 0), kind="reminder")
    assert make_digests(session, _at(8, 30), True, DIGEST_TIME) == 1
    assert _status(session) == {alert: "held", other: "digested"}
    session.get(AlertRecord, alert).silenced_by = None  # type: ignore[union-attr]
    session.flush()
    assert make_digests(session, _at(10, 0), True, DIGEST_TIME) == 1
    (_, main), (late_key, late) = _digests(session)
    assert main == [(other, "fired", _at(18, 0, day=-1))]
    assert late == [(alert, "fired", _at(18, 0, day=-2)), (alert, "reminder", _at(8, 0))]
    ids = session.scalars(
        select(Notification.id).where(Notification.alert_id == alert).order_by(Notification.id)
    ).all()
    assert late_key == notification_key("digest", "2026-11-30", "o-a", "email", *ids)
    digest = session.scalars(select(Notification).where(Notification.key == late_key)).one()
    assert digest.subject == digest_subject("2026-11-30", 1)
    assert digest.text == f"1. 【逾期】{alert}\nalert {alert}"
    assert set(_status(session).values()) == {"digested"}
    assert make_digests(session, _at(10, 0, 1), True, DIGEST_TIME) == 0


def test_an_all_clear_is_listed_alone_and_an_earlier_lifes_gives_way_to_the_newest(session: Session) -> None:
    # resolved: its held "fired" is withdrawn, the all-clear listed alone; fired again after an
    # all-clear (a new life): the newest row is listed, the older all-clear gathered with it
    resolved = _alert(session, "pairing:o-a:1", state="resolved", resolved_at=_at(7, 0))
    again = _alert(session, "pairing:o-a:2", fired_at=_at(6, 0))
    _hold(session, resolved, _at(18, 0, day=-1))
    _hold(session, resolved, _at(7, 0), kind="resolved")
    _hold(session, again, _at(4, 0), kind="resolved")
    _hold(session, again, _at(6, 0))
    assert make_digests(session, _at(8, 30), True, DIGEST_TIME) == 1
    digest = session.scalars(select(Notification).where(Notification.kind == "digest")).one()
    assert _gathered(session, digest) == [
        (resolved, "resolved", "digested"),
        (again, "resolved", "digested"),
        (again, "fired", "digested"),
    ]
    assert _status(session)[resolved] == "withdrawn"
    assert digest.text == f"1. 【逾期】{resolved}\nalert {resolved}\n\n2. 【逾期】{again}\nalert {again}"


def test_a_row_held_at_the_digest_instant_is_in_that_days_digest(session: Session) -> None:
    at_digest, later = _alert(session, "pairing:o-a:1"), _alert(session, "pairing:o-a:2")
    _hold(session, at_digest, _at(8, 30, 0))  # the digest's own second: the tick making it held it
    _hold(session, later, _at(8, 30, 1))  # a second later: tomorrow's
    assert make_digests(session, _at(8, 30, 0), True, DIGEST_TIME) == 1
    assert _digests(session) == [
        (notification_key("digest", "2026-11-30", "o-a", "email"), [(at_digest, "fired", _at(8, 30, 0))])
    ]
    assert _status(session) == {at_digest: "digested", later: "held"}
    assert make_digests(session, _at(8, 30, 1), True, DIGEST_TIME) == 0
    assert make_digests(session, _at(8, 30, 0, day=1), True, DIGEST_TIME) == 1
    assert _digests(session)[1][1] == [(later, "fired", _at(8, 30, 1))]
