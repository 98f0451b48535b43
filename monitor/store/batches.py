"""Lists cut into statements' worth: the one place that knows how many values an IN list takes,
and how rows are grouped for an executemany (`by_columns`).

PostgreSQL takes at most 65,535 parameters a statement, SQLite 32,766; 500 keeps every
statement well inside both (a tuple IN of two columns included) and still lets a province's
hundred thousand ids go in a few hundred statements.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import String, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY

T = TypeVar("T")
Row = TypeVar("Row", bound=Mapping[str, Any])

IN_LIST = 500


def batches(items: Sequence[T], size: int = IN_LIST) -> Iterator[Sequence[T]]:
    """`items` in consecutive slices of at most `size`, in order; nothing for an empty sequence."""
    if size < 1:
        raise ValueError(f"a batch holds at least one item, not {size}")
    for start in range(0, len(items), size):
        yield items[start : start + size]


def by_columns(rows: Iterable[Row]) -> list[list[Row]]:
    """`rows` grouped by the set of columns they name, one executemany's worth each: an
    executemany binds the columns of its first row to every row. Groups come in the order of
    their first row, and each keeps its rows' order."""
    groups: dict[frozenset[str], list[Row]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return list(groups.values())


# PostgreSQL takes a list as one array parameter (`= ANY(:ids)`): planned once whatever its
# length, so its lists go 5,000 at a time (an IN list of 500 is planned anew for each length)
ARRAY_LIST = 5_000


def among(session: Any, column: Any, values: Sequence[str]) -> Iterator[Any]:
    """Conditions `column` is one of `values`, a statement's worth each: `= ANY(array)` on
    PostgreSQL, `IN (…)` elsewhere."""
    if session.get_bind().dialect.name != "postgresql":
        for part in batches(values):
            yield column.in_(part)
        return
    for part in batches(values, ARRAY_LIST):
        yield column == any_(bindparam(None, list(part), type_=ARRAY(String())))
