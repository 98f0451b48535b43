"""The HTTP API over real HTTP: auth per route and scope, ingest results, alerts, limits, errors."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from monitor.api.errors import SMALL_BODY_BYTES
from monitor.api.intake import STRUCTURE_AT_LEAST, STRUCTURE_PER_EVENT, structure_budget
from monitor.clock import SHANGHAI, utcnow
from tests.service.conftest import ROOT, Daemon

# What the HTTP layer alone decides (parsing, limits, validation) needs one back end, not both.
HTTP_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

ROUTES = [
    ("GET", "/v1/alerts", "read"),
    ("GET", "/v1/obligations", "read"),
    ("GET", "/v1/cases/none", "read"),
    ("POST", "/v1/events", "ingest"),
    ("POST", "/v1/roster", "admin"),
    ("POST", "/v1/alerts/1/ack", "admin"),
    ("POST", "/-/reload", "admin"),
    ("GET", "/v1/waivers", "read"),
    ("POST", "/v1/waivers", "admin"),
    ("DELETE", "/v1/waivers/1", "admin"),
    ("GET", "/v1/silences", "read"),
    ("POST", "/v1/silences", "admin"),
    ("DELETE", "/v1/silences/1", "admin"),
    ("GET", "/v1/audit", "admin"),
    ("POST", "/v1/notify/test", "admin"),
    ("POST", "/v1/officials/o-none/links/revoke", "admin"),
]
# outside the scope table: probes and the schema need no token; /metrics takes either of two
# scopes and the status page signs in with a form; an action link is its own credential
# (tests/service/test_action_links.py): each has tests of its own
OPEN = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/",
    "/login",
    "/logout",
    "/l/{token}",
    "/l",
}


def test_the_scope_table_covers_every_route() -> None:
    """A route added without a line in ROUTES (and so without its scope tests) fails here."""
    from fastapi.routing import APIRoute

    from monitor.api.app import create_app
    from monitor.config import Settings
    from monitor.runtime.service import Service

    service = Service(Settings(database_url="sqlite://", rules_dir=ROOT / "rules"))
    try:
        routes = {
            (method, route.path)
            for route in create_app(service).routes
            if isinstance(route, APIRoute)
            for method in route.methods
        }
    finally:
        service.close()
    tested = {(m, p.replace("/none", "/{case_id}").replace("/1/", "/{alert_id}/")) for m, p, _ in ROUTES}
    tested = {(m, p.replace("/v1/waivers/1", "/v1/waivers/{waiver_id}")) for m, p in tested}
    tested = {(m, p.replace("/v1/silences/1", "/v1/silences/{silence_id}")) for m, p in tested}
    tested = {(m, p.replace("/officials/o-none/", "/officials/{official_id}/")) for m, p in tested}
    untested = {(m, p) for m, p in routes if p not in OPEN} - tested
    assert not untested, f"routes without scope tests: {sorted(untested)}"


def bad_review(event_id: str, review: str, rating: int = 1) -> dict[str, Any]:
    today = utcnow().date().isoformat()
    return {
        "id": event_id,
        "type": "review",
        "at": f"{today}T00:10:00+08:00",
        "review": review,
        "unit": "u-spj",
        "rating": rating,
    }


@HTTP_ONLY
def test_probes_and_the_openapi_need_no_token(daemon: Daemon) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json"):
        assert daemon.call(None, "GET", path).status_code in (200, 503), path  # readyz: 503 before a tick


def test_metrics_need_a_metrics_or_read_token_by_default(daemon: Daemon) -> None:
    """They carry per-unit compliance figures (dutywatch_obligations{unit=…}) that the status
    page guards with a token; they were open to anyone who could reach the port."""
    daemon.tick()
    anonymous = daemon.call(None, "GET", "/metrics")
    assert anonymous.status_code == 401 and "u-" not in anonymous.text
    assert anonymous.headers["www-authenticate"] == "Bearer"
    for scopes in ("ingest", "admin"):
        refused = daemon.call(scopes, "GET", "/metrics")
        assert refused.status_code == 403 and "'metrics' or 'read'" in refused.json()["error"]["message"]
    for scopes in ("metrics", "read", "config"):
        scrape = daemon.call(scopes, "GET", "/metrics")
        assert scrape.status_code == 200, scopes
        assert 'dutywatch_obligations{rule="' in scrape.text and 'unit="u-' in scrape.text
    # a metrics token reads the metrics and nothing else
    for method, path, _ in ROUTES:
        assert daemon.call("metrics", method, path, json={"reason": "x"}).status_code == 403, path
    assert daemon.call("metrics", "GET", "/").status_code == 403  # the status page neither


@HTTP_ONLY
@pytest.mark.parametrize("daemon_extra", [{"metrics_require_token": False}])
def test_metrics_can_be_opened_by_setting(daemon: Daemon) -> None:
    assert daemon.call(None, "GET", "/metrics").status_code == 200


def test_every_route_admits_its_scope_and_refuses_the_others(daemon: Daemon) -> None:
    for method, path, scope in ROUTES:
        anonymous = daemon.call(None, method, path)
        assert anonymous.status_code == 401, path
        assert anonymous.json()["error"]["code"] == "unauthorized"
        assert anonymous.headers["www-authenticate"] == "Bearer"
        bogus = daemon.call(None, method, path, headers={"Authorization": "Bearer dw_not-a-token"})
        assert bogus.status_code == 401, path
        for other in ("read", "ingest", "admin"):
            if other != scope:
                refused = daemon.call(other, method, path, json={"reason": "x"})
                assert refused.status_code == 403, (path, other)
                assert refused.json()["error"]["code"] == "forbidden"
        for allowed in (scope, "ingest,read,admin"):
            answer = daemon.call(allowed, method, path, json={"reason": "x"})
            assert answer.status_code not in (401, 403), (path, allowed)


@HTTP_ONLY
def test_an_api_token_of_any_scope_opens_no_action_link(daemon: Daemon) -> None:
    """The link routes take the link as their only credential: a bearer token, even an admin's,
    neither opens a page nor acts, and the refusal is the plain page, not the API's JSON."""
    for scopes in (None, "read", "ingest", "admin", "ingest,read,admin", "metrics", "config"):
        for method, path, form in (
            ("GET", "/l/not-a-link", None),
            ("POST", "/l", {"token": "not-a-link", "action": "ack"}),
        ):
            refused = daemon.call(scopes, method, path, data=form)
            assert refused.status_code == 403, (scopes, path)
            assert refused.headers["content-type"].startswith("text/html"), (scopes, path)
            assert "此链接无法使用" in refused.text


