"""Recurring duties of each pairing: monthly contact and visit, half-yearly briefing, yearly
matchmaking (制度三、四). One query per (rule, period) over all pairings at once."""

from __future__ import annotations

from sqlalchemy import and_, func, or_, select

from monitor.evaluation.obligations import Obligation, View, joined_within, within
from monitor.evaluation.obligations.periodic import periods_in_view, utc_bounds
from monitor.rulebook import Rule
from monitor.store.models import Activity, Pairing


def pairing_subject(owner: str, enterprise_id: str) -> str:
    return f"pairing:{owner.partition(':')[2]}:{enterprise_id}"


def pairing_obligations(view: View, rule: Rule) -> list[Obligation]:
    session, now, timing, roster, unchanged = view.session, view.now, view.timing, view.roster, view.unchanged
    out: list[Obligation] = []
    seen: set[tuple[str, str]] = set()
    for period, due, _gap in periods_in_view(
        rule, now, timing, view.due_from, view.due_before
    ):  # calendar dates: no gap
        start, end = utc_bounds(period)
        label = period.label  # one string for the period's every duty (a property, built per call)
        fulfils = and_(
            Activity.enterprise_id == Pairing.enterprise_id,
            Activity.type.in_(rule.fulfilled_by.events),
            Activity.at >= start,
            Activity.at < end,
            Activity.at <= now,
            *joined_within(Activity.enterprise_id, view.enterprises),
            or_(
                and_(Pairing.official_id.is_not(None), Activity.official_id == Pairing.official_id),
                and_(Pairing.official_id.is_(None), Activity.unit_id == Pairing.unit_id),
            ),
        )
        if rule.fulfilled_by.talked_with_head:
            fulfils = and_(fulfils, Activity.talked_with_head.is_(True))
        query = (
            select(
                Pairing.owner,
                Pairing.enterprise_id,
                Pairing.unit_id,
                Pairing.official_id,
                func.min(Activity.at),
            )
            .select_from(Pairing)
            .outerjoin(Activity, fulfils)
            # a pairing owes the duties of the periods it covers in full
            .where(Pairing.start <= period.start, or_(Pairing.end.is_(None), Pairing.end >= period.end))
            .group_by(Pairing.owner, Pairing.enterprise_id, Pairing.unit_id, Pairing.official_id)
        )
        query = query.where(*within(Pairing.enterprise_id, view.enterprises))
        for owner, enterprise_id, unit_id, official_id, met_at in session.execute(query):
            subject = pairing_subject(owner, enterprise_id)
            if (subject, label) in seen:
                continue
            seen.add((subject, label))
            if official_id is not None:
                official = roster.officials.get(official_id)
                unit_id = official.unit_id if official else unit_id
            if unchanged is not None and unchanged.keeps(rule, subject, label, unit_id, due, met_at):
                continue  # as stored, and quiet
            out.append(
                Obligation(
                    rule=rule.id,
                    subject=subject,
                    period=label,
                    owner=owner,
                    unit_id=unit_id,
                    due_at=due,
                    met_at=met_at,
                    variables={
                        "owner_name": roster.owner_name(owner),
                        "enterprise_name": roster.enterprise_names.get(enterprise_id, enterprise_id),
                    },
                )
            )
    return out
