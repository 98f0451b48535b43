"""The daemon's ticks over a stored history, as both benchmarks report them.

First tick (every alert new, every notification queued), a steady tick a minute later with
nothing new, a minute's events (visits to paired enterprises, feedback on open cases) and the
steady tick after them, and a full tick again in the steady state: what each day boundary and
the hourly safety net cost (`full_evaluation_seconds`); and a full tick in a daemon started
anew on the same database (`restart_figures`: a deploy, or a standby taking over), which also
records the month's duties and looks for stray alerts once; and the monthly report of the
month, as `dutywatch report` makes it (`report_figures`). Last, the same restart on the database
aged by a year of resolved pairing alerts (`aged_restart_figures`): a daemon that has run a year
keeps a row for every period a pairing's duty ever fired in, which a load of a year's events at
once does not make.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text

from monitor.clock import local_date
from monitor.periods import period_of, periods_between
from monitor.reports.monthly import monthly_report
from monitor.runtime.service import Service
from monitor.store.models import OPEN_STATES, AlertRecord


def minute_of_events(
    service: Service, at: datetime, visits: int = 200, feedback: int = 100
) -> list[dict[str, Any]]:
    """Visits to the first paired enterprises and feedback on the latest unanswered cases, at `at`."""
    with service.engine.connect() as conn:
        pairings = conn.execute(
            text(
                "SELECT official_id, enterprise_id FROM pairings WHERE official_id IS NOT NULL ORDER BY id LIMIT :n"
            ),
            {"n": visits},
        ).all()
        cases = conn.execute(
            text(
                "SELECT id FROM cases c WHERE NOT EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id)"
                " ORDER BY received_at DESC LIMIT :n"
            ),
            {"n": feedback},
        ).scalars()
        case_ids = list(cases)
    stamp = at.isoformat()
    run = os.getpid()  # new ids on a kept database measured again
    out: list[dict[str, Any]] = [
        {
            "id": f"minute-{run}-v{i}",
            "type": "visit",
            "at": stamp,
            "official": o,
            "enterprise": e,
            "talked_with_head": True,
        }
        for i, (o, e) in enumerate(pairings)
    ]
    out += [{"id": f"minute-{run}-f{c}", "type": "case_feedback", "at": stamp, "case": c} for c in case_ids]
    return out


def tick_figures(service: Service, at: datetime) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    first = service.tick(at)
    figures["tick_first_s"] = round(time.perf_counter() - started, 2)
    figures["tick_first_evaluation_s"] = round(first.seconds, 2)
    figures["tick_first_parts"] = first.parts
    figures["obligations_in_view"] = first.obligations
    with service.sessions() as session:
        figures["open_alerts"] = session.scalar(
            select(func.count()).select_from(AlertRecord).where(AlertRecord.state.in_(OPEN_STATES))
        )
    started = time.perf_counter()
    service.tick(at + timedelta(minutes=1))
    figures["tick_steady_s"] = round(time.perf_counter() - started, 3)
    batch = minute_of_events(service, at + timedelta(minutes=1, seconds=30))
    outcomes = service.ingest([(e["id"], e) for e in batch])
    figures["minute_events"] = sum(o.status == "accepted" for o in outcomes)
    started = time.perf_counter()
    steady = service.tick(at + timedelta(minutes=2))
    figures["tick_steady_events_s"] = round(time.perf_counter() - started, 3)
    figures["tick_steady_events_evaluation_s"] = round(steady.seconds, 3)
    figures["steady_keys"] = steady.keys if steady.continued else "full"
    service.ticker.forget()  # as at a day boundary or the hourly safety net
    started = time.perf_counter()
    again = service.tick(at + timedelta(minutes=3))
    figures["tick_full_again_s"] = round(time.perf_counter() - started, 2)
    figures["tick_full_again_evaluation_s"] = round(again.seconds, 2)
    figures["tick_full_again_kept"] = again.kept  # quiet duties kept as stored
    return figures


def restart_figures(start: Callable[[], Service], at: datetime) -> dict[str, Any]:
    """The first tick of a daemon started anew on a database another one kept: a full tick, the
    month's record (`Ticker._record_month`) and the look for stray alerts included."""
    service = start()
    try:
        started = time.perf_counter()
        first = service.tick(at)
        return {
            "tick_restarted_s": round(time.perf_counter() - started, 2),
            "tick_restarted_evaluation_s": round(first.seconds, 2),
        }
    finally:
        service.close()


def report_figures(start: Callable[[], Service], at: datetime) -> dict[str, Any]:
    """The monthly report of `at`'s month as known at `at`, as `dutywatch report` makes it: the
    month's figures and five months before it for the trend, every duty due in each."""
    service = start()
    try:
        loaded = service.loaded
        with service.sessions() as session:
            started = time.perf_counter()
            report = monthly_report(
                session,
                loaded.rulebook,
                loaded.calendar,
                service.settings,
                period_of("month", local_date(at)),
                loaded.matcher,
                at,
            )
            seconds = time.perf_counter() - started
        return {"report_s": round(seconds, 2), "report_duties": sum(f.due for f in report.units)}
    finally:
        service.close()


def age_alerts(service: Service, at: datetime, months: int = 12) -> int:
    """Give every subject of a pairing alert a resolved alert of each pairing rule for each of its
    periods that ended in the `months` months before `at` (none where a row of that key is kept):
    what a daemon that has run that long keeps. Returns the rows added."""
    day = local_date(at)
    first = (day.replace(day=1) - timedelta(days=1)).replace(day=1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    rules = {
        rule.id: [p.label for p in periods_between(rule.period, first, day) if p.end < day]
        for rule in service.loaded.rulebook
        if rule.obligation == "pairing_activity" and rule.period is not None
    }
    added = 0
    with service.sessions() as session:
        subjects = sorted(
            session.scalars(select(AlertRecord.subject).where(AlertRecord.rule.in_(sorted(rules))).distinct())
        )
        kept = {
            (r, s, p)
            for r, s, p in session.execute(
                select(AlertRecord.rule, AlertRecord.subject, AlertRecord.period).where(
                    AlertRecord.rule.in_(sorted(rules))
                )
            )
        }
        stamp = at - timedelta(days=30)
        rows = [
            {
                "rule": rule, "subject": subject, "period": period, "state": "resolved", "level": 1,
                "due_at": stamp, "recipients": [], "clause": "", "message": "", "fired_at": stamp,
                "changed_at": stamp, "resolved_at": stamp,
            }
            for subject in subjects
            for rule, periods in rules.items()
            for period in periods
            if (rule, subject, period) not in kept
        ]  # fmt: skip
        for start in range(0, len(rows), 50_000):
            session.execute(insert(AlertRecord), rows[start : start + 50_000])
            added += len(rows[start : start + 50_000])
        session.commit()
    return added


def aged_restart_figures(start: Callable[[], Service], at: datetime) -> dict[str, Any]:
    """`restart_figures` again after `age_alerts` gave the database a year of resolved pairing
    alerts (the restart's full tick reads the stored rows of the keys it compares)."""
    service = start()
    try:
        added = age_alerts(service, at)
    finally:
        service.close()
    figures = restart_figures(start, at)
    return {
        "aged_resolved_alerts": added,
        "tick_restarted_aged_s": figures["tick_restarted_s"],
        "tick_restarted_aged_evaluation_s": figures["tick_restarted_evaluation_s"],
    }