def test_a_token_declared_in_the_config_is_honoured(daemon: Daemon) -> None:
    assert daemon.call("config", "GET", "/v1/alerts").status_code == 200
    assert daemon.call("config", "POST", "/v1/events", json=[]).status_code == 403


def test_a_revoked_token_is_refused(daemon: Daemon) -> None:
    from sqlalchemy import update

    from monitor.store.models import ApiToken

    assert daemon.call("read", "GET", "/v1/alerts").status_code == 200
    with daemon.service.sessions() as session:
        session.execute(update(ApiToken).where(ApiToken.name == "read").values(revoked_at=utcnow()))
        session.commit()
    assert daemon.call("read", "GET", "/v1/alerts").status_code == 401


def test_events_answer_per_record_and_commit_before_answering(daemon: Daemon) -> None:
    from monitor.store.models import Event

    today = utcnow().date().isoformat()
    batch = [
        bad_review("api-1", "RV-api", rating=2),
        {"id": "api-2", "type": "visit", "at": f"{today}T00:30:00+08:00"},
        bad_review("api-1", "RV-api", rating=2),
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
    with daemon.service.sessions() as session:  # a session of its own: committed, not just flushed
        assert session.get(Event, "api-1") is not None


def test_the_roster_is_upserted_with_an_answer_per_record(daemon: Daemon) -> None:
    from monitor.store.models import Official

    roster = {
        "officials": [
            {"id": "o-api-1", "name": "王芳", "unit": "u-spj", "role": "staff", "phone": "13951234567"},
            {"id": "o-api-2", "name": "李强", "unit": "u-spj", "role": "emperor"},
        ]
    }
    body = daemon.call("admin", "POST", "/v1/roster", json=roster).json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert [r["field"] for r in body["results"] if r["status"] == "rejected"] == ["officials[1].role"]
    with daemon.service.sessions() as session:
        official = session.get(Official, "o-api-1")
        assert official is not None and official.unit_id == "u-spj"


@HTTP_ONLY
def test_one_event_object_is_a_batch_of_one(daemon: Daemon) -> None:
    body = daemon.call("ingest", "POST", "/v1/events", json=bad_review("one", "RV-one", 4)).json()
    assert body["accepted"] == 1 and body["results"][0]["ref"] == "[0]"


def test_a_bad_review_is_alerted_without_a_tick(daemon: Daemon) -> None:
    # no tick runs in this fixture: only the immediate evaluation can record the alert. The
    # deadline is generous on purpose (a shared machine); speed is for the benchmarks.
    answered = daemon.call("ingest", "POST", "/v1/events", json=bad_review("api-bad", "RV-now"))
    assert answered.json()["accepted"] == 1
    deadline = time.monotonic() + 15.0
    found: list[dict[str, object]] = []
    while not found and time.monotonic() < deadline:
        alerts = daemon.call("read", "GET", "/v1/alerts", params={"rule": "review-bad-rectification"}).json()
        found = [a for a in alerts if a["subject"] == "review:RV-now"]
        time.sleep(0.02)
    assert found and found[0]["state"] == "warning"


def test_alerts_filter_page_and_ack_records_who_and_why(daemon: Daemon) -> None:
    daemon.tick()
    alerts = daemon.call("read", "GET", "/v1/alerts", params={"state": "overdue"}).json()
    assert len(alerts) >= 3 and all(a["state"] == "overdue" for a in alerts)
    target = alerts[0]
    assert {"id", "rule", "subject", "period", "level", "due", "recipients", "clause", "message"} <= set(
        target
    )
    acked = daemon.call(
        "admin", "POST", f"/v1/alerts/{target['id']}/ack", json={"reason": "已电话督办"}
    ).json()
    assert acked["acked"]["by"] == "admin" and acked["acked"]["reason"] == "已电话督办"
    assert daemon.call("admin", "POST", "/v1/alerts/999999/ack", json={"reason": "x"}).status_code == 404
    level = daemon.call("read", "GET", "/v1/alerts", params={"level": 3}).json()
    assert all(a["level"] == 3 for a in level)
    page = daemon.call(
        "read", "GET", "/v1/alerts", params={"state": "overdue", "limit": 2, "offset": 1}
    ).json()
    assert [a["id"] for a in page] == [a["id"] for a in alerts[1:3]]


@HTTP_ONLY
def test_an_unknown_filter_value_is_a_422_that_names_the_field(daemon: Daemon) -> None:
    response = daemon.call("read", "GET", "/v1/alerts", params={"state": "burning"})
    assert response.status_code == 422
    assert response.json()["error"]["problems"][0]["field"] == "state"


def test_obligations_filter_by_status(daemon: Daemon) -> None:
    # the demo district's data depends on today's date: a duty met late is made here, a complex
    # case answered a week after its five working days ran out
    from monitor.store.models import Enterprise

    with daemon.service.sessions() as session:
        enterprise = session.scalars(select(Enterprise.id).order_by(Enterprise.id).limit(1)).one()
    received = (utcnow() - timedelta(days=20)).astimezone(SHANGHAI).replace(hour=9, minute=30)
    answered = (utcnow() - timedelta(days=1)).astimezone(SHANGHAI).replace(hour=10, minute=0)
    opened = {
        "id": "late-case-opened",
        "type": "case_opened",
        "at": received.isoformat(),
        "case": "C-LATE-1",
        "enterprise": enterprise,
        "channel": "window",
        "complexity": "complex",
        "category": "用地",
        "unit": "u-spj",
        "summary": "迟复的复杂诉求",
    }
    feedback = {
        "id": "late-case-feedback",
        "type": "case_feedback",
        "at": answered.isoformat(),
        "case": "C-LATE-1",
        "unit": "u-spj",
    }
    assert daemon.call("ingest", "POST", "/v1/events", json=[opened, feedback]).json()["accepted"] == 2
    daemon.tick()
    late = daemon.call("read", "GET", "/v1/obligations", params={"status": "met_late"}).json()
    assert late and all(o["status"] == "met_late" for o in late)
    assert "case:C-LATE-1" in {o["subject"] for o in late}


def test_a_case_clock_says_received_due_days_used_state_and_level(daemon: Daemon) -> None:
    daemon.tick()
    alerts = daemon.call("read", "GET", "/v1/alerts", params={"rule": "case-complex-5-workdays"}).json()
    case_id = alerts[0]["subject"].split(":", 1)[1]
    clock = daemon.call("read", "GET", f"/v1/cases/{case_id}").json()
    assert clock["case"] == case_id and clock["working_days_used"] > 0
    assert clock["state"] == "overdue" and clock["level"] >= alerts[0]["level"]
    assert clock["received"] < clock["due"]
    assert any(c["rule"] == "case-complex-5-workdays" and c["status"] == "overdue" for c in clock["clocks"])
    assert daemon.call("read", "GET", "/v1/cases/no-such-case").status_code == 404
    # the path's id takes the normal form an event's id takes: the same case, not a 404
    spaced = daemon.call("read", "GET", f"/v1/cases/%20{case_id}%20").json()
    assert spaced["case"] == case_id and spaced["due"] == clock["due"]
    assert daemon.call("read", "GET", f"/v1/cases/{case_id}%07").status_code == 404


def test_a_case_clock_evaluates_that_case_alone(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    """It evaluated the whole store per request, on the one evaluation thread; and what it says of
    the case is what a whole evaluation says."""
    from sqlalchemy import select

    from monitor.api.cases import case_clock
    from monitor.clock import iso_shanghai
    from monitor.evaluation import evaluate as evaluation
    from monitor.store.models import Case

    ran: list[tuple[str, frozenset[str] | None]] = []
    for kind, query in list(evaluation._BY_KIND.items()):

        def spy(view: Any, rule: Any, query: Any = query, kind: str = kind) -> Any:
            ran.append((kind, view.case_ids))
            return query(view, rule)

        monkeypatch.setitem(evaluation._BY_KIND, kind, spy)
    with daemon.service.sessions() as session:
        case_ids = sorted(session.scalars(select(Case.id)))[:8]
    assert case_ids
    for case_id in case_ids:
        ran.clear()
        assert daemon.call("read", "GET", f"/v1/cases/{case_id}").status_code == 200
        assert ran and all(f in evaluation.CASE_KINDS and ids == {case_id} for f, ids in ran), ran

    now = utcnow()
    loaded, settings = daemon.service.loaded, daemon.service.settings

    def both() -> list[tuple[Any, Any]]:
        with daemon.service.sessions() as session:
            whole = evaluation.evaluate(
                session, loaded.rulebook, loaded.calendar, settings, now, loaded.matcher
            )
            answers = []
            for case_id in case_ids:
                clock = case_clock(session, loaded, settings, case_id, now)
                assert clock is not None
                scoped = sorted((c["rule"], c["due"], c["status"], c["level"]) for c in clock["clocks"])
                mine = [o for o in whole.obligations if o.subject == f"case:{case_id}"]
                alerts = {
                    a.rule: a for a in [*whole.alerts, *whole.inhibited] if a.subject == f"case:{case_id}"
                }
                expected = sorted(
                    (
                        o.rule,
                        iso_shanghai(o.due_at),
                        o.status,
                        alerts[o.rule].level if o.rule in alerts else o.escalated_level,
                    )
                    for o in mine
                )
                answers.append((scoped, expected))
            return answers

    for scoped, expected in daemon.service.executor.submit(both).result():
        assert scoped == expected


@HTTP_ONLY
def test_oversized_bodies_and_batches_are_refused(daemon: Daemon) -> None:
    big = daemon.call("ingest", "POST", "/v1/events", content=b"[" + b" " * (70 * 1024) + b"]")
    assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"
    many = [{"id": f"m{i}", "type": "visit"} for i in range(51)]
    assert daemon.call("ingest", "POST", "/v1/events", json=many).status_code == 413


MIB = 1024 * 1024


@HTTP_ONLY
@pytest.mark.parametrize("daemon_extra", [{"ingest": {"max_batch": 50, "max_body_bytes": MIB}}])
def test_only_the_bulk_routes_take_large_bodies(daemon: Daemon) -> None:
    """A body past 64 KiB is refused on every route but the events and the roster, before
    FastAPI parses it (it parses a route's body model before the token is asked for)."""
    bomb = b'{"subject":[' + b"{}," * (SMALL_BODY_BYTES // 3) + b"{}]}"
    for scopes in (None, "admin"):
        refused = daemon.call(scopes, "POST", "/v1/silences", content=bomb)
        assert refused.status_code == 413, refused.text
        assert str(SMALL_BODY_BYTES) in refused.json()["error"]["message"]
    # exactly the small limit is read (and judged on its merits); a byte more is not
    padded = b'{"subject": "unit:none"' + b" " * SMALL_BODY_BYTES
    at_limit = padded[: SMALL_BODY_BYTES - 1] + b"}"
    assert daemon.call("admin", "POST", "/v1/silences", content=at_limit).status_code == 422
    over = padded[:SMALL_BODY_BYTES] + b"}"
    assert daemon.call("admin", "POST", "/v1/silences", content=over).status_code == 413
    # the bulk routes keep `ingest.max_body_bytes`: 200 KiB of events is taken
    events = [{"id": f"big{i}", "type": "visit", "note": "x" * 4000} for i in range(50)]
    taken = daemon.call("ingest", "POST", "/v1/events", json=events)
    assert taken.status_code == 200 and taken.json()["rejected"] == 50  # judged record by record
    roster = b'{"units": []' + b" " * (200 * 1024) + b"}"
    assert daemon.call("admin", "POST", "/v1/roster", content=roster).status_code == 200


@HTTP_ONLY
@pytest.mark.parametrize("daemon_extra", [{"ingest": {"max_batch": 50, "max_body_bytes": 2048}}])
def test_a_body_limit_below_the_small_one_holds_for_every_route(daemon: Daemon) -> None:
    """`ingest.max_body_bytes` set below 64 KiB lowers the other routes' limit with it."""
    padded = b'{"subject": "unit:none"' + b" " * 4096
    assert daemon.call("admin", "POST", "/v1/silences", content=padded[:2047] + b"}").status_code == 422
    refused = daemon.call("admin", "POST", "/v1/silences", content=padded[:2048] + b"}")
    assert refused.status_code == 413 and "2048 bytes" in refused.json()["error"]["message"]


def wide_event(numbers: int) -> bytes:
    """A visit with a field listing `numbers` numbers: numbers + 3 JSON containers and
    separators in all (its object, its list, the commas between its fields and numbers)."""
    return b'{"id": "wide", "type": "visit", "x": [' + b",".join([b"1"] * numbers) + b"]}"


@HTTP_ONLY
@pytest.mark.parametrize("daemon_extra", [{"ingest": {"max_batch": 2_000, "max_body_bytes": MIB}}])
def test_an_events_body_that_cannot_be_a_batch_is_refused_unparsed(daemon: Daemon) -> None:
    """max_batch 2,000: at most 2,000 x 64 = 128,000 JSON containers and separators. A single event
    whose field is a list of 127,997 numbers (128,000 in all, with its object, its list and the
    commas between its fields) is parsed and judged; one number more is refused whole, with the
    reason, before it is parsed."""
    budget = 2_000 * STRUCTURE_PER_EVENT
    assert structure_budget(2_000) == budget

    judged = daemon.call("ingest", "POST", "/v1/events", content=wide_event(budget - 3))
    assert judged.status_code == 200 and judged.json()["rejected"] == 1, judged.text
    refused = daemon.call("ingest", "POST", "/v1/events", content=wide_event(budget - 2))
    assert refused.status_code == 413, refused.text
    message = refused.json()["error"]["message"]
    assert f"{budget + 1} JSON containers" in message and "at most 2000 events" in message
    # a batch of objects alone: 64,001 empty objects are 128,002, past the budget, refused unparsed
    flat = b"[" + b",".join([b"{}"] * 64_001) + b"]"
    assert "JSON containers" in daemon.call("ingest", "POST", "/v1/events", content=flat).text


@HTTP_ONLY
@pytest.mark.parametrize("daemon_extra", [{"ingest": {"max_batch": 50, "max_body_bytes": MIB}}])
def test_small_batches_still_take_one_wide_event(daemon: Daemon) -> None:
    """max_batch 50 (50 x 64 = 3,200): a body may still hold 65,536 containers and separators, so
    one briefing naming 5,000 enterprises is judged on its merits, not refused for its width; at
    65,537 it is refused."""
    assert structure_budget(50) == STRUCTURE_AT_LEAST

    judged = daemon.call("ingest", "POST", "/v1/events", content=wide_event(STRUCTURE_AT_LEAST - 3))
    assert judged.status_code == 200 and judged.json()["rejected"] == 1, judged.text
    refused = daemon.call("ingest", "POST", "/v1/events", content=wide_event(STRUCTURE_AT_LEAST - 2))
    assert refused.status_code == 413 and f"{STRUCTURE_AT_LEAST + 1} JSON" in refused.text


@HTTP_ONLY
def test_malformed_json_is_a_clear_400(daemon: Daemon) -> None:
    response = daemon.call("ingest", "POST", "/v1/events", content=b"{not json")
    assert response.status_code == 400 and "not JSON" in response.json()["error"]["message"]


@HTTP_ONLY
def test_a_number_of_more_digits_than_python_reads_is_a_clear_400(daemon: Daemon) -> None:
    body = b'[{"id": "n", "type": "visit", "n": ' + b"9" * 5000 + b"}]"
    for scopes, path in (("ingest", "/v1/events"), ("admin", "/v1/roster")):
        response = daemon.call(scopes, "POST", path, content=body)
        assert response.status_code == 400, path
        assert (
            "not JSON" in response.json()["error"]["message"]
            and "digits" in response.json()["error"]["message"]
        )


def test_dates_past_any_calendar_are_refused_per_record_and_the_rest_kept(daemon: Daemon) -> None:
    """A hotline order due in 9999, a project item due then, a report for the year 0: each is
    refused naming its field, the records beside them are stored, and the ticks go on (a due
    date in 9999 once stopped every evaluation: its count walked the calendar past date.max)."""
    from monitor.store.models import Case
    from tests.service.conftest import ENTERPRISE

    now = utcnow().astimezone(SHANGHAI).isoformat(timespec="seconds")
    order = {
        "id": "far-ok", "type": "case_opened", "at": now, "case": "FAR-OK", "enterprise": ENTERPRISE,
        "channel": "hotline", "complexity": "simple", "category": "用地", "unit": "u-spj",
        "due": "2200-12-31T23:59:59+08:00",
    }  # fmt: skip
    far = {**order, "id": "far-bad", "case": "FAR-BAD", "due": "9999-12-31T23:59:59+08:00"}
    report = {
        "id": "far-report",
        "type": "report",
        "at": now,
        "unit": "u-ysb",
        "kind": "hotline",
        "period": "0000-12",
    }
    body = daemon.call("ingest", "POST", "/v1/events", json=[order, far, report]).json()
    assert [(r["status"], r.get("field")) for r in body["results"]] == [
        ("accepted", None),
        ("rejected", "due"),
        ("rejected", "period"),
    ]
    project = {
        "id": "p-far", "name": "远期项目", "leader": "o-ldr1", "unit": "u-gxj", "manager": "o-ldr1",
        "items": [{"id": "i1", "name": "立项", "due": "9999-12-31"}],
    }  # fmt: skip
    roster = daemon.call("admin", "POST", "/v1/roster", json={"projects": [project]}).json()
    assert [(r["status"], r.get("field")) for r in roster["results"]] == [
        ("rejected", "projects[0].items[0].due")
    ]
    daemon.tick()  # raises if the evaluation fails
    with daemon.service.sessions() as session:
        assert session.get(Case, "FAR-OK") is not None and session.get(Case, "FAR-BAD") is None
    clocks = daemon.call("read", "GET", "/v1/cases/FAR-OK").json()
    assert clocks["clocks"][0]["due"].startswith("2200-12-31T23:59:59"), clocks
    assert [a for a in daemon.call("read", "GET", "/v1/alerts").json() if a["subject"] == "case:FAR-OK"] == []


@HTTP_ONLY
def test_the_model_routes_say_why_a_body_is_not_json(daemon: Daemon) -> None:
    """Silences (and the other routes with a body model): a syntax error names the body and where
    parsing stopped; a number of more digits than Python reads, or nesting too deep, says so."""
    bad = daemon.call(
        "admin", "POST", "/v1/silences", content=b"{bad", headers={"Content-Type": "application/json"}
    )
    assert bad.status_code == 422
    [problem] = bad.json()["error"]["problems"]
    assert (
        problem["field"] == "body" and "not JSON" in problem["reason"] and "character 1" in problem["reason"]
    )
    huge = b'{"rule": ' + b"9" * 5000 + b"}"
    for body, says in ((huge, "digits"), (b"[" * 20_000 + b"]" * 20_000, "nests too deeply")):
        response = daemon.call(
            "admin", "POST", "/v1/silences", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400 and says in response.json()["error"]["message"], response.text


@HTTP_ONLY
def test_load_balancers_may_probe_with_head(daemon: Daemon) -> None:
    for path in ("/healthz", "/readyz"):
        with httpx.Client(base_url=daemon.url, timeout=30) as client:
            response = client.head(path)
        assert response.status_code in (200, 503) and response.content == b"", path


@HTTP_ONLY
def test_an_audit_since_with_no_utc_instant_is_a_422_naming_since(daemon: Daemon) -> None:
    for since in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        response = daemon.call("admin", "GET", "/v1/audit", params={"since": since})
        assert response.status_code == 422 and "since" in response.json()["error"]["message"], since


def test_readyz_reports_each_check(daemon: Daemon) -> None:
    before = daemon.call(None, "GET", "/readyz")
    assert before.status_code == 503 and before.json()["checks"]["tick"] is False
    assert before.json()["role"] == "leader" and before.json()["leader"]["last_tick"] is None
    daemon.tick()
    after = daemon.call(None, "GET", "/readyz")
    assert after.status_code == 200 and after.json()["checks"] == {
        "database": True,
        "rules": True,
        "calendar": True,
        "tick": True,
    }
    # the leader's last tick as the database has it, so that any replica can say it
    leader = after.json()["leader"]
    assert leader["last_tick"] == daemon.service.last_tick.isoformat()  # type: ignore[union-attr]
    assert leader["worker"] == daemon.service.dispatcher.worker and leader["age_seconds"] >= 0


@HTTP_ONLY
def test_openapi_describes_the_routes_and_the_bearer_scheme(daemon: Daemon) -> None:
    spec = daemon.call(None, "GET", "/openapi.json").json()
    assert {"/v1/events", "/v1/alerts", "/v1/cases/{case_id}", "/-/reload"} <= set(spec["paths"])
    assert "requestBody" in spec["paths"]["/v1/events"]["post"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


@HTTP_ONLY
def test_event_types_no_schema_knows_are_counted_as_unknown(daemon: Daemon) -> None:
    batch = [{"id": "evil", "type": "x-attacker-chosen-label", "at": "2026-01-01T00:00:00"}]
    assert daemon.call("ingest", "POST", "/v1/events", json=batch).json()["rejected"] == 1
    scrape = daemon.call("metrics", "GET", "/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scrape)
        for s in family.samples
    }
    assert samples[("dutywatch_events_ingested_total", (("outcome", "rejected"), ("type", "unknown")))] == 1
    assert "attacker" not in scrape


@HTTP_ONLY
@pytest.mark.parametrize(
    # 2,000 deep: within a batch's structure (50 events x 64), past what Python's parser nests
    "body",
    [b"\xff\xfe{}", b"[" * 2_000 + b"]" * 2_000],
    ids=["invalid-utf8", "deeply-nested"],
)
def test_hostile_bodies_get_a_clear_400_never_a_5xx(daemon: Daemon, body: bytes) -> None:
    response = daemon.call("ingest", "POST", "/v1/events", content=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"]


@HTTP_ONLY
def test_a_record_of_the_wrong_shape_is_rejected_not_a_crash(daemon: Daemon) -> None:
    payload = b'[{"id": ["x"], "type": ["visit"]}, 7, null, {"id": 1e999999, "type": "visit"}]'
    body = daemon.call("ingest", "POST", "/v1/events", content=payload).json()
    assert body["rejected"] == 4


@HTTP_ONLY
def test_a_nul_character_in_the_address_is_refused_before_any_query(daemon: Daemon) -> None:
    """Found by fuzzing on PostgreSQL, which refuses NUL in text: a 500 before this check."""
    for path in ("/v1/alerts?rule=a%00b", "/v1/obligations?unit=%00", "/?unit=x%00"):
        response = daemon.call("ingest,read,admin", "GET", path)
        assert response.status_code == 400, path
        assert "NUL" in response.json()["error"]["message"]


@HTTP_ONLY
def test_a_request_head_past_64_kib_is_cut_off_and_others_are_served(daemon: Daemon) -> None:
    import socket
    from urllib.parse import urlsplit

    address = urlsplit(daemon.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as raw:
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(200):  # 200 KiB of headers, never finished
                raw.sendall(b"X-Flood: " + b"a" * 1014 + b"\r\n")
        except OSError:
            pass  # the server closed on us: that is the point
        raw.settimeout(10)
        try:
            answer = raw.recv(4096)
        except OSError:
            answer = b""
    assert answer == b"" or answer.startswith(b"HTTP/1.1 4")
    healthy = daemon.call(None, "GET", "/healthz")
    assert healthy.status_code == 200
    assert "server" not in healthy.headers  # no banner


def test_text_no_database_keeps_is_refused_in_request_bodies(daemon: Daemon) -> None:
    """Found by fuzzing on PostgreSQL: a NUL in an acknowledgement's reason was a 500."""
    daemon.tick()
    alert = daemon.call("read", "GET", "/v1/alerts", params={"limit": 1}).json()[0]
    for reason in ("a\x00b", "a\ud800b"):
        refused = daemon.call(
            "admin",
            "POST",
            f"/v1/alerts/{alert['id']}/ack",
            content=json_bytes({"reason": reason}),
            headers={"Content-Type": "application/json"},
        )
        assert refused.status_code == 422, refused.text
    assert daemon.call("read", "GET", "/v1/alerts", params={"limit": 1}).json()[0]["acked"] is None


def json_bytes(value: object) -> bytes:
    import json

    return json.dumps(value).encode("ascii")  # \u escapes spell what UTF-8 cannot carry


@HTTP_ONLY
def test_the_api_reference_page_shows_every_route_and_event_type_without_scripts(daemon: Daemon) -> None:
    from monitor.ingest.event_examples import EXAMPLES

    page = daemon.call(None, "GET", "/docs")
    assert page.status_code == 200
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none' covers it
    assert "<script" not in page.text
    spec = daemon.call(None, "GET", "/openapi.json").json()
    for path in spec["paths"]:
        assert f"<code>{path}</code>" in page.text, path
    for kind in EXAMPLES:
        section = page.text[page.text.index(f'id="event-{kind}"') :]
        section = section[: section.index("</section>")]
        required = spec["components"]["schemas"][f"Event_{kind}"]["required"]
        for name in required:
            assert f"<tr><td><code>{name}</code></td><td>yes</td>" in section, (kind, name)
        assert f"&#34;type&#34;: &#34;{kind}&#34;" in section  # the example, escaped
