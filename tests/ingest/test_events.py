"""Event ingest: each record accepted, duplicate or rejected with field and reason; nothing else lost."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.store.models import Activity, Case, CaseEvent, Event, ProjectItem, Review
from tests.ingest.conftest import E1, E2, ingest


def visit(**extra: Any) -> dict[str, Any]:
    return {
        "id": "v1",
        "type": "visit",
        "at": "2024-10-15T10:00",
        "official": "o-zhang",
        "enterprise": E1,
        "talked_with_head": True,
        **extra,
    }


def case(case_id: str = "c1", **extra: Any) -> dict[str, Any]:
    return {
        "id": f"{case_id}-open",
        "type": "case_opened",
        "at": "2024-10-08T09:00",
        "case": case_id,
        "enterprise": E1,
        "channel": "window",
        "complexity": "complex",
        "category": "用地",
        "unit": "u-spj",
        **extra,
    }


def rejection(session: Session, record: object) -> tuple[str | None, str]:
    (outcome,) = ingest(session, record)
    assert outcome.status == "rejected", outcome
    assert outcome.reason
    return outcome.field, outcome.reason


def test_a_visit_by_two_officials_derives_one_activity_each(session: Session) -> None:
    record = visit(officials=["o-zhang", "o-li"])
    del record["official"]
    assert [o.status for o in ingest(session, record)] == ["accepted"]
    rows = session.execute(select(Activity.official_id, Activity.unit_id, Activity.talked_with_head)).all()
    assert sorted(rows) == [("o-li", "u-spj", True), ("o-zhang", "u-gxj", True)]


def test_time_without_offset_is_shanghai_time(session: Session) -> None:
    ingest(session, visit())
    at = session.scalar(select(Event.at))
    assert at is not None and at.isoformat() == "2024-10-15T02:00:00+00:00"


def test_resending_the_same_event_is_a_duplicate_and_changes_nothing(session: Session) -> None:
    ingest(session, visit())
    assert [o.status for o in ingest(session, visit())] == ["duplicate"]
    assert session.scalar(select(func.count()).select_from(Activity)) == 1


def test_a_reused_id_with_other_content_is_a_conflict(session: Session) -> None:
    ingest(session, visit())
    field, reason = rejection(session, visit(talked_with_head=False))
    assert field == "id" and "conflict" in reason


@pytest.mark.parametrize("other", [False, True], ids=["same", "other-content"])
def test_an_event_another_request_stored_meanwhile_is_a_duplicate_not_a_rejection(
    session: Session, monkeypatch: pytest.MonkeyPatch, other: bool
) -> None:
    """Two requests send the same case_opened at once: the winner commits between the loser's
    read of the stored ids (SQLite reads each statement apart) and its read of the cases. The
    loser answers duplicate (or, with other content, the id's conflict), never "already opened"."""
    import monitor.ingest.events as events

    ingest(session, case("c-race"))
    stale = events._existing_digests
    reads: list[list[str]] = []

    def first_stale(s: Session, ids: list[str]) -> dict[str, str]:
        reads.append(ids)
        return {} if len(reads) == 1 else stale(s, ids)

    monkeypatch.setattr(events, "_existing_digests", first_stale)
    (outcome,) = ingest(session, case("c-race", category="用工" if other else "用地"))
    assert len(reads) == 2  # the batch's read, then the id again
    assert (outcome.status, outcome.field) == (("rejected", "id") if other else ("duplicate", None))
    # records refused for their own reasons read their ids again, all in one statement, and stay
    # refused
    before = len(reads)
    refused = ingest(session, *(case("c-race", id=f"c-race-again-{i}") for i in range(3)))
    assert [(o.status, o.field) for o in refused] == [("rejected", "case")] * 3
    assert len(reads) == before + 2


def test_a_duplicate_inside_one_batch_is_told_apart_from_a_conflict(session: Session) -> None:
    outcomes = ingest(session, visit(), visit(), visit(talked_with_head=False))
    assert [o.status for o in outcomes] == ["accepted", "duplicate", "rejected"]


def test_a_batch_may_open_a_case_and_give_its_feedback(session: Session) -> None:
    feedback = {
        "id": "c1-fb",
        "type": "case_feedback",
        "at": "2024-10-09T09:00",
        "case": "c1",
        "unit": "u-spj",
    }
    assert [o.status for o in ingest(session, case(), feedback)] == ["accepted", "accepted"]
    assert session.scalar(select(CaseEvent.type)) == "case_feedback"


def test_a_bad_record_does_not_block_the_good_ones_beside_it(session: Session) -> None:
    outcomes = ingest(
        session, visit(id="a"), {"id": "b", "type": "visit"}, visit(id="c", at="2024-10-16T10:00")
    )
    assert [o.status for o in outcomes] == ["accepted", "rejected", "accepted"]
    assert session.scalar(select(func.count()).select_from(Event)) == 2


@pytest.mark.parametrize(
    ("record", "field", "words"),
    [
        ({"id": "x", "type": "inspection", "at": "2024-10-01"}, "type", "unknown event type"),
        (visit(colour="red"), "colour", "unknown field"),
        (
            {"id": "x", "type": "contact", "at": "2024-10-01", "official": "o-zhang", "enterprise": E1},
            "channel",
            "required",
        ),
        (visit(official="o-nobody"), "official", "unknown official"),
        (visit(enterprise="91321311MA1XYA001J"), "enterprise", "check character"),
        (visit(enterprise="91321311MA1XYA003P"), "enterprise", "unknown enterprise"),
        (visit(at="2024-02-30T10:00"), "at", "ISO 8601"),
        (visit(at="yesterday"), "at", "ISO 8601"),
        (visit(at="1999-12-31T10:00"), "at", "before 2000"),
        (visit(at="2024-11-03T10:00"), "at", "future"),
        (visit(talked_with_head="maybe"), "talked_with_head", "true or false"),
        (
            {
                "id": "x",
                "type": "contact",
                "at": "2024-10-01",
                "official": "o-zhang",
                "enterprise": E1,
                "channel": "fax",
            },
            "channel",
            "not one of",
        ),
        (case(complexity="hard"), "complexity", "not one of"),
        (case(unit="u-none"), "unit", "unknown unit"),
        ({"id": "x", "type": "case_feedback", "at": "2024-10-09", "case": "c-none"}, "case", "unknown case"),
        (
            {"id": "x", "type": "review", "at": "2024-10-09", "review": "r1", "unit": "u-spj", "rating": 6},
            "rating",
            "between 1 and 5",
        ),
        (
            {"id": "x", "type": "review_rectified", "at": "2024-10-09", "review": "r-none"},
            "review",
            "unknown review",
        ),
        (
            {
                "id": "x",
                "type": "report",
                "at": "2024-10-09",
                "unit": "u-spj",
                "kind": "bad_reviews",
                "period": "2024-13",
            },
            "period",
            "no month",
        ),
        (
            {
                "id": "x",
                "type": "report",
                "at": "2024-10-09",
                "unit": "u-spj",
                "kind": "weekly",
                "period": "2024-09",
            },
            "kind",
            "not one of",
        ),
        (
            {"id": "x", "type": "project_item_done", "at": "2024-10-09", "project": "p1", "item": "i9"},
            "item",
            "unknown item",
        ),
        (
            {"id": "x", "type": "case_escalated", "at": "2024-10-09", "case": "c1", "level": 7},
            "case",
            "unknown case",
        ),
        (visit(note="bad\x07bell"), "note", "control characters"),
        (["not", "an", "object"], None, "JSON object"),
        ({"type": "visit", "at": "2024-10-01"}, "id", "required"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_each_invalid_record_is_rejected_with_field_and_reason(
    session: Session, record: object, field: str | None, words: str
) -> None:
    got_field, reason = rejection(session, record)
    assert got_field == field
    assert words in reason


def test_a_case_event_before_its_case_was_opened_is_rejected(session: Session) -> None:
    ingest(session, case())
    field, reason = rejection(
        session, {"id": "x", "type": "case_feedback", "at": "2024-10-07T09:00", "case": "c1", "unit": "u-spj"}
    )
    assert field == "at" and "before case" in reason


def test_a_case_cannot_be_opened_twice(session: Session) -> None:
    ingest(session, case())
    field, reason = rejection(session, case(id="c1-open-again"))
    assert field == "case" and "already opened" in reason


def test_a_meeting_agenda_names_opened_cases(session: Session) -> None:
    meeting = {
        "id": "m",
        "type": "coordination_meeting",
        "at": "2024-10-20T09:00",
        "unit": "u-gxj",
        "cases": ["c1"],
    }
    assert [o.status for o in ingest(session, case(), meeting)] == ["accepted", "accepted"]
    assert session.scalar(select(CaseEvent.type)) == "agenda"
    field, reason = rejection(session, {**meeting, "id": "m2", "cases": ["c9"]})
    assert field == "cases" and "unknown case" in reason


def test_rectification_and_item_completion_keep_the_earliest_time(session: Session) -> None:
    ingest(
        session,
        {"id": "r", "type": "review", "at": "2024-10-09T09:00", "review": "r1", "unit": "u-spj", "rating": 1},
        {"id": "f2", "type": "review_rectified", "at": "2024-10-20T09:00", "review": "r1"},
        {"id": "f1", "type": "review_rectified", "at": "2024-10-15T09:00", "review": "r1"},
        {"id": "d", "type": "project_item_done", "at": "2024-10-09T09:00", "project": "p1", "item": "i1"},
    )
    rectified = session.scalar(select(Review.rectified_at))
    done = session.scalar(select(ProjectItem.done_at))
    assert rectified is not None and rectified.isoformat() == "2024-10-15T01:00:00+00:00"
    assert done is not None and done.isoformat() == "2024-10-09T01:00:00+00:00"


def test_sql_injection_strings_are_stored_verbatim(session: Session) -> None:
    summary = "'; DROP TABLE cases; --"
    assert [o.status for o in ingest(session, case(summary=summary))] == ["accepted"]
    assert session.scalar(select(Case.summary)) == summary


def test_a_briefing_names_many_enterprises(session: Session) -> None:
    record = {
        "id": "b",
        "type": "policy_briefing",
        "at": "2024-10-09",
        "unit": "u-gxj",
        "enterprises": [E1, E2],
    }
    assert [o.status for o in ingest(session, record)] == ["accepted"]
    assert session.scalar(select(func.count()).select_from(Activity)) == 2


def test_text_no_database_keeps_is_refused_by_field_and_the_rest_lands(session: Session) -> None:
    """A NUL character (PostgreSQL refuses it) or a lone surrogate anywhere in a record, even in
    its id or a field nobody reads, rejects that record alone; found by fuzzing the API."""
    outcomes = ingest(
        session,
        visit(id="nul\x00id"),
        visit(id="v-2", note="a\ud800b"),
        visit(id="v-3", extra={"deep": ["fine", "bad\x00"]}),
        visit(id="v-4"),
    )
    assert [(o.status, o.field) for o in outcomes] == [
        ("rejected", "id"),
        ("rejected", "note"),
        ("rejected", "extra.deep[1]"),
        ("accepted", None),
    ]
    assert "NUL" in (outcomes[0].reason or "") and "surrogate" in (outcomes[1].reason or "")
    assert session.scalar(select(func.count()).select_from(Event)) == 1


def test_every_event_type_has_one_derivation() -> None:
    """The schema's types and the table of derivations name the same types: a type added to one
    and not the other would be refused as unknown, or derive nothing."""
    from monitor.ingest.events import _CASE_STEPS, _DERIVATIONS, FIELDS

    assert _DERIVATIONS.keys() == FIELDS.keys()
    assert set(_CASE_STEPS) == {k for k in FIELDS if k.startswith("case_") and k != "case_opened"}


def test_a_batch_reads_only_the_roster_it_names(session: Session) -> None:
    """Reference checks read the officials, units, enterprises and project items a batch names,
    never the whole roster: a request costs the same in a district and a province."""
    from sqlalchemy import event

    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        briefing = {
            "id": "b-1", "type": "policy_briefing", "at": "2024-10-15T10:00", "unit": "u-gxj",
            "enterprises": f"{E1};{E2}",
        }  # fmt: skip
        done = {
            "id": "d-1",
            "type": "project_item_done",
            "at": "2024-10-08T10:00",
            "project": "p1",
            "item": "i1",
        }
        outcomes = ingest(session, visit(), briefing, done, visit(id="v-x", official="o-nobody"))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [o.status for o in outcomes] == ["accepted", "accepted", "accepted", "rejected"], outcomes
    assert outcomes[3].field == "official" and "o-nobody" in (outcomes[3].reason or "")
    roster_reads = [s for s in statements if s.startswith("SELECT") and any(
        f"FROM {table}" in s for table in ("officials", "units", "enterprises", "project_items")
    )]  # fmt: skip
    assert roster_reads and all(" WHERE " in s for s in roster_reads), roster_reads


@pytest.mark.parametrize(
    ("due", "ok"),
    [
        ("2200-12-31T23:59:59+08:00", True),
        ("2201-01-01T07:00:00+08:00", False),  # 2200 in UTC, 2201 in Shanghai
        ("2200-12-31T20:00:00-08:00", False),  # 2201-01-01 12:00 in Shanghai
        ("2200-12-31T15:59:59Z", True),  # 2200-12-31 23:59:59 in Shanghai
    ],
)
def test_a_due_time_past_the_calendars_last_year_in_shanghai_is_refused(
    session: Session, due: str, ok: bool
) -> None:
    (outcome,) = ingest(session, case("c-far", channel="hotline", due=due))
    assert (outcome.status, outcome.field) == (("accepted", None) if ok else ("rejected", "due"))
