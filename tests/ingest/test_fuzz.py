"""Property: whatever a client sends, ingest answers each record and never raises; the roster
parser likewise. (Hostile input: wrong types, nesting, control characters, absurd times.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from monitor.config import Settings
from monitor.ingest.events import FIELDS, ingest_events
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.store.db import ensure_schema, make_engine, session_factory
from tests.ingest.conftest import E1, NOW, ROSTER

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
plausible = st.sampled_from(
    [
        "o-zhang",
        "u-gxj",
        E1,
        "c1",
        "2024-10-15T10:00",
        "0001-01-01",
        "9999-12-31T23:59",
        "2024-02-30",
        "\x00",
        "",
        "是",
    ]
)
field_names = st.sampled_from(
    sorted({f for spec in FIELDS.values() for f in spec} | {"id", "type", "at", "note", "x"})
)
events = st.tuples(
    st.sampled_from(sorted(FIELDS)), st.dictionaries(field_names, plausible | json_values, max_size=8)
).map(lambda pair: {**pair[1], "type": pair[0]} if len(pair[1]) % 2 else pair[1])


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    eng = make_engine(f"sqlite:///{path}")
    ensure_schema(eng)
    with session_factory(eng)() as session:
        upsert_roster(session, load_roster(ROSTER, "roster")[0])
        session.commit()
    yield eng
    eng.dispose()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(events | json_values, max_size=6))
def test_ingest_answers_every_record_and_never_raises(engine: Engine, batch: list[Any]) -> None:
    with session_factory(engine)() as session:
        outcomes = ingest_events(
            session, [(f"[{i}]", r) for i, r in enumerate(batch)], now=NOW, settings=Settings()
        )
        session.rollback()
    assert len(outcomes) == len(batch)
    assert all(o.status in ("accepted", "duplicate", "rejected") for o in outcomes)
    assert all(o.reason for o in outcomes if o.status == "rejected")


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["units", "officials", "enterprises", "pairings", "projects", "x"]),
        st.lists(st.dictionaries(st.text(max_size=8), plausible | json_values, max_size=6), max_size=3)
        | json_values,
        max_size=4,
    )
)
def test_roster_parser_reports_instead_of_raising(data: dict[str, Any]) -> None:
    _, problems = load_roster(data, "fuzz")
    assert all(p.status == "rejected" and p.reason for p in problems)
