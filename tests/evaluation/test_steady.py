"""The steady-state tick (monitor/evaluation/steady.py) commits what a full evaluation would.

Two daemons' Services, one continuing its last evaluation where it may and one evaluating
everything at every tick, live through the same weeks of the example district under a simulated
clock: events arrive between ticks (some ahead of their time), ticks fall at irregular instants
around midnight and the end-of-day cut-off, across the National Day holiday and its make-up
working days and across the year end, a waiver and a roster change arrive midway. After every
tick both made the same transitions; at checkpoints their alerts and obligations tables agree
row for row.
"""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, delete, select, text
from sqlalchemy.exc import OperationalError

from monitor.alerts.lifecycle import record_tick
from monitor.clock import parse_instant
from monitor.evaluation import steady as steady_module
from monitor.evaluation.evaluate import Evaluator
from monitor.ingest.events import ingest_events
from monitor.ingest.roster import load_roster, upsert_roster
from monitor.rulebook import load_rulebook
from monitor.runtime import ticker as ticker_module
from monitor.runtime.service import Service
from monitor.runtime.ticker import Ticker
from monitor.store.changes import note_changes, note_everything
from monitor.store.db import normalise_url
from monitor.store.models import OPEN_STATES, AlertRecord, ChangeRecord, ObligationRecord, Pairing
from monitor.waivers import add_waiver
from tests.conftest import PG_URL
from tests.service.conftest import ROOT, settings_for

EXAMPLES = ROOT / "config/examples"
# instants of each day, Shanghai time: around midnight, office hours, the 17:30 cut-off, day end
TIMES = ("00:00:00", "00:20", "08:10", "11:45", "14:20", "17:29:59", "17:30", "17:31", "21:05", "23:59:59")


def _events() -> list[dict[str, Any]]:
    lines = (EXAMPLES / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return sorted((json.loads(line) for line in lines), key=lambda e: parse_instant(e["at"]))


def _second_database(db_url: str) -> tuple[str, Any]:
    """Another empty database on the same back end; returns its URL and a cleanup."""
    if db_url.startswith("sqlite"):
        return db_url.replace(".db", "-full.db"), lambda: None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}", drop


def _table(service: Service, model: type[Any], columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    with service.sessions() as session:
        rows = session.execute(select(*(getattr(model, c) for c in columns)))
        return sorted((tuple(r) for r in rows), key=repr)


ALERT_COLUMNS = (
    "rule", "subject", "period", "state", "level", "due_at", "unit_id", "recipients",
    "message", "inhibited_by", "fired_at", "changed_at", "resolved_at",
)  # fmt: skip
OBLIGATION_COLUMNS = (
    "rule", "subject", "period", "unit_id", "due_at", "status", "met_at", "changed_at", "scope", "in_view",
)  # fmt: skip


def _ingest(service: Service, batch: list[dict[str, Any]], now: datetime) -> None:
    with service.sessions() as session:
        outcomes = ingest_events(session, [(e["id"], e) for e in batch], now=now, settings=service.settings)
        session.commit()
    assert {o.status for o in outcomes} == {"accepted"}, [o for o in outcomes if o.status != "accepted"]


def _days(first: str, last: str) -> list[str]:
    start, end = parse_instant(first).date(), parse_instant(last).date()
    return [(start + timedelta(days=d)).isoformat() for d in range((end - start).days + 1)]


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    ("cutoff", "window"),
    [
        ("17:30", ("2024-09-26", "2024-10-14")),  # National Day: holidays, make-up Sunday and Saturday
        ("23:59:59", ("2024-12-27", "2025-01-03")),  # the year end
        ("23:59:59", ("2024-08-20", "2024-08-24")),  # a coordination meeting while a major case waits
    ],
)
def test_steady_ticks_commit_what_full_evaluations_commit(
    db_url: str, tmp_path: Path, cutoff: str, window: tuple[str, str]
) -> None:
    other_url, drop = _second_database(db_url)
    calendar = {"overrides_dir": ROOT / "config/calendar", "end_of_day": time.fromisoformat(cutoff)}
    # the hourly full evaluation of a real daemon would hide the steady path between sparse ticks
    steady = Service(settings_for(db_url, tmp_path, calendar=calendar, full_evaluation_seconds=86_400))
    full = Service(settings_for(other_url, tmp_path, calendar=calendar, full_evaluation_seconds=0))
    _ticker(full).keep = False  # the reference builds every duty; the steady daemon keeps quiet ones
    services = (steady, full)
    try:
        _roster(services)
        events = _events()
        instants = [parse_instant(f"{day}T{t}") for day in _days(*window) for t in TIMES]
        fed = 0
        continued = kept = 0
        for n, at in enumerate(instants):
            # what has happened by now arrives, and now and then events of the next hours ahead
            ahead = at + (timedelta(hours=3) if n % 4 == 0 else timedelta(0))
            batch, fed = _arrived(events, fed, ahead)
            if batch:
                for service in services:
                    _ingest(service, batch, at)
            if n == len(instants) // 2:
                _waive_midway(services, at)  # and a roster change: the next tick starts afresh
            evaluation = steady.tick(at)
            full.tick(at)
            continued += evaluation.continued
            kept += evaluation.kept
            assert [t.record() for t in steady.last_changes] == [t.record() for t in full.last_changes], at
            if n % 7 == 6 or n == len(instants) - 1:  # checkpoints at every time of day in turn
                _assert_the_same_committed(steady, full, at)
        # the steady path carried most ticks, and every change record was consumed by one
        assert continued > len(instants) // 2, continued
        assert kept > 0  # and full ticks of the steady daemon kept quiet duties as stored
        with steady.sessions() as session:
            assert session.scalars(select(ChangeRecord).where(ChangeRecord.at <= instants[-1])).all() == []
    finally:
        for service in services:
            service.close()
        drop()


