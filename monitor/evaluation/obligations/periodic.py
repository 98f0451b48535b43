"""Which periods of a recurring duty are in view at an instant, and their due times."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from monitor.calendar.working_days import CalendarNotCovered
from monitor.clock import end_of_day, local_date, past_due, start_of_day
from monitor.evaluation.obligations.timing import Timing
from monitor.periods import Period, PeriodKind, period_of
from monitor.rulebook import Rule

MAX_PERIODS_BACK = 36


def period_due(rule: Rule, period: Period, timing: Timing) -> tuple[datetime, int | None]:
    """A period duty is due at the end of its last day (23:59:59); a monthly notice by the end
    of the Nth working day of the next period. With the due time comes the year whose missing
    calendar makes it a lower bound only (strict mode), else None."""
    if rule.obligation == "unit_report" and rule.due_working_days is not None:
        try:
            return timing.end_of(timing.calendar.add_workdays(period.end, rule.due_working_days)), None
        except CalendarNotCovered as missing:
            return timing.gap_floor(end_of_day(period.end), missing.year), missing.year
    return end_of_day(period.end), None


def in_view_until_due(rule: Rule) -> bool:
    """Whether each duty of the rule is due at the end of its period (a pairing's or a unit's
    activity): every period ends with a month, and a period leaves the view only when it has
    expired after its due time, so each tick's view holds every duty of the rule due in its month.
    A monthly notice (`unit_report`) is due days into the next period, and may have expired."""
    return rule.period is not None and rule.obligation in ("pairing_activity", "unit_activity")


def periods_in_view(
    rule: Rule,
    now: datetime,
    timing: Timing,
    due_from: datetime | None = None,
    due_before: datetime | None = None,
) -> list[tuple[Period, datetime, int | None]]:
    """The current period and every earlier one whose alerts have not expired, newest first.

    A period whose expiry cannot be told because the calendar lacks its year is kept in view, and
    so is one due at or after `due_from` (a report's month), expired or not. One due at or after
    `due_before` (the end of a report's month) is left out: a report of July made in December
    needs none of August's to December's periods.
    """
    assert rule.period is not None
    kind: PeriodKind = rule.period
    out: list[tuple[Period, datetime, int | None]] = []
    period = period_of(kind, local_date(now))
    if rule.obligation == "unit_report":
        # a monthly notice for this month is due next month: nothing to say about it yet
        period = period.previous()
    for _ in range(MAX_PERIODS_BACK):
        if start_of_day(period.start) > now:
            period = period.previous()
            continue
        due, gap = period_due(rule, period, timing)
        if due_before is not None and due >= due_before:  # a lower bound (gap) too: due later
            period = period.previous()
            continue
        kept = due_from is not None and due >= due_from
        expire = rule.expire_working_days
        if (
            gap is None
            and not kept
            and expire is not None
            and past_due(now, due)
            and timing.overdue_known(now, due)[0] > expire
        ):
            break
        out.append((period, due, gap))
        period = period.previous()
    return out


def utc_bounds(period: Period) -> tuple[datetime, datetime]:
    """[start, end) of the period as UTC instants (Shanghai days)."""
    return start_of_day(period.start), start_of_day(period.next().start)


DueFn = Callable[[Period], datetime]
