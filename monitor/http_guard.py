"""Connection guards for uvicorn's h11 protocol: a request-head deadline and fair connection slots.

uvicorn times out idle keep-alive connections but not a connection that never finishes its
request head: any byte cancels the keep-alive timer, and a fresh connection has none. So a few
hundred clients that connect and say nothing (or trickle a header every few seconds) hold every
slot, and everyone else, `/healthz` included, gets 503. This subclass adds, per connection:

- a deadline for the request head, armed whenever the connection waits for one (when it opens
  and after each response) and not moved by the bytes that arrive: a trickle does not buy time;
- a cap on the connections one client address holds (an IPv6 client by its /64), trusted
  proxies exempt since they carry many clients;
- at the global limit, the connection that has waited longest for a request head is cut off to
  make room for the newcomer: clients that send their request at once never wait long, so the
  slots held are the idle ones.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from monitor.config import HttpSettings


def _canned(status: str, message: str) -> bytes:
    body = message.encode("ascii")
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode("ascii") + body


REQUEST_TIMEOUT = _canned("408 Request Timeout", "the request head did not arrive in time")
TOO_MANY = _canned("429 Too Many Requests", "too many connections from this address")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class Guard:
    """The limits and the shared bookkeeping of one server's connections."""

    head_timeout: float
    max_connections: int
    per_client: int
    trusted: tuple[Network, ...]
    # told each cut-off's reason (head_timeout, per_client, room), for the metrics
    on_cut: Callable[[str], None] = lambda reason: None
    held: Counter[str] = field(default_factory=Counter)  # connections per client key
    # connections waiting for a request head, oldest first (dicts keep insertion order)
    waiting: dict[GuardedH11Protocol, None] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: HttpSettings, on_cut: Callable[[str], None] | None = None) -> Guard:
        guard = cls(
            head_timeout=settings.head_timeout_seconds,
            max_connections=settings.max_connections,
            per_client=settings.max_connections_per_client,
            trusted=tuple(ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies),
        )
        if on_cut is not None:
            guard.on_cut = on_cut
        return guard

    def client_key(self, host: str) -> str | None:
        """The key a peer's connections are counted under; None for trusted proxies (and for
        peers that are not IP addresses, such as a Unix socket)."""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        if any(address in network for network in self.trusted):
            return None
        if address.version == 6:  # one host usually has a whole /64 to pick addresses from
            return str(ipaddress.ip_network(f"{address}/64", strict=False))
        return str(address)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the guards of this module; `guard` is set per server."""

    guard: ClassVar[Guard]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._key: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        guard = self.guard
        key = guard.client_key(self.client[0]) if self.client else None
        if key is not None:
            if guard.held[key] >= guard.per_client:
                transport.write(TOO_MANY)
                transport.close()
                guard.on_cut("per_client")
                return
            guard.held[key] += 1
            self._key = key
        if len(self.connections) > guard.max_connections - 1:
            self._make_room()
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        if self._key is not None:
            self.guard.held[self._key] -= 1
            if self.guard.held[self._key] <= 0:
                del self.guard.held[self._key]
            self._key = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch_head()

    def _make_room(self) -> None:
        """Cut off the connection that has waited longest for a request head."""
        for victim in self.guard.waiting:
            if victim is not self:
                victim._cut_off()
                self.guard.on_cut("room")
                # uvicorn counts slots in `connections`, and the loop reports the loss later
                self.connections.discard(victim)
                return

    def _watch_head(self) -> None:
        """Arm the head deadline while the connection waits for a request head, else disarm it."""
        waiting = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
        if waiting and self._head_timer is None:
            self._head_timer = self.loop.call_later(self.guard.head_timeout, self._head_timed_out)
            self.guard.waiting[self] = None
        elif not waiting:
            self._stop_head_timer()

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self.guard.waiting.pop(self, None)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        self.guard.waiting.pop(self, None)
        if self.conn.their_state is h11.IDLE:
            self._cut_off()
            self.guard.on_cut("head_timeout")

    def _cut_off(self) -> None:
        self._stop_head_timer()
        if self.transport.is_closing():
            return
        if self.conn.trailing_data[0]:  # a head was begun: say why it ends
            self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()


def guarded_protocol(
    settings: HttpSettings, on_cut: Callable[[str], None] | None = None
) -> type[GuardedH11Protocol]:
    """A protocol class for one server, with its own limits and bookkeeping."""
    return type("Guarded", (GuardedH11Protocol,), {"guard": Guard.of(settings, on_cut)})
