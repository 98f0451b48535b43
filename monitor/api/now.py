"""The API's "now": one reading of the app's clock per request.

The clock is the wall clock (`monitor.clock.utcnow`, set by `create_app`); a test replaces
`app.state.clock` to see the routes that judge by the date (/readyz, the status page) on another
day, over real HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

Clock = Callable[[], datetime]


def now_of(request: Request) -> datetime:
    """The current instant by the app's clock, timezone-aware UTC."""
    clock: Clock = request.app.state.clock
    return clock()


Now = Annotated[datetime, Depends(now_of)]

__all__ = ["Clock", "Now", "now_of"]
