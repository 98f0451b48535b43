"""The dispatcher: conditional claims (one winner), retries with backoff, dead letters, crash leases,
and an SMTP outage that ends with each message delivered exactly once."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError

from monitor.alerts.dispatch import Dispatcher, Outcome
from monitor.alerts.messages import SMS_MAX
from monitor.clock import parse_instant
from monitor.config import NotifySettings
from monitor.store.db import session_factory
from monitor.store.models import Notification, Official
from notifiers.base import Message, Receipt, TransportError
from notifiers.email import EmailNotifier, SmtpServer
from notifiers.sms import HttpSmsNotifier
from tests.conftest import MailServer

NOW = parse_instant("2024-10-14T09:00")


class Recorder:
    def __init__(self, failures: list[TransportError] | None = None) -> None:
        self.sent: list[str] = []
        self.failures = failures or []

    async def send(self, message: Message) -> Receipt:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message.idempotency_key)
        return Receipt(f"p-{message.idempotency_key}")


def queue(engine: Engine, n: int, channel: str = "test", prefix: str = "k") -> None:
    """`n` messages due at NOW to official o1 (added with the first call), keyed prefix0, prefix1…"""
    with session_factory(engine)() as session:
        if session.get(Official, "o1") is None:
            session.add(Official(id="o1", name="张伟", role="staff", email="zhang.wei@suyu.example.cn"))
        for i in range(n):
            session.add(
                Notification(
                    key=f"{prefix}{i}",
                    kind="fired",
                    channel=channel,
                    recipient="o1",
                    subject="s",
                    text="t",
                    status="queued",
                    attempts=0,
                    created_at=NOW,
                    next_attempt_at=NOW,
                )
            )
        session.commit()


def statuses(engine: Engine) -> list[tuple[str, str, int]]:
    with session_factory(engine)() as session:
        return [
            tuple(r)
            for r in session.execute(
                select(Notification.key, Notification.status, Notification.attempts).order_by(Notification.id)
            )
        ]  # type: ignore[misc]


def dispatcher(engine: Engine, notifier: object, worker: str = "w1", **settings: float) -> Dispatcher:
    return Dispatcher(
        session_factory(engine),
        {"test": notifier, "email": notifier},
        NotifySettings(**settings),
        worker,  # type: ignore[dict-item]
        random.Random(1),
    )


def test_two_workers_never_send_the_same_row(engine: Engine) -> None:
    queue(engine, 20)
    first, second = Recorder(), Recorder()
    a, b = dispatcher(engine, first, "w1"), dispatcher(engine, second, "w2")

    async def both() -> None:
        await asyncio.gather(a.run_once(NOW), b.run_once(NOW))

    asyncio.run(both())
    assert sorted(first.sent + second.sent) == sorted(f"k{i}" for i in range(20))
    assert {s for _, s, _ in statuses(engine)} == {"sent"}


def test_transient_failures_back_off_and_permanent_ones_dead_letter(engine: Engine) -> None:
    queue(engine, 2)
    notifier = Recorder([TransportError("502 from gateway"), TransportError("bad number", permanent=True)])
    d = dispatcher(engine, notifier, backoff_seconds=30)
    outcomes = asyncio.run(d.run_once(NOW))
    assert [o.status for o in outcomes] == ["retry", "dead"]
    with session_factory(engine)() as session:
        retry = session.scalars(select(Notification).where(Notification.key == "k0")).one()
        assert timedelta(seconds=15) <= retry.next_attempt_at - NOW <= timedelta(seconds=45)
        assert retry.last_error == "502 from gateway"
    assert asyncio.run(d.run_once(NOW)) == []  # not due yet
    assert [o.status for o in asyncio.run(d.run_once(NOW + timedelta(minutes=1)))] == ["sent"]
    assert statuses(engine) == [("k0", "sent", 2), ("k1", "dead", 1)]


def test_a_claim_lost_in_a_crash_is_sent_after_the_lease(engine: Engine) -> None:
    queue(engine, 1)
    crashed = dispatcher(engine, Recorder(), "crashed", lease_seconds=300)
    assert len(crashed.claim(NOW)) == 1  # claimed, then the process died before sending
    survivor = Recorder()
    other = dispatcher(engine, survivor, "w2", lease_seconds=300)
    assert asyncio.run(other.run_once(NOW + timedelta(seconds=60))) == []
    asyncio.run(other.run_once(NOW + timedelta(seconds=301)))
    assert survivor.sent == ["k0"]
    assert statuses(engine) == [("k0", "sent", 2)]


class Slow(Recorder):
    """A channel that takes `seconds` for each message (a mail server slow to answer its end)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    async def send(self, message: Message) -> Receipt:
        await asyncio.sleep(self.seconds)
        return await super().send(message)


