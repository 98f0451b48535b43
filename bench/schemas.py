"""A scratch PostgreSQL schema for one run: created empty, dropped with everything in it after.

The tests and the benchmarks share one PostgreSQL database; each run gets a schema of its own
(its URL sets the search_path), so runs side by side never see each other's tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

from monitor.store.db import normalise_url


@contextmanager
def scratch_schema(pg_url: str, prefix: str) -> Iterator[str]:
    """The URL of a new empty schema named `<prefix>_<random>`, dropped when the block ends."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(pg_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in pg_url else "?"
    try:
        yield f"{pg_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
