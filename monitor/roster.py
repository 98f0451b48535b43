"""The roster as evaluation sees it: names for messages and the people behind each role.

Loaded once per evaluation (units, officials, enterprises and projects are small next to
events); pairings stay in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable
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
        out: list[str] = []
        unit_id = self.unit_of(owner)
        project = self.projects.get(project_id or "")
        for role in roles:
            if role == "owner":
                found = [owner.partition(":")[2]] if owner.startswith("official:") else self._head(unit_id)
            elif role == "unit_head":
                found = self._head(unit_id)
            elif role == "business_office":
                found = self._office(BUSINESS_OFFICE)
            elif role == "conduct_office":
                found = self._office(CONDUCT_OFFICE)
            elif role == "district_leader":
                found = self._leader(unit_id)
            elif role == "project_manager":
                found = [project.manager_id] if project and project.manager_id else []
            elif role == "project_unit_head":
                found = self._head(project.unit_id) if project else []
            elif role == "project_leader":
                found = [project.leader_id] if project and project.leader_id else self._leader(None)
            else:
                found = []
            for person in found:
                if person not in out:
                    out.append(person)
        if not out:
            # a roster without the office a role names (another district's shape): someone must hear
            out = list(self.district_leaders) or ([f"unit:{unit_id}"] if unit_id else [])
        return out
