"""Checks of single values shared by the event and roster schemas; each raises Rejection."""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache

from monitor.clock import local_date, parse_instant
from monitor.ingest.credit_code import credit_code_problem
from monitor.ingest.outcome import Rejection
from monitor.periods import LAST_YEAR

MAX_TEXT = 2000
MAX_ID = 128
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# What a one-line value must not hold: every C0 and C1 control (tab, CR and LF included) and the
# Unicode line and paragraph separators. A name travels into mail headers, file names and report
# cells, where a line break splits it (a CR/LF in an official's name dead-lettered every mail).
_NOT_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# An id that is already in its normal form, as nearly every id is: printable ASCII without
# spaces, at most MAX_ID long. `ident` returns it as it is without the general checks.
_PLAIN_ID = re.compile(r"[A-Za-z0-9_.:@/+#-]{1,128}")


def text(value: object, field: str, *, limit: int = MAX_TEXT, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise Rejection(field, f"must be a string, not {type(value).__name__}")
    value = value.strip()
    if not value and not allow_empty:
        raise Rejection(field, "must not be empty")
    if len(value) > limit:
        raise Rejection(field, f"longer than {limit} characters")
    if _CONTROL.search(value):
        raise Rejection(field, "contains control characters")
    if _SURROGATE.search(value):
        raise Rejection(field, "is not valid Unicode (a lone surrogate)")
    return value


def name(value: object, field: str, *, limit: int = 200) -> str:
    """One line of text (a name, an address, a category): `text` without tabs or line breaks."""
    out = text(value, field, limit=limit)
    if _NOT_ONE_LINE.search(out):
        raise Rejection(field, "contains a tab, line break or other control character")
    return out


def ident(value: object, field: str) -> str:
    """An identifier in its one normal form, used wherever ids are compared or stored.

    A string loses surrounding whitespace; a whole number (a JSON number, a numeric spreadsheet
    cell read as 12.0) becomes its decimal digits, so `5`, `5.0`, `"5"` and `" 5 "` are one id.
    Booleans, fractions and anything holding a control character are refused.
    """
    if type(value) is str and _PLAIN_ID.fullmatch(value):
        return value
    if isinstance(value, bool):
        raise Rejection(field, "must be a string or a whole number, not a boolean")
    if isinstance(value, float):
        if not value.is_integer():
            raise Rejection(field, f"must be a string or a whole number, not {value!r}")
        value = int(value)
    if isinstance(value, int):
        if abs(value) >= 10**MAX_ID:
            raise Rejection(field, f"longer than {MAX_ID} characters")
        value = str(value)
    return name(value, field, limit=MAX_ID)


def ident_or_none(value: object) -> str | None:
    """The normal form of an id, or None when it is not one (for lookups ahead of validation)."""
    if value is None:  # an absent field, as in most records for most fields looked up
        return None
    try:
        return ident(value, "id")
    except Rejection:
        return None


def boolean(value: object, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "是", "y"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "0", "否", "n"):
        return False
    raise Rejection(field, f"must be true or false, not {value!r}")


def integer(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise Rejection(field, "must be a whole number")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise Rejection(field, f"must be a whole number, not {value!r}")
    if not low <= value <= high:
        raise Rejection(field, f"must be between {low} and {high}, not {value}")
    return value


def choice(value: object, field: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.strip() not in allowed:
        raise Rejection(field, f"{value!r} is not one of {', '.join(allowed)}")
    return value.strip()


def instant(value: object, field: str) -> datetime:
    if type(value) is not str:  # a text, as nearly always, goes straight to the parser
        if isinstance(value, datetime | date):
            value = value.isoformat()
        if not isinstance(value, str):
            raise Rejection(field, f"must be an ISO 8601 timestamp, not {type(value).__name__}")
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise Rejection(field, str(exc)) from None


def day(value: object, field: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
        try:  # a workbook's date cell arrives as a midnight: 2024-01-01T00:00:00
            at = datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            if at.time() == datetime.min.time() and at.tzinfo is None:
                return at.date()
    raise Rejection(field, f"not a date (YYYY-MM-DD): {value!r}")


@lru_cache(maxsize=1 << 16)
def _code_problem(code: str) -> str | None:
    """`credit_code_problem` of a string, remembered: an import names the same enterprises often."""
    return credit_code_problem(code)


def credit_code(value: object, field: str) -> str:
    code = value.strip().upper() if isinstance(value, str) else value
    problem = _code_problem(code) if isinstance(code, str) else credit_code_problem(code)
    if problem:
        raise Rejection(field, f"invalid unified social credit code {value!r}: {problem}")
    assert isinstance(code, str)
    return code


def id_list(value: object, field: str) -> list[str]:
    if isinstance(value, str):
        value = [v for v in value.split(";") if v.strip()]
    if not isinstance(value, list) or not value:
        raise Rejection(field, "must be a non-empty list")
    out = [ident(v, f"{field}[{i}]") for i, v in enumerate(value)]
    if len(set(out)) != len(out):
        raise Rejection(field, "lists the same id twice")
    return out


def due_by(value: date | datetime, field: str) -> None:
    """Refuse a due date past the last year any working-day calendar answers (a typo's 9999): its
    counts would walk the calendar to the end of time at every evaluation."""
    if (local_date(value) if isinstance(value, datetime) else value).year > LAST_YEAR:
        raise Rejection(
            field, f"a due date after {LAST_YEAR} is past any working-day calendar: {value.isoformat()}"
        )
