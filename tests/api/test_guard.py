"""How the HTTP guard counts clients: by address, an IPv6 client by its /64, proxies not at all.

The guard's behaviour on real sockets is in tests/service/test_slow_clients.py."""

from __future__ import annotations

from monitor.api.guard import Guard
from monitor.config import HttpSettings


def test_clients_are_counted_by_address_and_ipv6_by_its_64() -> None:
    guard = Guard.of(HttpSettings())
    assert guard.client_key("203.0.113.9") == "203.0.113.9"
    assert guard.client_key("203.0.113.10") != guard.client_key("203.0.113.9")
    # a host picks any address of its /64: all of them are one client
    assert (
        guard.client_key("2001:db8:1:2::1") == guard.client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    )
    assert guard.client_key("2001:db8:1:3::1") != guard.client_key("2001:db8:1:2::1")


def test_trusted_proxies_and_non_ip_peers_are_not_capped() -> None:
    guard = Guard.of(HttpSettings(trusted_proxies=("10.0.0.0/8", "2001:db8::/32")))
    assert guard.client_key("10.1.2.3") is None
    assert guard.client_key("2001:db8:1:2::1") is None
    assert guard.client_key("11.0.0.1") == "11.0.0.1"
    assert guard.client_key("/run/dutywatch.sock") is None
