"""The API fuzzed from its own OpenAPI schema (schemathesis) over real HTTP, with a token that
holds every scope: valid and invalid requests alike get no 5xx, every error has the one JSON
shape, and a refused request writes nothing.

Short in `make test`; `DUTYWATCH_FUZZ_EXAMPLES=500 pytest tests/service/test_fuzz_api.py` runs long.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, not_a_server_error
from sqlalchemy import func, select

from monitor.store.models import AuditEntry, Event, Silence, Waiver
from tests.service.conftest import Daemon

EXAMPLES = int(os.environ.get("DUTYWATCH_FUZZ_EXAMPLES", "25"))
# reload is left out: every call rereads config and rules (the daemon tests cover it)
SKIP = {("POST", "/-/reload")}


def _counts(daemon: Daemon) -> tuple[int, int, int, int]:
    with daemon.service.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Event)) or 0,
            session.scalar(select(func.count()).select_from(Waiver)) or 0,
            session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
            session.scalar(select(func.count()).select_from(Silence)) or 0,
        )


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_from_the_schema_gets_a_server_error(daemon: Daemon, mode: GenerationMode) -> None:
    daemon.tick()  # /readyz answers 503 until a first tick, by design
    spec = daemon.call(None, "GET", "/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    headers = {"Authorization": f"Bearer {daemon.tokens['ingest,read,admin']}"}
    seen: Counter[int] = Counter()
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIP:
            continue

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            nonlocal tried
            tried += 1
            before = _counts(daemon)
            response = case.call(base_url=daemon.url, headers=headers, timeout=30)
            seen[response.status_code] += 1
            case.validate_response(response, checks=[not_a_server_error, content_type_conformance])
            after = _counts(daemon)
            if response.status_code >= 400:
                assert set(response.json()) == {"error"}, response.text
                assert {"code", "message"} <= set(response.json()["error"])
                assert after == before, f"{case.method} {case.path} refused but wrote: {before} -> {after}"
            elif case.path == "/v1/events":
                accepted = response.json()["accepted"]
                assert after[0] - before[0] == accepted

        try:
            fuzz()
        except Unsatisfiable:
            # no invalid request exists for an operation without parameters or body (/healthz)
            assert mode is GenerationMode.NEGATIVE
    assert tried >= EXAMPLES  # the operations were really exercised
    assert not [code for code in seen if code >= 500]
    print(f"fuzz {mode.value}: {tried} requests, status codes {dict(sorted(seen.items()))}")
