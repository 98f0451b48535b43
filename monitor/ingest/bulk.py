"""Bulk writes and lookups for ingest, below SQLAlchemy's per-row machinery.

An import is bound by how fast its rows reach the database: SQLAlchemy's executemany processes
every parameter of every row in Python (a third of an import), and PostgreSQL answers a pipeline
of single-row INSERTs far slower than one COPY. Here rows are turned into tuples once, with the
columns' own bind processors (so a time is stored exactly as the ORM stores it), and written by
the driver: `COPY ... FROM STDIN` on PostgreSQL, the sqlite3 module's executemany on SQLite.
A unique violation comes back as SQLAlchemy's `IntegrityError`, as from any other write, so the
retry of a lost race (monitor/ingest/commit.py) is unchanged.

Lookups by many ids are one `= ANY(array)` query on PostgreSQL (an IN list of hundreds of
parameters is planned anew each time) and IN lists of `IN_CHUNK` ids on SQLite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import Column, Connection, Dialect, Table, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.types import String

from monitor.store.batches import batches

IN_CHUNK = 900  # well below SQLite's limit on bound parameters (32766 since 3.32, 999 before)
RAW = "raw"  # a value already in its stored form (a JSON column's text), not to be processed


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def rows_by_ids(
    session: Session,
    columns: Sequence[QueryableAttribute[Any]],
    key: QueryableAttribute[Any],
    ids: Sequence[str],
) -> Iterator[Any]:
    """The rows (of `columns`) whose `key` is one of `ids`, in a few queries whatever their number."""
    if not ids:
        return
    if is_postgresql(session):
        yield from session.execute(select(*columns).where(key == _any(list(ids))))
        return
    for part in batches(ids, IN_CHUNK):
        yield from session.execute(select(*columns).where(key.in_(part)))


Processed = dict[Callable[[Any], Any], dict[Any, Any]]  # by processor: each value and what it stores


def _processed(process: Callable[[Any], Any], values: list[Any], done: dict[Any, Any]) -> list[Any]:
    """The values through the column's processor, each distinct value once (`done` remembers them
    across the tables of one write): a write repeats its times (an event's rows share its time,
    every event its receipt time)."""
    try:
        done.update({value: process(value) for value in set(values).difference(done)})
    except TypeError:  # not hashable
        return list(map(process, values))
    return [done[value] for value in values]


def _any(ids: list[str]) -> Any:
    from sqlalchemy import any_, bindparam

    return any_(bindparam("ids", ids, type_=ARRAY(String())))


def _scalar_default(column: Column[Any]) -> tuple[bool, Any]:
    """Whether the column has a scalar default (the ORM fills it in), and its value."""
    default = column.default
    if default is not None and getattr(default, "is_scalar", False):
        return True, getattr(default, "arg", None)
    return False, None


class _Columns(NamedTuple):
    names: list[str]  # every column a row names, in the order first named, then those with a scalar default
    everywhere: set[str]  # the columns every row names


def _columns(table: Table, rows: list[dict[str, Any]]) -> _Columns:
    shapes = dict.fromkeys(map(tuple, rows))  # the rows' distinct key orders, first seen first
    names = list(dict.fromkeys(name for shape in shapes for name in shape))
    everywhere = set(names).intersection(*shapes)
    names += [c.name for c in table.columns if c.name not in names and _scalar_default(c)[0]]
    return _Columns(names, everywhere)


def _stored_values(
    table: Table,
    columns: _Columns,
    rows: list[dict[str, Any]],
    dialect: Dialect,
    raw: Sequence[str],
    processed: Processed,
) -> list[tuple[Any, ...]]:
    """The rows as tuples of `names`, each value as its column stores it (a missing one is the
    column's scalar default, else NULL)."""
    # column by column, each value through its column's processor once: one list per column is
    # several times cheaper than a generator per row
    data: list[list[Any]] = []
    for name in columns.names:
        column = table.c[name]
        if name in columns.everywhere:
            values = list(map(itemgetter(name), rows))
        else:
            default = _scalar_default(column)[1]
            values = [row.get(name, default) for row in rows]
        process = None if name in raw else column.type._cached_bind_processor(dialect)
        if process is not None:
            values = _processed(process, values, processed.setdefault(process, {}))
        data.append(values)
    return list(zip(*data, strict=True))


def insert_rows(
    session: Session,
    table: Table,
    rows: list[dict[str, Any]],
    raw: Sequence[str] = (),
    processed: Processed | None = None,
) -> None:
    """Insert rows (dicts; a missing key is NULL, or the column's scalar default) into table.

    Columns named in `raw` take their values as stored (a JSON column's serialised text).
    `processed` shares the stored form of values between the calls of one write.
    """
    if not rows:
        return
    columns = _columns(table, rows)
    connection = session.connection()
    tuples = _stored_values(
        table, columns, rows, connection.dialect, raw, {} if processed is None else processed
    )
    named = ", ".join(f'"{name}"' for name in columns.names)
    if connection.dialect.name == "postgresql":
        _copy(connection, f'COPY "{table.name}" ({named}) FROM STDIN', tuples)
    else:
        placeholders = ", ".join("?" * len(columns.names))
        _executemany(connection, f'INSERT INTO "{table.name}" ({named}) VALUES ({placeholders})', tuples)


@contextmanager
def _driver_errors(connection: Connection, statement: str) -> Iterator[None]:
    """The driver's own errors, raised as SQLAlchemy raises them (IntegrityError for a lost race
    the ingest retries, OperationalError for a locked or lost database the API answers 503)."""
    dialect = connection.dialect
    driver_error = dialect.loaded_dbapi.Error
    try:
        yield
    except driver_error as exc:
        raise DBAPIError.instance(statement, None, exc, driver_error, dialect=dialect) from exc


def _copy(connection: Connection, statement: str, tuples: list[tuple[Any, ...]]) -> None:
    """`COPY ... FROM STDIN` (PostgreSQL, psycopg)."""
    dbapi_connection: Any = connection.connection.dbapi_connection
    with (
        _driver_errors(connection, statement),
        dbapi_connection.cursor() as cursor,
        cursor.copy(statement) as copy,
    ):
        for value in tuples:
            copy.write_row(value)


def _executemany(connection: Connection, statement: str, tuples: list[tuple[Any, ...]]) -> None:
    """The driver's executemany (SQLite)."""
    dbapi_connection: Any = connection.connection.dbapi_connection
    cursor = dbapi_connection.cursor()
    try:
        with _driver_errors(connection, statement):
            cursor.executemany(statement, tuples)
    finally:
        cursor.close()
