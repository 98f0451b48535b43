"""A commit reads the stored alert rows of the keys it compares: every state, only those keys, and
by their periods when they are few (a year-old pairing keeps a resolved row for every month)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert
from sqlalchemy.orm import Session

from monitor.alerts.lifecycle import FEW_PERIODS, _read_keys
from monitor.clock import parse_instant
from monitor.store.db import session_factory
from monitor.store.models import AlertRecord

RULE = "pairing-monthly-visit"
AT = parse_instant("2025-01-10T09:00")
MONTHS = [f"{year}-{month:02d}" for year in range(2020, 2025) for month in range(1, 13)]  # 60


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as s:
        rows: list[dict[str, Any]] = []
        for subject in ("pairing:p1", "pairing:p2"):
            for i, period in enumerate(MONTHS):
                rows.append(
                    {
                        "rule": RULE, "subject": subject, "period": period, "state": "resolved",
                        "level": 1, "due_at": AT, "recipients": ["o1"], "clause": "2", "message": period,
                        "fired_at": AT, "changed_at": AT, "resolved_at": AT,
                    }
                )  # fmt: skip
                if i % 7 == 0:
                    rows[-1].update(state="overdue", resolved_at=None)
        s.execute(insert(AlertRecord), rows)
        s.commit()
        yield s


def _read(session: Session, keys: list[tuple[str, str, str]]) -> tuple[dict[Any, Any], list[str]]:
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM alerts" in statement:
            statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        into: dict[Any, Any] = {}
        columns = [AlertRecord.rule, AlertRecord.subject, AlertRecord.period, AlertRecord.state]
        _read_keys(session, columns, keys, into)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return into, statements


@pytest.mark.parametrize("count", [1, FEW_PERIODS, FEW_PERIODS + 1])
def test_the_rows_read_are_those_of_the_keys_asked_for_in_any_state(session: Session, count: int) -> None:
    asked = MONTHS[-count:]
    keys = [(RULE, "pairing:p1", p) for p in asked] + [(RULE, "pairing:p3", asked[0])]
    into, statements = _read(session, keys)
    assert sorted(into) == sorted(k for k in keys if k[1] == "pairing:p1")
    states = {row.state for row in into.values()}
    assert states == ({"overdue", "resolved"} if count > 7 else {into[keys[0]].state})
    assert all(row.period in asked and row.subject == "pairing:p1" for row in into.values())
    # up to FEW_PERIODS periods, the read is held to them (the other months' rows are not fetched);
    # past it, by subject alone
    held = ["period IN" in s or "alerts.period IN" in s for s in statements]
    assert statements and all(held) == (count <= FEW_PERIODS) and any(held) == (count <= FEW_PERIODS)


def test_keys_of_several_rules_and_of_no_period(session: Session) -> None:
    session.execute(
        insert(AlertRecord),
        [
            {
                "rule": "case-complex-5-workdays", "subject": "case:c1", "period": "", "state": "warning",
                "level": 0, "due_at": AT, "recipients": [], "clause": "3", "message": "m",
                "fired_at": AT, "changed_at": AT,
            }
        ],
    )  # fmt: skip
    keys = [("case-complex-5-workdays", "case:c1", ""), (RULE, "pairing:p2", MONTHS[0])]
    into, _ = _read(session, keys)
    assert sorted(into) == sorted(keys)
    assert into[keys[0]].state == "warning" and into[keys[1]].state == "overdue"
