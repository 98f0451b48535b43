"""Action links: a signed address in a notification that lets one official act on one alert.

The link is the credential (officials read alerts on their phones and hold no API token), so it
says exactly what it allows: this official, this alert (or this daily digest), until this minute,
at this generation of the official's links. It is HMAC-SHA256 over those four, base64url,
compared in constant time; bumping the generation (`revoke`) voids every link the official was
ever sent. Nothing is stored per link: a province sends a million messages on its first tick.

A digest link opens the list of what the digest gathered, each item with an alert link for the
same official that expires with the digest link: it never allows more, or for longer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import LinkSettings
from monitor.store.models import LinkGeneration, LinkSecret, Official

MAC_BYTES = 12  # 96 bits: guessing online, a request at a time, is hopeless; the SMS stays short
MAX_TOKEN_CHARS = 200
PATH = "/l/"
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)  # expiry in minutes from here: five base-36 digits


@dataclass(frozen=True)
class Link:
    """What a valid link allows: this official may act on this alert until `expires`."""

    official_id: str
    alert_id: int | None  # None for a digest link
    expires: datetime
    token: str
    digest_id: int | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """The bytes of the one canonical spelling; any other spelling of them is refused.

    Base64 without padding leaves spare bits in the last character: several characters decode to
    the same bytes. Accepting them all would let one link travel as several token strings, and
    a test that alters the last character would pass or fail by chance."""
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise binascii.Error("not the canonical spelling")
    return data


def _mac(key: bytes, official_id: str, target: str, minutes: int, generation: int) -> bytes:
    # a purpose prefix: the key signs nothing else, and a link can never pass for another thing;
    # the target says what kind of thing it opens ("alert:42", "digest:7")
    message = f"dutywatch-link|v1|{official_id}|{target}|{minutes}|{generation}"
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()[:MAC_BYTES]


def _token(
    key: bytes, official_id: str, kind: str, target_id: int, expires: datetime, generation: int
) -> str:
    minutes = int((expires - EPOCH).total_seconds() // 60)
    # a digest's number starts with "g", which is no hexadecimal digit: never read as an alert's
    prefix = "g" if kind == "digest" else ""
    payload = f"{prefix}{target_id:x}.{minutes:x}.{official_id}"
    mac = _mac(key, official_id, f"{kind}:{target_id}", minutes, generation)
    return f"{_b64(payload.encode('utf-8'))}.{_b64(mac)}"


def sign(key: bytes, official_id: str, alert_id: int, expires: datetime, generation: int) -> str:
    """The token of a link for this official and alert, valid until `expires` (to the minute)."""
    return _token(key, official_id, "alert", alert_id, expires, generation)


def sign_digest(key: bytes, official_id: str, digest_id: int, expires: datetime, generation: int) -> str:
    """The token of a link for this official and the daily digest (an outbox row) sent to them."""
    return _token(key, official_id, "digest", digest_id, expires, generation)


def generations(session: Session) -> dict[str, int]:
    """Each official's current link generation (0 for those never revoked)."""
    return {g.official_id: g.generation for g in session.scalars(select(LinkGeneration))}


def verify(key: bytes, token: str, session: Session, now: datetime) -> Link | None:
    """The link a token stands for, or None if it is malformed, tampered, expired or revoked.

    Every refusal is the same None: the page tells nobody which check failed."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    payload_text, dot, mac_text = token.partition(".")
    if not dot:
        return None
    try:
        payload = _unb64(payload_text).decode("utf-8")
        presented = _unb64(mac_text)
        target_hex, minutes_hex, official_id = payload.split(".", 2)
        kind = "digest" if target_hex.startswith("g") else "alert"
        target_id, minutes = int(target_hex.removeprefix("g"), 16), int(minutes_hex, 16)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not official_id or not 0 < target_id < 2**31 or not 0 <= minutes < 2**31:
        return None
    row = session.get(LinkGeneration, official_id)
    generation = row.generation if row is not None else 0
    expected = _mac(key, official_id, f"{kind}:{target_id}", minutes, generation)
    if not hmac.compare_digest(presented, expected):
        return None
    expires = EPOCH + timedelta(minutes=minutes)
    if expires <= now or session.get(Official, official_id) is None:
        return None
    if kind == "digest":
        return Link(official_id, None, expires, token, digest_id=target_id)
    return Link(official_id, target_id, expires, token)


def generation_of(session: Session, official_id: str) -> int:
    row = session.get(LinkGeneration, official_id)
    return row.generation if row is not None else 0


def revoke(session: Session, official_id: str, now: datetime, by: str) -> int:
    """Void every link this official was sent; returns the new generation. The caller commits."""
    row = session.get(LinkGeneration, official_id)
    if row is None:
        row = LinkGeneration(official_id=official_id, generation=0)
        session.add(row)
    row.generation = (row.generation or 0) + 1
    row.revoked_at, row.revoked_by = now, by[:100]
    session.flush()
    return row.generation


def signing_key(settings: LinkSettings, sessions: sessionmaker[Session], now: datetime) -> bytes:
    """The configured secret, else the one kept in the database (made at first start).

    Two processes starting together may both make one: the second insert fails on the primary
    key and that process reads the winner's, so every replica signs with the same key."""
    if settings.secret is not None:
        return settings.secret.get_secret_value().encode("utf-8")
    with sessions() as session:
        row = session.get(LinkSecret, 1)
        if row is not None:
            return row.secret.encode("utf-8")
        session.add(LinkSecret(id=1, secret=secrets.token_urlsafe(32), created_at=now))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
        row = session.get(LinkSecret, 1)
        assert row is not None
        return row.secret.encode("utf-8")


@dataclass(frozen=True)
class LinkMaker:
    """Makes the links of one batch of notifications: the key, the address, each official's
    generation read once for the batch."""

    key: bytes
    public_url: str
    ttl: timedelta
    generation_of: Mapping[str, int]

    def url(self, official_id: str, alert_id: int, now: datetime) -> str:
        token = sign(self.key, official_id, alert_id, now + self.ttl, self.generation_of.get(official_id, 0))
        return f"{self.public_url}{PATH}{token}"

    def digest_url(self, official_id: str, digest_id: int, now: datetime) -> str:
        generation = self.generation_of.get(official_id, 0)
        return f"{self.public_url}{PATH}{sign_digest(self.key, official_id, digest_id, now + self.ttl, generation)}"


def link_maker(settings: LinkSettings, key: bytes, session: Session) -> LinkMaker | None:
    """The batch's link maker, or None when no public address is configured (no links then)."""
    if settings.public_url is None:
        return None
    return LinkMaker(key, settings.public_url, timedelta(hours=settings.ttl_hours), generations(session))
