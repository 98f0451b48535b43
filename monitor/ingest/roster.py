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


def _check(section: str, record: dict[str, Any]) -> tuple[dict[str, Any], tuple[Item, ...]]:
    """The record's own fields, normalised; raises Rejection."""
    for name in record:
        if name not in FIELDS[section]:
            raise Rejection(name, f"unknown field in {section}")
    out: dict[str, Any] = {}
    items: tuple[Item, ...] = ()
    if section == "units":
        out["id"] = v.ident(record.get("id"), "id")
        out["name"] = v.name(record.get("name"), "name", limit=200)
        out["kind"] = v.choice(record.get("kind"), "kind", UNIT_KINDS)
        for ref in ("head", "leader", "parent"):
            out[ref] = v.ident(record[ref], ref) if _optional(record, ref) is not None else None
        out["indicator_lead"] = v.boolean(record.get("indicator_lead", False), "indicator_lead")
    elif section == "officials":
        out["id"] = v.ident(record.get("id"), "id")
        out["name"] = v.name(record.get("name"), "name", limit=100)
        out["unit"] = v.ident(record[("unit")], "unit") if _optional(record, "unit") is not None else None
        out["role"] = v.choice(record.get("role"), "role", ROLES)
        email = _optional(record, "email")
        if email is not None and ("@" not in str(email) or " " in str(email).strip()):
            raise Rejection("email", f"not an email address: {email!r}")
        out["email"] = v.name(email, "email", limit=200) if email is not None else None
        phone = _optional(record, "phone")
        if phone is not None:
            digits = str(phone).replace("-", "").replace(" ", "").removeprefix("+86")
            if not digits.isdigit() or not 7 <= len(digits) <= 15:
                raise Rejection("phone", f"not a phone number: {phone!r}")
            out["phone"] = digits
        else:
            out["phone"] = None
    elif section == "enterprises":
        out["id"] = v.credit_code(record.get("id"), "id")
        out["name"] = v.name(record.get("name"), "name", limit=200)
        out["town"] = (
            v.name(record["town"], "town", limit=100) if _optional(record, "town") is not None else None
        )
        out["above_scale"] = v.boolean(record.get("above_scale", False), "above_scale")
    elif section == "pairings":
        has_official = _optional(record, "official") is not None
        if has_official == (_optional(record, "unit") is not None):
            raise Rejection("official", "give exactly one of official or unit")
        out["official"] = v.ident(record["official"], "official") if has_official else None
        out["unit"] = None if has_official else v.ident(record["unit"], "unit")
        out["enterprise"] = v.credit_code(record.get("enterprise"), "enterprise")
        out["from"] = v.day(record.get("from"), "from")
        out["to"] = v.day(record["to"], "to") if _optional(record, "to") is not None else None
        if out["to"] is not None and out["to"] < out["from"]:
            raise Rejection("to", "a pairing cannot end before it begins")
    elif section == "projects":
        out["id"] = v.ident(record.get("id"), "id")
        out["name"] = v.name(record.get("name"), "name", limit=200)
        for ref in ("leader", "unit", "manager"):
            out[ref] = v.ident(record[ref], ref) if _optional(record, ref) is not None else None
        raw_items = record.get("items") or []
        if not isinstance(raw_items, list):
            raise Rejection("items", "must be a list of {id, name, due}")
        parsed: list[Item] = []
        for i, item in enumerate(raw_items):
            if not isinstance(item, dict):
                raise Rejection(f"items[{i}]", "must be a mapping with id, name and due")
            extra = set(item) - {"id", "name", "due"}
            if extra:
                raise Rejection(f"items[{i}].{sorted(extra)[0]}", "unknown field in a project item")
            parsed.append(
                Item(
                    v.ident(item.get("id"), f"items[{i}].id"),
                    v.name(item.get("name"), f"items[{i}].name", limit=200),
                    v.day(item.get("due"), f"items[{i}].due"),
                )
            )
        if len({i.id for i in parsed}) != len(parsed):
            raise Rejection("items", "two items share an id")
        items = tuple(parsed)
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


