"""Ingest of events (docs/events.md): validate each record, store it once, derive query rows.

`ingest_events` answers per record. A bad record never blocks the good ones beside it;
records are taken in order, so one batch may open a case and then give its feedback. The event
id is the idempotency key: the same id with the same content is a duplicate (no change), with
other content a conflict (rejected). The roster is read once per call, rows are written in bulk;
the caller commits.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from monitor.clock import SHANGHAI, iso_shanghai
from monitor.config import Settings
from monitor.ingest import values as v
from monitor.ingest.bulk import Processed, insert_rows, rows_by_ids
from monitor.ingest.outcome import RecordOutcome, Rejection
from monitor.periods import parse_period
from monitor.store.changes import note_changes
from monitor.store.models import (
    Activity,
    Case,
    CaseEvent,
    Enterprise,
    Event,
    Official,
    ProjectItem,
    Review,
    Unit,
)

CONTACT_CHANNELS = ("phone", "wechat", "platform", "other")
CASE_CHANNELS = ("window", "hotline", "platform", "visit", "forum", "supervisor", "other")
COMPLEXITY = ("simple", "complex", "major")
SATISFACTION = ("satisfied", "basically_satisfied", "unsatisfied")
REPORT_KINDS = ("bad_reviews", "hotline")
MEETINGS = ("forum", "salon", "coordination_meeting")

# Fields each type may carry besides id, type, at and note; True marks the required ones.
FIELDS: dict[str, dict[str, bool]] = {
    "visit": {"official": False, "officials": False, "enterprise": True, "talked_with_head": False},
    "contact": {"official": True, "enterprise": True, "channel": True},
    "policy_briefing": {"official": False, "unit": False, "enterprises": True},
    "matchmaking": {"official": True, "enterprise": True, "partner": True},
    "forum": {"unit": True, "cases": False},
    "salon": {"unit": True, "cases": False},
    "coordination_meeting": {"unit": True, "cases": False},
    "report": {"unit": True, "kind": True, "period": True},
    "case_opened": {
        "case": True,
        "enterprise": True,
        "channel": True,
        "complexity": True,
        "category": True,
        "unit": True,
        "due": False,
        "summary": False,
    },
    "case_assigned": {"case": True, "unit": True},
    "case_feedback": {"case": True, "unit": False},
    "case_escalated": {"case": True, "level": True},
    "case_closed": {"case": True, "satisfaction": True},
    "case_reopened": {"case": True},
    "review": {"review": True, "unit": True, "rating": True, "channel": False},
    "review_rectified": {"review": True},
    "project_item_done": {"project": True, "item": True},
}
COMMON = ("id", "type", "at", "note")


def _plainly_storable(record: dict[Any, Any]) -> bool:
    """A quick screen of the usual record (strings, numbers, lists of strings) for `_unstorable`:
    True means it would find nothing; False means look closer, to say where. (`isascii` is
    constant time; only text beyond ASCII is searched for surrogates.)"""
    for key, item in record.items():
        if type(key) is not str or "\x00" in key or not (key.isascii() or not _SURROGATE.search(key)):
            return False
        kind = type(item)
        if kind is str:
            if "\x00" in item or not (item.isascii() or not _SURROGATE.search(item)):
                return False
        elif kind is list:
            for x in item:
                if type(x) is not str or "\x00" in x or not (x.isascii() or not _SURROGATE.search(x)):
                    return False
        elif kind not in _PLAIN:
            return False
    return True


_PLAIN = (int, float, bool, type(None))
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _unstorable(value: object, where: str | None = None) -> tuple[str | None, str] | None:
    """A text no database keeps faithfully, and where: a NUL character (PostgreSQL refuses it)
    or a lone surrogate (not Unicode at all; JSON's \\u escapes can spell one)."""
    if where is None and isinstance(value, dict) and _plainly_storable(value):
        return None
    if isinstance(value, str):
        return _unstorable_text(value, where)
    if isinstance(value, dict):
        return _first_unstorable_field(value, where)
    if isinstance(value, list):
        return _first_unstorable_item(value, where)
    return None


def _unstorable_text(value: str, where: str | None) -> tuple[str | None, str] | None:
    if "\x00" in value:
        return where, "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return where, "is not valid Unicode (a lone surrogate)"
    return None


def _first_unstorable_field(value: dict[Any, Any], where: str | None) -> tuple[str | None, str] | None:
    """The first field whose name or value is unstorable; `where` the field path of the mapping."""
    for key, item in value.items():
        name = key if where is None else f"{where}.{key}"
        problem = _unstorable(key, where or "(a field name)") or _unstorable(item, str(name))
        if problem is not None:
            return problem
    return None


def _first_unstorable_item(value: list[Any], where: str | None) -> tuple[str | None, str] | None:
    for i, item in enumerate(value):
        problem = _unstorable(item, f"{where}[{i}]")
        if problem is not None:
            return problem
    return None


def digest(record: dict[str, Any]) -> str:
    """A stable fingerprint of a record's content, to tell a duplicate from a conflict."""
    return _canonical(record)[1]


# json.dumps with these arguments builds this very encoder anew for every call; one kept here
# writes the same text without that cost
_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _canonical(record: dict[str, Any]) -> tuple[str, str]:
    """The record as canonical JSON (what is stored), and its fingerprint."""
    canonical = _ENCODER.encode(record)
    return canonical, hashlib.sha256(canonical.encode("utf-8")).hexdigest()


Screened = tuple[tuple[str | None, str] | None, tuple[str, str] | None]


def _screen(record: object) -> Screened:
    """What `_unstorable` finds in a record, and the record's canonical JSON and fingerprint when
    that settles it at once. The encoder writes every name and text of the record, a NUL as the
    escape \\u0000 and a lone surrogate as it is (which then fails to encode as UTF-8): canonical
    JSON without that escape which encodes is a record with nothing unstorable, and is what is
    stored if its id is in normal form. Anything else is searched field by field, to say where."""
    if not isinstance(record, dict):
        return None, None
    try:
        canonical = _ENCODER.encode(record)
        data = canonical.encode("utf-8")
    except (TypeError, ValueError, RecursionError):  # not JSON; a UnicodeEncodeError is a ValueError
        return _unstorable(record), None
    if "\\u0000" in canonical:
        return _unstorable(record), None
    return None, (canonical, hashlib.sha256(data).hexdigest())


def _credit_code_or_none(value: object) -> str | None:
    """The normal form of a credit code, or None (for lookups ahead of validation)."""
    try:
        return v.credit_code(value, "enterprise")
    except Rejection:
        return None


# the fields that name roster entries, cases and reviews, by what they name and how it is read
_REFERENCES: dict[str, tuple[tuple[str, ...], Callable[[object], str | None]]] = {
    "official": (("official", "officials"), v.ident_or_none),
    "unit": (("unit",), v.ident_or_none),
    "enterprise": (("enterprise", "enterprises"), _credit_code_or_none),
    "project": (("project",), v.ident_or_none),
    "case": (("case", "cases"), v.ident_or_none),
    "review": (("review",), v.ident_or_none),
}
_READER = {name: (kind, read) for kind, (names, read) in _REFERENCES.items() for name in names}


def _referenced(records: list[object]) -> dict[str, list[str]]:
    """What the records name, by kind: the normal forms, in one pass over the records."""
    found: dict[str, set[str]] = {kind: set() for kind in _REFERENCES}
    for record in records:
        if not isinstance(record, dict):
            continue
        for name in _READER.keys() & record.keys():
            kind, read = _READER[name]
            value = record[name]
            for one in value if isinstance(value, list) else [value]:
                if (normal := read(one)) is not None:
                    found[kind].add(normal)
    return {kind: sorted(ids) for kind, ids in found.items()}


@dataclass
class _Known:
    """The roster as far as this batch refers to it, and what the batch has opened so far, for
    reference checks.

    Only what the batch names is read — in a few queries up front (`preload`), any other id on
    its first use — so a request costs the same with a district's roster or a province's (a
    province's 200,000 enterprises read for every request of 500 events took longer than the
    events)."""

    session: Session
    official_unit: dict[str, str | None] = field(default_factory=dict)
    units: set[str] = field(default_factory=set)
    enterprises: set[str] = field(default_factory=set)
    items: set[tuple[str, str]] = field(default_factory=set)
    case_received: dict[str, datetime] = field(default_factory=dict)
    review_at: dict[str, datetime] = field(default_factory=dict)
    # ids looked up already: what is not in the dicts and sets above does not exist in the store
    looked_up: set[tuple[str, str]] = field(default_factory=set)
    # the references this batch has checked already, as written: most repeat many times
    _checked: dict[tuple[str, str], str] = field(default_factory=dict)

    def preload(self, records: list[object]) -> None:
        """The roster entries, cases and reviews a batch refers to, in a few queries rather than
        one per record (or the whole roster)."""
        session = self.session
        named = _referenced(records)
        officials, units, enterprises = named["official"], named["unit"], named["enterprise"]
        projects, cases, reviews = named["project"], named["case"], named["review"]
        self.official_unit.update(
            rows_by_ids(session, (Official.id, Official.unit_id), Official.id, officials)
        )
        self.units.update(r[0] for r in rows_by_ids(session, (Unit.id,), Unit.id, units))
        self.enterprises.update(
            r[0] for r in rows_by_ids(session, (Enterprise.id,), Enterprise.id, enterprises)
        )
        self.items.update(
            (project, item)
            for project, item in rows_by_ids(
                session, (ProjectItem.project_id, ProjectItem.id), ProjectItem.project_id, projects
            )
        )
        self.case_received.update(rows_by_ids(session, (Case.id, Case.received_at), Case.id, cases))
        self.review_at.update(rows_by_ids(session, (Review.id, Review.at), Review.id, reviews))
        for kind, ids in named.items():
            self.looked_up.update((kind, i) for i in ids)

    def _roster_has(self, kind: str, key: str, present: bool) -> bool:
        """Whether the store holds this roster id, looking it up once if the preload did not."""
        if present or (kind, key) in self.looked_up:
            return present
        self.looked_up.add((kind, key))
        if kind == "official":
            row = self.session.execute(
                select(Official.id, Official.unit_id).where(Official.id == key)
            ).first()
            if row is not None:
                self.official_unit[row[0]] = row[1]
            return row is not None
        if kind == "unit":
            found = self.session.scalar(select(Unit.id).where(Unit.id == key)) is not None
            if found:
                self.units.add(key)
            return found
        found = self.session.scalar(select(Enterprise.id).where(Enterprise.id == key)) is not None
        if found:
            self.enterprises.add(key)
        return found

    def has_item(self, project: str, item: str) -> bool:
        """Whether the project has the item, reading the project's items once if not preloaded."""
        if ("project", project) not in self.looked_up:
            self.looked_up.add(("project", project))
            self.items.update(
                (project, i)
                for i in self.session.scalars(select(ProjectItem.id).where(ProjectItem.project_id == project))
            )
        return (project, item) in self.items

    def stored_case(self, case: str) -> datetime | None:
        """When the case was received, from this batch or the store; None: no such case."""
        return self._stored(self.case_received, "case", case)

    def stored_review(self, review: str) -> datetime | None:
        """When the review was given, from this batch or the store; None: no such review."""
        return self._stored(self.review_at, "review", review)

    def _stored(self, found: dict[str, datetime], kind: str, key: str) -> datetime | None:
        if key not in found and (kind, key) not in self.looked_up:
            when = self.session.scalar(
                select(Case.received_at).where(Case.id == key)
                if kind == "case"
                else select(Review.at).where(Review.id == key)
            )
            if when is not None:
                found[key] = when
            self.looked_up.add((kind, key))
        return found.get(key)

    def official(self, value: object, name: str) -> str:
        if type(value) is str and (found := self._checked.get(("official", value))) is not None:
            return found
        official = v.ident(value, name)
        if not self._roster_has("official", official, official in self.official_unit):
            raise Rejection(name, f"unknown official {official!r}")
        if type(value) is str:
            self._checked["official", value] = official
        return official

    def unit(self, value: object, name: str) -> str:
        if type(value) is str and (found := self._checked.get(("unit", value))) is not None:
            return found
        unit = v.ident(value, name)
        if not self._roster_has("unit", unit, unit in self.units):
            raise Rejection(name, f"unknown unit {unit!r}")
        if type(value) is str:
            self._checked["unit", value] = unit
        return unit

    def enterprise(self, value: object, name: str) -> str:
        if type(value) is str and (found := self._checked.get(("enterprise", value))) is not None:
            return found
        code = v.credit_code(value, name)
        if not self._roster_has("enterprise", code, code in self.enterprises):
            raise Rejection(name, f"unknown enterprise {code!r}")
        if type(value) is str:
            self._checked["enterprise", value] = code
        return code

    def case(self, value: object, name: str, at: datetime) -> str:
        case = v.ident(value, name)
        received = self.stored_case(case)
        if received is None:
            raise Rejection(name, f"unknown case {case!r} (no case_opened event for it)")
        if at < received:
            raise Rejection("at", f"before case {case!r} was opened ({iso_shanghai(received)})")
        return case

    def review(self, value: object, name: str, at: datetime) -> str:
        review = v.ident(value, name)
        when = self.stored_review(review)
        if when is None:
            raise Rejection(name, f"unknown review {review!r}")
        if at < when:
            raise Rejection("at", f"before review {review!r} was given")
        return review


@dataclass
class _Rows:
    events: list[dict[str, Any]] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)
    case_events: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    rectified: list[tuple[str, datetime]] = field(default_factory=list)
    items_done: list[tuple[str, str, datetime]] = field(default_factory=list)

    def _derived(self) -> tuple[list[Any], ...]:
        """The rows an event derives (its own row is added once they all are)."""
        return (self.activities, self.cases, self.case_events, self.reviews, self.rectified, self.items_done)

    def mark(self) -> tuple[int, ...]:
        """How many rows of each `_derived` kind there are (taken once a record: spelt out)."""
        return (
            len(self.activities),
            len(self.cases),
            len(self.case_events),
            len(self.reviews),
            len(self.rectified),
            len(self.items_done),
        )

    def undo(self, mark: tuple[int, ...]) -> None:
        """Drop what was derived since `mark`."""
        for rows, length in zip(self._derived(), mark, strict=True):
            del rows[length:]


