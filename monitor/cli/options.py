"""Options several commands share."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _instant(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime:
    from monitor.clock import parse_instant, utcnow

    if value is None:
        return utcnow()  # the command's one reading of the wall clock
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def now_option(purpose: str) -> Callable[[F], F]:
    """A hidden `--now` for tests to travel in time: an aware instant, the wall clock by default."""
    return click.option(
        "--now",
        "now",
        hidden=True,
        callback=_instant,
        help=f"{purpose} (ISO 8601; Shanghai time without an offset). For tests: the default is the wall clock.",
    )
