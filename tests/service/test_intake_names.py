"""Over HTTP: a roster name with a line break is refused per record; an event id given as a
number or with spaces is the same event, and its batch is kept."""

from __future__ import annotations

from monitor.clock import SHANGHAI, utcnow
from tests.service.conftest import ENTERPRISE, Daemon
from tests.service.test_concurrent_ingest import OFFICIAL


def test_a_roster_name_with_cr_lf_is_refused_and_the_rest_kept(daemon: Daemon) -> None:
    roster = {
        "officials": [
            {"id": "o-crlf", "name": "王芳\r\nBcc: all@x.cn", "unit": "u-spj", "role": "staff"},
            {"id": "o-fine", "name": "王芳", "unit": "u-spj", "role": "staff"},
        ]
    }
    body = daemon.call("admin", "POST", "/v1/roster", json=roster).json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert [(r["field"], r["reason"]) for r in body["results"] if r["status"] == "rejected"] == [
        ("officials[0].name", "contains a tab, line break or other control character")
    ]


def test_event_ids_as_numbers_or_padded_are_one_event(daemon: Daemon) -> None:
    today = utcnow().astimezone(SHANGHAI).date().isoformat()

    def visit(event_id: object) -> dict[str, object]:
        return {
            "id": event_id,
            "type": "visit",
            "at": f"{today}T00:05:00+08:00",
            "official": OFFICIAL,
            "enterprise": ENTERPRISE,
        }

    first = daemon.call("ingest", "POST", "/v1/events", json=[visit(9001), visit("n-1")])
    assert first.status_code == 200 and first.json()["accepted"] == 2
    again = daemon.call(
        "ingest", "POST", "/v1/events", json=[visit(" 9001 "), visit("9001"), visit(" n-1"), visit("n-2")]
    )
    assert again.status_code == 200
    assert [(r["id"], r["status"]) for r in again.json()["results"]] == [
        ("9001", "duplicate"),
        ("9001", "duplicate"),
        ("n-1", "duplicate"),
        ("n-2", "accepted"),
    ]
