"""The roster (docs/roster.md): units, officials, enterprises, pairings, projects.

`load_roster` checks each record's own fields; `upsert_roster` checks references against the
file and the database together (a record that names a rejected or unknown one is rejected too)
and writes the good records idempotently. Problems come back as RecordOutcome with the
record's location.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.ingest import values as v
from monitor.ingest.outcome import RecordOutcome, Rejection
from monitor.store.changes import note_everything
from monitor.store.models import Enterprise, Official, Pairing, Project, ProjectItem, Unit

SECTIONS = ("units", "officials", "enterprises", "pairings", "projects")
UNIT_KINDS = ("department", "town", "street", "park")
ROLES = ("district_leader", "unit_head", "staff", "project_manager")
FIELDS: dict[str, tuple[str, ...]] = {
    "units": ("id", "name", "kind", "head", "leader", "parent", "indicator_lead"),
    "officials": ("id", "name", "unit", "role", "email", "phone"),
    "enterprises": ("id", "name", "town", "above_scale"),
    "pairings": ("official", "unit", "enterprise", "from", "to"),
    "projects": ("id", "name", "leader", "unit", "manager", "items"),
}
Locate = Callable[[Sequence[str | int]], str]


@dataclass(frozen=True)
class Item:
    id: str
    name: str
    due: date


@dataclass(frozen=True)
class RosterRecord:
    section: str
    ref: str
    values: dict[str, Any]
    items: tuple[Item, ...] = ()

    @property
    def key(self) -> str:
        if self.section == "pairings":
            owner = self.values.get("official") or self.values.get("unit")
            return f"{owner}:{self.values['enterprise']}:{self.values['from']}"
        return str(self.values["id"])


@dataclass
class Roster:
    records: list[RosterRecord] = field(default_factory=list)

    def section(self, name: str) -> list[RosterRecord]:
        return [r for r in self.records if r.section == name]


def _optional(record: dict[str, Any], name: str) -> Any:
    value = record.get(name)
    return None if value in (None, "") else value


def _optional_ident(record: dict[str, Any], name: str) -> str | None:
    return v.ident(record[name], name) if _optional(record, name) is not None else None


def _check_unit(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": v.ident(record.get("id"), "id"),
        "name": v.name(record.get("name"), "name", limit=200),
        "kind": v.choice(record.get("kind"), "kind", UNIT_KINDS),
    }
    for ref in ("head", "leader", "parent"):
        out[ref] = _optional_ident(record, ref)
    out["indicator_lead"] = v.boolean(record.get("indicator_lead", False), "indicator_lead")
    return out


def _email(record: dict[str, Any]) -> str | None:
    email = _optional(record, "email")
    if email is None:
        return None
    if "@" not in str(email) or " " in str(email).strip():
        raise Rejection("email", f"not an email address: {email!r}")
    return v.name(email, "email", limit=200)


def _phone(record: dict[str, Any]) -> str | None:
    """The number's digits: dashes, spaces and the +86 prefix dropped, 7 to 15 digits left."""
    phone = _optional(record, "phone")
    if phone is None:
        return None
    digits = str(phone).replace("-", "").replace(" ", "").removeprefix("+86")
    if not digits.isdigit() or not 7 <= len(digits) <= 15:
        raise Rejection("phone", f"not a phone number: {phone!r}")
    return digits


def _check_official(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": v.ident(record.get("id"), "id"),
        "name": v.name(record.get("name"), "name", limit=100),
        "unit": _optional_ident(record, "unit"),
        "role": v.choice(record.get("role"), "role", ROLES),
        "email": _email(record),
        "phone": _phone(record),
    }


def _check_enterprise(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": v.credit_code(record.get("id"), "id"),
        "name": v.name(record.get("name"), "name", limit=200),
        "town": v.name(record["town"], "town", limit=100) if _optional(record, "town") is not None else None,
        "above_scale": v.boolean(record.get("above_scale", False), "above_scale"),
    }


def _check_pairing(record: dict[str, Any]) -> dict[str, Any]:
    """An enterprise paired with an official or a unit (exactly one) from a day, to a later one."""
    has_official = _optional(record, "official") is not None
    if has_official == (_optional(record, "unit") is not None):
        raise Rejection("official", "give exactly one of official or unit")
    out: dict[str, Any] = {
        "official": v.ident(record["official"], "official") if has_official else None,
        "unit": None if has_official else v.ident(record["unit"], "unit"),
        "enterprise": v.credit_code(record.get("enterprise"), "enterprise"),
        "from": v.day(record.get("from"), "from"),
        "to": v.day(record["to"], "to") if _optional(record, "to") is not None else None,
    }
    if out["to"] is not None and out["to"] < out["from"]:
        raise Rejection("to", "a pairing cannot end before it begins")
    return out


def _check_project(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": v.ident(record.get("id"), "id"),
        "name": v.name(record.get("name"), "name", limit=200),
    }
    for ref in ("leader", "unit", "manager"):
        out[ref] = _optional_ident(record, ref)
    return out


