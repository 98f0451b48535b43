"""Recurring duties of units: forums, salons, coordination meetings (制度三、五) and the monthly
notices on bad reviews and hotline orders (制度二、七)."""

from __future__ import annotations

from sqlalchemy import func, select

from monitor.evaluation.obligations import Obligation, View
from monitor.evaluation.obligations.periodic import periods_in_view, utc_bounds
from monitor.roster import RosterIndex
from monitor.rulebook import Rule
from monitor.store.models import Activity


def duty_units(rule: Rule, roster: RosterIndex) -> list[str]:
    """The units a unit duty applies to: named ones (exact Chinese names) and indicator leads."""
    ids = roster.units_named(rule.applies_to.unit_names)
    if rule.applies_to.indicator_leads:
        ids += [u.id for u in roster.units.values() if u.indicator_lead and u.id not in ids]
    return ids


def unit_obligations(view: View, rule: Rule) -> list[Obligation]:
    session, now, timing, roster = view.session, view.now, view.timing, view.roster
    units = duty_units(rule, roster)
    if not units:
        return []
    out: list[Obligation] = []
    for period, due, gap in periods_in_view(rule, now, timing, view.due_from, view.due_before):
        if rule.obligation == "unit_report":
            query = (
                select(Activity.unit_id, func.min(Activity.at))
                .where(
                    Activity.type == "report",
                    Activity.report_kind == rule.fulfilled_by.report_kind,
                    Activity.report_period == period.label,
                    Activity.unit_id.in_(units),
                    Activity.at <= now,
                )
                .group_by(Activity.unit_id)
            )
        else:
            start, end = utc_bounds(period)
            query = (
                select(Activity.unit_id, func.min(Activity.at))
                .where(
                    Activity.type.in_(rule.fulfilled_by.events),
                    Activity.unit_id.in_(units),
                    Activity.at >= start,
                    Activity.at < end,
                    Activity.at <= now,
                )
                .group_by(Activity.unit_id)
            )
        met = dict(session.execute(query).all())
        for unit_id in units:
            out.append(
                Obligation(
                    rule=rule.id,
                    subject=f"unit:{unit_id}",
                    period=period.label,
                    owner=f"unit:{unit_id}",
                    unit_id=unit_id,
                    due_at=due,
                    met_at=met.get(unit_id),
                    calendar_gap=gap,
                    variables={
                        "unit_name": roster.units[unit_id].name,
                        "owner_name": roster.units[unit_id].name,
                    },
                )
            )
    return out
