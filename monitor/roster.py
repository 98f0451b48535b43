"""The roster as evaluation sees it: names for messages and the people behind each role.

Loaded once per evaluation (units, officials, enterprises and projects are small next to
events); pairings stay in SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.store.models import Enterprise, Official, Project, Unit

BUSINESS_OFFICE = "区营商办"
CONDUCT_OFFICE = "区作风办"


@dataclass(frozen=True)
class RosterIndex:
    units: dict[str, Unit]
    officials: dict[str, Official]
    enterprise_names: dict[str, str]
    projects: dict[str, Project]
    unit_by_name: dict[str, str]
    district_leaders: tuple[str, ...]
    # answers by owner: a city's fifty thousand alerts name a few thousand owners
    _names: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    _people: dict[tuple[tuple[str, ...], str, str | None], tuple[str, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def load(cls, session: Session) -> RosterIndex:
        units = {u.id: u for u in session.scalars(select(Unit))}
        officials = {o.id: o for o in session.scalars(select(Official))}
        enterprises = dict(session.execute(select(Enterprise.id, Enterprise.name)).all())
        projects = {p.id: p for p in session.scalars(select(Project))}
        leaders = tuple(sorted(o.id for o in officials.values() if o.role == "district_leader"))
        return cls(units, officials, enterprises, projects, {u.name: u.id for u in units.values()}, leaders)

    def units_named(self, names: Iterable[str]) -> list[str]:
        """Unit ids for the policy's unit names, matched exactly; names not in the roster are skipped."""
        return [self.unit_by_name[n] for n in names if n in self.unit_by_name]

    def owner_name(self, owner: str) -> str:
        name = self._names.get(owner)
        if name is None:
            name = self._names[owner] = self._owner_name(owner)
        return name

    def _owner_name(self, owner: str) -> str:
        kind, _, ident = owner.partition(":")
        if kind == "official" and ident in self.officials:
            official = self.officials[ident]
            unit = self.units.get(official.unit_id or "")
            return f"{unit.name}{official.name}" if unit else official.name
        if kind == "unit" and ident in self.units:
            return self.units[ident].name
        return ident

    def unit_of(self, owner: str) -> str | None:
        kind, _, ident = owner.partition(":")
        if kind == "unit":
            return ident
        official = self.officials.get(ident)
        return official.unit_id if official else None

    def _head(self, unit_id: str | None) -> list[str]:
        if unit_id is None:
            return []
        unit = self.units.get(unit_id)
        if unit is None:
            return []
        return [unit.head_id] if unit.head_id else [f"unit:{unit_id}"]

    def _office(self, name: str) -> list[str]:
        unit_id = self.unit_by_name.get(name)
        return self._head(unit_id) if unit_id else []

    def _leader(self, unit_id: str | None) -> list[str]:
        unit = self.units.get(unit_id or "")
        if unit is not None and unit.leader_id:
            return [unit.leader_id]
        return list(self.district_leaders)

    def recipients(self, roles: Iterable[str], owner: str, project_id: str | None = None) -> list[str]:
        """Official ids (or `unit:<id>` for a unit with no head) for the roles, in order, once each."""
        key = (tuple(roles), owner, project_id)
        found = self._people.get(key)
        if found is None:
            found = self._people[key] = tuple(self._recipients(key[0], owner, project_id))
        return list(found)

    def _recipients(self, roles: tuple[str, ...], owner: str, project_id: str | None) -> list[str]:
        owing = Owing(owner, self.unit_of(owner), self.projects.get(project_id or ""))
        out: list[str] = []
        for role in roles:
            resolve = ROLE_PEOPLE.get(role)
            for person in resolve(self, owing) if resolve is not None else []:
                if person not in out:
                    out.append(person)
        # a roster without the office a role names (another district's shape): someone must hear
        return out or self._anyone(owing.unit_id)

    def _anyone(self, unit_id: str | None) -> list[str]:
        return list(self.district_leaders) or ([f"unit:{unit_id}"] if unit_id else [])

    def _owner_person(self, owing: Owing) -> list[str]:
        """The official who owes the duty, or the head of the owing unit."""
        if owing.owner.startswith("official:"):
            return [owing.owner.partition(":")[2]]
        return self._head(owing.unit_id)

    def _project_leader(self, owing: Owing) -> list[str]:
        project = owing.project
        return [project.leader_id] if project and project.leader_id else self._leader(None)


@dataclass(frozen=True)
class Owing:
    """Who owes a duty, as the roles are resolved against: the owner (`official:<id>` or
    `unit:<id>`), the owing unit, and the project the duty is about, if any."""

    owner: str
    unit_id: str | None
    project: Project | None


# each role of a rule's ladder (monitor/rulebook.py) and the people it names for a duty
ROLE_PEOPLE: dict[str, Callable[[RosterIndex, Owing], list[str]]] = {
    "owner": RosterIndex._owner_person,
    "unit_head": lambda roster, owing: roster._head(owing.unit_id),
    "business_office": lambda roster, _: roster._office(BUSINESS_OFFICE),
    "conduct_office": lambda roster, _: roster._office(CONDUCT_OFFICE),
    "district_leader": lambda roster, owing: roster._leader(owing.unit_id),
    "project_manager": lambda _, owing: (
        [owing.project.manager_id] if owing.project and owing.project.manager_id else []
    ),
    "project_unit_head": lambda roster, owing: roster._head(owing.project.unit_id) if owing.project else [],
    "project_leader": RosterIndex._project_leader,
}
