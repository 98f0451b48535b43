"""Bad reviews (差评) rectified within the limit (制度二)."""

from __future__ import annotations

from sqlalchemy import or_, select

from monitor.clock import plain_minute
from monitor.evaluation.obligations import Obligation, View
from monitor.evaluation.obligations.cases import met_since
from monitor.rulebook import Rule
from monitor.store.models import Review


def review_obligations(view: View, rule: Rule) -> list[Obligation]:
    now = view.now
    assert rule.applies_to.max_rating is not None and rule.due_working_days is not None
    query = select(Review.id, Review.unit_id, Review.rating, Review.at, Review.rectified_at).where(
        Review.rating <= rule.applies_to.max_rating,
        Review.at <= now,
        or_(Review.rectified_at.is_(None), Review.rectified_at > met_since(view)),
    )
    out: list[Obligation] = []
    for review_id, unit_id, rating, at, rectified_at in view.session.execute(query):
        unit = view.roster.units.get(unit_id)
        due, gap = view.timing.deadline_or_gap(at, rule.due_working_days)
        out.append(
            Obligation(
                rule=rule.id,
                subject=f"review:{review_id}",
                period=None,
                owner=f"unit:{unit_id}",
                unit_id=unit_id,
                due_at=due,
                calendar_gap=gap,
                met_at=rectified_at if rectified_at is not None and rectified_at <= now else None,
                variables={
                    "review_id": review_id,
                    "rating": rating,
                    "received": plain_minute(at),
                    "unit_name": unit.name if unit else unit_id,
                    "owner_name": unit.name if unit else unit_id,
                },
            )
        )
    return out