@dataclass(slots=True)
class _Derivation:
    """One validated event on its way to rows: what every type's derivation needs."""

    record: dict[str, Any]
    kind: str
    event_id: str
    at: datetime
    known: _Known
    rows: _Rows
    session: Session

    def activity(self, **values: Any) -> None:
        self.rows.activities.append(
            {"event_id": self.event_id, "type": self.kind, "at": self.at, "talked_with_head": False, **values}
        )

    def case_event(self, case: str, kind: str, **values: Any) -> None:
        self.rows.case_events.append(
            {"event_id": self.event_id, "case_id": case, "type": kind, "at": self.at, **values}
        )

    def given(self, name: str) -> bool:
        """The optional field is there and not blank."""
        return self.record.get(name) not in (None, "")


# The fields each type may carry (its own and the common ones), and those it requires, in order.
_ALLOWED = {kind: frozenset(spec).union(COMMON) for kind, spec in FIELDS.items()}
_REQUIRED = {
    kind: tuple(name for name, required in spec.items() if required) for kind, spec in FIELDS.items()
}


def _check_fields(kind: str, record: dict[str, Any]) -> None:
    """No field the type does not know, every field it requires."""
    allowed = _ALLOWED[kind]
    if not allowed.issuperset(record):
        for name in record:
            if name not in allowed:
                raise Rejection(name, f"unknown field for a {kind} event")
    for name in _REQUIRED[kind]:
        if record.get(name) in (None, "", []):
            raise Rejection(name, "required")


