"""The dispatcher woken, not only polled: a queued notification goes out as soon as it is committed.

`Dispatches.soon()` is cheap and may be called any number of times: one batch runs at a time,
and calls made while it runs ask for exactly one more batch afterwards (the rows queued during
a batch may have been claimed too late for it). A full batch (`send` returns True: it claimed
as many rows as a batch holds) is followed by another at once, so a backlog does not drain one
batch per poll. The scheduler's `dispatch_seconds` poll calls
`soon()` as well: it stays the safety net for retries whose backoff ran out and for rows queued
by another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("dutywatch")


class Dispatches:
    """Runs `send` on the event loop whenever woken, coalescing wake-ups that come while it runs."""

    def __init__(self, send: Callable[[], Awaitable[bool | None]]) -> None:
        self._send = send
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0  # batches run, for tests and the benchmark

    def soon(self) -> None:
        """Ask for a batch now, or right after the one running. Call from the event loop."""
        if self._closing:
            return
        self._wanted.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="dispatch")

    async def _loop(self) -> None:
        while not self._closing:
            await self._wanted.wait()
            self._wanted.clear()
            if self._closing:
                return
            try:
                if await self._send():
                    self._wanted.set()  # a full batch: more is due now
            except Exception:  # the next wake-up or poll tries again
                log.exception("dispatch failed")
            self.batches += 1

    async def close(self) -> None:
        """Let the batch in flight finish (its rows are claimed: cancelling would strand them
        until their lease ends), then stop."""
        self._closing = True
        self._wanted.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
