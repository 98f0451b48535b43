"""The alert lifecycle in SQL: fires once, escalates, resolves when met; repeated commits are no-ops."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from monitor.alerts.lifecycle import (
    AlertStatus,
    commit_evaluation,
    missing_obligations,
    month_record,
    plan_commit,
    record_missing_obligations,
    transitions,
)
from monitor.calendar.working_days import WorkCalendar
from monitor.clock import parse_instant
from monitor.config import Settings
from monitor.evaluation.engine import PythonMatcher
from monitor.evaluation.evaluate import Evaluation, evaluate
from monitor.evaluation.message import RuleMessage, Written
from monitor.ingest.events import ingest_events
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.rulebook import Rulebook, load_rulebook
from monitor.store.db import session_factory
from monitor.store.models import AlertRecord, ObligationRecord

ROOT = Path(__file__).resolve().parents[2]
RULEBOOK: Rulebook = load_rulebook(ROOT / "rules")
KEY = ("case-complex-5-workdays", "case:c1", "")


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    spec = yaml.safe_load((ROOT / "rules/tests/case-complex-5-workdays.yaml").read_text(encoding="utf-8"))
    with session_factory(engine)() as s:
        roster, problems = load_roster(spec["roster"], "roster")
        assert not problems and {o.status for o in upsert_roster(s, roster)} == {"accepted"}
        outcomes = ingest_events(
            s, [(e["id"], e) for e in spec["events"]], now=parse_instant("2024-11-01"), settings=Settings()
        )
        assert {o.status for o in outcomes} == {"accepted"}
        s.commit()
        yield s


def at(session: Session, instant: str) -> Evaluation:
    return evaluate(
        session, RULEBOOK, WorkCalendar(), Settings(), parse_instant(instant), PythonMatcher(RULEBOOK)
    )


def commit(session: Session, instant: str) -> list[tuple[str, str, str, int]]:
    changes = commit_evaluation(session, at(session, instant))
    session.commit()
    return sorted((c.rule, c.subject, c.change, c.level) for c in changes if c.subject == "case:c1")


def row(session: Session) -> AlertRecord:
    return session.scalars(
        select(AlertRecord).where(AlertRecord.rule == KEY[0], AlertRecord.subject == KEY[1])
    ).one()


def test_an_alert_fires_once_climbs_and_resolves_when_met(session: Session) -> None:
    assert commit(session, "2024-10-10T10:00") == [("case-complex-5-workdays", "case:c1", "fired", 0)]
    first = row(session)
    assert (first.state, first.level) == ("warning", 0)
    assert commit(session, "2024-10-10T11:00") == []  # nothing new: no transition, fired once
    assert commit(session, "2024-10-11T09:00") == [("case-complex-5-workdays", "case:c1", "escalated", 1)]
    assert commit(session, "2024-10-14T09:00") == [
        ("case-complex-5-workdays", "case:c1", "escalated", 2),
        ("case-escalation", "case:c1", "fired", 2),
    ]
    assert row(session).fired_at == parse_instant("2024-10-10T10:00")
    assert commit(session, "2024-10-21T11:00") == [
        ("case-complex-5-workdays", "case:c1", "resolved", 2),
        ("case-escalation", "case:c1", "resolved", 2),
    ]
    resolved = row(session)
    assert resolved.state == "resolved" and resolved.resolved_at == parse_instant("2024-10-21T11:00")


def test_a_late_fulfilment_is_recorded_as_late(session: Session) -> None:
    commit(session, "2024-10-21T11:00")
    status = session.scalar(
        select(ObligationRecord.status).where(
            ObligationRecord.rule == KEY[0], ObligationRecord.subject == KEY[1]
        )
    )
    assert status == "met_late"


def test_rules_the_evaluation_could_not_see_whole_resolve_nothing(session: Session) -> None:
    previous = {KEY: AlertStatus("overdue", 2)}
    blind = Evaluation(
        at=parse_instant("2024-10-15"), alerts=[], inhibited=[], obligations=[], incomplete_rules={KEY[0]}
    )
    assert transitions(previous, blind) == []
    seeing = Evaluation(at=parse_instant("2024-10-15"), alerts=[], inhibited=[], obligations=[])
    assert [t.change for t in transitions(previous, seeing)] == ["resolved"]


@pytest.mark.parametrize(
    ("waived", "left"), [(True, set()), (False, {"case-complex-5-workdays", "case-escalation"})]
)
def test_a_waived_clock_waives_its_escalation_too(session: Session, waived: bool, left: set[str]) -> None:
    from monitor.clock import utcnow
    from monitor.store.models import Waiver

    if waived:
        session.add(
            Waiver(
                rule="case-complex-5-workdays",
                subject="case:c1",
                period="",
                reason="企业已注销",
                approver="赵主任",
                created_at=utcnow(),
            )
        )
        session.flush()
    result = at(session, "2024-10-14T09:00")  # c1 at level 2: the ladder has reached 区营商办
    assert {a.rule for a in result.alerts if a.subject == "case:c1"} == left
    ladder = [o for o in result.obligations if o.rule == "case-escalation" and o.subject == "case:c1"]
    assert [o.status for o in ladder] == (["waived"] if waived else ["overdue"])


def test_an_alert_and_a_duty_that_come_back_unchanged_are_written_back(session: Session) -> None:
    """A duty leaves the evaluation (its alert resolves, its row leaves view) and comes back with
    every value as before: the alert fires again as a new life, the row is in view again — the
    commit's shortcut for unchanged rows must not take them for unchanged."""
    first = at(session, "2024-10-10T10:00")
    commit_evaluation(session, first)
    session.commit()
    gone = replace(
        first,
        at=parse_instant("2024-10-10T10:10"),
        alerts=[a for a in first.alerts if a.key != KEY],
        inhibited=[a for a in first.inhibited if a.key != KEY],
        obligations=[o for o in first.obligations if o.key != KEY],
    )
    assert [c.change for c in commit_evaluation(session, gone) if c.subject == KEY[1]] == ["resolved"]
    session.commit()
    duty = session.scalars(
        select(ObligationRecord).where(ObligationRecord.rule == KEY[0], ObligationRecord.subject == KEY[1])
    ).one()
    assert duty.in_view is False
    back = replace(first, at=parse_instant("2024-10-10T10:20"))
    changes = commit_evaluation(session, back)
    session.commit()
    assert [(c.rule, c.change) for c in changes if c.subject == KEY[1]] == [(KEY[0], "fired")]
    again = row(session)
    session.refresh(again)
    assert (again.state, again.fired_at, again.resolved_at) == ("warning", back.at, None)
    session.refresh(duty)
    assert duty.in_view is True
    assert commit_evaluation(session, replace(back, at=parse_instant("2024-10-10T10:30"))) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("level", 3),
        ("due_at", parse_instant("2024-10-18T17:30")),
        ("recipients", ("o-someone-else",)),
        ("clause", "第九条"),
        ("wording", Written("另一条消息")),
        ("unit_id", "u-other"),
        ("inhibited_by", "pairing-monthly-visit"),
        ("provisional", True),
    ],
)
def test_each_field_of_a_stored_alert_that_differs_is_written(
    session: Session, field: str, value: object
) -> None:
    first = _committed(session)
    changed = replace(next(a for a in first.alerts if a.key == KEY), **{field: value})
    _commit_later(session, first, alerts=[changed if a.key == KEY else a for a in first.alerts])
    stored = row(session)
    session.refresh(stored)
    if isinstance(value, Written):  # the message, with the key of what it is made of
        assert (stored.message, stored.message_key) == (value.text(), value.key())
    else:
        assert getattr(stored, field) == (list(value) if isinstance(value, tuple) else value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "met"),
        ("due_at", parse_instant("2024-10-18T17:30")),
        ("met_at", parse_instant("2024-10-10T09:00")),
        ("unit_id", "u-other"),
        ("provisional", True),
    ],
)
def test_each_field_of_a_stored_duty_that_differs_is_written(
    session: Session, field: str, value: object
) -> None:
    first = _committed(session)
    _commit_later(
        session,
        first,
        obligations=[replace(o, **{field: value}) if o.key == KEY else o for o in first.obligations],
    )
    stored = session.scalars(
        select(ObligationRecord).where(ObligationRecord.rule == KEY[0], ObligationRecord.subject == KEY[1])
    ).one()
    assert getattr(stored, field) == value