def _official_and_enterprise(e: _Derivation) -> tuple[str, str]:
    return e.known.official(e.record["official"], "official"), e.known.enterprise(
        e.record["enterprise"], "enterprise"
    )


def _visit(e: _Derivation) -> None:
    """One activity per official who went (`official` or `officials`, never both)."""
    record, known = e.record, e.known
    if ("official" in record) == ("officials" in record):
        raise Rejection("officials", "give exactly one of official or officials")
    if "official" in record:
        officials = [known.official(record["official"], "official")]
    else:
        officials = [known.official(o, "officials") for o in v.id_list(record["officials"], "officials")]
    enterprise = known.enterprise(record["enterprise"], "enterprise")
    talked = v.boolean(record.get("talked_with_head", False), "talked_with_head")
    for official in officials:
        e.activity(
            official_id=official,
            unit_id=known.official_unit[official],
            enterprise_id=enterprise,
            talked_with_head=talked,
        )


def _contact(e: _Derivation) -> None:
    official, enterprise = _official_and_enterprise(e)
    v.choice(e.record["channel"], "channel", CONTACT_CHANNELS)
    e.activity(official_id=official, unit_id=e.known.official_unit[official], enterprise_id=enterprise)


def _matchmaking(e: _Derivation) -> None:
    official, enterprise = _official_and_enterprise(e)
    v.name(e.record["partner"], "partner", limit=200)
    e.activity(official_id=official, unit_id=e.known.official_unit[official], enterprise_id=enterprise)


