"""The same new event id from concurrent requests (a client retrying while its first request is
still in flight): one request stores it, the others are told `duplicate` (or `conflict`), and
every other record of every request is kept. Real HTTP against a real server, on both back ends."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import func, select

from monitor.clock import SHANGHAI, utcnow
from monitor.demo.district import generate_district
from monitor.store.models import Event
from tests.service.conftest import ENTERPRISE, Daemon

CLIENTS = 12
ROUNDS = 3
OFFICIAL = next(
    o["id"]
    for o in generate_district(utcnow().astimezone(SHANGHAI).date())[0]["officials"]
    if o["role"] == "staff"
)


def visit(event_id: str, note: str | None = None) -> dict[str, Any]:
    today = utcnow().astimezone(SHANGHAI).date().isoformat()
    record = {"id": event_id, "type": "visit", "at": f"{today}T00:05:00+08:00", "official": OFFICIAL}
    record["enterprise"] = ENTERPRISE
    if note is not None:
        record["note"] = note
    return record


def post_together(daemon: Daemon, batches: list[list[dict[str, Any]]]) -> list[httpx.Response]:
    """Every batch in its own connection, released at the same instant."""
    start = threading.Barrier(len(batches))
    headers = {"Authorization": f"Bearer {daemon.tokens['ingest']}"}

    def post(batch: list[dict[str, Any]]) -> httpx.Response:
        with httpx.Client(base_url=daemon.url, timeout=60, headers=headers) as client:
            client.get("/healthz")  # connect first, so the posts start together
            start.wait()
            return client.post("/v1/events", json=batch)

    with ThreadPoolExecutor(len(batches)) as pool:
        return list(pool.map(post, batches))


def run_rounds(daemon: Daemon, *, differing: bool) -> None:
    for round_ in range(ROUNDS):
        shared = f"shared-{differing}-{round_}"
        batches = [
            [visit(shared, f"client {i}" if differing else None)]
            + [visit(f"own-{differing}-{round_}-{i}-{j}") for j in range(20)]
            for i in range(CLIENTS)
        ]
        responses = post_together(daemon, batches)
        assert [r.status_code for r in responses] == [200] * CLIENTS, [r.text[:300] for r in responses]
        answers = [r.json()["results"] for r in responses]
        first = sorted(a[0]["status"] for a in answers)
        assert first == ["accepted"] + ["rejected" if differing else "duplicate"] * (CLIENTS - 1)
        for answer in answers:
            assert all(r["status"] == "accepted" for r in answer[1:]), answer
            if answer[0]["status"] == "rejected":
                assert answer[0]["field"] == "id" and answer[0]["reason"].startswith("conflict")
        with daemon.service.sessions() as session:
            stored = session.scalar(
                select(func.count()).select_from(Event).where(Event.id.like(f"%-{differing}-{round_}%"))
            )
        assert stored == 1 + CLIENTS * 20


def test_concurrent_requests_with_one_new_id_store_it_once_and_keep_the_rest(daemon: Daemon) -> None:
    run_rounds(daemon, differing=False)


def test_concurrent_requests_with_one_id_and_other_content_see_a_conflict(daemon: Daemon) -> None:
    run_rounds(daemon, differing=True)


def test_concurrent_roster_posts_naming_one_new_official_all_succeed(daemon: Daemon) -> None:
    headers = {"Authorization": f"Bearer {daemon.tokens['admin']}"}
    start = threading.Barrier(CLIENTS)

    def post(i: int) -> httpx.Response:
        roster = {
            "officials": [
                {"id": "o-shared", "name": "王芳", "unit": "u-spj", "role": "staff"},
                {"id": f"o-own-{i}", "name": f"职员{i}", "unit": "u-spj", "role": "staff"},
            ]
        }
        with httpx.Client(base_url=daemon.url, timeout=60, headers=headers) as client:
            client.get("/healthz")
            start.wait()
            return client.post("/v1/roster", json=roster)

    with ThreadPoolExecutor(CLIENTS) as pool:
        responses = list(pool.map(post, range(CLIENTS)))
    assert [r.status_code for r in responses] == [200] * CLIENTS, [r.text[:200] for r in responses]
    assert all(r.json()["accepted"] == 2 for r in responses)
    from monitor.store.models import Official

    expected = {"o-shared", *(f"o-own-{i}" for i in range(CLIENTS))}
    with daemon.service.sessions() as session:
        assert set(session.scalars(select(Official.id).where(Official.id.in_(expected)))) == expected


def test_concurrent_requests_sharing_ids_in_opposite_orders_neither_deadlock_nor_fail(daemon: Daemon) -> None:
    for round_ in range(ROUNDS):
        shared = [visit(f"cross-{round_}-{k}") for k in range(40)]
        batches = [
            (shared if i % 2 else shared[::-1]) + [visit(f"cross-own-{round_}-{i}-{j}") for j in range(10)]
            for i in range(CLIENTS)
        ]
        responses = post_together(daemon, batches)
        assert [r.status_code for r in responses] == [200] * CLIENTS, [r.text[:300] for r in responses]
        for k in range(40):
            statuses = sorted(
                next(r["status"] for r in response.json()["results"] if r["id"] == f"cross-{round_}-{k}")
                for response in responses
            )
            assert statuses == ["accepted"] + ["duplicate"] * (CLIENTS - 1)
        assert all(
            all(r["status"] == "accepted" for r in response.json()["results"] if "own" in r["id"])
            for response in responses
        )
