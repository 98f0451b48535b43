"""Silences over real HTTP, on SQLite and PostgreSQL: added, listed, expired and audited; a
silenced alert is not notified, and told once the silence is expired; the status page lists
the silence and marks its alerts; bad input is refused with the field at fault."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from monitor.store.models import AlertRecord, Notification, Silence
from tests.service.conftest import Daemon

HTTP_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
BODY = {"created_by": "区营商办 赵主任", "comment": "集中会办中，暂停催办"}


def silences(daemon: Daemon, **params: str) -> list[dict[str, Any]]:
    response = daemon.call("read", "GET", "/v1/silences", params=params)
    assert response.status_code == 200, response.text
    return list(response.json())


def told(daemon: Daemon) -> dict[int, int]:
    """Notifications queued per alert id."""
    with daemon.service.sessions() as session:
        return Counter(n.alert_id for n in session.scalars(select(Notification)) if n.alert_id)


def open_alerts(daemon: Daemon) -> list[AlertRecord]:
    with daemon.service.sessions() as session:
        return list(session.scalars(select(AlertRecord).where(AlertRecord.state != "resolved")))


def test_a_silence_over_the_api_mutes_its_unit_until_expired(daemon: Daemon) -> None:
    created = daemon.call("admin", "POST", "/v1/silences", json={"unit": "u-spj", "duration": "2h", **BODY})
    assert created.status_code == 201, created.text
    silence = created.json()
    assert silence["unit"] == "u-spj" and silence["state"] == "active" and silence["muting"]
    assert silence["created_by"] == BODY["created_by"] and silence["comment"] == BODY["comment"]
    assert silences(daemon) == [silence]
    assert silences(daemon, state="expired") == []

    daemon.tick()
    alerts = open_alerts(daemon)
    muted = [a for a in alerts if a.unit_id == "u-spj"]
    others = [a for a in alerts if a.unit_id != "u-spj"]
    assert muted and others  # the demo district alerts both inside and outside the unit
    assert {a.silenced_by for a in muted} == {silence["id"]}
    assert {a.silenced_by for a in others} == {None}
    queued = told(daemon)
    assert not any(queued[a.id] for a in muted)
    assert any(queued[a.id] for a in others)

    page = daemon.call("read", "GET", "/")
    assert page.status_code == 200
    summary = page.text.partition('id="silences"')[2].partition("</table>")[0]
    assert BODY["comment"] in summary and BODY["created_by"] in summary and "u-spj" not in summary
    unit_page = daemon.call("read", "GET", "/", params={"unit": "u-spj"}).text
    assert "静默中" in unit_page
    other_unit = next(a.unit_id for a in others if a.unit_id)
    assert "静默中" not in daemon.call("read", "GET", "/", params={"unit": other_unit}).text

    expired = daemon.call("admin", "DELETE", f"/v1/silences/{silence['id']}")
    assert expired.status_code == 200, expired.text
    assert expired.json()["changed"] is True and expired.json()["expired"]["state"] == "expired"
    again = daemon.call("admin", "DELETE", f"/v1/silences/{silence['id']}")
    assert again.status_code == 200 and again.json()["changed"] is False
    assert again.json()["expired"] == expired.json()["expired"]
    assert daemon.call("admin", "DELETE", "/v1/silences/999999").status_code == 404
    assert silences(daemon) == []
    assert [s["id"] for s in silences(daemon, state="expired")] == [silence["id"]]
    assert 'id="silences"' not in daemon.call("read", "GET", "/").text

    daemon.tick()  # the held-back alerts are told now
    queued = told(daemon)
    now_open = [a for a in open_alerts(daemon) if a.unit_id == "u-spj"]
    # each one no other alert inhibits (an inhibited alert stays untold, silenced or not)
    assert any(a.inhibited_by is None for a in now_open)
    assert {a.id for a in now_open if a.inhibited_by is None and queued[a.id]} == {
        a.id for a in now_open if a.inhibited_by is None
    }
    assert {a.silenced_by for a in now_open} == {None}

    audit = daemon.call("admin", "GET", "/v1/audit").json()
    entries = [e for e in audit if e["action"].startswith("silence")]
    assert [(e["action"], e["actor"], e["target"]) for e in entries] == [
        ("silence.expire", "admin", f"silence {silence['id']}"),
        ("silence.add", "admin", f"silence {silence['id']}"),
    ]
    assert entries[1]["reason"] == BODY["comment"] and entries[1]["detail"]["unit"] == "u-spj"


def test_a_silence_not_yet_begun_is_pending_and_expires_before_it_begins(daemon: Daemon) -> None:
    body = {"rule": "case-escalation", "start": "2099-01-01T09:00", "end": "2099-01-02T09:00", **BODY}
    created = daemon.call("admin", "POST", "/v1/silences", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["state"] == "pending" and not created.json()["muting"]
    assert silences(daemon) == [] and silences(daemon, state="pending") == [created.json()]
    assert 'id="silences"' not in daemon.call("read", "GET", "/").text  # not in force yet
    gone = daemon.call("admin", "DELETE", f"/v1/silences/{created.json()['id']}").json()["expired"]
    assert gone["state"] == "expired" and gone["start"] == gone["end"]
    assert silences(daemon, state="all") == [gone]


@HTTP_ONLY
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rule": "no-such-rule"}, "rule"),
        ({"unit": "u-nowhere"}, "unit"),
        ({"subject": "case:C209912999"}, "subject"),
        ({"subject": "kase:*"}, "subject"),
        ({"unit": None}, "matchers"),
        ({"start": "2026-12-01T10:00", "end": "2026-12-01T09:00", "duration": None}, "end"),
        ({"end": "tomorrow", "duration": None}, "end"),
        ({"start": "soon"}, "start"),
        ({"duration": "91d"}, "duration"),
        ({"duration": "2 hours"}, "duration"),
        ({"duration": "0m"}, "duration"),
        ({"duration": None}, "end"),
        ({"end": "2026-12-01T09:00"}, "duration"),  # an end and a duration both
        ({"start": "2026-01-01", "end": "2026-06-01", "duration": None}, "end"),  # over 90 days
        ({"daily": "noon"}, "daily"),
        ({"created_by": "  "}, "created_by"),
        ({"comment": "长" * 2001}, "comment"),
        ({"subject": "case:" + "C" * 200}, "subject"),
        # past what a date can hold: refused, never a 500
        ({"duration": "99999999999d"}, "duration"),
        ({"duration": "9999999999m"}, "duration"),
        ({"duration": "٣h"}, "duration"),  # digits are ASCII
        ({"start": "9999-12-31T20:00", "duration": "2d"}, "duration"),
        ({"start": "9999-12-31T23:00+00:00", "duration": "30m"}, "start"),  # shown in +08:00
        # a daily window as the tick reads it: HH:MM-HH:MM in Shanghai, not empty, no offset
        ({"daily": "1200Z-1300Z"}, "daily"),
        ({"daily": "12:00+08:00-13:00+08:00"}, "daily"),
        ({"daily": "12:00-12:00"}, "daily"),
        ({"daily": "12:00:00-13:30:00"}, "daily"),
        ({"daily": "24:00-01:00"}, "daily"),
    ],
)
def test_a_bad_silence_names_its_field(daemon: Daemon, change: dict[str, Any], field: str) -> None:
    body = {"unit": "u-spj", "duration": "2h", **BODY, **change}
    refused = daemon.call("admin", "POST", "/v1/silences", json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == field, refused.text
    assert silences(daemon, state="all") == []
    assert daemon.call("admin", "GET", "/v1/audit", params={"action": "silence.add"}).json() == []
    with daemon.service.sessions() as session:
        assert session.scalars(select(Silence)).all() == []


@HTTP_ONLY
def test_listing_takes_only_the_states_it_knows(daemon: Daemon) -> None:
    refused = daemon.call("read", "GET", "/v1/silences", params={"state": "firing"})
    assert refused.status_code == 422 and refused.json()["error"]["problems"][0]["field"] == "state"


@HTTP_ONLY
def test_a_daily_window_is_kept_in_one_form(daemon: Daemon) -> None:
    created = daemon.call(
        "admin",
        "POST",
        "/v1/silences",
        json={"unit": "u-spj", "duration": "3d", "daily": " 9:05 - 22:30 ", **BODY},
    )
    assert created.status_code == 201, created.text
    assert created.json()["daily"] == "09:05-22:30"
    overnight = daemon.call(
        "admin",
        "POST",
        "/v1/silences",
        json={"unit": "u-spj", "duration": "3d", "daily": "22:00-08:00", **BODY},
    )
    assert overnight.status_code == 201 and overnight.json()["daily"] == "22:00-08:00"


@HTTP_ONLY
@pytest.mark.parametrize(
    "change",
    [
        {"rulee": "case-escalation"},  # a typo would widen the silence to the whole unit
        {"matchers": [{"name": "rule", "value": "case-escalation"}]},  # Alertmanager's shape
        {"endsAt": "2099-01-01T00:00:00Z"},
        {"unit": 5},
        {"created_by": None},
    ],
)
def test_a_key_the_api_does_not_know_is_refused_not_ignored(daemon: Daemon, change: dict[str, Any]) -> None:
    body = {"unit": "u-spj", "duration": "2h", **BODY, **change}
    refused = daemon.call("admin", "POST", "/v1/silences", json=body)
    assert refused.status_code == 422, refused.text
    assert [p["field"] for p in refused.json()["error"]["problems"]] == list(change), refused.text
    assert silences(daemon, state="all") == []


@HTTP_ONLY
def test_the_status_page_shows_a_silence_as_text(daemon: Daemon) -> None:
    body = {**BODY, "rule": "case-escalation", "subject": "case:C2024*", "daily": "12:00-13:30"}
    body |= {"duration": "1d", "created_by": "<b>值班</b>", "comment": "<script>alert(1)</script>"}
    assert daemon.call("admin", "POST", "/v1/silences", json=body).status_code == 201
    page = daemon.call("read", "GET", "/").text
    listed = page.partition('id="silences"')[2].partition("</table>")[0]
    assert "&lt;b&gt;值班&lt;/b&gt;" in listed and "&lt;script&gt;" in listed and "<script>" not in page
    assert "C2024…（前缀）" in listed and "每天 12:00-13:30" in listed
