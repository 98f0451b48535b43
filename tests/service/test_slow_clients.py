"""Idle, slow and greedy clients against a real server on real sockets: nobody is locked out.

The attackers connect from other loopback addresses (127.0.0.2 and up: Linux routes all of
127/8 to the loopback), so that the per-address cap does not also count the well-behaved client
on 127.0.0.1 that probes /healthz.
"""

from __future__ import annotations

import logging
import resource
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from urllib.parse import urlsplit

import httpx
import pytest

from monitor.config import HttpSettings
from tests.service.conftest import Daemon

# The HTTP layer alone decides this: one back end is enough.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

DEFAULTS = HttpSettings()


def _address(daemon: Daemon) -> tuple[str, int]:
    parts = urlsplit(daemon.url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


@contextmanager
def _connections(
    daemon: Daemon, count: int, sources: int, first: bytes = b""
) -> Iterator[list[socket.socket]]:
    """`count` connections spread over `sources` loopback addresses, each having sent `first`."""
    with ExitStack() as stack:
        opened = []
        for i in range(count):
            source = f"127.0.0.{2 + i % sources}"
            sock = stack.enter_context(
                socket.create_connection(_address(daemon), timeout=5, source_address=(source, 0))
            )
            if first:
                sock.sendall(first)
            opened.append(sock)
        yield opened


def _closed_by_server(sock: socket.socket, within: float) -> bytes | None:
    """What the server said before closing (b"" for nothing), or None if it kept the connection."""
    sock.settimeout(max(within, 0.01))
    said = b""
    try:
        while chunk := sock.recv(4096):
            said += chunk
    except TimeoutError:
        return None
    except OSError:  # reset: closed too
        pass
    return said


def _cut(daemon: Daemon, reason: str) -> float:
    """dutywatch_http_connections_cut_total for the reason, as the daemon's metrics say."""
    scrape = daemon.call("metrics", "GET", "/metrics")
    assert scrape.status_code == 200
    for line in scrape.text.splitlines():
        if line.startswith(f'dutywatch_http_connections_cut_total{{reason="{reason}"}} '):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _healthz(daemon: Daemon) -> tuple[int, float]:
    started = time.monotonic()
    with httpx.Client(base_url=daemon.url, timeout=10) as client:
        status = client.get("/healthz").status_code
    return status, time.monotonic() - started


@pytest.fixture
def descriptors() -> Iterator[None]:
    """Room for both ends of 520 connections in this process (many systems start at 1,024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * DEFAULTS.max_connections
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard limit of open files ({hard}) is below {wanted}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.usefixtures("descriptors")
def test_hundreds_of_idle_connections_do_not_lock_out_healthz(daemon: Daemon) -> None:
    """520 connections from ten addresses (52 each, under the per-address cap), half silent and
    half stuck in a request head: a newcomer is still served well before the head deadline (so
    by making room, not by waiting), and every one of them is cut off once the deadline passes.
    Before the guard: 503 until they closed."""
    count = DEFAULTS.max_connections + 8
    head = b"GET /healthz HTTP/1.1\r\nHo"
    with (
        _connections(daemon, count // 2, sources=10) as silent,
        _connections(daemon, count - count // 2, sources=10, first=head) as stuck,
    ):
        opened_at = time.monotonic()
        status, seconds = _healthz(daemon)
        assert status == 200
        assert seconds < 3.0, f"/healthz took {seconds:.1f} s beside {count} idle connections"
        # every idle connection is cut off by the deadline (and the ones that made room, sooner)
        deadline = opened_at + DEFAULTS.head_timeout_seconds + 3
        for sock in silent + stuck:
            said = _closed_by_server(sock, deadline - time.monotonic())
            assert said is not None, "an idle connection outlived the head deadline"
            assert said == b"" or said.startswith(b"HTTP/1.1 408 ")
        assert _healthz(daemon)[0] == 200
    assert _cut(daemon, "room") >= count - DEFAULTS.max_connections + 1
    assert _cut(daemon, "room") + _cut(daemon, "head_timeout") == count


def test_one_address_cannot_hold_every_slot(daemon: Daemon) -> None:
    per_client = DEFAULTS.max_connections_per_client
    with _connections(daemon, per_client + 20, sources=1) as greedy:
        refused = [_closed_by_server(sock, 1.0) for sock in greedy[per_client:]]
        assert all(said is not None and said.startswith(b"HTTP/1.1 429 ") for said in refused), refused
        assert all(_closed_by_server(sock, 0.05) is None for sock in greedy[:per_client])
        assert _healthz(daemon)[0] == 200  # from another address
        assert _cut(daemon, "per_client") == 20


def test_a_trickled_request_head_is_cut_off_at_the_deadline(daemon: Daemon) -> None:
    """A head arriving a byte a second keeps resetting uvicorn's keep-alive timer; the deadline
    counts from when the connection began waiting, so the trickle buys nothing. Also after a
    first request has been answered on the same connection."""
    with _connections(daemon, 1, sources=1) as (sock,):
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        said = None
        for _ in range(int(DEFAULTS.head_timeout_seconds * 2) + 4):
            try:
                sock.sendall(b"X")
            except OSError:
                said = b""
                break
            said = _closed_by_server(sock, 0.5)
            if said is not None:
                break
        elapsed = time.monotonic() - started
        assert said is not None, "the trickling client was never cut off"
        assert said == b"" or said.startswith(b"HTTP/1.1 408 ")
        assert DEFAULTS.head_timeout_seconds - 0.5 <= elapsed <= DEFAULTS.head_timeout_seconds + 2
    assert _cut(daemon, "head_timeout") == 1


@pytest.mark.parametrize(
    "daemon_extra", [{"http": {"head_timeout_seconds": 1, "max_connections_per_client": 3}}]
)
def test_the_limits_are_settings(daemon: Daemon) -> None:
    with _connections(daemon, 4, sources=1) as (first, _, _, fourth):
        said = _closed_by_server(fourth, 1.0)
        assert said is not None and said.startswith(b"HTTP/1.1 429 ")
        started = time.monotonic()
        assert _closed_by_server(first, 3.0) is not None
        assert time.monotonic() - started < 2.0


def _events_head(daemon: Daemon, length: int, token: str | None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"POST /v1/events HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def _trickle_until_cut(sock: socket.socket, seconds: float) -> float | None:
    """Send a byte every half second; when the server cut the connection off, after how long."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            sock.sendall(b" ")
        except OSError:
            return time.monotonic() - started
        sock.settimeout(0.5)
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except TimeoutError:
            pass
        except OSError:
            return time.monotonic() - started
    return None


@pytest.mark.parametrize("token", ["ingest", None])
def test_a_trickled_body_is_cut_off(
    daemon: Daemon, token: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    """A body two bytes a second (below 240 B/s) holds a slot no longer than a window of 5 s,
    whether the app is reading it or has already refused the request (401) and uvicorn would
    have drained it for as long as the client kept trickling. The app, left mid-body, logs no
    error (it logged a ClientDisconnect traceback per client)."""
    with _connections(daemon, 1, sources=1) as (sock,):
        sock.sendall(_events_head(daemon, 60_000, daemon.tokens[token] if token else None) + b"[")
        if token is None:
            sock.settimeout(5)
            assert sock.recv(4096).startswith(b"HTTP/1.1 401 ")
        cut_after = _trickle_until_cut(sock, 3 * DEFAULTS.head_timeout_seconds)
    assert cut_after is not None, "the trickled body was never cut off"
    assert cut_after <= 2 * DEFAULTS.head_timeout_seconds + 1
    assert _cut(daemon, "slow_body") == 1
    time.sleep(0.2)  # the app hears of the disconnect on the server's thread
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_a_slow_but_steady_body_is_served(daemon: Daemon) -> None:
    """2 KiB/s for 7 s, longer than a window: the minimum is a rate, not a deadline."""
    body = b"[" + b" " * 14_000 + b"]"  # an empty batch, padded
    with _connections(daemon, 1, sources=1) as (sock,):
        sock.sendall(_events_head(daemon, len(body), daemon.tokens["ingest"]))
        for i in range(0, len(body), 1024):
            sock.sendall(body[i : i + 1024])
            time.sleep(0.5)
        sock.settimeout(10)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert _cut(daemon, "slow_body") == 0