def _project_item(i: int, item: object) -> Item:
    if not isinstance(item, dict):
        raise Rejection(f"items[{i}]", "must be a mapping with id, name and due")
    extra = set(item) - {"id", "name", "due"}
    if extra:
        raise Rejection(f"items[{i}].{sorted(extra)[0]}", "unknown field in a project item")
    due = v.day(item.get("due"), f"items[{i}].due")
    v.due_by(due, f"items[{i}].due")
    return Item(
        v.ident(item.get("id"), f"items[{i}].id"),
        v.name(item.get("name"), f"items[{i}].name", limit=200),
        due,
    )


def _project_items(record: dict[str, Any]) -> tuple[Item, ...]:
    """A project's items: a list of {id, name, due}, no two with one id."""
    raw_items = record.get("items") or []
    if not isinstance(raw_items, list):
        raise Rejection("items", "must be a list of {id, name, due}")
    parsed = tuple(_project_item(i, item) for i, item in enumerate(raw_items))
    if len({i.id for i in parsed}) != len(parsed):
        raise Rejection("items", "two items share an id")
    return parsed


# The checks of each section's own fields, in the order they are reported.
_CHECKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "units": _check_unit,
    "officials": _check_official,
    "enterprises": _check_enterprise,
    "pairings": _check_pairing,
    "projects": _check_project,
}


def _check(section: str, record: dict[str, Any]) -> tuple[dict[str, Any], tuple[Item, ...]]:
    """The record's own fields, normalised; raises Rejection."""
    for name in record:
        if name not in FIELDS[section]:
            raise Rejection(name, f"unknown field in {section}")
    out = _CHECKS[section](record)
    items = _project_items(record) if section == "projects" else ()
    return out, items


def load_roster(data: object, ref: str, locate: Locate | None = None) -> tuple[Roster, list[RecordOutcome]]:
    """Check each record's own fields. `locate` maps a path in the data to `file:line`."""
    where: Locate = locate or (lambda path: f"{ref}:{'.'.join(str(p) for p in path)}")
    roster = Roster()
    problems: list[RecordOutcome] = []
    if not isinstance(data, dict):
        return roster, [RecordOutcome(ref, None, "rejected", None, "a roster is a mapping of sections")]
    for section, records in data.items():
        if section not in SECTIONS:
            problems.append(
                RecordOutcome(where((section,)), None, "rejected", section, "unknown roster section")
            )
            continue
        if records is None:
            continue
        if not isinstance(records, list):
            problems.append(RecordOutcome(where((section,)), None, "rejected", section, "must be a list"))
            continue
        for i, record in enumerate(records):
            loc = where((section, i))
            if not isinstance(record, dict):
                problems.append(RecordOutcome(loc, None, "rejected", None, "a record must be a mapping"))
                continue
            try:
                values, items = _check(section, record)
            except Rejection as exc:
                rid = record.get("id")
                problems.append(
                    RecordOutcome(
                        loc,
                        str(rid) if rid is not None else None,
                        "rejected",
                        f"{section}[{i}].{exc.field}",
                        exc.reason,
                    )
                )
                continue
            roster.records.append(RosterRecord(section, loc, values, items))
    return roster, problems


# The references of each section's records, in the order they are checked: (field, kind named).
_REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "units": (("head", "official"), ("leader", "official"), ("parent", "unit")),
    "officials": (("unit", "unit"),),
    "enterprises": (),
    "pairings": (("official", "official"), ("unit", "unit"), ("enterprise", "enterprise")),
    "projects": (("leader", "official"), ("unit", "unit"), ("manager", "official")),
}


@dataclass(frozen=True)
class _Stored:
    """What the database holds already, that a roster's records may name."""

    units: dict[str, str] = field(default_factory=dict)  # names by id
    officials: set[str] = field(default_factory=set)
    enterprises: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, session: Session | None) -> _Stored:
        if session is None:
            return cls()
        return cls(
            dict(session.execute(select(Unit.id, Unit.name)).all()),
            set(session.scalars(select(Official.id))),
            set(session.scalars(select(Enterprise.id))),
        )


@dataclass(frozen=True)
class _Resolvable:
    """What a record may name: the database's records and the roster's still kept."""

    stored: _Stored
    by_kind: dict[str, set[str] | dict[str, str]]
    unit_names: dict[str, str]  # the first kept unit of each name

    @classmethod
    def of(cls, stored: _Stored, kept: list[RosterRecord]) -> _Resolvable:
        units = [r.values for r in kept if r.section == "units"]
        names: dict[str, str] = {}
        for unit in units:
            names.setdefault(unit["name"], unit["id"])
        return cls(
            stored,
            {
                "unit": stored.units | {u["id"]: u["name"] for u in units},
                "official": stored.officials | {r.values["id"] for r in kept if r.section == "officials"},
                "enterprise": stored.enterprises
                | {r.values["id"] for r in kept if r.section == "enterprises"},
            },
            names,
        )

    def name_taken(self, unit: dict[str, Any]) -> tuple[str, str] | None:
        """A unit's name is its own: no other unit of the roster or the database has it."""
        owner = self.unit_names.get(unit["name"])
        db_owner = next((uid for uid, n in self.stored.units.items() if n == unit["name"]), None)
        if owner != unit["id"] or (db_owner is not None and db_owner != unit["id"]):
            return "name", f"unit name {unit['name']!r} is already used by another unit"
        return None

    def unknown_reference(self, record: RosterRecord) -> tuple[str, str] | None:
        """The first reference that names no record of its kind."""
        for name, kind in _REFERENCES[record.section]:
            value = record.values[name]
            if value is not None and value not in self.by_kind[kind]:
                return name, f"unknown {kind} {value!r}"
        return None

    def problem(self, record: RosterRecord) -> tuple[str, str] | None:
        if record.section == "units" and (taken := self.name_taken(record.values)) is not None:
            return taken
        return self.unknown_reference(record)


