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
from typing import Any

from sqlalchemy import Table, select
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


def _memo(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The processor, remembering its answers: a batch repeats its times (an event's activities
    share its time, every row its receipt time)."""
    done: dict[Any, Any] = {}

    def processed(value: Any) -> Any:
        try:
            return done[value]
        except KeyError:
            done[value] = result = process(value)
            return result
        except TypeError:  # not hashable
            return process(value)

    return processed


def _any(ids: list[str]) -> Any:
    from sqlalchemy import any_, bindparam

    return any_(bindparam("ids", ids, type_=ARRAY(String())))


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]], raw: Sequence[str] = ()) -> None:
    """Insert rows (dicts; a missing key is NULL, or the column's scalar default) into table.

    Columns named in `raw` take their values as stored (a JSON column's serialised text).
    """
    if not rows:
        return
    names: list[str] = []
    for row in rows:
        for name in row:
            if name not in names:
                names.append(name)
    for column in table.columns:  # scalar defaults the ORM would have filled in
        default = column.default
        if column.name not in names and default is not None and getattr(default, "is_scalar", False):
            names.append(column.name)
    connection = session.connection()
    dialect = connection.dialect
    # column by column, each value through its column's processor once: one list comprehension
    # per column is several times cheaper than a generator per row
    data: list[list[Any]] = []
    for name in names:
        column = table.c[name]
        scalar = column.default is not None and getattr(column.default, "is_scalar", False)
        default = getattr(column.default, "arg", None) if scalar else None
        values = [row.get(name, default) for row in rows]
        process = None if name in raw else column.type._cached_bind_processor(dialect)
        if process is not None:
            values = list(map(_memo(process), values))
        data.append(values)
    tuples = list(zip(*data, strict=True))
    columns = ", ".join(f'"{name}"' for name in names)
    dbapi_connection: Any = connection.connection.dbapi_connection
    # the driver's own errors, raised as SQLAlchemy raises them (IntegrityError for a lost race
    # the ingest retries, OperationalError for a locked or lost database the API answers 503)
    driver_error = dialect.loaded_dbapi.Error

    def wrapped(statement: str, exc: Exception) -> Exception:
        return DBAPIError.instance(statement, None, exc, driver_error, dialect=dialect)

    if dialect.name == "postgresql":
        statement = f'COPY "{table.name}" ({columns}) FROM STDIN'
        try:
            with dbapi_connection.cursor() as cursor, cursor.copy(statement) as copy:
                for value in tuples:
                    copy.write_row(value)
        except driver_error as exc:
            raise wrapped(statement, exc) from exc
        return
    statement = f'INSERT INTO "{table.name}" ({columns}) VALUES ({", ".join("?" * len(names))})'
    cursor = dbapi_connection.cursor()
    try:
        cursor.executemany(statement, tuples)
    except driver_error as exc:
        raise wrapped(statement, exc) from exc
    finally:
        cursor.close()