def _policy_briefing(e: _Derivation) -> None:
    """One activity per enterprise briefed, by an official (and so their unit) or by a unit."""
    record, known = e.record, e.known
    if ("official" in record) == ("unit" in record):
        raise Rejection("official", "give exactly one of official or unit")
    if "official" in record:
        briefer: str | None = known.official(record["official"], "official")
        unit = known.official_unit[str(briefer)]
    else:
        briefer, unit = None, known.unit(record["unit"], "unit")
    enterprises = [
        known.enterprise(x, "enterprises") for x in v.id_list(record["enterprises"], "enterprises")
    ]
    for enterprise in enterprises:
        e.activity(official_id=briefer, unit_id=unit, enterprise_id=enterprise)


def _meeting(e: _Derivation) -> None:
    """A forum, salon or coordination meeting: the unit's activity, and each case on its agenda."""
    unit = e.known.unit(e.record["unit"], "unit")
    listed = v.id_list(e.record["cases"], "cases") if e.record.get("cases") not in (None, "", []) else []
    cases = [e.known.case(c, "cases", e.at) for c in listed]
    e.activity(unit_id=unit)
    for case in cases:
        e.case_event(case, "agenda", unit_id=unit)


def _report(e: _Derivation) -> None:
    """A unit's monthly report, published once its month has begun."""
    unit = e.known.unit(e.record["unit"], "unit")
    report_kind = v.choice(e.record["kind"], "kind", REPORT_KINDS)
    try:
        period = parse_period(v.name(e.record["period"], "period", limit=10))
    except ValueError as exc:
        raise Rejection("period", str(exc)) from None
    if period.kind != "month":
        raise Rejection("period", "a report covers a month (YYYY-MM)")
    if e.at.astimezone(SHANGHAI).date() < period.start:
        raise Rejection("period", f"a report for {period.label} cannot be published before the month starts")
    e.activity(unit_id=unit, report_kind=report_kind, report_period=period.label)