def _first_definitions(records: list[RosterRecord]) -> tuple[list[RosterRecord], list[RecordOutcome]]:
    """Each record once: a later one with the same section and key is refused, naming the first."""
    seen_keys: dict[tuple[str, str], str] = {}
    unique: list[RosterRecord] = []
    problems: list[RecordOutcome] = []
    for record in records:
        key = (record.section, record.key)
        if key in seen_keys:
            problems.append(
                RecordOutcome(record.ref, record.key, "rejected", "id", f"also defined at {seen_keys[key]}")
            )
            continue
        seen_keys[key] = record.ref
        unique.append(record)
    return unique, problems


def check_references(roster: Roster, session: Session | None = None) -> tuple[Roster, list[RecordOutcome]]:
    """Keep the records whose references resolve (in the roster or the database), repeatedly, so
    that a record naming a rejected one is rejected too."""
    stored = _Stored.load(session)
    kept, problems = _first_definitions(list(roster.records))
    while True:
        resolvable = _Resolvable.of(stored, kept)
        rejected = [(r, problem) for r in kept if (problem := resolvable.problem(r)) is not None]
        if not rejected:
            break
        for record, (name, reason) in rejected:
            problems.append(
                RecordOutcome(record.ref, record.key, "rejected", f"{record.section}.{name}", reason)
            )
        gone = {id(r) for r, _ in rejected}
        kept = [r for r in kept if id(r) not in gone]
    return Roster(kept), problems


def _write_unit(session: Session, record: RosterRecord) -> None:
    vals = record.values
    session.merge(
        Unit(
            id=vals["id"],
            name=vals["name"],
            kind=vals["kind"],
            head_id=vals["head"],
            leader_id=vals["leader"],
            parent_id=vals["parent"],
            indicator_lead=vals["indicator_lead"],
        )
    )


def _write_official(session: Session, record: RosterRecord) -> None:
    vals = record.values
    session.merge(
        Official(
            id=vals["id"],
            name=vals["name"],
            unit_id=vals["unit"],
            role=vals["role"],
            email=vals["email"],
            phone=vals["phone"],
        )
    )


def _write_enterprise(session: Session, record: RosterRecord) -> None:
    vals = record.values
    session.merge(
        Enterprise(id=vals["id"], name=vals["name"], town=vals["town"], above_scale=vals["above_scale"])
    )


def _write_pairing(session: Session, record: RosterRecord) -> None:
    """A pairing is known by its owner, enterprise and start: a known one takes the new end."""
    vals = record.values
    owner = f"official:{vals['official']}" if vals["official"] else f"unit:{vals['unit']}"
    existing = session.scalar(
        select(Pairing).where(
            Pairing.owner == owner,
            Pairing.enterprise_id == vals["enterprise"],
            Pairing.start == vals["from"],
        )
    )
    if existing is not None:
        existing.end = vals["to"]
        return
    session.add(
        Pairing(
            owner=owner,
            official_id=vals["official"],
            unit_id=vals["unit"],
            enterprise_id=vals["enterprise"],
            start=vals["from"],
            end=vals["to"],
        )
    )


def _write_project(session: Session, record: RosterRecord) -> None:
    """The project, then its items: new ones added, known ones renamed and rescheduled."""
    vals = record.values
    session.merge(
        Project(
            id=vals["id"],
            name=vals["name"],
            leader_id=vals["leader"],
            unit_id=vals["unit"],
            manager_id=vals["manager"],
        )
    )
    session.flush()
    for item in record.items:
        found = session.get(ProjectItem, (vals["id"], item.id))
        if found is None:
            session.add(ProjectItem(project_id=vals["id"], id=item.id, name=item.name, due=item.due))
        else:
            found.name = item.name
            found.due = item.due


_WRITERS: dict[str, Callable[[Session, RosterRecord], None]] = {
    "units": _write_unit,
    "officials": _write_official,
    "enterprises": _write_enterprise,
    "pairings": _write_pairing,
    "projects": _write_project,
}


def upsert_roster(session: Session, roster: Roster) -> list[RecordOutcome]:
    """Write the roster's records whose references resolve; returns an outcome per record."""
    checked, problems = check_references(roster, session)
    outcomes: list[RecordOutcome] = list(problems)
    if checked.records:
        note_everything(session)
    for record in checked.records:
        _WRITERS[record.section](session, record)
        outcomes.append(RecordOutcome(record.ref, record.key, "accepted"))
    session.flush()
    return outcomes