def _committed(session: Session) -> Evaluation:
    """The evaluation of 2024-10-10 10:00, committed."""
    first = at(session, "2024-10-10T10:00")
    commit_evaluation(session, first)
    session.commit()
    return first


def _commit_later(session: Session, first: Evaluation, **changed: object) -> None:
    """The same evaluation ten minutes later with these fields replaced, committed."""
    commit_evaluation(session, replace(first, at=parse_instant("2024-10-10T10:10"), **changed))  # type: ignore[arg-type]
    session.commit()


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The (rule, language) of every message rendered while the test runs."""
    made: list[tuple[str, str]] = []
    render = Rulebook.render

    def counted(self: Rulebook, rule_id: str, language: str, variables: Mapping[str, object]) -> str:
        made.append((rule_id, language))
        return render(self, rule_id, language, variables)

    monkeypatch.setattr(Rulebook, "render", counted)
    return made


def test_a_commit_renders_only_the_messages_whose_key_changed(
    session: Session, renders: list[tuple[str, str]]
) -> None:
    """A new alert's message is rendered to be written; the same duties ten minutes later make
    the same keys, and nothing is rendered; two working days later the counts in the messages
    moved: those are rendered and written, each as an eager rendering says it."""
    first = at(session, "2024-10-10T10:00")
    assert renders == []  # an evaluation renders nothing by itself
    commit_evaluation(session, first)
    session.commit()
    assert len(renders) == len(first.alerts) + len(first.inhibited) > 0
    renders.clear()
    assert plan_commit(session, at(session, "2024-10-10T10:10")).alerts == {}
    assert renders == []
    later = at(session, "2024-10-14T10:00")
    commit_evaluation(session, later)
    session.commit()
    assert KEY[0] in {rule for rule, _language in renders}
    stored = {
        (r.rule, r.subject, r.period): r
        for r in session.scalars(select(AlertRecord).where(AlertRecord.state != "resolved"))
    }
    for alert in [*later.alerts, *later.inhibited]:
        wording = alert.wording
        assert isinstance(wording, RuleMessage)
        eager = RULEBOOK.render(alert.rule, "zh", wording.variables())
        assert (stored[alert.key].message, stored[alert.key].message_key) == (eager, alert.message_key)


def test_a_row_kept_without_a_message_key_gets_its_message_written(session: Session) -> None:
    """Rows written before alerts kept their message's key (migration 0006) have none: the next
    commit writes their message and its key, and the one after finds nothing to write."""
    first = _committed(session)
    session.execute(update(AlertRecord).values(message_key=None, message="旧消息"))
    session.commit()
    _commit_later(session, first)
    stored = row(session)
    session.refresh(stored)
    alert = next(a for a in first.alerts if a.key == KEY)
    assert (stored.message, stored.message_key) == (alert.message, alert.message_key)
    assert plan_commit(session, replace(first, at=parse_instant("2024-10-10T10:20"))).alerts == {}


def test_an_evaluations_messages_read_alike_after_its_session_ended(engine: Engine, session: Session) -> None:
    """Messages are rendered when read, which may be after the evaluation's session rolled back
    and closed (its roster's rows expired and detached): they say what they say inside it."""
    inside = at(session, "2024-10-14T10:00")
    said = sorted((a.key, a.message) for a in [*inside.alerts, *inside.inhibited])
    with session_factory(engine)() as apart:
        ended = at(apart, "2024-10-14T10:00")
        apart.rollback()
    assert said and sorted((a.key, a.message) for a in [*ended.alerts, *ended.inhibited]) == said


def test_a_months_record_inserts_only_the_keys_no_row_holds(session: Session) -> None:
    """`missing_obligations` (the month's record): a key with a row is left alone, and a subject's
    rows of other periods do not stand for the periods asked about."""
    first = _committed(session)
    [held] = [o for o in first.obligations if o.key == KEY]
    november, december = replace(held, period="2024-11"), replace(held, period="2024-12")
    session.execute(
        update(ObligationRecord)
        .where(ObligationRecord.rule == KEY[0], ObligationRecord.subject == KEY[1])
        .values(status="met_late")
    )
    assert record_missing_obligations(session, [held, november], parse_instant("2024-12-02")) == 1
    # the subject now has rows of "" and 2024-11: neither stands for 2024-12
    rows = missing_obligations(session, [held, november, december], parse_instant("2024-12-03"))
    assert [(r["rule"], r["subject"], r["period"], r["in_view"]) for r in rows] == [
        (KEY[0], KEY[1], "2024-12", False)
    ]
    stored = session.execute(
        select(ObligationRecord.period, ObligationRecord.status).where(
            ObligationRecord.rule == KEY[0], ObligationRecord.subject == KEY[1]
        )
    ).all()
    assert sorted(stored) == [("", "met_late"), ("2024-11", held.status)]


def test_a_months_record_amends_only_the_rows_out_of_view_that_say_otherwise(session: Session) -> None:
    """`month_record(amend=True)`: a row out of the tick's view whose duty now says otherwise is
    updated; one in view is the tick's and left alone; one that agrees is not written."""
    first = _committed(session)
    [held] = [o for o in first.obligations if o.key == KEY]
    other = replace(held, period="2024-11")
    now = parse_instant("2024-12-02")
    assert record_missing_obligations(session, [other], now) == 1  # out of view
    moved = replace(held, status="met_on_time", met_at=parse_instant("2024-10-15"))
    moved_other = replace(other, status="met_on_time", met_at=parse_instant("2024-10-15"))
    inserts, updates = month_record(session, [moved, moved_other], now, amend=True)
    assert inserts == [] and [(u["period"], u["status"]) for u in updates] == [("2024-11", "met_on_time")]
    assert month_record(session, [held, other], now, amend=True) == ([], [])  # agrees: nothing
    assert month_record(session, [moved, moved_other], now) == ([], [])  # without amend: nothing
