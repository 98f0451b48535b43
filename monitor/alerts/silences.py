"""Silences: matchers on rule, unit and subject over a window, one-off or recurring daily."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.clock import SHANGHAI
from monitor.store.models import Silence


def parse_daily(text: str) -> tuple[time, time]:
    """ "HH:MM-HH:MM" into two times; raises ValueError with the reason."""
    start, sep, end = text.partition("-")
    try:
        if not sep:
            raise ValueError
        return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
    except ValueError:
        raise ValueError(f"a daily window looks like 12:00-13:30, not {text!r}") from None


def active(silence: Silence, now: datetime) -> bool:
    if not silence.starts_at <= now < silence.ends_at:
        return False
    if silence.daily is None:
        return True
    start, end = parse_daily(silence.daily)
    t = now.astimezone(SHANGHAI).time()
    return (start <= t or t < end) if start > end else start <= t < end


class Silenceable(Protocol):
    """What a silence matches on: an alert row, or its columns."""

    @property
    def rule(self) -> str: ...
    @property
    def unit_id(self) -> str | None: ...
    @property
    def subject(self) -> str: ...


def matches(silence: Silence, row: Silenceable) -> bool:
    if silence.rule and silence.rule != row.rule:
        return False
    if silence.unit_id and silence.unit_id != row.unit_id:
        return False
    if silence.subject:
        if silence.subject.endswith("*"):
            return row.subject.startswith(silence.subject[:-1])
        return silence.subject == row.subject
    return True


def active_silences(session: Session, now: datetime) -> list[Silence]:
    candidates = session.scalars(select(Silence).where(Silence.starts_at <= now, Silence.ends_at > now))
    return [s for s in candidates if active(s, now)]


def silencing(silences: Sequence[Silence], row: Silenceable) -> int | None:
    """The id of the first silence that mutes this alert, or None."""
    return next((s.id for s in silences if matches(s, row)), None)
