"""Crash safety, short version of `python -m bench.chaos`: SIGKILL the daemon at random moments
while clients post events and it ticks and sends mail to a real SMTP server, restart it, and
then: every event answered "accepted" is stored, every notification made was delivered, and
duplicates stay within the window between the mail server's acceptance and our commit (at most
one message per kill, since the dispatcher records each send before the next)."""

from __future__ import annotations

import pytest

from bench.chaos import run_chaos


@pytest.mark.timeout(600)
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_kills_lose_no_accepted_event_and_no_notification(
    backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "postgresql":
        request.getfixturevalue("pg_reachable")
    result = run_chaos(kills=6, backend=backend, seed=7)
    assert result.events_accepted > 0 and result.notifications_sent > 0, "the run proved nothing"
    assert result.events_lost == 0
    assert result.notifications_pending == 0, result.statuses
    assert result.notifications_undelivered == 0
    assert result.duplicates <= result.kills
