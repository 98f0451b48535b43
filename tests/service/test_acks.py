"""A second acknowledgement keeps the first: the alert shows every one, the audit log each reason.

Over real HTTP against the daemon, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from tests.service.conftest import Daemon


def ack(daemon: Daemon, alert_id: int, reason: str) -> dict[str, Any]:
    response = daemon.call("admin", "POST", f"/v1/alerts/{alert_id}/ack", json={"reason": reason})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_second_acknowledgement_keeps_the_first_ones_reason(daemon: Daemon) -> None:
    daemon.tick()
    alerts = daemon.call("read", "GET", "/v1/alerts", params={"limit": 2}).json()
    first, other = alerts[0]["id"], alerts[1]["id"]
    assert alerts[0]["acked"] is None
    ack(daemon, first, "已协调，周五前办结")
    acked = ack(daemon, first, "改由区营商办牵头")["acked"]
    assert acked["reason"] == "改由区营商办牵头" and acked["by"] == "admin"
    assert [(a["by"], a["reason"]) for a in acked["history"]] == [
        ("admin", "已协调，周五前办结"),
        ("admin", "改由区营商办牵头"),
    ]
    ack(daemon, other, "另一条")
    listed = {a["id"]: a for a in daemon.call("read", "GET", "/v1/alerts").json()}
    assert [a["reason"] for a in listed[first]["acked"]["history"]] == [
        "已协调，周五前办结",
        "改由区营商办牵头",
    ]
    assert [a["reason"] for a in listed[other]["acked"]["history"]] == ["另一条"]

    audit = daemon.call("admin", "GET", "/v1/audit", params={"action": "alert.ack"}).json()
    assert [(e["target"], e["reason"]) for e in audit] == [
        (f"alert {other}", "另一条"),
        (f"alert {first}", "改由区营商办牵头"),
        (f"alert {first}", "已协调，周五前办结"),
    ]
