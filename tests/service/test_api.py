"""The HTTP API over real HTTP: auth per route and scope, ingest results, alerts, limits, errors."""

from __future__ import annotations

import time

import pytest

from monitor.clock import utcnow
from tests.service.conftest import Daemon

ROUTES = [
    ("GET", "/readyz", "read"),
    ("GET", "/v1/alerts", "read"),
    ("GET", "/v1/obligations", "read"),
    ("GET", "/v1/cases/none", "read"),
    ("POST", "/v1/events", "ingest"),
    ("POST", "/v1/roster", "admin"),
    ("POST", "/v1/alerts/1/ack", "admin"),
    ("POST", "/-/reload", "admin"),
]


def test_healthz_needs_no_token(daemon: Daemon) -> None:
    assert daemon.call(None, "GET", "/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES)
def test_every_route_needs_a_token_with_its_scope(daemon: Daemon, method: str, path: str, scope: str) -> None:
    anonymous = daemon.call(None, method, path)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"
    bogus = daemon.call(None, method, path, headers={"Authorization": "Bearer dw_not-a-token"})
    assert bogus.status_code == 401
    other = next(s for s in ("read", "ingest", "admin") if s != scope)
    assert daemon.call(other, method, path).status_code == 403
    assert daemon.call(scope, method, path, json={"reason": "x"}).status_code not in (401, 403)


def test_events_answer_per_record_and_commit_before_answering(daemon: Daemon) -> None:
    today = utcnow().date().isoformat()
    batch = [
        {
            "id": "api-1",
            "type": "review",
            "at": f"{today}T00:30:00+08:00",
            "review": "RV-api",
            "unit": "u-spj",
            "rating": 2,
        },
        {"id": "api-2", "type": "visit", "at": f"{today}T00:30:00+08:00"},
        {
            "id": "api-1",
            "type": "review",
            "at": f"{today}T00:30:00+08:00",
            "review": "RV-api",
            "unit": "u-spj",
            "rating": 2,
        },
    ]
    body = daemon.call("ingest", "POST", "/v1/events", json=batch).json()
    assert (body["accepted"], body["rejected"], body["duplicate"]) == (1, 1, 1)
    assert body["results"][1] == {
        "ref": "[1]",
        "id": "api-2",
        "status": "rejected",
        "field": "enterprise",
        "reason": "required",
    }


def test_a_bad_review_is_alerted_without_waiting_for_the_tick(daemon: Daemon) -> None:
    today = utcnow().date().isoformat()
    event = {
        "id": "api-bad",
        "type": "review",
        "at": f"{today}T00:10:00+08:00",
        "review": "RV-now",
        "unit": "u-spj",
        "rating": 1,
    }
    assert daemon.call("ingest", "POST", "/v1/events", json=event).json()["accepted"] == 1
    deadline = time.monotonic() + 5
    found: list[dict[str, object]] = []
    while not found and time.monotonic() < deadline:
        alerts = daemon.call("read", "GET", "/v1/alerts", params={"rule": "review-bad-rectification"}).json()
        found = [a for a in alerts if a["subject"] == "review:RV-now"]
        time.sleep(0.05)
    assert found and found[0]["state"] == "warning"


def test_alerts_filter_and_ack_records_who_and_why(daemon: Daemon) -> None:
    daemon.service.tick()
    alerts = daemon.call("read", "GET", "/v1/alerts", params={"state": "overdue"}).json()
    assert alerts and all(a["state"] == "overdue" for a in alerts)
    target = alerts[0]
    acked = daemon.call(
        "admin", "POST", f"/v1/alerts/{target['id']}/ack", json={"reason": "已电话督办"}
    ).json()
    assert acked["acked"]["by"] == "admin" and acked["acked"]["reason"] == "已电话督办"
    assert daemon.call("admin", "POST", "/v1/alerts/999999/ack", json={"reason": "x"}).status_code == 404
    level = daemon.call("read", "GET", "/v1/alerts", params={"level": 3}).json()
    assert all(a["level"] == 3 for a in level)


def test_obligations_and_a_case_clock(daemon: Daemon) -> None:
    daemon.service.tick()
    late = daemon.call("read", "GET", "/v1/obligations", params={"status": "met_late"}).json()
    assert all(o["status"] == "met_late" for o in late)
    alerts = daemon.call("read", "GET", "/v1/alerts", params={"rule": "case-complex-5-workdays"}).json()
    case_id = alerts[0]["subject"].split(":", 1)[1]
    clock = daemon.call("read", "GET", f"/v1/cases/{case_id}").json()
    assert clock["case"] == case_id and clock["working_days_used"] > 0
    assert any(c["rule"] == "case-complex-5-workdays" and c["status"] == "overdue" for c in clock["clocks"])


def test_oversized_bodies_and_batches_are_refused(daemon: Daemon) -> None:
    big = daemon.call("ingest", "POST", "/v1/events", content=b"[" + b" " * (70 * 1024) + b"]")
    assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"
    many = [{"id": f"m{i}", "type": "visit"} for i in range(51)]
    assert daemon.call("ingest", "POST", "/v1/events", json=many).status_code == 413


def test_malformed_json_is_a_clear_400(daemon: Daemon) -> None:
    response = daemon.call("ingest", "POST", "/v1/events", content=b"{not json")
    assert response.status_code == 400 and "not JSON" in response.json()["error"]["message"]


def test_readyz_reports_each_check(daemon: Daemon) -> None:
    before = daemon.call("read", "GET", "/readyz")
    assert before.status_code == 503 and before.json()["checks"]["tick"] is False
    daemon.service.tick()
    after = daemon.call("read", "GET", "/readyz")
    assert after.status_code == 200 and after.json()["checks"] == {
        "database": True,
        "rules": True,
        "calendar": True,
        "tick": True,
    }


def test_openapi_is_served(daemon: Daemon) -> None:
    spec = daemon.call(None, "GET", "/openapi.json").json()
    assert "/v1/events" in spec["paths"]


@pytest.mark.parametrize(
    "body", [b"\xff\xfe{}", b"[" * 30_000 + b"]" * 30_000], ids=["invalid-utf8", "deeply-nested"]
)
def test_hostile_bodies_get_a_clear_400_never_a_5xx(daemon: Daemon, body: bytes) -> None:
    response = daemon.call("ingest", "POST", "/v1/events", content=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_a_record_of_the_wrong_shape_is_rejected_not_a_crash(daemon: Daemon) -> None:
    payload = b'[{"id": ["x"], "type": ["visit"]}, 7, null, {"id": 1e999999, "type": "visit"}]'
    body = daemon.call("ingest", "POST", "/v1/events", content=payload).json()
    assert body["rejected"] == 4
