"""docs/events.md and the OpenAPI schema of POST /v1/events say what ingest really does."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.config import Settings
from monitor.ingest.event_examples import EXAMPLES
from monitor.ingest.events import CASE_CHANNELS, COMMON, CONTACT_CHANNELS, FIELDS, ingest_events
from monitor.ingest.files import read_roster_file
from monitor.ingest.roster import upsert_roster
from monitor.store.db import session_factory

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs/events.md"
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def doc_examples() -> list[dict[str, Any]]:
    """Every ```json block of docs/events.md, in the order of the page."""
    blocks = re.findall(r"^```json\n(.*?)^```$", DOC.read_text(encoding="utf-8"), flags=re.M | re.S)
    return [json.loads(block) for block in blocks]


def doc_fields() -> dict[str, dict[str, bool]]:
    """Per type section of docs/events.md: each field of its table and whether it is required."""
    sections = re.split(r"^### `([a-z_]+)`\n", DOC.read_text(encoding="utf-8"), flags=re.M)[1:]
    found: dict[str, dict[str, bool]] = {}
    for kind, body in zip(sections[::2], sections[1::2], strict=True):
        rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \|", body, flags=re.M)
        found[kind] = {name: need.strip() == "yes" for name, need in rows}
    return found


@pytest.fixture(scope="module")
def app() -> Iterator[FastAPI]:
    from monitor.api.app import create_app
    from monitor.runtime.service import Service

    service = Service(Settings(database_url="sqlite://", rules_dir=ROOT / "rules"))
    try:
        yield create_app(service)
    finally:
        service.close()


@pytest.fixture
def schemas(app: FastAPI) -> dict[str, Any]:
    return dict(app.openapi()["components"]["schemas"])


def validator(schemas: dict[str, Any], name: str) -> jsonschema_rs.Validator:
    """A validator of one component, its references resolved within the OpenAPI components."""
    return jsonschema_rs.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": {"schemas": schemas}}
    )


@pytest.fixture
def district(engine: Engine) -> Iterator[Session]:
    """A database holding the example district's roster, which the examples refer to."""
    roster, problems = read_roster_file(ROOT / "config/examples/roster.yaml")
    assert not problems
    with session_factory(engine)() as session:
        assert all(o.status == "accepted" for o in upsert_roster(session, roster))
        session.commit()
        yield session


def test_the_page_shows_one_example_per_type_and_they_are_the_published_ones() -> None:
    examples = doc_examples()
    assert sorted(e["type"] for e in examples) == sorted(FIELDS)
    # the OpenAPI document offers the module's examples: the page must show the same
    assert examples == list(EXAMPLES.values())


def test_the_page_lists_every_field_of_every_type_with_the_validators_required_marks() -> None:
    documented = doc_fields()
    assert sorted(documented) == sorted(FIELDS)
    for kind, spec in FIELDS.items():
        assert documented[kind] == spec, kind


@SQLITE_ONLY
def test_every_example_of_the_page_is_accepted_by_ingest_in_page_order(district: Session) -> None:
    records = [(f"docs/events.md[{i}]", e) for i, e in enumerate(doc_examples())]
    now = datetime(2024, 12, 31, 10, 0, tzinfo=UTC)
    outcomes = ingest_events(district, records, now=now, settings=Settings())
    district.commit()
    assert [(o.ref, o.status, o.field, o.reason) for o in outcomes if o.status != "accepted"] == []
    assert len(outcomes) == len(FIELDS)


def test_openapi_has_a_schema_per_event_type_with_its_fields_and_required_list(
    schemas: dict[str, Any],
) -> None:
    for kind, spec in FIELDS.items():
        schema = schemas[f"Event_{kind}"]
        assert set(schema["properties"]) == set(COMMON) | set(spec), kind
        assert set(schema["required"]) == {"id", "type", "at"} | {f for f, need in spec.items() if need}
        assert schema["properties"]["type"] == {"type": "string", "const": kind}
        assert schema["additionalProperties"] is False
    assert schemas["Event_contact"]["properties"]["channel"]["enum"] == list(CONTACT_CHANNELS)
    assert schemas["Event_case_opened"]["properties"]["channel"]["enum"] == list(CASE_CHANNELS)
    mapping = schemas["Event"]["discriminator"]["mapping"]
    assert mapping == {kind: f"#/components/schemas/Event_{kind}" for kind in FIELDS}


def test_post_events_documents_its_body_as_events_and_offers_every_example(app: FastAPI) -> None:
    body = app.openapi()["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    event = {"$ref": "#/components/schemas/Event"}
    assert body["schema"] == {"oneOf": [event, {"type": "array", "items": event}]}
    offered = body["examples"]
    assert {kind: offered[kind]["value"] for kind in FIELDS} == EXAMPLES
    assert offered["batch"]["value"] == list(EXAMPLES.values())


def test_every_example_validates_against_the_published_schema(schemas: dict[str, Any]) -> None:
    event = validator(schemas, "Event")
    for example in doc_examples():
        errors = [e.message for e in event.iter_errors(example)]
        assert errors == [], (example["type"], errors)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"enterprise": None}, "a required field missing"),
        ({"channel": "fax"}, "a value outside the allowed ones"),
        ({"colour": "red"}, "a field the type does not have"),
        ({"enterprise": "91321311MA04RXUNW"}, "a credit code of 17 characters"),
        ({"type": "visit"}, "the fields of another type"),
    ],
)
def test_the_schema_refuses_what_ingest_refuses(
    schemas: dict[str, Any], change: dict[str, Any], why: str
) -> None:
    record = {**EXAMPLES["contact"], **change}
    record = {k: value for k, value in record.items() if value is not None}
    assert not validator(schemas, "Event").is_valid(record), why


def test_a_visit_names_exactly_one_of_official_and_officials(schemas: dict[str, Any]) -> None:
    visit = validator(schemas, "Event_visit")
    both = {**EXAMPLES["visit"], "officials": ["o-spj-2"]}
    neither = {k: value for k, value in EXAMPLES["visit"].items() if k != "official"}
    assert visit.is_valid(EXAMPLES["visit"])
    assert not visit.is_valid(both)
    assert not visit.is_valid(neither)