def _roster(services: tuple[Service, ...]) -> None:
    roster = yaml.safe_load((EXAMPLES / "roster.yaml").read_text(encoding="utf-8"))
    for service in services:
        with service.sessions() as session:
            upsert_roster(session, load_roster(roster, "roster.yaml")[0])
            session.commit()


def _arrived(events: list[dict[str, Any]], fed: int, ahead: datetime) -> tuple[list[dict[str, Any]], int]:
    """The events after the first `fed` whose instant is at or before `ahead`, and the new count."""
    batch = []
    while fed < len(events) and parse_instant(events[fed]["at"]) <= ahead:
        batch.append(events[fed])
        fed += 1
    return batch, fed


def _waive_midway(services: tuple[Service, ...], at: datetime) -> None:
    for service in services:
        with service.sessions() as session:
            add_waiver(
                session, rule="pairing-monthly-visit", subject="pairing:o-ysb-2:91321311MA037K6DU7",
                period=at.strftime("%Y-%m"), reason="企业停产", approver="区营商办", actor="t", source="t",
                rulebook=service.loaded.rulebook,
            )  # fmt: skip
            session.commit()


def _assert_the_same_committed(steady: Service, full: Service, at: datetime) -> None:
    # the obligations in view too (`in_view`): met case duties leave it
    for model, columns in ((AlertRecord, ALERT_COLUMNS), (ObligationRecord, OBLIGATION_COLUMNS)):
        assert _table(steady, model, columns) == _table(full, model, columns), (at, model)
    counted = steady.metrics.snapshot
    again = full.tick(at)
    assert not again.continued and again.transitions == 0
    # the metrics count the same (a continued evaluation keeps its counts as it goes)
    assert counted == full.metrics.snapshot
    assert counted.obligations.total() == again.obligations and counted.alerts.total() == again.alerts


ENTERPRISE = "91321311MA00B10J7H"
# instants of 2026-03-31 and the next midnight, Shanghai time, on both sides of each due second
FINE_TIMES = (
    "2026-03-31T08:00", "2026-03-31T17:29:59.9", "2026-03-31T17:30:00", "2026-03-31T17:30:00.6",
    "2026-03-31T17:30:01", "2026-03-31T18:00:00", "2026-03-31T18:00:00.6", "2026-03-31T18:00:01",
    "2026-03-31T18:00:01.5", "2026-03-31T23:59:59", "2026-03-31T23:59:59.6", "2026-04-01T00:00:00",
    "2026-04-01T00:00:00.5",
)  # fmt: skip


def _case(case: str, at: str, channel: str, due: str | None = None) -> dict[str, Any]:
    opened = {
        "id": f"{case}-open", "type": "case_opened", "at": at, "case": case, "enterprise": ENTERPRISE,
        "channel": channel, "complexity": "simple", "category": "用工", "unit": "u-spj",
    }  # fmt: skip
    return opened if due is None else {**opened, "due": due}


