"""Action links: what a token allows, every way it stops allowing it, the key, and the links the
outbox puts in each message (email button and line, SMS within two parts, one per named official
in a group message, one per daily digest, none without a public address). The page they open, in
a browser and over HTTP: tests/service/test_action_links.py."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from monitor.alerts.links import PATH, LinkMaker, link_maker, revoke, sign, sign_digest, signing_key, verify
from monitor.alerts.messages import SMS_LINK_LIMIT, sms_with_link
from monitor.clock import parse_instant
from monitor.config import LinkSettings, Settings
from monitor.store.db import session_factory
from monitor.store.models import LinkSecret, Notification, Official

KEY = b"k" * 32
NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=3)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as s:
        s.add_all(
            [
                Official(id="o-a", name="张三", role="staff", email="a@x.cn"),
                Official(id="o-b", name="李四", role="staff", email="b@x.cn"),
            ]
        )
        s.commit()
        yield s


def _payload(token: str) -> str:
    text = token.split(".")[0]
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


def _with_payload(token: str, payload: str) -> str:
    encoded = base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()
    return f"{encoded}.{token.split('.')[1]}"


def test_a_link_allows_its_official_and_alert_until_it_expires(session: Session) -> None:
    token = sign(KEY, "o-a", 42, LATER, 0)
    link = verify(KEY, token, session, NOW)
    assert link is not None and (link.official_id, link.alert_id) == ("o-a", 42)
    assert link.expires == LATER
    # to the second: the last second before the expiry opens, the expiry itself does not
    assert verify(KEY, token, session, LATER - timedelta(seconds=1)) is not None
    assert verify(KEY, token, session, LATER - timedelta(microseconds=1)) is not None
    assert verify(KEY, token, session, LATER) is None
    assert verify(KEY, token, session, LATER + timedelta(seconds=1)) is None
    assert verify(b"another key", token, session, NOW) is None


def test_an_expiry_within_a_minute_is_brought_forward_to_the_minute(session: Session) -> None:
    """Expiry is signed in whole minutes (the SMS stays short): never later than asked."""
    token = sign(KEY, "o-a", 42, LATER + timedelta(seconds=59), 0)
    link = verify(KEY, token, session, NOW)
    assert link is not None and link.expires == LATER
    assert verify(KEY, token, session, LATER - timedelta(seconds=1)) is not None
    assert verify(KEY, token, session, LATER) is None


def test_every_tampering_is_refused(session: Session) -> None:
    token = sign(KEY, "o-a", 42, LATER, 0)
    alert, minutes, official = _payload(token).split(".", 2)
    forged = [
        _with_payload(token, f"{alert}.{minutes}.o-b"),  # another official's name on A's link
        _with_payload(token, f"2b.{minutes}.{official}"),  # another alert
        _with_payload(token, f"{alert}.{int(minutes, 16) + 60 * 24:x}.{official}"),  # a day longer
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # the signature
        token.replace(".", ""),
        "",
        "x" * 500,
        "..",
        "%%%.%%%",
    ]
    for bad in forged:
        assert verify(KEY, bad, session, NOW) is None, bad
    # the same bytes spelt otherwise (padding kept, or the spare bits of the last character set)
    # are refused too: one link is one token string
    payload_text, mac_text = token.split(".")
    assert verify(KEY, f"{payload_text}==.{mac_text}", session, NOW) is None
    assert verify(KEY, f"{payload_text}.{mac_text}=", session, NOW) is None
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    seen: set[int] = set()
    for alert_id in (0x2A, 0x2AB, 0x2ABC):  # three payload lengths: three counts of spare bits
        spelt = sign(KEY, "o-a", alert_id, LATER, 0).split(".")
        assert verify(KEY, ".".join(spelt), session, NOW) is not None
        last = alphabet.index(spelt[0][-1])
        spare_bits = {0: 0, 2: 4, 3: 2}[len(spelt[0]) % 4]
        seen.add(spare_bits)
        for other in range(1, 2**spare_bits):
            respelt = spelt[0][:-1] + alphabet[last ^ other]
            assert base64.urlsafe_b64decode(respelt + "=" * (-len(respelt) % 4)) == base64.urlsafe_b64decode(
                spelt[0] + "=" * (-len(spelt[0]) % 4)
            )
            assert verify(KEY, f"{respelt}.{spelt[1]}", session, NOW) is None
    assert seen == {0, 2, 4}
    # a link for an official the roster no longer has opens nothing either
    assert verify(KEY, sign(KEY, "o-gone", 42, LATER, 0), session, NOW) is None


def test_revoking_voids_every_earlier_link_of_that_official_only(session: Session) -> None:
    a, b = sign(KEY, "o-a", 1, LATER, 0), sign(KEY, "o-b", 1, LATER, 0)
    assert revoke(session, "o-a", NOW, "admin") == 1
    session.commit()
    assert verify(KEY, a, session, NOW) is None
    assert verify(KEY, b, session, NOW) is not None
    # links made after the revocation carry the new generation and work
    assert verify(KEY, sign(KEY, "o-a", 1, LATER, 1), session, NOW) is not None
    assert revoke(session, "o-a", NOW, "admin") == 2


def test_the_key_is_the_configured_one_else_one_made_once_and_kept(engine: Engine) -> None:
    sessions = session_factory(engine)
    configured = LinkSettings(secret="from-the-environment")  # type: ignore[arg-type]
    assert signing_key(configured, sessions, NOW) == b"from-the-environment"
    first = signing_key(LinkSettings(), sessions, NOW)
    assert len(first) >= 40 and signing_key(LinkSettings(), sessions, NOW) == first
    with sessions() as s:
        assert len(list(s.scalars(select(LinkSecret)))) == 1


def test_the_secret_and_public_url_come_from_the_environment(tmp_path: Path) -> None:
    from monitor.config import load_settings

    secret = tmp_path / "secret"
    secret.write_text("s3cret-from-a-file\n", encoding="utf-8")
    env = {"DUTYWATCH_LINK_SECRET_FILE": str(secret), "DUTYWATCH_PUBLIC_URL": "https://dw.suyu.gov.cn/"}
    (tmp_path / "dutywatch.yaml").write_text("district: 宿豫区\n", encoding="utf-8")
    settings = load_settings(tmp_path / "dutywatch.yaml", environ=env)
    assert settings.links.secret is not None
    assert settings.links.secret.get_secret_value() == "s3cret-from-a-file"
    assert settings.links.public_url == "https://dw.suyu.gov.cn"
    with pytest.raises(ValueError):
        LinkSettings(public_url="dw.suyu.gov.cn")


def test_an_sms_keeps_its_link_whole_within_two_parts() -> None:
    link = "https://dw.suyu.gov.cn/l/" + "x" * 50
    short = sms_with_link("逾期1级：每月走访挂钩企业", link)
    assert short == f"逾期1级：每月走访挂钩企业 {link}"
    long = sms_with_link("很长的短信" * 40, link)
    assert len(long) == SMS_LINK_LIMIT and long.endswith(f"… {link}")


def test_an_sms_counts_the_signature_its_vendor_puts_before_it() -> None:
    """The vendor prints 【宿豫营商】 before every message, and the phone counts it: with the link,
    signature, text and link fit two parts to the character; the link stays whole."""
    link = "https://dw.suyu.gov.cn/l/" + "x" * 50
    signature = "【宿豫营商】"
    signed = sms_with_link("很长的短信" * 40, link, signature)
    assert len(signature + signed) == SMS_LINK_LIMIT and signed.endswith(f"… {link}")
    unsigned = sms_with_link("很长的短信" * 40, link)
    assert len(unsigned) == SMS_LINK_LIMIT and len(unsigned) - len(signed) == len(signature)
    # a text that fits beside the signature is left whole, one character more is cut
    room = SMS_LINK_LIMIT - len(signature) - len(link) - 1
    assert sms_with_link("字" * room, link, signature) == f"{'字' * room} {link}"
    assert sms_with_link("字" * (room + 1), link, signature) == f"{'字' * (room - 1)}… {link}"


def test_the_signature_comes_from_the_channels_settings() -> None:
    settings = Settings(
        notify={"channels": ["sms-aliyun", "sms-http", "email"], "vendors": {"aliyun_sign_name": "宿豫营商"}}
    )
    assert settings.sms_signatures() == {"sms-aliyun": "【宿豫营商】"}
    # the HTTP gateway's counts whether its channel or its platform puts it before the text
    for in_text in (True, False):
        vendors = {
            "tencent_sign_name": "沭阳营商",
            "sms_http_sign_name": "宿豫营商",
            "sms_http_sign_in_text": in_text,
        }
        settings = Settings(
            notify={"channels": ["sms-tencent", "sms-http", "sms-aliyun"], "vendors": vendors}
        )
        assert settings.sms_signatures() == {"sms-tencent": "【沭阳营商】", "sms-http": "【宿豫营商】"}


def test_a_sign_name_given_with_its_brackets_is_refused() -> None:
    """The vendor shows the name in 【】 itself: given with them, the phone would show them twice."""
    with pytest.raises(ValidationError, match="without 【】"):
        Settings(notify={"vendors": {"aliyun_sign_name": "【宿豫营商】"}})


def _outbox(
    engine: Engine, links: LinkSettings, channels: tuple[str, ...], signatures: dict[str, str] | None = None
) -> list[Notification]:
    """The demo examples evaluated at an instant with overdue cases and pairings, then queued."""
    from monitor.alerts.enqueue import Run, enqueue
    from monitor.alerts.lifecycle import commit_evaluation
    from monitor.alerts.messages import Style
    from monitor.calendar.working_days import WorkCalendar
    from monitor.evaluation.engine import DurableMatcher
    from monitor.evaluation.evaluate import evaluate
    from monitor.rulebook import load_rulebook
    from tests.demo.test_demo import _import_examples
    from tests.service.conftest import ROOT

    _import_examples(engine)
    rulebook = load_rulebook(ROOT / "rules")
    now = parse_instant("2024-12-18T10:00")
    with session_factory(engine)() as s:
        result = evaluate(s, rulebook, WorkCalendar(), Settings(), now, DurableMatcher(rulebook))
        changes = commit_evaluation(s, result)
        maker = link_maker(links, KEY, s)
        style = Style(ROOT / "config/templates", signatures=signatures or {})
        enqueue(s, Run(rulebook, now, channels, style=style, links=maker), changes)
        s.commit()
        return list(s.scalars(select(Notification).order_by(Notification.id)))


def test_the_outbox_puts_each_official_their_own_link(engine: Engine) -> None:
    rows = _outbox(engine, LinkSettings(public_url="https://dw.suyu.gov.cn"), ("email", "sms-http", "wecom"))
    prefix = "https://dw.suyu.gov.cn" + PATH
    with session_factory(engine)() as s:
        names = {o.id: o.name for o in s.scalars(select(Official))}
        for row in rows:
            if row.channel == "email":
                token = row.text.rpartition("办理：")[2]
                assert token.startswith(prefix)
                link = verify(KEY, token[len(prefix) :], s, parse_instant("2024-12-18T10:00"))
                assert link is not None and (link.official_id, link.alert_id) == (row.recipient, row.alert_id)
                assert row.html is not None and f'href="{token}"' in row.html
            elif row.channel == "sms-http":
                assert len(row.text) <= SMS_LINK_LIMIT and row.text.rpartition(" ")[2].startswith(prefix)
            else:  # the group is told once, with a link for each official it names
                assert row.recipient == "group"
                named = [line for line in row.text.splitlines() if prefix in line]
                assert named and all(line.partition("办理：")[0] in names.values() for line in named)


def test_the_outbox_leaves_room_for_each_sms_channels_signature(engine: Engine) -> None:
    signature = "【宿豫区营商环境办】"
    rows = _outbox(
        engine, LinkSettings(public_url="https://dw.suyu.gov.cn"), ("sms-http",), {"sms-http": signature}
    )
    assert rows
    for row in rows:
        assert len(signature + row.text) <= SMS_LINK_LIMIT, row.text
        assert "【" not in row.text and "宿豫营商" not in row.text, row.text  # the channel puts it
        assert row.text.rpartition(" ")[2].startswith("https://dw.suyu.gov.cn" + PATH)
    assert any(len(signature + row.text) == SMS_LINK_LIMIT for row in rows)  # some were cut to fit


def test_without_a_public_address_the_messages_are_as_before(engine: Engine) -> None:
    rows = _outbox(engine, LinkSettings(), ("email", "sms-http"))
    assert rows and not any(PATH in row.text or (row.html and 'id="act"' in row.html) for row in rows)


def test_a_link_maker_signs_the_officials_current_generation(session: Session) -> None:
    revoke(session, "o-a", NOW, "admin")
    session.commit()
    maker = link_maker(LinkSettings(public_url="https://dw.x.cn"), KEY, session)
    assert isinstance(maker, LinkMaker)
    token = maker.url("o-a", 7, NOW).rpartition("/")[2]
    assert verify(KEY, token, session, NOW) is not None


def test_a_digest_link_is_its_own_kind_and_never_passes_for_an_alert_link(session: Session) -> None:
    token = sign_digest(KEY, "o-a", 42, LATER, 0)
    link = verify(KEY, token, session, NOW)
    assert link is not None and (link.official_id, link.digest_id, link.alert_id) == ("o-a", 42, None)
    # the same numbers as an alert link: different signatures, and neither payload takes the other's
    alert = sign(KEY, "o-a", 42, LATER, 0)
    assert alert.split(".")[1] != token.split(".")[1]
    assert verify(KEY, _with_payload(token, _payload(alert)), session, NOW) is None
    assert verify(KEY, _with_payload(alert, _payload(token)), session, NOW) is None
    # revoked with the official's other links
    revoke(session, "o-a", NOW, "admin")
    session.commit()
    assert verify(KEY, token, session, NOW) is None


def _held(session: Session, channel: str, alerts: dict[int, str]) -> None:
    from monitor.alerts.enqueue import notification_key

    for alert_id, title in alerts.items():
        text = (
            f"{title}已逾期。"
            if channel.startswith("sms")
            else f"{title}已逾期。\n办理：https://x.cn/l/old{alert_id}"
        )
        session.add(
            Notification(
                key=notification_key("held", alert_id, channel),
                alert_id=alert_id,
                kind="fired",
                channel=channel,
                recipient="o-a",
                subject=f"【逾期】{title}",
                text=text,
                status="held",
                attempts=0,
                created_at=NOW - timedelta(hours=20),
                next_attempt_at=NOW - timedelta(hours=20),
            )
        )
    session.flush()


def test_a_digest_carries_one_link_for_its_official_and_itself(session: Session) -> None:
    from datetime import time

    from monitor.alerts.digest import make_digests

    alerts = {7: "每月走访挂钩企业", 8: "复杂问题5个工作日内处理反馈", 9: "差评整改"}
    for channel in ("email", "sms-http"):
        _held(session, channel, alerts)
    maker = link_maker(LinkSettings(public_url="https://dw.suyu.gov.cn"), KEY, session)
    assert make_digests(session, NOW, True, time(8, 30), maker) == 2
    session.commit()
    digests = {
        d.channel: d for d in session.scalars(select(Notification).where(Notification.kind == "digest"))
    }
    prefix = "https://dw.suyu.gov.cn" + PATH
    for channel, digest in digests.items():
        gathered = session.scalars(select(Notification).where(Notification.digest_id == digest.id))
        assert sorted(r.alert_id for r in gathered) == [7, 8, 9]
        url = digest.text.rpartition(" " if channel == "sms-http" else "办理：")[2]
        assert url.startswith(prefix)
        link = verify(KEY, url[len(prefix) :], session, NOW)
        assert link is not None and (link.official_id, link.digest_id) == ("o-a", digest.id)
        assert "https://x.cn/l/old" not in digest.text  # the items' own links are left out
    assert len(digests["sms-http"].text) <= SMS_LINK_LIMIT
    assert digests["sms-http"].text.startswith("【每日督办汇总】")
    html = digests["email"].html
    assert html is not None and 'id="act"' in html and "差评整改" in html and "old7" not in html


def test_a_digest_without_a_public_address_is_as_before(session: Session) -> None:
    from datetime import time

    from monitor.alerts.digest import make_digests

    _held(session, "email", {7: "每月走访挂钩企业"})
    assert make_digests(session, NOW, True, time(8, 30), None) == 1
    digest = session.scalars(select(Notification).where(Notification.kind == "digest")).one()
    assert digest.html is None and "https://x.cn/l/old7" in digest.text  # held text, unchanged