def check_references(roster: Roster, session: Session | None = None) -> tuple[Roster, list[RecordOutcome]]:
    """Keep the records whose references resolve (in the roster or the database), repeatedly, so
    that a record naming a rejected one is rejected too."""
    db_units: dict[str, str] = {}
    db_officials: set[str] = set()
    db_enterprises: set[str] = set()
    if session is not None:
        db_units = dict(session.execute(select(Unit.id, Unit.name)).all())
        db_officials = set(session.scalars(select(Official.id)))
        db_enterprises = set(session.scalars(select(Enterprise.id)))
    kept = list(roster.records)
    problems: list[RecordOutcome] = []
    seen_keys: dict[tuple[str, str], str] = {}
    unique: list[RosterRecord] = []
    for record in kept:
        key = (record.section, record.key)
        if key in seen_keys:
            problems.append(
                RecordOutcome(record.ref, record.key, "rejected", "id", f"also defined at {seen_keys[key]}")
            )
            continue
        seen_keys[key] = record.ref
        unique.append(record)
    kept = unique
    while True:
        units = db_units | {r.values["id"]: r.values["name"] for r in kept if r.section == "units"}
        officials = db_officials | {r.values["id"] for r in kept if r.section == "officials"}
        enterprises = db_enterprises | {r.values["id"] for r in kept if r.section == "enterprises"}
        names: dict[str, str] = {}
        for record in kept:
            if record.section == "units":
                names.setdefault(record.values["name"], record.values["id"])
        rejected: list[tuple[RosterRecord, str, str]] = []
        for record in kept:
            vals = record.values
            problem: tuple[str, str] | None = None
            refs: list[tuple[str, Any, set[str] | dict[str, str]]] = []
            if record.section == "units":
                refs = [
                    ("head", vals["head"], officials),
                    ("leader", vals["leader"], officials),
                    ("parent", vals["parent"], units),
                ]
                owner = names.get(vals["name"])
                db_owner = next((uid for uid, n in db_units.items() if n == vals["name"]), None)
                if owner != vals["id"] or (db_owner is not None and db_owner != vals["id"]):
                    problem = ("name", f"unit name {vals['name']!r} is already used by another unit")
            elif record.section == "officials":
                refs = [("unit", vals["unit"], units)]
            elif record.section == "pairings":
                refs = [
                    ("official", vals["official"], officials),
                    ("unit", vals["unit"], units),
                    ("enterprise", vals["enterprise"], enterprises),
                ]
            elif record.section == "projects":
                refs = [
                    ("leader", vals["leader"], officials),
                    ("unit", vals["unit"], units),
                    ("manager", vals["manager"], officials),
                ]
            for name, value, pool in refs:
                if problem is None and value is not None and value not in pool:
                    problem = (
                        name,
                        f"unknown {'unit' if name in ('unit', 'parent') else 'enterprise' if name == 'enterprise' else 'official'} {value!r}",
                    )
            if problem is not None:
                rejected.append((record, *problem))
        if not rejected:
            break
        for record, name, reason in rejected:
            problems.append(
                RecordOutcome(record.ref, record.key, "rejected", f"{record.section}.{name}", reason)
            )
        gone = {id(r) for r, _, _ in rejected}
        kept = [r for r in kept if id(r) not in gone]
    return Roster(kept), problems


def upsert_roster(session: Session, roster: Roster) -> list[RecordOutcome]:
    """Write the roster's records whose references resolve; returns an outcome per record."""
    checked, problems = check_references(roster, session)
    outcomes: list[RecordOutcome] = list(problems)
    if checked.records:
        note_everything(session)
    for record in checked.records:
        vals = record.values
        if record.section == "units":
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
        elif record.section == "officials":
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
        elif record.section == "enterprises":
            session.merge(
                Enterprise(
                    id=vals["id"], name=vals["name"], town=vals["town"], above_scale=vals["above_scale"]
                )
            )
        elif record.section == "pairings":
            owner = f"official:{vals['official']}" if vals["official"] else f"unit:{vals['unit']}"
            existing = session.scalar(
                select(Pairing).where(
                    Pairing.owner == owner,
                    Pairing.enterprise_id == vals["enterprise"],
                    Pairing.start == vals["from"],
                )
            )
            if existing is None:
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
            else:
                existing.end = vals["to"]
        elif record.section == "projects":
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
        outcomes.append(RecordOutcome(record.ref, record.key, "accepted"))
    session.flush()
    return outcomes