def _feedback(case: str, at: str) -> dict[str, Any]:
    return {"id": f"{case}-fb", "type": "case_feedback", "at": at, "case": case}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("cutoff", ["17:30:00", "23:59:59"])
def test_steady_ticks_switch_a_duty_at_the_end_of_its_due_second(
    db_url: str, tmp_path: Path, cutoff: str
) -> None:
    """Hotline orders due at 18:00:00 (mid-day: only the steady tick's heap turns them overdue)
    and same-day cases due at the cut-off, ticked around each due second with fractions."""
    other_url, drop = _second_database(db_url)
    calendar = {"overrides_dir": ROOT / "config/calendar", "end_of_day": time.fromisoformat(cutoff)}
    steady = Service(settings_for(db_url, tmp_path, calendar=calendar, full_evaluation_seconds=86_400))
    full = Service(settings_for(other_url, tmp_path, calendar=calendar, full_evaluation_seconds=0))
    _ticker(full).keep = False  # the reference builds every duty; the steady daemon keeps quiet ones
    services = (steady, full)
    end = f"2026-03-31T{cutoff}"
    events = [
        _case("h-unmet", "2026-03-31T09:00", "hotline", "2026-03-31T18:00:00"),
        _case("h-frac", "2026-03-31T09:01", "hotline", "2026-03-31T18:00:00.250"),
        _feedback("h-frac", "2026-03-31T18:00:00.900"),  # within the due second: on time
        _case("h-late", "2026-03-31T09:02", "hotline", "2026-03-31T18:00:00"),
        _feedback("h-late", "2026-03-31T18:00:01"),
        _case("s-unmet", "2026-03-31T10:00", "window"),
        _case("s-last", "2026-03-31T10:01", "window"),
        _feedback("s-last", f"{end}.600"),  # in the cut-off's second: on time
    ]
    events.sort(key=lambda e: parse_instant(e["at"]))
    try:
        _roster(services)
        statuses: dict[str, dict[str, str]] = {}
        fed = 0
        for text_at in FINE_TIMES:
            at = parse_instant(text_at)
            batch = []
            while fed < len(events) and parse_instant(events[fed]["at"]) <= at:
                batch.append(events[fed])
                fed += 1
            if batch:
                for service in services:
                    _ingest(service, batch, at)
            evaluation = steady.tick(at)
            full.tick(at)
            assert [t.record() for t in steady.last_changes] == [t.record() for t in full.last_changes], at
            for model, columns in ((AlertRecord, ALERT_COLUMNS), (ObligationRecord, OBLIGATION_COLUMNS)):
                assert _table(steady, model, columns) == _table(full, model, columns), (at, model)
            with steady.sessions() as session:
                mine = {
                    subject.partition(":")[2]: status
                    for subject, status in session.execute(
                        select(ObligationRecord.subject, ObligationRecord.status).where(
                            ObligationRecord.rule.in_(("hotline-order-deadline", "case-simple-same-day")),
                            ObligationRecord.in_view.is_(True),
                        )
                    )
                }
            statuses[text_at] = mine
            if text_at in ("2026-03-31T18:00:00.6", "2026-03-31T18:00:01"):
                # the mid-day switch is the steady path's own: no day boundary forces a full one
                assert evaluation.continued, text_at
        assert statuses["2026-03-31T18:00:00.6"]["h-unmet"] == "pending"
        assert statuses["2026-03-31T18:00:01"]["h-unmet"] == "overdue"
        assert statuses["2026-03-31T18:00:01"]["h-frac"] == "met_on_time"
        assert statuses["2026-03-31T18:00:00.6"]["h-late"] == "pending"
        assert statuses["2026-03-31T18:00:01"]["h-late"] == "met_late"
        lapse_at = "2026-03-31T17:30:01" if cutoff == "17:30:00" else "2026-04-01T00:00:00"
        before = "2026-03-31T17:30:00.6" if cutoff == "17:30:00" else "2026-03-31T23:59:59.6"
        assert statuses[before]["s-unmet"] == "pending"
        assert statuses[lapse_at]["s-unmet"] == "overdue"
        assert statuses[lapse_at]["s-last"] == "met_on_time"
    finally:
        for service in services:
            service.close()
        drop()


