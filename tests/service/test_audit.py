"""The audit log (who, when, what, from where) for every change made by hand, readable by admin
tokens only; and waivers over the API, which stop an obligation from alerting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from tests.service.conftest import Daemon

HTTP_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def audit(daemon: Daemon, **params: Any) -> list[dict[str, Any]]:
    response = daemon.call("admin", "GET", "/v1/audit", params=params)
    assert response.status_code == 200, response.text
    return list(response.json())


def test_only_admin_tokens_read_the_audit_log(daemon: Daemon) -> None:
    assert daemon.call(None, "GET", "/v1/audit").status_code == 401
    for scopes in ("read", "ingest", "config"):
        assert daemon.call(scopes, "GET", "/v1/audit").status_code == 403, scopes
    assert daemon.call("admin", "GET", "/v1/audit").status_code == 200


def test_an_acknowledgement_is_audited_with_token_and_address(daemon: Daemon) -> None:
    daemon.tick()
    alert = daemon.call("read", "GET", "/v1/alerts", params={"limit": 1}).json()[0]
    acked = daemon.call(
        "admin", "POST", f"/v1/alerts/{alert['id']}/ack", json={"reason": "已协调，周五前办结"}
    )
    assert acked.status_code == 200
    [entry] = audit(daemon, action="alert.ack")
    assert entry["actor"] == "admin" and entry["source"] == "127.0.0.1"
    assert entry["target"] == f"alert {alert['id']}"
    assert entry["detail"] == {
        "rule": alert["rule"],
        "subject": alert["subject"],
        "reason": "已协调，周五前办结",
    }
    # a refused acknowledgement leaves no trace
    assert daemon.call("admin", "POST", "/v1/alerts/999999/ack", json={"reason": "x"}).status_code == 404
    assert len(audit(daemon, action="alert.ack")) == 1


def test_roster_changes_and_reloads_are_audited(daemon: Daemon) -> None:
    unit = {"units": [{"id": "u-new", "name": "区数据局", "kind": "department"}]}
    assert daemon.call("admin", "POST", "/v1/roster", json=unit).status_code == 200
    assert daemon.call("admin", "POST", "/-/reload").status_code == 200
    newest_first = audit(daemon)
    assert [e["action"] for e in newest_first[:2]] == ["reload", "roster.upsert"]
    assert newest_first[1]["detail"]["records"] == ["u-new"]
    assert newest_first[0]["detail"]["ok"] is True
    assert audit(daemon, action="reload", since="2000-01-01T00:00:00+08:00")[0]["action"] == "reload"
    assert daemon.call("admin", "GET", "/v1/audit", params={"action": "drop"}).status_code == 422
    assert daemon.call("admin", "GET", "/v1/audit", params={"since": "2024-01-01T00:00"}).status_code == 422
    assert daemon.call("admin", "GET", "/v1/audit", params={"limit": 100_000}).status_code == 422


def test_a_waiver_over_the_api_stops_the_alert_and_is_audited(daemon: Daemon) -> None:
    daemon.tick()
    alerts = daemon.call("read", "GET", "/v1/alerts", params={"rule": "pairing-monthly-visit"}).json()
    assert alerts
    target = alerts[0]
    body = {
        "rule": target["rule"],
        "subject": target["subject"],
        "period": target["period"] or "",
        "reason": "企业已迁出本区",
        "approver": "区营商办 王主任",
    }
    created = daemon.call("admin", "POST", "/v1/waivers", json=body)
    assert created.status_code == 201, created.text
    waiver = created.json()
    assert daemon.call("admin", "POST", "/v1/waivers", json=body).status_code == 409
    assert waiver in daemon.call("read", "GET", "/v1/waivers").json()

    daemon.tick()
    still_open = daemon.call("read", "GET", "/v1/alerts", params={"rule": "pairing-monthly-visit"}).json()
    assert target["subject"] not in {a["subject"] for a in still_open if a["period"] == target["period"]}
    obligations = daemon.call(
        "read", "GET", "/v1/obligations", params={"rule": target["rule"], "period": target["period"]}
    ).json()
    assert next(o for o in obligations if o["subject"] == target["subject"])["status"] == "waived"

    revoked = daemon.call("admin", "DELETE", f"/v1/waivers/{waiver['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked"]["id"] == waiver["id"]
    assert daemon.call("admin", "DELETE", f"/v1/waivers/{waiver['id']}").status_code == 404
    daemon.tick()
    again = daemon.call("read", "GET", "/v1/alerts", params={"rule": "pairing-monthly-visit"}).json()
    assert target["subject"] in {a["subject"] for a in again if a["period"] == target["period"]}

    actions = [(e["action"], e["actor"]) for e in audit(daemon) if e["action"].startswith("waiver")]
    assert actions == [("waiver.revoke", "admin"), ("waiver.add", "admin")]


@HTTP_ONLY
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rule": "no-such-rule"}, "rule"),
        ({"period": "2024-13"}, "period"),
        ({"period": "0000"}, "period"),
        ({"approver": "   "}, "approver"),
        # no such pairing in the roster (a typo): the waiver would waive nothing, silently
        ({}, "subject"),
        ({"subject": "garbage"}, "subject"),
        ({"subject": "pairing:*"}, "subject"),
    ],
)
def test_a_bad_waiver_names_its_field(daemon: Daemon, change: dict[str, str], field: str) -> None:
    body = {
        "rule": "pairing-monthly-visit",
        "subject": "pairing:o-x:91321311MA037K6DU7",
        "period": "2024-10",
        "reason": "r",
        "approver": "a",
        **change,
    }
    refused = daemon.call("admin", "POST", "/v1/waivers", json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == field
    assert daemon.call("read", "GET", "/v1/waivers").json() == []
    assert audit(daemon, action="waiver.add") == []


def test_changes_made_on_the_command_line_are_audited_as_the_user(db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["--db", db_url, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    roster = tmp_path / "roster.yaml"
    roster.write_text(
        "units:\n- {id: u-a, name: 区甲局, kind: department}\n"
        "officials:\n- {id: o-a, name: 张三, unit: u-a, role: staff}\n"
        "enterprises:\n- {id: 91321311MA037K6DU7, name: 甲公司, town: 顺河街道, above_scale: true}\n"
        "pairings:\n- {official: o-a, enterprise: 91321311MA037K6DU7, from: 2024-01-01}\n",
        encoding="utf-8",
    )
    run("import", str(roster))
    run("silence", "add", "--unit", "u-a", "--duration", "30d", "--by", "值班", "--reason", "系统迁移")
    run("silence", "expire", "1")
    run(
        "waiver", "add", "--rule", "pairing-monthly-visit", "--subject", "pairing:o-a:91321311MA037K6DU7",
        "--period", "2024-10", "--reason", "停业", "--approver", "王主任",
    )  # fmt: skip
    run("waiver", "revoke", "1")
    run("outbox", "retry", "--all-dead")
    import json

    entries = json.loads(run("audit", "list", "--format", "json"))
    assert [e["action"] for e in entries] == [
        "outbox.retry",
        "waiver.revoke",
        "waiver.add",
        "silence.expire",
        "silence.add",
        "roster.upsert",
    ]
    assert {e["source"] for e in entries} == {"cli"}
    assert all(e["actor"].startswith("cli:") for e in entries)
    assert entries[-1]["detail"]["records"] == [
        "u-a",
        "o-a",
        "91321311MA037K6DU7",
        "o-a:91321311MA037K6DU7:2024-01-01",
    ]
    assert "roster.upsert" in run("audit", "list")


SPOOFED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}


def test_a_client_cannot_choose_where_the_audit_log_says_it_came_from(daemon: Daemon) -> None:
    """No proxy is trusted by default: uvicorn believed X-Forwarded-For from 127.0.0.1."""
    assert daemon.call("admin", "POST", "/-/reload", headers=SPOOFED).status_code == 200
    [entry] = audit(daemon, action="reload")
    assert entry["source"] == "127.0.0.1"


@pytest.mark.parametrize("daemon_extra", [{"http": {"trusted_proxies": ["127.0.0.0/8"]}}])
def test_a_trusted_proxy_names_the_client_behind_it(daemon: Daemon) -> None:
    assert daemon.call("admin", "POST", "/-/reload", headers=SPOOFED).status_code == 200
    [entry] = audit(daemon, action="reload")
    assert entry["source"] == "203.0.113.9"