def _case_opened(e: _Derivation) -> None:
    """A new case (never one opened before), due no earlier than it was opened."""
    record, known = e.record, e.known
    case = v.ident(record["case"], "case")
    if known.stored_case(case) is not None:
        raise Rejection("case", f"case {case!r} was already opened")
    due = v.instant(record["due"], "due") if e.given("due") else None
    if due is not None and due < e.at:
        raise Rejection("due", "a case cannot be due before it was opened")
    if due is not None:
        v.due_by(due, "due")
    e.rows.cases.append(
        {
            "id": case,
            "enterprise_id": known.enterprise(record["enterprise"], "enterprise"),
            "unit_id": known.unit(record["unit"], "unit"),
            "channel": v.choice(record["channel"], "channel", CASE_CHANNELS),
            "complexity": v.choice(record["complexity"], "complexity", COMPLEXITY),
            "category": v.name(record["category"], "category", limit=100),
            "received_at": e.at,
            "own_due_at": due,
            "summary": v.text(record.get("summary", ""), "summary", allow_empty=True),
            "event_id": e.event_id,
        }
    )
    known.case_received[case] = e.at


def _acting_unit(e: _Derivation) -> dict[str, Any]:
    """The unit a case is assigned to or that gave feedback, when named."""
    return {"unit_id": e.known.unit(e.record["unit"], "unit")} if e.given("unit") else {}


