"""Time conventions: the policy's time zone, parsing of instants, UTC storage.

Nothing here reads the wall clock except `utcnow`, which only the daemon and the CLI call to
decide what "now" is before handing it to evaluation.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    """The current instant, timezone-aware UTC. Only entry points call this."""
    return datetime.now(UTC)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 date or date-time; without an offset it is Asia/Shanghai time.

    A bare date means the start of that day in Shanghai. Raises ValueError with a reason.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty timestamp")
    try:
        if len(text) == 10:
            parsed = datetime.combine(date.fromisoformat(text), time.min)
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 timestamp: {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SHANGHAI)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"timestamp out of range: {text!r}") from None


def local_date(instant: datetime) -> date:
    """The Shanghai calendar date of an aware instant."""
    return instant.astimezone(SHANGHAI).date()


def end_of_day(day: date, cutoff: time = time(23, 59, 59)) -> datetime:
    """The instant a day's duty falls due in Shanghai (default 23:59:59), as aware UTC.

    It names the due second, as the alert record shows it; compare instants with it only through
    `on_time` and `past_due`, which count that second whole.
    """
    return datetime.combine(day, cutoff, tzinfo=SHANGHAI).astimezone(UTC)


ONE_SECOND = timedelta(seconds=1)


def lapse(due_at: datetime) -> datetime:
    """The first instant past a due time: the end of its second (23:59:59 lapses at 00:00:00).

    A deadline "by the end of day D" is shown as 23:59:59 (or the cut-off, 17:30:00) to the
    second, yet an answer at 23:59:59.6 is still within D: the due second is owed whole.
    """
    return due_at.replace(microsecond=0) + ONE_SECOND


def on_time(met_at: datetime, due_at: datetime) -> bool:
    """Whether an answer at `met_at` meets a duty due at `due_at` (any instant of its second does)."""
    return met_at < lapse(due_at)


def past_due(now: datetime, due_at: datetime) -> bool:
    """Whether a duty due at `due_at`, still unmet, is overdue at `now`: from its lapse on."""
    return now >= lapse(due_at)


def due_passed_before(now: datetime) -> datetime:
    """The bound for SQL: at `now`, the due times that have passed are exactly those before it.

    past_due(now, d) <=> floor(now) >= floor(d) + 1s <=> d < floor(now), for any fraction of d.
    """
    return now.replace(microsecond=0)


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=SHANGHAI).astimezone(UTC)


@lru_cache(maxsize=65_536)  # due times repeat (ends of working days): formatting them is the cost
def iso_shanghai(instant: datetime) -> str:
    """ISO 8601 with the +08:00 offset, as the alert record shows times."""
    return instant.astimezone(SHANGHAI).isoformat(timespec="seconds")


ONE_DAY = timedelta(days=1)


def plain_minute(instant: datetime) -> str:
    """The instant as people read it in a message: Asia/Shanghai, to the minute, no 'T' or offset."""
    return iso_shanghai(instant)[:16].replace("T", " ")
