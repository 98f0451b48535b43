"""The HTTP API as one FastAPI app: JSON everywhere, errors in one shape, OpenAPI at /openapi.json.

Every route that reads or writes the database does so off the event loop (the thread pool, or
the evaluation thread for evaluations), so the API stays responsive while a tick runs.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from monitor.api import admin, alerts, cases, intake, links, notify, ops, reference, silences, status
from monitor.api.errors import BodyLimit, install
from monitor.api.ops import Reload
from monitor.clock import utcnow
from monitor.runtime.scheduler import Evaluations
from monitor.runtime.service import Service

DESCRIPTION = """Watches the duties of the Suyu District business-environment policy.

Send a bearer token (`dutywatch token create`) with a scope: `ingest` for events, `read` for
alerts, obligations and cases, `admin` for the roster, acknowledgements, waivers, the audit log, reload and test messages. Errors are
`{"error": {"code": ..., "message": ...}}`."""


def create_app(
    service: Service, evaluations: Evaluations | None = None, reload: Reload | None = None
) -> FastAPI:
    """The app over a service. The daemon passes its own `evaluations` (shared with the
    scheduler) and `reload` (which also retimes the tick); the defaults serve tests and tools."""

    async def reload_on_evaluation_thread() -> tuple[bool, str]:
        return await asyncio.get_running_loop().run_in_executor(service.executor, service.reload)

    app = FastAPI(title="dutywatch", version="0.1.0", description=DESCRIPTION, docs_url=None, redoc_url=None)
    app.state.service = service
    app.state.evaluations = evaluations or Evaluations(service)
    app.state.reload = reload or reload_on_evaluation_thread
    app.state.clock = utcnow  # monitor/api/now.py: the routes that judge by the date read it
    install(app)
    app.add_middleware(BodyLimit, limit=service.settings.ingest.max_body_bytes, bulk=intake.BULK_ROUTES)
    for module in (ops, intake, alerts, cases, admin, silences, notify, status, reference, links):
        app.include_router(module.router)
    intake.document_events(app)
    return app