def _escalation_level(e: _Derivation) -> dict[str, Any]:
    return {"level": v.integer(e.record["level"], "level", 1, 3)}


def _closing_satisfaction(e: _Derivation) -> dict[str, Any]:
    return {"satisfaction": v.choice(e.record["satisfaction"], "satisfaction", SATISFACTION)}


def _nothing_more(e: _Derivation) -> dict[str, Any]:
    return {}


# What each step of an open case records besides the case and the time.
_CASE_STEPS: dict[str, Callable[[_Derivation], dict[str, Any]]] = {
    "case_assigned": _acting_unit,
    "case_feedback": _acting_unit,
    "case_escalated": _escalation_level,
    "case_closed": _closing_satisfaction,
    "case_reopened": _nothing_more,
}


def _case_step(e: _Derivation) -> None:
    """A step of a case opened before this event."""
    case = e.known.case(e.record["case"], "case", e.at)
    e.case_event(case, e.kind, **_CASE_STEPS[e.kind](e))


def _review(e: _Derivation) -> None:
    """A new review of a unit (never one given before)."""
    record, known = e.record, e.known
    review = v.ident(record["review"], "review")
    if known.stored_review(review) is not None:
        raise Rejection("review", f"review {review!r} was already given")
    e.rows.reviews.append(
        {
            "id": review,
            "unit_id": known.unit(record["unit"], "unit"),
            "rating": v.integer(record["rating"], "rating", 1, 5),
            "channel": v.name(record["channel"], "channel", limit=40) if e.given("channel") else None,
            "at": e.at,
            "event_id": e.event_id,
        }
    )
    known.review_at[review] = e.at


def _review_rectified(e: _Derivation) -> None:
    e.rows.rectified.append((e.known.review(e.record["review"], "review", e.at), e.at))


def _project_item_done(e: _Derivation) -> None:
    project = v.ident(e.record["project"], "project")
    item = v.ident(e.record["item"], "item")
    if not e.known.has_item(project, item):
        raise Rejection("item", f"unknown item {item!r} of project {project!r}")
    e.rows.items_done.append((project, item, e.at))


# The derivation of each event type: what it checks beyond its fields and the rows it adds.
_DERIVATIONS: dict[str, Callable[[_Derivation], None]] = {
    "visit": _visit,
    "contact": _contact,
    "policy_briefing": _policy_briefing,
    "matchmaking": _matchmaking,
    **dict.fromkeys(MEETINGS, _meeting),
    "report": _report,
    "case_opened": _case_opened,
    **dict.fromkeys(_CASE_STEPS, _case_step),
    "review": _review,
    "review_rectified": _review_rectified,
    "project_item_done": _project_item_done,
}


def _derive(record: dict[str, Any], at: datetime, known: _Known, rows: _Rows, session: Session) -> None:
    """Validate the type-specific fields and append the rows the event derives; raises Rejection."""
    kind = record["type"]
    _check_fields(kind, record)
    _DERIVATIONS[kind](_Derivation(record, kind, record["id"], at, known, rows, session))


def _existing_digests(session: Session, ids: list[str]) -> dict[str, str]:
    return dict(rows_by_ids(session, (Event.id, Event.digest), Event.id, ids))


def _identified(record: object, problem: tuple[str | None, str] | None) -> tuple[dict[str, Any], str]:
    """The record, if it is one a database can keep, and its id in normal form."""
    if not isinstance(record, dict):
        raise Rejection(None, f"an event must be a JSON object, not {type(record).__name__}")
    if problem is not None:
        raise Rejection(*problem)
    if record.get("id") in (None, ""):
        raise Rejection("id", "required")
    return record, v.ident(record["id"], "id")


def _event_type(record: dict[str, Any]) -> str:
    kind = record.get("type")
    if not isinstance(kind, str) or kind not in FIELDS:
        raise Rejection("type", f"unknown event type {kind!r}")
    return kind


def _check_note(record: dict[str, Any]) -> None:
    if record.get("note") not in (None, ""):
        v.text(record["note"], "note")


