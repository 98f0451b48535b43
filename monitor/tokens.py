"""API bearer tokens: made once, stored as SHA-256 hashes, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.store.models import ApiToken

# `metrics` reads /metrics and nothing else: what a Prometheus server should hold
SCOPES = ("ingest", "read", "admin", "metrics")
PREFIX = "dw_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name and scopes."""

    name: str
    scopes: frozenset[str]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_scopes(text: str) -> tuple[str, ...]:
    scopes = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"scopes must be among {', '.join(SCOPES)}; got {text!r}")
    return scopes


def create_token(session: Session, name: str, scopes: tuple[str, ...], now: datetime) -> str:
    """Store a new token's hash and return the token itself (shown once, never stored)."""
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, sha256=hash_token(token), scopes=",".join(scopes), created_at=now))
    session.flush()
    return token


def declared(settings: Settings, token: str) -> Principal | None:
    """The principal of a token declared in the config (by hash), or None; reads no database, so
    it answers while the database is away."""
    digest = hash_token(token)
    found: Principal | None = None
    for configured in settings.tokens:
        if hmac.compare_digest(configured.sha256, digest):
            found = Principal(configured.name, frozenset(configured.scopes))
    return found


def authenticate(session: Session, settings: Settings, token: str) -> Principal | None:
    """The principal a presented token belongs to, or None. Every candidate is compared with
    hmac.compare_digest, so timing does not tell how much of a hash matched."""
    digest = hash_token(token)
    found = declared(settings, token)
    rows = session.execute(
        select(ApiToken.name, ApiToken.sha256, ApiToken.scopes).where(ApiToken.revoked_at.is_(None))
    )
    for name, stored, scopes in rows:
        if hmac.compare_digest(stored, digest):
            found = Principal(name, frozenset(scopes.split(",")))
    return found
