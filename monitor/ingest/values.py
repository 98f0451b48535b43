"""Checks of single values shared by the event and roster schemas; each raises Rejection."""

from __future__ import annotations

import re
from datetime import date, datetime

from monitor.clock import parse_instant
from monitor.ingest.credit_code import credit_code_problem
from monitor.ingest.outcome import Rejection

MAX_TEXT = 2000
MAX_ID = 128
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


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


def ident(value: object, field: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return text(value, field, limit=MAX_ID)


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
    raise Rejection(field, f"not a date (YYYY-MM-DD): {value!r}")


def credit_code(value: object, field: str) -> str:
    code = value.strip().upper() if isinstance(value, str) else value
    problem = credit_code_problem(code)
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