@dataclass
class _Intake:
    """One call's events taken in order: what is stored and accepted so far, the rows to write."""

    session: Session
    now: datetime
    settings: Settings
    stored: dict[str, str]  # digests by event id, of the events stored before
    known: _Known
    rows: _Rows = field(default_factory=_Rows)
    seen: dict[str, str] = field(default_factory=dict)  # digests by event id, of this batch
    # records its rows refused whose ids the batch did not find stored: (record, digest) by id
    unsure: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    earliest: datetime = field(init=False)  # the plausible times of an event
    latest: datetime = field(init=False)

    def __post_init__(self) -> None:
        # in UTC, as every parsed time is: aware times in one zone compare without asking it
        self.earliest = datetime.combine(self.settings.ingest.earliest, time.min, tzinfo=SHANGHAI).astimezone(
            UTC
        )
        self.latest = self.now + timedelta(hours=self.settings.ingest.max_future_hours)

    def take(self, ref: str, record: object, screened: Screened) -> RecordOutcome:
        event_id: str | None = None
        try:
            raw, event_id = _identified(record, screened[0])
            return self._take(ref, raw, event_id, screened[1])
        except Rejection as exc:
            return RecordOutcome(ref, event_id, "rejected", exc.field, exc.reason)

    def _take(
        self, ref: str, raw: dict[str, Any], event_id: str, clean: tuple[str, str] | None
    ) -> RecordOutcome:
        # from here on the record carries its id in normal form: the digest, the stored payload
        # and every derived row agree on one spelling (most ids are in it already)
        record = raw if raw["id"] is event_id else {**raw, "id": event_id}
        kind = _event_type(record)
        canonical, fingerprint = clean if clean is not None and record is raw else _canonical(record)
        if self._seen_before(raw, event_id, fingerprint):
            return RecordOutcome(ref, event_id, "duplicate")
        at = self._time(record)
        _check_note(record)
        try:
            self._derive_or_nothing(record, at)
        except Rejection:
            # the same event sent twice at once: the other request may have stored it after this
            # batch read the stored ids (SQLite reads each statement apart), and its rows (the
            # case it opened) now refuse this one; `settle_unsure` reads such ids again
            self.unsure.setdefault(event_id, (raw, fingerprint))
            raise
        self.rows.events.append(
            {
                "id": event_id,
                "type": kind,
                "at": at,
                "payload": canonical,  # stored as it is: the JSON column's text
                "digest": fingerprint,
                "received_at": self.now,
            }
        )
        self.seen[event_id] = fingerprint
        return RecordOutcome(ref, event_id, "accepted")

    def settle_unsure(self, outcomes: list[RecordOutcome]) -> list[RecordOutcome]:
        """The outcomes, with the records refused by rows that another request may have stored
        meanwhile read again by id, all at once: one stored since with the same content is a
        duplicate, one with other content the id's conflict."""
        found = _existing_digests(self.session, sorted(self.unsure)) if self.unsure else {}
        self.stored.update(found)
        settled = []
        for outcome in outcomes:
            if outcome.status == "rejected" and outcome.id in found:
                raw, fingerprint = self.unsure[outcome.id]
                try:
                    if self._seen_before(raw, outcome.id, fingerprint):
                        outcome = RecordOutcome(outcome.ref, outcome.id, "duplicate")
                except Rejection as exc:
                    outcome = RecordOutcome(outcome.ref, outcome.id, "rejected", exc.field, exc.reason)
            settled.append(outcome)
        return settled

    def _seen_before(self, raw: dict[str, Any], event_id: str, fingerprint: str) -> bool:
        """True for a duplicate of an accepted event; raises Rejection for a conflict with one."""
        previous = self.seen.get(event_id) or self.stored.get(event_id)
        if previous is None:
            return False
        # a record stored before ids were normalised kept its raw id in its digest
        if previous == fingerprint or (raw["id"] != event_id and previous == digest(raw)):
            return True
        raise Rejection("id", f"conflict: event {event_id!r} was already accepted with other content")

    def _time(self, record: dict[str, Any]) -> datetime:
        """When the event happened: given, after `ingest.earliest`, not too far in the future."""
        if record.get("at") in (None, ""):
            raise Rejection("at", "required")
        at = v.instant(record["at"], "at")
        if at < self.earliest:
            raise Rejection("at", f"before {self.settings.ingest.earliest.isoformat()}: not a plausible time")
        if at > self.latest:
            raise Rejection("at", f"more than {self.settings.ingest.max_future_hours:g} hours in the future")
        return at

    def _derive_or_nothing(self, record: dict[str, Any], at: datetime) -> None:
        """The event's rows, all or none: a rejected record leaves nothing behind."""
        mark = self.rows.mark()
        try:
            _derive(record, at, self.known, self.rows, self.session)
        except Rejection:
            self.rows.undo(mark)
            raise