@pytest.mark.timeout(900)
def test_full_ticks_in_small_parts_commit_what_one_part_commits(db_url: str, tmp_path: Path) -> None:
    """A full tick a few enterprises and cases at a time (a province's parts, shrunk to the
    example district: 3 enterprises, 4 cases a part) makes the transitions, rows, marks and
    counts of a full tick in one part, around the year end and while cases come and go; and a
    steady tick continues from parts as well as from one."""
    other_url, drop = _second_database(db_url)
    parted = Service(settings_for(db_url, tmp_path, full_evaluation_seconds=86_400))
    _ticker(parted).part_sizes = (3, 4)
    whole = Service(settings_for(other_url, tmp_path, full_evaluation_seconds=86_400))
    _ticker(whole).part_sizes = (10**9, 10**9)
    services = (parted, whole)
    try:
        _roster(services)
        events = _events()
        instants = [
            parse_instant(f"{day}T{t}") for day in _days("2024-12-27", "2025-01-02") for t in TIMES[::3]
        ]
        fed = 0
        parts = 0
        for n, at in enumerate(instants):
            batch, fed = _arrived(events, fed, at)
            if batch:
                for service in services:
                    _ingest(service, batch, at)
            if n % 3 == 0:  # now and then a full tick (else steady where it can be)
                parted.ticker.forget()
                whole.ticker.forget()
            done = parted.tick(at)
            one = whole.tick(at)
            parts = max(parts, done.parts)
            assert (done.continued, done.alerts, done.obligations) == (
                one.continued,
                one.alerts,
                one.obligations,
            )
            assert [t.record() for t in parted.last_changes] == [t.record() for t in whole.last_changes], at
            assert parted.metrics.snapshot == whole.metrics.snapshot, at
            if n % 4 == 3 or n == len(instants) - 1:
                for model, columns in ((AlertRecord, ALERT_COLUMNS), (ObligationRecord, OBLIGATION_COLUMNS)):
                    assert _table(parted, model, columns) == _table(whole, model, columns), (at, model)
        assert parts > 6  # the small parts were many: the whole kinds, enterprises, cases
    finally:
        for service in services:
            service.close()
        drop()


def test_a_full_tick_resolves_alerts_no_duty_holds_and_rows_of_removed_rules(
    db_url: str, tmp_path: Path
) -> None:
    """An open alert whose duty has no row in view (left by a crash of an earlier version) and
    the rows of a rule no longer in the rulebook: the next process's first tick resolves the
    alerts and takes the rows out of view; the counts leave them out."""
    at = parse_instant("2024-12-18T10:00")
    first = Service(settings_for(db_url, tmp_path))
    try:
        _roster((first,))
        _ingest(first, [e for e in _events() if parse_instant(e["at"]) <= at], at)
        first.tick(at)
        values = {"state": "overdue", "level": 1, "due_at": at, "recipients": [], "clause": "c", "message": "m",
                  "fired_at": at, "changed_at": at}  # fmt: skip
        with first.sessions() as session:
            session.add(
                AlertRecord(
                    rule="pairing-monthly-visit", subject="pairing:o-x:NOBODY", period="2024-12", **values
                )
            )
            session.add(AlertRecord(rule="retired-rule", subject="case:gone", period="", **values))
            session.add(
                ObligationRecord(rule="retired-rule", subject="case:gone", period="", unit_id=None, due_at=at,
                                 status="overdue", changed_at=at, scope="gone", in_view=True)
            )  # fmt: skip
            session.commit()
    finally:
        first.close()
    again = Service(settings_for(db_url, tmp_path))
    try:
        done = again.tick(at + timedelta(minutes=1))
        resolved = {(t.rule, t.subject) for t in again.last_changes if t.change == "resolved"}
        assert resolved == {("pairing-monthly-visit", "pairing:o-x:NOBODY"), ("retired-rule", "case:gone")}
        with again.sessions() as session:
            row = session.get(ObligationRecord, ("retired-rule", "case:gone", ""))
            assert row is not None and not row.in_view
        assert ("retired-rule", "", "overdue") not in again.metrics.snapshot.obligations
        assert done.transitions == 2
    finally:
        again.close()


def _district_at(db_url: str, tmp_path: Path, at: datetime) -> Service:
    service = Service(settings_for(db_url, tmp_path, full_evaluation_seconds=86_400))
    _roster((service,))
    _ingest(service, [e for e in _events() if parse_instant(e["at"]) <= at], at)
    service.tick(at)
    return service


def _open(service: Service, like: str) -> tuple[str, str, str]:
    with service.sessions() as session:
        row = session.execute(
            select(AlertRecord.rule, AlertRecord.subject, AlertRecord.period)
            .where(AlertRecord.state.in_(OPEN_STATES), AlertRecord.inhibited_by.is_(None))
            .where(AlertRecord.subject.like(like))
            .order_by(AlertRecord.id)
        ).first()
    assert row is not None
    return (row.rule, row.subject, row.period)


