"""`/docs`: the API reference, rendered here from the app's own OpenAPI document.

Swagger UI and ReDoc load their scripts from a public CDN, which a government intranet does not
reach and which would run foreign scripts beside the signed-in status page. This page is plain
HTML under the status page's strict policy (no scripts): every route with its summary, and every
event type with its fields, allowed values and example — the same JSON Schema `/openapi.json`
publishes, so the two never disagree.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from monitor.api.status import HEADERS, templates
from monitor.ingest.event_examples import EXAMPLES
from monitor.ingest.event_schema import component_name

router = APIRouter()

_METHODS = ("get", "post", "put", "patch", "delete")


def _value(schema: dict[str, Any]) -> str:
    """A field's allowed values in words: its enum, else its type (and pattern or bounds)."""
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    if "anyOf" in schema or "oneOf" in schema:
        return " or ".join(_value(s) for s in schema.get("anyOf", schema.get("oneOf", [])))
    kind = str(schema.get("type", "any"))
    if kind == "array" and isinstance(schema.get("items"), dict):
        return f"list of {_value(schema['items'])}"
    bounds = [f"{k} {schema[k]}" for k in ("minimum", "maximum", "maxLength") if k in schema]
    return kind + (f" ({', '.join(bounds)})" if bounds else "")


def reference(spec: dict[str, Any]) -> dict[str, Any]:
    """What the page shows, read from an OpenAPI document."""
    routes = [
        {
            "method": method.upper(),
            "path": path,
            "summary": op.get("summary", ""),
            "text": op.get("description", ""),
        }
        for path, item in sorted(spec.get("paths", {}).items())
        for method, op in item.items()
        if method in _METHODS
    ]
    schemas = spec.get("components", {}).get("schemas", {})
    events = []
    for kind, example in EXAMPLES.items():
        schema = schemas.get(component_name(kind), {})
        required = set(schema.get("required", ()))
        fields = [
            {
                "name": name,
                "required": name in required,
                "values": _value(field),
                "text": field.get("description", ""),
            }
            for name, field in schema.get("properties", {}).items()
        ]
        events.append(
            {"type": kind, "fields": fields, "example": json.dumps(example, ensure_ascii=False, indent=2)}
        )
    return {"title": spec.get("info", {}).get("title", ""), "routes": routes, "events": events}


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
async def docs(request: Request) -> HTMLResponse:
    """The API reference (no token: it says what /openapi.json says)."""
    body = templates().get_template("reference.html.j2").render(**reference(request.app.openapi()))
    return HTMLResponse(body, headers=HEADERS)