def ingest_events(
    session: Session, records: Iterable[tuple[str, object]], *, now: datetime, settings: Settings
) -> list[RecordOutcome]:
    """Validate and store events; one outcome per record, in order. Flushes; the caller commits."""
    batch = list(records)
    # the ids in their normal form: the lookup must find " a " and 5 stored as "a" and "5"
    ids = {i for _, r in batch if isinstance(r, dict) and (i := v.ident_or_none(r.get("id")))}
    intake = _Intake(session, now, settings, _existing_digests(session, sorted(ids)), _Known(session))
    screened = [_screen(r) for _, r in batch]
    intake.known.preload([r for (_, r), (problem, _) in zip(batch, screened, strict=True) if problem is None])
    outcomes = intake.settle_unsure(
        [intake.take(ref, record, s) for (ref, record), s in zip(batch, screened, strict=True)]
    )
    _write(session, intake.rows, now)
    return outcomes


def _note(session: Session, rows: _Rows, now: datetime) -> None:
    """Name what the batch touched for the next steady-state tick: one change record for the
    events of the past, one per instant for events of the future (each waits for its time)."""
    groups: dict[datetime | None, tuple[set[str], set[str], set[str]]] = {}
    group_of: dict[str, tuple[set[str], set[str], set[str]]] = {}
    latest = None
    for event in rows.events:
        when = event["at"] if event["at"] > now else None
        if when is None:
            latest = event["at"] if latest is None else max(latest, event["at"])
        group = groups.setdefault(when, (set(), set(), set()))
        group[0].add(event["type"])
        group_of[event["id"]] = group
    for activity in rows.activities:
        if activity.get("enterprise_id"):
            group_of[activity["event_id"]][1].add(activity["enterprise_id"])
    for case in rows.cases:
        group_of[case["event_id"]][2].add(case["id"])
    for case_event in rows.case_events:
        group_of[case_event["event_id"]][2].add(case_event["case_id"])
    for when, (types, enterprises, cases) in groups.items():
        at = when if when is not None else latest
        assert at is not None
        note_changes(session, at=at, types=types, enterprises=enterprises, cases=cases)


def _write(session: Session, rows: _Rows, now: datetime) -> None:
    _note(session, rows, now)
    processed: Processed = {}  # an event's rows share its time: each is processed for storing once
    for model, values in (
        (Event, rows.events),
        (Activity, rows.activities),
        (Case, rows.cases),
        (CaseEvent, rows.case_events),
        (Review, rows.reviews),
    ):
        # COPY on PostgreSQL, the driver's executemany on SQLite (monitor/ingest/bulk.py): the
        # ORM's bulk path, and even Core's executemany, cost most of an import
        if model in (Event, Case, Review):
            # unique keys taken in one order by every transaction: two batches sharing new ids in
            # opposite orders wait for each other instead of deadlocking (PostgreSQL)
            values = sorted(values, key=lambda row: str(row["id"]))
        raw = ("payload",) if model is Event else ()
        insert_rows(session, model.metadata.tables[model.__tablename__], values, raw, processed)
    for review, at in rows.rectified:
        session.execute(
            update(Review)
            .where(Review.id == review, (Review.rectified_at.is_(None)) | (Review.rectified_at > at))
            .values(rectified_at=at)
        )
    for project, item, at in rows.items_done:
        session.execute(
            update(ProjectItem)
            .where(
                ProjectItem.project_id == project,
                ProjectItem.id == item,
                (ProjectItem.done_at.is_(None)) | (ProjectItem.done_at > at),
            )
            .values(done_at=at)
        )
    session.flush()
