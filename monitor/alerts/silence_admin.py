"""Adding, listing and expiring silences: the one place that validates and audits them, shared
by `dutywatch silence` and `/v1/silences`, so a silence the CLI refuses the API refuses too.

A silence must be able to mute something (a known rule, unit or subject) and must end: one
longer than MAX_SPAN is a duty set aside, which is a waiver's job (approved, reported), not a
silence's.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from monitor.alerts.silences import active
from monitor.audit import add_entry
from monitor.clock import SHANGHAI, iso_shanghai, parse_instant
from monitor.rulebook import RULE_IDS
from monitor.store.models import Silence, Unit
from monitor.subjects import subject_problem

MAX_SPAN = timedelta(days=90)
STATES = ("active", "pending", "expired", "all")
# the columns' widths (monitor/store/models.py), so that no database is asked to cut a value
LIMITS = {"rule": 64, "unit": 64, "subject": 200, "created_by": 100, "comment": 2000}
_DURATION = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?")
# "HH:MM-HH:MM" as monitor/alerts/silences.py reads it each tick: no seconds, no offset (an aware time
# cannot be compared with the tick's Shanghai clock time), no other digits than ASCII
_DAILY = re.compile(r"([0-9]{1,2}):([0-9]{2})-([0-9]{1,2}):([0-9]{2})")


class SilenceError(ValueError):
    """A silence refused: `field` names what is wrong (an option on the CLI, a key in the API)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def parse_duration(text: str) -> timedelta:
    """ "90m", "2h", "3d", "1d12h" into a timedelta; raises ValueError with the form expected."""
    found = _DURATION.fullmatch(text.strip())
    if not text.strip() or found is None:
        raise ValueError(f"a duration looks like 90m, 2h, 3d or 1d12h, not {text!r}")
    days, hours, minutes = (int(g or 0) for g in found.groups())
    try:
        return timedelta(days=days, hours=hours, minutes=minutes)
    except OverflowError:
        raise ValueError(f"a duration of at most {MAX_SPAN.days} days, not {text!r}") from None


def normalise_daily(text: str) -> str:
    """A daily window ("9:00 - 13:30") in the one form stored ("09:00-13:30"); raises ValueError.

    The end may be before the start (22:00-08:00 runs overnight); an empty window mutes nothing.
    """
    found = _DAILY.fullmatch(text.replace(" ", ""))
    if found is None or int(found[1]) > 23 or int(found[3]) > 23 or int(found[2]) > 59 or int(found[4]) > 59:
        raise ValueError(f"a daily window looks like 12:00-13:30 (Asia/Shanghai), not {text!r}")
    start, end = f"{int(found[1]):02}:{found[2]}", f"{int(found[3]):02}:{found[4]}"
    if start == end:
        raise ValueError(f"a daily window must not be empty: {text!r}")
    return f"{start}-{end}"


def add_silence(
    session: Session,
    *,
    rule: str | None,
    unit: str | None,
    subject: str | None,
    start: str | None,
    end: str | None,
    duration: str | None,
    daily: str | None,
    created_by: str,
    comment: str,
    now: datetime,
    actor: str,
    source: str,
) -> Silence:
    """Validate and add a silence (flushed and audited, not committed); SilenceError names the
    field at fault. `start` defaults to `now`; the end is `end`, or `start` plus `duration`."""
    rule, unit, subject, daily = (v.strip() or None if v else None for v in (rule, unit, subject, daily))
    _check_texts(rule=rule, unit=unit, subject=subject, created_by=created_by, comment=comment)
    if not (rule or unit or subject):
        raise SilenceError("matchers", "a silence needs at least one of rule, unit, subject")
    if rule and rule not in RULE_IDS:
        raise SilenceError("rule", f"unknown rule {rule!r}")
    if unit and session.get(Unit, unit) is None:
        raise SilenceError("unit", f"no unit {unit!r} in the roster (give a unit id)")
    problem = subject_problem(session, subject) if subject else None
    if problem:
        raise SilenceError("subject", problem)
    starts_at, ends_at = _window(start, end, duration, now)
    if daily:
        try:
            daily = normalise_daily(daily)
        except ValueError as exc:
            raise SilenceError("daily", str(exc)) from None
    row = Silence(
        rule=rule,
        unit_id=unit,
        subject=subject,
        starts_at=starts_at,
        ends_at=ends_at,
        daily=daily,
        created_by=created_by.strip(),
        reason=comment.strip(),
        created_at=now,
    )
    session.add(row)
    session.flush()
    # `by` and `reason` as the entries written before the API existed (audit's `reason` reads it)
    detail = {k: v for k, v in silence_json(row, now).items() if k not in ("id", "state", "muting")}
    detail |= {"by": detail.pop("created_by"), "reason": detail.pop("comment")}
    add_entry(session, "silence.add", f"silence {row.id}", actor=actor, source=source, detail=detail, at=now)
    return row


