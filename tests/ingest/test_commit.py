"""A lost race for an id is run again from the start; one that never settles stores nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.ingest.commit import RaceNotSettled, commit_retrying
from monitor.store.db import session_factory
from monitor.store.models import Unit


def add_unit(session: Session, uid: str) -> None:
    session.add(Unit(id=uid, name=f"单位{uid}", kind="department", indicator_lead=False))
    session.flush()


def test_a_lost_race_is_rerun_against_what_the_winner_committed(engine: Engine) -> None:
    sessions = session_factory(engine)
    attempts: list[int] = []

    def work(session: Session) -> str:
        attempts.append(1)
        add_unit(session, f"u-{len(attempts)}")
        if len(attempts) < 3:
            add_unit(session, "u-winner")  # what a concurrent request committed first
        return "stored"

    with sessions() as winner:
        add_unit(winner, "u-winner")
        winner.commit()
    assert commit_retrying(sessions, work) == "stored"
    with sessions() as session:
        # the failed attempts left nothing behind; the third committed
        assert sorted(session.scalars(select(Unit.id))) == ["u-3", "u-winner"]


def test_a_race_that_never_settles_stores_nothing_and_says_so(engine: Engine) -> None:
    sessions = session_factory(engine)

    def work(session: Session) -> None:
        add_unit(session, "u-new")
        raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))

    with pytest.raises(RaceNotSettled, match="3 attempts"):
        commit_retrying(sessions, work, attempts=3)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Unit)) == 0
