"""Connection guards for uvicorn's h11 protocol: a request-head deadline and fair connection slots.

uvicorn times out idle keep-alive connections but not a connection that never finishes its
request head: any byte cancels the keep-alive timer, and a fresh connection has none. So a few
hundred clients that connect and say nothing (or trickle a header every few seconds) hold every
slot, and everyone else, `/healthz` included, gets 503. This subclass adds, per connection:

- a deadline for the request head, armed whenever the connection waits for one (when it opens
  and after each response) and not moved by the bytes that arrive: a trickle does not buy time;
- a minimum rate for the request body once the head is in (also for a body the app refused
  before reading, which uvicorn would otherwise drain for as long as the client trickles it),
  judged only over time in which the server was ready to read and not waiting to say
  "100 Continue": a slow app or a polite client is never blamed;
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
from uvicorn.protocols.http.flow_control import FlowControl
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
    min_body_rate: int
    max_connections: int
    per_client: int
    trusted: tuple[Network, ...]
    # told each cut-off's reason (head_timeout, slow_body, per_client, room), for the metrics
    on_cut: Callable[[str], None] = lambda reason: None
    held: Counter[str] = field(default_factory=Counter)  # connections per client key
    # connections waiting for a request head, oldest first (dicts keep insertion order)
    waiting: dict[GuardedH11Protocol, None] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: HttpSettings, on_cut: Callable[[str], None] | None = None) -> Guard:
        guard = cls(
            head_timeout=settings.head_timeout_seconds,
            min_body_rate=settings.min_body_bytes_per_second,
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


class _Flow(FlowControl):
    """uvicorn's flow control, telling the protocol when reading resumes (a new body window)."""

    def __init__(self, transport: asyncio.Transport, on_resume: Callable[[], None]) -> None:
        super().__init__(transport)
        self._on_resume = on_resume

    def resume_reading(self) -> None:
        paused = self.read_paused
        super().resume_reading()
        if paused:
            self._on_resume()


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the guards of this module; `guard` is set per server."""

    guard: ClassVar[Guard]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_bytes = 0  # received in the current body window
        self._key: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.flow = _Flow(transport, self._restart_body_window)
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
        self._stop_body_timer()
        if self._key is not None:
            self.guard.held[self._key] -= 1
            if self.guard.held[self._key] <= 0:
                del self.guard.held[self._key]
            self._key = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._body_bytes += len(data)
        super().data_received(data)
        self._watch_head()
        self._watch_body()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch_head()
        self._watch_body()

    def _make_room(self) -> None:
        """Cut off the connection that has waited longest for a request head."""
        victim = next((c for c in self.guard.waiting if c is not self), None)
        if victim is None:
            return  # every other slot is busy with a request: uvicorn answers 503
        victim._cut_off()
        self.guard.on_cut("room")
        # uvicorn counts slots in `connections`, and the loop reports the loss later
        self.connections.discard(victim)

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

    def _watch_body(self) -> None:
        """Judge the body's rate while the client owes one, else stop."""
        owing = self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing()
        if owing and self._body_timer is None and self.guard.min_body_rate > 0:
            self._restart_body_window()
        elif not owing:
            self._stop_body_timer()

    def _restart_body_window(self) -> None:
        self._stop_body_timer()
        if self.conn.their_state is h11.SEND_BODY and self.guard.min_body_rate > 0:
            self._body_bytes = 0
            self._body_timer = self.loop.call_later(self.guard.head_timeout, self._body_judged)

    def _stop_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_judged(self) -> None:
        self._body_timer = None
        if self.conn.their_state is not h11.SEND_BODY or self.transport.is_closing():
            return
        # not the client's fault: the app is behind (reading paused), or the client politely waits
        # for the "100 Continue" the app has not asked for yet
        excused = self.flow.read_paused or (self.cycle is not None and self.cycle.waiting_for_100_continue)
        if excused or self._body_bytes >= self.guard.min_body_rate * self.guard.head_timeout:
            self._restart_body_window()
            return
        self.transport.close()  # no 408: a response may have begun
        self.guard.on_cut("slow_body")

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
