"""The planner's statistics kept up with the tick's own bulk writes (PostgreSQL).

PostgreSQL plans from what ANALYZE last sampled. Autovacuum samples a table again after a tenth
of it changed — when it runs: it may be off, or behind a bulk load. A daemon's first tick writes
a province's 1.8M duty rows and 0.9M alerts into tables whose statistics say they are empty (or
a thousandth of that), and the planner then reads `rule = ? AND subject IN (500 ids)` as a bitmap
of every row of the rule: 200 ms a statement where the primary key answers in 3 ms, and the
month's record of a first tick at L took 225 s (docs/scaling.md).

The ticker says how many rows it inserted into which table; between two parts, a table that has
had at least `ANALYZE_AFTER_ROWS` rows inserted, and at least as many as its statistics describe
(it doubled since), is analysed (a sample of 30,000 rows: half a second at L). A first tick thus
analyses a table a handful of times as it fills, and a steady daemon never. A table another
maintenance job holds (a VACUUM, autovacuum's own ANALYZE) is left for the next part after
`LOCK_TIMEOUT_MS`: statistics are worth a tick's seconds, not its failure. SQLite plans from its
indexes without sampled statistics unless asked to keep them; nothing is done there.
"""

from __future__ import annotations

import logging
from collections import Counter

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

ANALYZE_AFTER_ROWS = 10_000
LOCK_TIMEOUT_MS = 2_000  # ANALYZE waits this long for a table another maintenance job holds

log = logging.getLogger("dutywatch")


class PlannerStatistics:
    """Rows inserted by this process since each table's statistics, and ANALYZE when due."""

    def __init__(self, engine: Engine, *, after_rows: int = ANALYZE_AFTER_ROWS) -> None:
        self.engine = engine
        self.after_rows = after_rows
        self.inserted: Counter[str] = Counter()
        self.described: dict[str, float] = {}  # rows the table's statistics describe, read when first needed
        self.lock_timeout_ms = LOCK_TIMEOUT_MS

    def inserted_into(self, table: str, rows: int) -> None:
        if rows > 0 and self.engine.dialect.name == "postgresql":
            self.inserted[table] += rows

    def refresh(self) -> list[str]:
        """Analyse each table whose inserted rows reached the bound (outside any transaction of
        the caller's); returns the tables analysed."""
        due = [table for table, rows in self.inserted.items() if rows >= self.after_rows]
        analysed = []
        for table in due:
            if table not in self.described:
                self.described[table] = self._described(table)
            if self.inserted[table] < self.described[table]:
                continue
            quoted = self.engine.dialect.identifier_preparer.quote(table)
            try:
                with self.engine.connect() as conn:
                    # a VACUUM or another ANALYZE holding the table: not worth a tick's wait
                    conn.execute(text(f"SET LOCAL lock_timeout = {int(self.lock_timeout_ms)}"))
                    conn.execute(text(f"ANALYZE {quoted}"))
                    conn.commit()
            except DBAPIError as exc:
                log.warning("ANALYZE %s put off to the next part: %s", table, exc.orig)
                continue
            self.described[table] = self._described(table)
            self.inserted[table] = 0
            analysed.append(table)
        return analysed

    def _described(self, table: str) -> float:
        """The rows the table's statistics describe (0 when never analysed: PostgreSQL says -1)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:table)"), {"table": table}
            ).scalar()
        return max(float(rows or 0), 0.0)
