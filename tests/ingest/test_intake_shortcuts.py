"""The shortcuts of the import's hot path say what the general code says.

`_screen` decides storability from the canonical JSON it writes once per record, instead of
walking every field (`_unstorable`); `insert_rows` processes each distinct value once for a whole
write and reads the columns from the rows' distinct key orders. Each is held here to the
general code over the event examples and over odd values.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.ingest.bulk import _columns, _processed
from monitor.ingest.event_examples import EXAMPLES
from monitor.ingest.events import _canonical, _screen, _unstorable
from monitor.store.models import Activity, Event

# texts a client may send that the screen must not misjudge: NUL, lone surrogates, the six
# characters of an escaped NUL spelt out, other escapes, non-ASCII, line separators
ODD_TEXT = st.sampled_from(
    [
        "\x00",
        "a\x00b",
        "\ud800",
        "x\udfffy",
        "\\u0000",
        "\\\\u0000",
        '"\\',
        "是",
        "\u2028",
        "\x85",
        "\t\n",
        "",
    ]
)
texts = ODD_TEXT | st.text(max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | texts
    | st.datetimes(timezones=st.just(UTC))
    | st.dates()
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(texts, children, max_size=4)
    ),
    max_leaves=12,
)
records = st.dictionaries(texts | st.sampled_from(["id", "type", "at", "note"]), values, max_size=8)


def _old_canonical(record: dict[str, Any]) -> str:
    """The canonical JSON as it was written before the encoder was kept."""
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def test_the_examples_screen_clean_with_their_canonical_json() -> None:
    for record in EXAMPLES.values():
        problem, clean = _screen(record)
        assert problem is None and _unstorable(record) is None
        assert clean == _canonical(record)
        assert clean is not None and clean[0] == _old_canonical(record)


@settings(max_examples=1500, deadline=None)
@given(records)
def test_the_screen_says_what_the_field_walk_says(record: dict[str, Any]) -> None:
    problem, clean = _screen(record)
    assert problem == _unstorable(record)
    if clean is not None:
        assert problem is None
        assert clean == _canonical(record)
        assert clean[0] == _old_canonical(record)


def test_the_screen_names_the_field_of_a_nul_or_a_surrogate() -> None:
    assert _screen({"id": "a", "note": "x\x00"}) == (("note", "contains a NUL character"), None)
    assert _screen({"id": "a", "x": ["ok", "\ud800"]})[0] == (
        "x[1]",
        "is not valid Unicode (a lone surrogate)",
    )
    assert _screen({"id": "a", "note": "\\u0000"}) == (None, None)  # the escape spelt out: looked at, fine
    assert _screen([1, 2]) == (None, None)


def test_processing_each_distinct_value_once_gives_each_value_its_own() -> None:
    calls: list[Any] = []

    def process(value: Any) -> Any:
        calls.append(value)
        return None if value is None else value.astimezone(UTC).isoformat()

    t = datetime(2024, 5, 1, 9, tzinfo=UTC)
    done: dict[Any, Any] = {}
    first = _processed(process, [t, None, t, t + timedelta(hours=1)], done)
    assert first == [process(v) for v in [t, None, t, t + timedelta(hours=1)]]
    calls.clear()
    again = _processed(process, [t, t + timedelta(hours=2)], done)  # another table of the same write
    assert again == [t.isoformat(), (t + timedelta(hours=2)).isoformat()]
    assert calls == [t + timedelta(hours=2)]
    same_instant = t.astimezone(timezone(timedelta(hours=8)))
    assert _processed(process, [same_instant], done) == [t.isoformat()]


def test_unhashable_values_are_processed_one_by_one() -> None:
    assert _processed(len, [[1], [1, 2], "abc"], {}) == [1, 2, 3]


def test_columns_are_named_in_the_order_first_named() -> None:
    table = Activity.metadata.tables[Activity.__tablename__]
    rows: list[dict[str, Any]] = [
        {"event_id": "e1", "type": "visit", "at": 1},
        {"event_id": "e2", "type": "report", "at": 2, "unit_id": "u", "report_kind": "hotline"},
        {"unit_id": "u", "event_id": "e3", "type": "forum", "at": 3},
        {"event_id": "e4", "type": "visit", "at": 4, "enterprise_id": "x"},
    ]
    columns = _columns(table, rows)
    named = list(dict.fromkeys(name for row in rows for name in row))
    assert columns.names[: len(named)] == named
    assert columns.names[len(named) :] == ["talked_with_head"]  # the scalar default
    assert columns.everywhere == {"event_id", "type", "at"}
    events = Event.metadata.tables[Event.__tablename__]
    assert _columns(events, [{"id": "a", "at": date(2024, 1, 1)}]).everywhere == {"id", "at"}
