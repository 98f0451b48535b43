"""Which periods of a recurring duty a view holds: a report's month keeps those due in it however
long expired (`due_from`) and leaves out those due after it (`due_before`), to the second."""

from __future__ import annotations

from datetime import date, time, timedelta

from monitor.calendar.working_days import WorkCalendar
from monitor.clock import end_of_day, parse_instant, start_of_day
from monitor.evaluation.obligations.periodic import periods_in_view
from monitor.evaluation.obligations.timing import Timing
from monitor.rulebook import load_rulebook
from tests.conftest import ROOT

RULEBOOK = load_rulebook(ROOT / "rules")
TIMING = Timing(WorkCalendar(), time(23, 59, 59))
NOW = parse_instant("2024-12-20T18:00")
SECOND = timedelta(seconds=1)


def _labels(rule_id: str, **bounds: object) -> list[str]:
    return [p.label for p, _due, _gap in periods_in_view(RULEBOOK[rule_id], NOW, TIMING, **bounds)]  # type: ignore[arg-type]


def test_a_reports_month_holds_the_periods_due_in_it_and_none_due_after() -> None:
    july, august = start_of_day(date(2024, 7, 1)), start_of_day(date(2024, 8, 1))
    # the tick's view: December, and November until it expires (22 working days after its end)
    assert _labels("pairing-monthly-visit") == ["2024-12", "2024-11"]
    assert _labels("pairing-monthly-visit", due_from=july) == [f"2024-{m:02d}" for m in range(12, 6, -1)]
    assert _labels("pairing-monthly-visit", due_from=july, due_before=august) == ["2024-07"]
    # the second half-year is due at the end of December: not in July's report
    assert _labels("pairing-semiannual-briefing", due_from=july, due_before=august) == []
    december = start_of_day(date(2024, 12, 1))
    assert _labels("pairing-semiannual-briefing", due_from=december) == ["2024-H2"]


def test_a_period_due_in_the_second_before_the_end_is_held_and_one_due_in_it_is_not() -> None:
    july = start_of_day(date(2024, 7, 1))
    due = end_of_day(date(2024, 7, 31))  # July's visits, due at 23:59:59 on the 31st
    assert _labels("pairing-monthly-visit", due_from=july, due_before=due + SECOND) == ["2024-07"]
    assert _labels("pairing-monthly-visit", due_from=july, due_before=due) == []