def test_a_batch_keeps_its_claims_while_it_is_sent(engine: Engine) -> None:
    """Two messages of 2.5 s each, a lease of 3 s: the sender renews its claims every second, so
    another worker looking 2.8 s into the batch (3.2 s after the claim, as its clock says) finds
    nothing to take over, and each message goes once. Without renewal it took the second
    message over and sent it too."""
    queue(engine, 2)
    slow, other = Slow(2.5), Recorder()
    sender = dispatcher(engine, slow, "w1", lease_seconds=3)
    rival = dispatcher(engine, other, "w2", lease_seconds=3)

    async def both() -> list[int]:
        batch = asyncio.create_task(sender.run_once(NOW))
        await asyncio.sleep(2.8)  # renewed at 1 s and 2 s: a renewal every lease would be at 3 s
        taken = await asyncio.to_thread(rival.claim, NOW + timedelta(seconds=3.2))
        await batch
        return [row.id for row in taken]

    assert asyncio.run(both()) == []
    assert slow.sent == ["k0", "k1"] and other.sent == []
    assert statuses(engine) == [("k0", "sent", 1), ("k1", "sent", 1)]
    # and once the batch is done, its rows are recorded, not claimed: nothing is renewed after it
    assert rival.claim(NOW + timedelta(hours=1)) == []


def test_an_sms_queued_while_the_mail_server_takes_its_time_goes_at_once(engine: Engine) -> None:
    """A lane outlives the call that started it: while a mail server takes its time to answer
    (here 1.5 s a message), the next batch claims the SMS due meanwhile and sends it, and leaves
    the mail channel to its lane (the mail due meanwhile waits for it). Before, the next batch
    waited for the whole of the one before: with a server answering near its ten minutes, an
    urgent SMS waited that long for every mail ahead of it."""
    queue(engine, 2, channel="email")
    order: list[str] = []

    class SlowMail(Slow):
        async def send(self, message: Message) -> Receipt:
            receipt = await super().send(message)
            order.append(f"mail {message.idempotency_key}")
            return receipt

    class Sms(Recorder):
        async def send(self, message: Message) -> Receipt:
            order.append(f"sms {message.idempotency_key}")
            return await super().send(message)

    ended: list[str] = []
    d = Dispatcher(
        session_factory(engine),
        {"email": SlowMail(1.5), "sms": Sms()},  # type: ignore[dict-item]
        NotifySettings(),
        "w1",
        random.Random(1),
    )
    d.on_lane_end = lambda lane: ended.extend(o.channel for o in lane.result())

    async def day() -> tuple[list[str], list[str], set[str]]:
        mail = await d.start(NOW)  # the two mails' lane starts, and goes on
        assert d.busy() == {"email"}
        queue(engine, 1, channel="sms", prefix="s")
        queue(engine, 1, channel="email", prefix="m")
        sms = await d.start(NOW + timedelta(seconds=1))
        first = [row.key for row in sms.rows]  # the SMS, not the mail behind the busy lane
        await sms.outcomes()
        busy_meanwhile = d.busy()
        await mail.outcomes()
        after = await d.start(NOW + timedelta(seconds=4))  # the lane ended: its channel is free
        await after.outcomes()
        return first, [row.key for row in after.rows], busy_meanwhile

    first, after, busy_meanwhile = asyncio.run(day())
    assert first == ["s0"] and busy_meanwhile == {"email"}
    assert order == ["sms s0", "mail k0", "mail k1", "mail m0"]
    assert after == ["m0"] and ended == ["sms", "email", "email", "email"]
    assert {status for _, status, _ in statuses(engine)} == {"sent"}


