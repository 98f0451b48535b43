"""Project checklist items done by their due dates (制度一, three-level responsibility)."""

from __future__ import annotations

from sqlalchemy import or_, select

from monitor.clock import local_date
from monitor.evaluation.obligations import Obligation, View
from monitor.evaluation.obligations.cases import RECENT
from monitor.rulebook import Rule
from monitor.store.models import Project, ProjectItem


def project_item_obligations(view: View, rule: Rule) -> list[Obligation]:
    now = view.now
    in_view = or_(ProjectItem.done_at.is_(None), ProjectItem.done_at > now - RECENT)
    if view.due_from is not None:
        # a report's month counts its items however long ago they were done; an item is due at
        # the end of its date, so dates from due_from's own on cover every item due from then
        in_view = or_(in_view, ProjectItem.due >= local_date(view.due_from))
    query = (
        select(ProjectItem.project_id, ProjectItem.id, ProjectItem.name, ProjectItem.due, ProjectItem.done_at)
        .join(Project, Project.id == ProjectItem.project_id)
        .where(in_view)
    )
    out: list[Obligation] = []
    for project_id, item_id, item_name, due, done_at in view.session.execute(query):
        project = view.roster.projects[project_id]
        manager = project.manager_id
        owner = f"official:{manager}" if manager else f"unit:{project.unit_id}"
        out.append(
            Obligation(
                rule=rule.id,
                subject=f"project:{project_id}:{item_id}",
                period=None,
                owner=owner,
                unit_id=project.unit_id,
                due_at=view.timing.end_of(due),
                met_at=done_at if done_at is not None and done_at <= now else None,
                project_id=project_id,
                variables={
                    "project_name": project.name,
                    "item_name": item_name,
                    "owner_name": view.roster.owner_name(owner),
                },
            )
        )
    return out
