"""The event schema as JSON Schema, one object schema per type, for the OpenAPI document.

Which fields each type has, which are required and the allowed values come from the tables the
validator itself checks (`FIELDS` and the value tuples of `monitor.ingest.events`), so the
published schema cannot drift from what ingest accepts; only the shape of each value is stated
here. The schema documents the canonical JSON form. Ingest stays the judge, record by record: it
also takes the spellings spreadsheets produce (`"true"`, `"是"`, `"4"`, ids joined by `;`), and
checks what a schema cannot (references to the roster, a credit code's check character, order).
"""

from __future__ import annotations

from typing import Any

from monitor.ingest import values as v
from monitor.ingest.credit_code import ALPHABET
from monitor.ingest.events import (
    CASE_CHANNELS,
    COMMON,
    COMPLEXITY,
    CONTACT_CHANNELS,
    FIELDS,
    REPORT_KINDS,
    SATISFACTION,
)

Schema = dict[str, Any]

_CODE_CHAR = f"[{ALPHABET}]"
CREDIT_CODE: Schema = {
    "type": "string",
    "pattern": f"^{_CODE_CHAR}{{18}}$",
    "description": "An enterprise of the roster: its 18-character unified social credit code.",
}
INSTANT: Schema = {
    "type": "string",
    # a date, or a date and time; RFC 3339's `date-time` would wrongly demand an offset
    "pattern": r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$",
    "description": "ISO 8601; without an offset it is Asia/Shanghai time; a bare date is 00:00.",
}


def _ident(what: str) -> Schema:
    return {"type": ["string", "integer"], "minLength": 1, "maxLength": v.MAX_ID, "description": what}


def _ids(what: str) -> Schema:
    return {"type": "array", "items": _ident(what), "minItems": 1, "uniqueItems": True}


def _text(limit: int, what: str, *, min_length: int = 1) -> Schema:
    return {"type": "string", "minLength": min_length, "maxLength": limit, "description": what}


def _choice(allowed: tuple[str, ...], what: str) -> Schema:
    return {"type": "string", "enum": list(allowed), "description": what}


def _whole(low: int, high: int, what: str) -> Schema:
    return {"type": "integer", "minimum": low, "maximum": high, "description": what}


# The shape of each field's value, by name; the limits are the validator's (see events._derive).
VALUES: dict[str, Schema] = {
    "id": _ident("Unique; re-sending the same event is a no-op, the same id with other content is refused."),
    "at": INSTANT,
    "note": _text(v.MAX_TEXT, "Free text, kept with the event.", min_length=0),
    "official": _ident("An official of the roster."),
    "officials": _ids("Officials of the roster (a visit made together)."),
    "enterprise": CREDIT_CODE,
    "enterprises": {"type": "array", "items": CREDIT_CODE, "minItems": 1, "uniqueItems": True},
    "talked_with_head": {
        "type": "boolean",
        "default": False,
        "description": "An in-depth talk with the enterprise's head took place.",
    },
    "channel": _choice(CONTACT_CHANNELS, "How the contact was made."),
    "partner": _text(200, "The upstream or downstream partner the enterprise was introduced to."),
    "unit": _ident("A unit of the roster."),
    "cases": _ids("Cases on the meeting's agenda (each opened before the meeting)."),
    "kind": _choice(REPORT_KINDS, "What the monthly notice covers."),
    "period": {
        "type": "string",
        "pattern": r"^\d{4}-\d{2}$",
        "description": "The month reported on (YYYY-MM); not published before that month starts.",
    },
    "case": _ident("The case (诉求) id."),
    "complexity": _choice(COMPLEXITY, "Sets the case's clock."),
    "category": _text(100, "The kind of problem (a repeat in the same category is watched)."),
    "due": {**INSTANT, "description": "A hotline order's own deadline (ISO 8601), not before `at`."},
    "summary": _text(v.MAX_TEXT, "What the enterprise asked.", min_length=0),
    "level": _whole(1, 3, "The escalation level reached."),
    "satisfaction": _choice(SATISFACTION, "The enterprise's verdict."),
    "review": _ident("The review (好差评) id."),
    "rating": _whole(1, 5, "1 and 2 are bad reviews (差评)."),
    "project": _ident("A project of the roster."),
    "item": _ident("An item of the project's checklist."),
}
# The same name means another thing in another type.
VALUES_BY_TYPE: dict[tuple[str, str], Schema] = {
    ("case_opened", "channel"): _choice(CASE_CHANNELS, "Where the case came in."),
    ("case_opened", "unit"): _ident("The receiving unit."),
    ("review", "channel"): _text(40, "Where the review was given (free text)."),
}
# Pairs of which an event gives exactly one.
ONE_OF: dict[str, tuple[str, str]] = {
    "visit": ("official", "officials"),
    "policy_briefing": ("official", "unit"),
}


def event_schema(kind: str) -> Schema:
    """The JSON Schema of one event type: its fields, their values, the required ones, no others."""
    spec = FIELDS[kind]
    properties: Schema = {
        name: {"type": "string", "const": kind} if name == "type" else VALUES[name] for name in COMMON
    }
    for name in spec:
        properties[name] = VALUES_BY_TYPE.get((kind, name), VALUES[name])
    required = ["id", "type", "at", *(name for name, needed in spec.items() if needed)]
    schema: Schema = {
        "title": f"{kind} event",
        "type": "object",
        "properties": properties,
        "required": required,
        # ingest refuses a field the type does not have, naming it
        "additionalProperties": False,
    }
    if kind in ONE_OF:
        schema["oneOf"] = [{"required": [name]} for name in ONE_OF[kind]]
    return schema


def component_name(kind: str) -> str:
    """The name of a type's schema under the OpenAPI document's `components/schemas`."""
    return "Event_" + kind


def event_components() -> dict[str, Schema]:
    """Every type's schema by component name, plus `Event`: one of them, told apart by `type`."""
    components = {component_name(kind): event_schema(kind) for kind in FIELDS}
    refs = {kind: f"#/components/schemas/{component_name(kind)}" for kind in FIELDS}
    components["Event"] = {
        "title": "Event",
        "description": "Any event; `type` says which schema applies.",
        "oneOf": [{"$ref": ref} for ref in refs.values()],
        "discriminator": {"propertyName": "type", "mapping": refs},
    }
    return components