def test_a_caller_that_stops_waiting_during_the_claim_leaves_the_rows_to_their_lane(engine: Engine) -> None:
    """An API's timeout or a drain cancelling `start` while it claims: the claim commits anyway,
    so its lanes start and send; without the shield the rows stayed claimed, unsent, for the
    lease."""
    queue(engine, 1)
    sent = Recorder()
    d = dispatcher(engine, sent)
    claim = d.claim

    def slow_claim(*args: object) -> list[Notification]:
        time.sleep(0.3)
        return claim(*args)  # type: ignore[arg-type]

    d.claim = slow_claim  # type: ignore[method-assign]

    async def impatient() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(d.start(NOW), 0.05)
        await asyncio.sleep(0.6)

    asyncio.run(impatient())
    assert sent.sent == ["k0"] and statuses(engine) == [("k0", "sent", 1)]


def test_a_batch_is_full_at_a_hundred_rows_and_a_sender_keeps_all_its_channels_busy(engine: Engine) -> None:
    """`full` (another batch at once) from the hundredth row on; and while a sender serves two
    channels' rows, both channels are busy (the test dispatcher's one notifier serves `test`
    and `email`): a second lane on it would share its kept connection."""
    queue(engine, Dispatcher.BATCH - 1)
    queue(engine, 1, prefix="z")
    d = dispatcher(engine, Slow(0.01))

    async def batches() -> tuple[bool, set[str], bool]:
        first = await d.start(NOW)
        busy = d.busy()
        await first.outcomes()
        queue(engine, Dispatcher.BATCH - 1, channel="email", prefix="e")
        second = await d.start(NOW)
        await second.outcomes()
        return first.full, busy, second.full

    assert asyncio.run(batches()) == (True, {"test", "email"}, False)


def test_a_renewal_that_fails_leaves_the_batch_to_finish(engine: Engine) -> None:
    """The database away when the claims are renewed: the batch goes on, and the next renewal
    tries again (a renewal's failure ended the batch with it, all sent but none recorded)."""
    queue(engine, 2)
    sender = dispatcher(engine, Slow(0.5), "w1", lease_seconds=0.6)
    renewals: list[str] = []
    reclaim = sender._reclaim

    def flaky(ids: list[int], at: datetime) -> None:
        renewals.append("failed" if not renewals else "renewed")
        if len(renewals) == 1:
            raise OperationalError("UPDATE notifications", {}, Exception("database is locked"))
        reclaim(ids, at)

    sender._reclaim = flaky  # type: ignore[method-assign]
    assert [o.status for o in asyncio.run(sender.run_once(NOW))] == ["sent", "sent"]
    assert renewals[:2] == ["failed", "renewed"]
    assert statuses(engine) == [("k0", "sent", 1), ("k1", "sent", 1)]


def test_a_lane_that_fails_lets_the_others_finish_first(engine: Engine) -> None:
    """One lane's database write fails: the batch raises it, but only once the other lanes have
    sent and recorded their rows. It used to return at the first failure, leaving the others
    sending outside the batch (its lock released, its claims no longer renewed, its connections
    closed), or cancelled mid-send when the loop ended."""
    queue(engine, 2, channel="email")
    queue(engine, 1, channel="sms", prefix="s")
    mail = Slow(0.3)
    d = Dispatcher(
        session_factory(engine),
        {"email": mail, "sms": Recorder()},  # type: ignore[dict-item]
        NotifySettings(),
        "w1",
        random.Random(1),
    )
    sent = d._sent

    def failing(row: Notification, now: datetime, provider_id: str | None) -> Outcome:
        if row.channel == "sms":
            raise OperationalError("UPDATE notifications", {}, Exception("connection lost"))
        return sent(row, now, provider_id)

    d._sent = failing  # type: ignore[method-assign]
    with pytest.raises(OperationalError):
        asyncio.run(d.run_once(NOW))
    assert mail.sent == ["k0", "k1"]
    assert statuses(engine)[:2] == [("k0", "sent", 1), ("k1", "sent", 1)]


