"""Property: an event accepted once is a duplicate when sent again with its id spelt otherwise
(surrounding spaces, a number for digits), and ingest never raises on such ids."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from monitor.config import Settings
from monitor.ingest.events import ingest_events
from monitor.store.db import session_factory
from tests.ingest.conftest import E1, E2, NOW
from tests.ingest.test_fuzz import engine  # noqa: F401  (the module's roster database)

ids = st.integers(min_value=-(10**20), max_value=10**20).map(str) | st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=12
)
records = st.builds(
    lambda event_id, enterprise, talked: {
        "id": event_id,
        "type": "visit",
        "at": "2024-10-15T10:00",
        "official": "o-zhang",
        "enterprise": enterprise,
        "talked_with_head": talked,
    },
    ids,
    st.sampled_from([E1, E2]),
    st.booleans(),
)
pads = st.sampled_from(["", " ", "\u3000", "  "])


def respelt(record: dict[str, Any], left: str, right: str) -> dict[str, Any]:
    event_id = record["id"]
    if event_id.lstrip("-").isdigit() and not left and not right:
        return {**record, "id": int(event_id)}
    return {**record, "id": f"{left}{event_id}{right}"}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(records, max_size=6), pads, pads)
def test_a_respelt_id_is_a_duplicate_and_nothing_raises(
    engine: Engine,  # noqa: F811
    batch: list[dict[str, Any]],
    left: str,
    right: str,
) -> None:
    with session_factory(engine)() as session:
        first = ingest_events(
            session, [(f"[{i}]", r) for i, r in enumerate(batch)], now=NOW, settings=Settings()
        )
        again = [respelt(r, left, right) for r in batch]
        second = ingest_events(
            session, [(f"[{i}]", r) for i, r in enumerate(again)], now=NOW, settings=Settings()
        )
        session.rollback()
    for before, after in zip(first, second, strict=True):
        if before.status == "accepted":
            assert after.status == "duplicate", (before, after)