def expire_silence(
    session: Session, silence_id: int, *, now: datetime, actor: str, source: str
) -> tuple[Silence, bool] | None:
    """End a silence now: (the silence, whether this call ended it), or None when there is none.

    Expiring one already over changes nothing and is not audited again, so a retried DELETE is
    harmless. One not yet begun ends before it begins: its start moves to now as well.
    """
    row = session.get(Silence, silence_id)
    if row is None:
        return None
    if row.ends_at <= now:
        return row, False
    row.starts_at = min(row.starts_at, now)
    row.ends_at = now
    session.flush()
    add_entry(
        session,
        "silence.expire",
        f"silence {row.id}",
        actor=actor,
        source=source,
        detail=silence_json(row, now),
        at=now,
    )
    return row, True


def listed(state: str, now: datetime) -> Select[Silence]:
    """The silences in `state` (one of STATES) at `now`, oldest first."""
    stmt = select(Silence).order_by(Silence.id)
    if state == "active":
        return stmt.where(Silence.starts_at <= now, Silence.ends_at > now)
    if state == "pending":
        return stmt.where(Silence.starts_at > now)
    if state == "expired":
        return stmt.where(Silence.ends_at <= now)
    if state == "all":
        return stmt
    raise ValueError(f"state must be one of {', '.join(STATES)}")


def state_of(row: Silence, now: datetime) -> str:
    if row.ends_at <= now:
        return "expired"
    return "pending" if row.starts_at > now else "active"


def silence_json(row: Silence, now: datetime) -> dict[str, Any]:
    """A silence as the API shows it; `muting` tells whether its daily window is open now."""
    state = state_of(row, now)
    return {
        "id": row.id,
        "rule": row.rule,
        "unit": row.unit_id,
        "subject": row.subject,
        "start": iso_shanghai(row.starts_at),
        "end": iso_shanghai(row.ends_at),
        "daily": row.daily,
        "created_by": row.created_by,
        "comment": row.reason,
        "state": state,
        "muting": state == "active" and active(row, now),
    }


def _check_texts(**values: str | None) -> None:
    for name, value in values.items():
        if name in ("created_by", "comment") and not (value or "").strip():
            raise SilenceError(name, "is required")
        if value is not None and len(value) > LIMITS[name]:
            raise SilenceError(name, f"at most {LIMITS[name]} characters")


def _window(
    start: str | None, end: str | None, duration: str | None, now: datetime
) -> tuple[datetime, datetime]:
    """[start, end) from the texts given; SilenceError names the one at fault."""
    try:
        starts_at = parse_instant(start) if start else now
    except ValueError as exc:
        raise SilenceError("start", str(exc)) from None
    field, ends_at = _end(starts_at, end, duration)
    if ends_at <= starts_at:
        raise SilenceError(field, "must end after it starts" if field == "end" else "must be more than 0")
    if ends_at - starts_at > MAX_SPAN:
        raise SilenceError(
            field, f"at most {MAX_SPAN.days} days: a duty set aside for longer is a waiver's job"
        )
    # each is shown in +08:00 (iso_shanghai): one that cannot be is refused here, not in a 500
    _showable("start", starts_at)
    _showable(field, ends_at)
    return starts_at, ends_at


def _end(starts_at: datetime, end: str | None, duration: str | None) -> tuple[str, datetime]:
    """The end from an end or a duration (exactly one given), and which of the two it came from."""
    if end and duration:
        raise SilenceError("duration", "give an end or a duration, not both")
    if duration:
        try:
            span = parse_duration(duration)
        except ValueError as exc:
            raise SilenceError("duration", str(exc)) from None
        try:
            return "duration", starts_at + span
        except OverflowError:
            raise SilenceError("duration", "ends past the year 9999") from None
    if end:
        try:
            return "end", parse_instant(end)
        except ValueError as exc:
            raise SilenceError("end", str(exc)) from None
    raise SilenceError("end", "give an end or a duration")


def _showable(field: str, instant: datetime) -> None:
    try:
        instant.astimezone(SHANGHAI)
    except OverflowError:
        raise SilenceError(field, "past the year 9999") from None