def test_a_channel_whose_server_does_not_answer_holds_up_only_its_own_messages(engine: Engine) -> None:
    """Each channel's sender has its own lane in a batch: the SMS go while the mail server is
    still being waited for. Once it did not answer, the batch's other mail waits for the retry's
    time, with no attempt counted."""
    queue(engine, 2, channel="email")
    queue(engine, 2, channel="sms", prefix="s")
    order: list[str] = []

    class Hung:
        async def send(self, message: Message) -> Receipt:
            await asyncio.sleep(1)
            order.append(f"timed out {message.idempotency_key}")
            raise TransportError("SMTP server unreachable: SMTPConnectTimeoutError", unreachable=True)

    class Sms(Recorder):
        async def send(self, message: Message) -> Receipt:
            order.append(f"sms {message.idempotency_key}")
            return await super().send(message)

    d = Dispatcher(
        session_factory(engine),
        {"email": Hung(), "sms": Sms()},  # type: ignore[dict-item]
        NotifySettings(backoff_seconds=60),
        "w1",
        random.Random(1),
    )
    outcomes = asyncio.run(d.run_once(NOW))
    assert [(o.channel, o.status) for o in outcomes] == [
        ("email", "retry"),
        ("email", "deferred"),
        ("sms", "sent"),
        ("sms", "sent"),
    ]
    assert order == ["sms s0", "sms s1", "timed out k0"]
    assert statuses(engine) == [
        ("k0", "queued", 1),
        ("k1", "queued", 0),
        ("s0", "sent", 1),
        ("s1", "sent", 1),
    ]
    with session_factory(engine)() as session:
        waiting = session.scalars(select(Notification).where(Notification.key == "k1")).one()
        failed = session.scalars(select(Notification).where(Notification.key == "k0")).one()
        # the retry's time counts from the failure, a second into the batch, not from its start
        assert NOW + timedelta(seconds=61) <= waiting.next_attempt_at < NOW + timedelta(seconds=90)
        assert failed.next_attempt_at >= NOW + timedelta(seconds=1 + 60 * 0.5)
    # a refusal that is an answer (a 4xx, quickly) leaves the next message to be tried
    with session_factory(engine)() as session:
        session.execute(
            Notification.__table__.update().values(status="queued", next_attempt_at=NOW, attempts=0)
        )
        session.commit()
    answering = Recorder([TransportError("SMTP error 451: busy")])
    d.notifiers = {"email": answering, "sms": Sms()}  # type: ignore[dict-item]
    later = asyncio.run(d.run_once(NOW + timedelta(hours=1)))
    assert [(o.channel, o.status) for o in later][:2] == [("email", "retry"), ("email", "sent")]


def test_after_too_many_attempts_a_row_dead_letters(engine: Engine) -> None:
    queue(engine, 1)
    d = dispatcher(engine, Recorder([TransportError("timeout")] * 3), max_attempts=3, backoff_seconds=1)
    at = NOW
    for _ in range(3):
        at += timedelta(hours=1)
        asyncio.run(d.run_once(at))
    assert statuses(engine) == [("k0", "dead", 3)]


def test_an_smtp_outage_delays_and_then_delivers_each_message_once(
    engine: Engine, mail_server: MailServer, closed_port: int
) -> None:
    queue(engine, 3, channel="email")
    down = EmailNotifier(
        SmtpServer.from_url(
            f"smtp://dutywatch:s3cret@localhost:{closed_port}?starttls=true",
            timeout=2,
            ca_file=mail_server.cert,
        ),
        "dutywatch@suyu.example.cn",
    )
    asyncio.run(dispatcher(engine, down, backoff_seconds=10).run_once(NOW))
    assert {s for _, s, _ in statuses(engine)} == {"queued"}
    up = EmailNotifier(
        SmtpServer.from_url(
            f"smtp://dutywatch:s3cret@localhost:{mail_server.port}?starttls=true",
            timeout=5,
            ca_file=mail_server.cert,
        ),
        "dutywatch@suyu.example.cn",
    )
    d = dispatcher(engine, up, backoff_seconds=10)
    asyncio.run(d.run_once(NOW + timedelta(minutes=5)))
    asyncio.run(d.run_once(NOW + timedelta(minutes=10)))
    assert sorted(m["Message-ID"] for m in mail_server.inbox.messages) == [
        "<k0@suyu.example.cn>",
        "<k1@suyu.example.cn>",
        "<k2@suyu.example.cn>",
    ]
    assert {s for _, s, _ in statuses(engine)} == {"sent"}


def test_a_wrong_smtp_password_dead_letters_with_the_reason(engine: Engine, mail_server: MailServer) -> None:
    queue(engine, 1, channel="email")
    bad = EmailNotifier(
        SmtpServer.from_url(
            f"smtp://dutywatch:nope@localhost:{mail_server.port}?starttls=true",
            timeout=5,
            ca_file=mail_server.cert,
        ),
        "dutywatch@suyu.example.cn",
    )
    asyncio.run(dispatcher(engine, bad).run_once(NOW))
    with session_factory(engine)() as session:
        row = session.scalars(select(Notification)).one()
    assert row.status == "dead" and row.last_error is not None and "authentication" in row.last_error
    assert "nope" not in row.last_error


