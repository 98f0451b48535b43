"""`POST /v1/waivers` over real HTTP refuses, with 422 naming the field, a waiver whose subject or
period no duty of its rule has (it would waive nothing, silently), and takes the right one."""

from __future__ import annotations

from typing import Any

from tests.service.conftest import Daemon


def _a_duty(daemon: Daemon, rule: str) -> dict[str, Any]:
    found = daemon.call("read", "GET", "/v1/obligations", params={"rule": rule, "limit": 1})
    assert found.status_code == 200 and found.json(), (rule, found.text)
    return dict(found.json()[0])


def test_a_waiver_that_would_waive_nothing_is_refused_over_http(daemon: Daemon) -> None:
    daemon.tick()
    visit = _a_duty(daemon, "pairing-monthly-visit")
    clock = _a_duty(daemon, "case-complex-5-workdays")
    month = visit["period"]
    half = f"{month[:4]}-H{1 if int(month[5:]) <= 6 else 2}"

    def post(**change: str) -> Any:
        body = {
            "rule": "pairing-monthly-visit",
            "subject": visit["subject"],
            "period": month,
            "reason": "企业已迁出本区",
            "approver": "区营商办 王主任",
            **change,
        }
        return daemon.call("admin", "POST", "/v1/waivers", json=body)

    for change, field, words in (
        ({"subject": clock["subject"]}, "subject", "pairing-monthly-visit's duties are each on a pairing"),
        ({"period": half}, "period", f"each for a month (YYYY-MM, e.g. {month[:4]}-"),
        ({"period": ""}, "period", "give the period waived"),
        (
            {"rule": "case-complex-5-workdays", "subject": clock["subject"]},
            "period",
            "case-complex-5-workdays's duties run on a clock and have no period",
        ),
    ):
        refused = post(**change)
        assert refused.status_code == 422, (change, refused.text)
        error = refused.json()["error"]
        assert (error["code"], error["field"]) == ("invalid_waiver", field), change
        assert words in error["message"], (change, error["message"])
    assert daemon.call("read", "GET", "/v1/waivers").json() == []
    assert [e for e in daemon.call("admin", "GET", "/v1/audit").json() if e["action"] == "waiver.add"] == []

    assert post().status_code == 201
    taken = post(rule="case-complex-5-workdays", subject=clock["subject"], period="")
    assert taken.status_code == 201, taken.text
    assert {
        (w["rule"], w["subject"], w["period"]) for w in daemon.call("read", "GET", "/v1/waivers").json()
    } == {
        ("pairing-monthly-visit", visit["subject"], month),
        ("case-complex-5-workdays", clock["subject"], None),
    }
    daemon.tick()
    for rule, subject, period in (
        ("pairing-monthly-visit", visit["subject"], month),
        ("case-complex-5-workdays", clock["subject"], None),
    ):
        duties = daemon.call("read", "GET", "/v1/obligations", params={"rule": rule}).json()
        [duty] = [d for d in duties if (d["subject"], d["period"]) == (subject, period)]
        assert duty["status"] == "waived", rule