def test_a_tick_that_failed_between_a_parts_writes_is_mended_by_the_next(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A part wrote its duty rows (a pairing gone: out of view) and failed before its alerts:
    the next tick, in the same process, still resolves the alert."""
    at = parse_instant("2024-12-18T10:00")
    service = _district_at(db_url, tmp_path, at)
    try:
        rule, subject, _period = _open(service, "pairing:%")
        with service.sessions() as session:
            session.execute(delete(Pairing).where(Pairing.enterprise_id == subject.rpartition(":")[2]))
            note_everything(session)
            session.commit()
        _fail_before_the_alerts(service, at + timedelta(minutes=5), monkeypatch)
        service.tick(at + timedelta(minutes=10))
        assert (rule, subject, "resolved") in {(t.rule, t.subject, t.change) for t in service.last_changes}
    finally:
        service.close()


def _fail_before_the_alerts(service: Service, at: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tick at `at` that writes its parts' duty rows and fails on their alerts (a locked database)."""

    def locked(session: Any, writes: Any) -> None:
        raise OperationalError("UPDATE alerts", {}, Exception("database is locked"))

    monkeypatch.setattr(ticker_module, "write_alerts", locked)
    with pytest.raises(OperationalError):
        service.tick(at)
    monkeypatch.undo()


def test_a_met_duty_whose_alert_a_failed_tick_left_open_has_it_resolved(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A part wrote a duty's row as met and failed before resolving its alert: the next full tick
    finds the row saying what the duty says now and keeps it, and resolves the open alert."""
    at = parse_instant("2024-12-18T10:00")
    service = _district_at(db_url, tmp_path, at)
    try:
        with service.sessions() as session:
            found = session.execute(
                select(AlertRecord.rule, AlertRecord.subject, AlertRecord.period)
                .where(AlertRecord.state.in_(OPEN_STATES), AlertRecord.period == "2024-12")
                .where(AlertRecord.rule.in_(["pairing-monthly-contact", "pairing-monthly-visit"]))
                .where(AlertRecord.subject.like("pairing:o-%"))
                .order_by(AlertRecord.id)
            ).first()
        assert found is not None
        rule, subject, period = found
        _, official, enterprise = subject.split(":")
        visit = {"id": "v-met", "type": "visit", "at": "2024-12-18T10:01:00+08:00", "official": official,
                 "enterprise": enterprise, "talked_with_head": True}  # fmt: skip
        _ingest(service, [visit], at + timedelta(minutes=2))
        _fail_before_the_alerts(service, at + timedelta(minutes=5), monkeypatch)
        with service.sessions() as session:
            row = session.get(ObligationRecord, (rule, subject, period))
            assert row is not None and row.status == "met_on_time"  # written before the alerts failed
        done = service.tick(at + timedelta(minutes=10))
        assert not done.continued and done.kept > 0
        assert (rule, subject, "resolved") in {(t.rule, t.subject, t.change) for t in service.last_changes}
    finally:
        service.close()


def test_a_quiet_duty_kept_as_stored_has_its_open_alert_resolved(db_url: str, tmp_path: Path) -> None:
    """A pending duty no reminder is due for, whose alert is open all the same (a crash between a
    part's writes, a reload that raised a warning threshold): a full tick keeps the duty as stored
    and resolves the alert, which it read with the stored rows."""
    at = parse_instant("2024-12-18T10:00")
    service = _district_at(db_url, tmp_path, at)
    try:
        with service.sessions() as session:
            alerted = select(AlertRecord.id).where(
                AlertRecord.rule == ObligationRecord.rule,
                AlertRecord.subject == ObligationRecord.subject,
                AlertRecord.period == ObligationRecord.period,
            )
            found = session.execute(
                select(ObligationRecord.rule, ObligationRecord.subject, ObligationRecord.period)
                .where(ObligationRecord.status == "pending", ObligationRecord.in_view.is_(True))
                .where(ObligationRecord.subject.like("pairing:%"), ~alerted.exists())
                .order_by(ObligationRecord.rule, ObligationRecord.subject)
            ).first()
            assert found is not None
            rule, subject, period = found
            session.add(
                AlertRecord(rule=rule, subject=subject, period=period, state="warning", level=0, due_at=at,
                            recipients=[], clause="c", message="m", fired_at=at, changed_at=at)
            )  # fmt: skip
            session.commit()
        service.ticker.forget()
        done = service.tick(at + timedelta(minutes=1))
        assert done.kept > 0
        assert (rule, subject, "resolved") in {(t.rule, t.subject, t.change) for t in service.last_changes}
    finally:
        service.close()


def test_a_reload_that_raised_a_warning_threshold_resolves_the_warnings_of_duties_now_quiet(
    db_url: str, tmp_path: Path
) -> None:
    """The year's matchmaking warns 20 working days ahead; rules reloaded to warn 5 ahead make
    the duties 10 days from due quiet again. Their rows say the same as before (pending, same due
    time), and the tick keeps them as stored; their open warnings resolve."""
    at = parse_instant("2024-12-18T10:00")  # 10 working days before 31 December
    service = _district_at(db_url, tmp_path, at)
    try:
        rule = "pairing-annual-matchmaking"
        with service.sessions() as session:
            warned = set(
                session.scalars(
                    select(AlertRecord.subject).where(
                        AlertRecord.rule == rule, AlertRecord.state == "warning"
                    )
                )
            )
        assert warned
        rules = tmp_path / "rules"
        shutil.copytree(ROOT / "rules", rules)
        text_ = (rules / "pairing.yaml").read_text(encoding="utf-8")
        head, _, tail = text_.partition(f"id: {rule}")
        (rules / "pairing.yaml").write_text(
            head + f"id: {rule}" + tail.replace("warn_working_days: 20", "warn_working_days: 5", 1),
            encoding="utf-8",
        )
        service.loaded = Evaluator.of(load_rulebook(rules), service.loaded.calendar)
        done = service.tick(at + timedelta(minutes=1))
        assert not done.continued and done.kept > 0
        resolved = {t.subject for t in service.last_changes if t.rule == rule and t.change == "resolved"}
        assert resolved == warned
    finally:
        service.close()


def test_steady_ticks_count_a_held_duty_as_full_ticks_do(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A duty whose due time cannot be told keeps its open alert and is not counted among the
    firing ones; steady ticks naming its case count the same as a full tick."""
    at = parse_instant("2024-12-18T10:00")
    service = _district_at(db_url, tmp_path, at)
    try:
        key = _open(service, "case:%")
        settle = steady_module.settle

        def held(obligation: Any, rule: Any, timing: Any, now: datetime, waived: Any) -> None:
            settle(obligation, rule, timing, now, waived)
            if obligation.key == key:
                obligation.status, obligation.calendar_gap = "uncomputable", 2099

        monkeypatch.setattr(steady_module, "settle", held)
        service.ticker.forget()
        full = service.tick(at + timedelta(minutes=5))
        for minutes in (10, 15, 20):
            with service.sessions() as session:
                note_changes(session, at=at, cases=[key[1].partition(":")[2]])
                session.commit()
            done = service.tick(at + timedelta(minutes=minutes))
            assert done.continued and done.alerts == full.alerts, minutes
    finally:
        service.close()


def test_a_commit_by_another_process_during_a_tick_starts_the_next_afresh(
    db_url: str, tmp_path: Path
) -> None:
    """`evaluate --commit` writes the tick record while the daemon's parts go: the daemon's
    counts and the rows may disagree, so its next tick is a full one."""
    at = parse_instant("2024-12-18T10:00")
    service = _district_at(db_url, tmp_path, at)
    try:
        assert service.tick(at + timedelta(minutes=1)).continued
        ticker = _ticker(service)
        original = ticker._write

        def meanwhile(plan: Any, when: datetime, key: bytes) -> int:
            with service.sessions() as session:
                record_tick(session, when - timedelta(days=1), 1.0, 0, 0, "evaluate --commit")
                session.commit()
            return original(plan, when, key)

        ticker._write = meanwhile  # type: ignore[method-assign]
        service.tick(at + timedelta(minutes=2))
        ticker._write = original  # type: ignore[method-assign]
        assert not service.tick(at + timedelta(minutes=3)).continued
        assert service.tick(at + timedelta(minutes=4)).continued
        service.ticker.forget()
        assert service.tick(at + timedelta(minutes=5)).kept > 0
    finally:
        service.close()


def _ticker(service: Service) -> Ticker:
    """The service's tick on its own thread (what these tests look into)."""
    assert isinstance(service.ticker, Ticker)
    return service.ticker