def test_robots_are_held_to_twenty_messages_a_minute(engine: Engine) -> None:
    queue(engine, 25, channel="wecom")
    robot = Recorder()
    d = Dispatcher(session_factory(engine), {"wecom": robot}, NotifySettings(), "w1", random.Random(1))
    outcomes = asyncio.run(d.run_once(NOW))
    assert [o.status for o in outcomes].count("sent") == 20 and [o.status for o in outcomes].count(
        "deferred"
    ) == 5
    assert (
        asyncio.run(d.run_once(NOW + timedelta(seconds=30))) == []
    )  # deferred to a minute after the first send
    asyncio.run(d.run_once(NOW + timedelta(seconds=61)))
    assert len(robot.sent) == 25
    assert {(s, a) for _, s, a in statuses(engine)} == {("sent", 1)}


def test_quiet_hours_defer_sms_to_the_morning_never_drop_it(engine: Engine) -> None:
    queue(engine, 1, channel="sms-aliyun")
    phone = Recorder()
    d = Dispatcher(session_factory(engine), {"sms-aliyun": phone}, NotifySettings(), "w1", random.Random(1))
    night = parse_instant("2024-10-14T23:10")
    assert [o.status for o in asyncio.run(d.run_once(night))] == ["deferred"]
    with session_factory(engine)() as session:
        row = session.scalars(select(Notification)).one()
    assert row.next_attempt_at == parse_instant("2024-10-15T08:00") and row.attempts == 0
    asyncio.run(d.run_once(parse_instant("2024-10-15T08:00")))
    assert phone.sent == ["k0"]


def test_quiet_windows_across_midnight_and_within_a_day() -> None:
    from datetime import time

    from monitor.alerts.digest import quiet_until

    night = (time(22), time(8))
    assert quiet_until(parse_instant("2024-10-14T23:00"), night) == parse_instant("2024-10-15T08:00")
    assert quiet_until(parse_instant("2024-10-15T07:59"), night) == parse_instant("2024-10-15T08:00")
    assert quiet_until(parse_instant("2024-10-15T08:00"), night) is None
    assert quiet_until(parse_instant("2024-10-15T12:30"), (time(12), time(13, 30))) == parse_instant(
        "2024-10-15T13:30"
    )
    assert quiet_until(parse_instant("2024-10-15T12:30"), None) is None


def test_an_sms_is_cut_to_its_limit_counting_its_channels_signature_once(engine: Engine) -> None:
    """A text longer than an SMS may be is cut when handed over, leaving room for the signature
    the channel puts before it (here the HTTP gateway's, 【sign_name】 + text): the message as
    delivered has the signature once and is `SMS_MAX` characters at most, a text that just fits
    is left whole."""
    signature = "【宿豫营商】"
    room = SMS_MAX - len(signature)
    texts = {"fits": "字" * room, "over": "字" * (room + 1)}
    with session_factory(engine)() as session:
        session.add(Official(id="o1", name="张伟", role="staff", phone="13951234567"))
        for key, text in texts.items():
            session.add(
                Notification(
                    key=key, kind="fired", channel="sms-http", recipient="o1", subject="s", text=text,
                    status="queued", attempts=0, created_at=NOW, next_attempt_at=NOW,
                )
            )  # fmt: skip
        session.commit()
    gateway = HttpSmsNotifier("http://127.0.0.1:9/unused", "", sign_name="宿豫营商")
    delivered: dict[str, str] = {}

    class Gateway:
        async def send(self, message: Message) -> Receipt:
            delivered[message.idempotency_key] = gateway.text(message)
            return Receipt(None)

    d = Dispatcher(
        session_factory(engine),
        {"sms-http": Gateway()},
        NotifySettings(),
        "w1",
        random.Random(1),
        signatures={"sms-http": signature},
    )
    asyncio.run(d.run_once(NOW))
    assert delivered["fits"] == signature + texts["fits"] and len(delivered["fits"]) == SMS_MAX
    over = delivered["over"]
    assert len(over) == SMS_MAX and over == signature + "字" * (room - 1) + "…"
    assert all(text.count(signature) == 1 and text.count("【") == 1 for text in delivered.values())
