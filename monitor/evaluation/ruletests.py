"""Rule unit tests, in the spirit of `promtool test rules`.

A test file holds a small roster, events, and instants to evaluate at with the alerts expected
there — and, by omission, no others (among the rules the file names in `rules`, or all rules).
Each file runs in a fresh in-memory database through the same ingest and evaluation code as
production, so what a test shows is what the daemon does.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Engine

from monitor.calendar.working_days import WorkCalendar
from monitor.clock import parse_instant
from monitor.config import Settings
from monitor.evaluation.engine import Matcher, compile_matcher
from monitor.evaluation.evaluate import Alert, evaluate
from monitor.rulebook import Rulebook
from monitor.store.db import ensure_schema, make_engine, session_factory
from monitor.yamlsource import SourceError, load_yaml_mapping, pydantic_errors

COMPARED = ("rule", "subject", "period", "state", "level")
OPTIONAL = ("due", "recipients")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ExpectedAlert(_Frozen):
    rule: str
    subject: str
    period: str | None = None
    state: str
    level: int = 0
    due: str | None = None  # compared when given (ISO 8601, +08:00)
    recipients: tuple[str, ...] | None = None  # compared when given


class Case_(_Frozen):
    name: str
    at: str
    alerts: tuple[ExpectedAlert, ...] = ()

    @field_validator("at")
    @classmethod
    def _instant(cls, value: str) -> str:
        parse_instant(value)
        return value


class RuleTestFile(_Frozen):
    rules: tuple[str, ...] = ()  # compare only alerts of these rules; empty: all rules
    roster: dict[str, Any] = Field(default_factory=dict)
    events: tuple[dict[str, Any], ...] = ()
    tests: tuple[Case_, ...] = Field(min_length=1)


@dataclass
class CaseResult:
    file: str
    name: str
    at: str
    missing: list[dict[str, Any]] = field(default_factory=list)
    unexpected: list[dict[str, Any]] = field(default_factory=list)
    differing: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (self.missing or self.unexpected or self.differing)

    def diff(self) -> str:
        """A readable account of what differs: `-` expected but absent, `+` present but not expected."""
        lines = [f"FAIL {self.file}: {self.name} (at {self.at})"]
        for exp in self.missing:
            lines.append(f"  - expected: {_show(exp)}")
        for got in self.unexpected:
            lines.append(f"  + unexpected: {_show(got)}")
        for exp, got in self.differing:
            lines.append(f"  ~ {got['rule']} {got['subject']} {got.get('period') or '-'}:")
            for name in (*COMPARED, *OPTIONAL):
                if exp.get(name) is not None and exp.get(name) != got.get(name):
                    lines.append(f"      {name}: expected {exp[name]!r}, got {got.get(name)!r}")
        return "\n".join(lines)


def _show(alert: dict[str, Any]) -> str:
    return " ".join(f"{k}={alert.get(k)}" for k in COMPARED if k in alert)


def _as_dict(alert: Alert) -> dict[str, Any]:
    record = alert.record()
    record["recipients"] = tuple(record["recipients"])
    return record


def compare(file: str, case: Case_, got: Sequence[Alert], rules: Sequence[str]) -> CaseResult:
    result = CaseResult(file, case.name, case.at)
    actual = {(a.rule, a.subject, a.period): _as_dict(a) for a in got if not rules or a.rule in rules}
    for exp in case.alerts:
        expected = exp.model_dump()
        key = (exp.rule, exp.subject, exp.period)
        found = actual.pop(key, None)
        if found is None:
            result.missing.append(expected)
            continue
        wrong = [n for n in COMPARED if expected[n] != found[n]]
        wrong += [n for n in OPTIONAL if expected[n] is not None and expected[n] != found[n]]
        if wrong:
            result.differing.append((expected, found))
    result.unexpected.extend(actual.values())
    return result


def run_file(
    path: Path,
    rulebook: Rulebook,
    calendar: WorkCalendar,
    settings: Settings,
    matcher: Matcher | None = None,
    *,
    engine: Engine | None = None,
) -> list[CaseResult]:
    """Run one test file; raises SourceError when the file itself is wrong (or its data is rejected).

    By default in a fresh temporary SQLite database; `engine` runs it in the empty database given.
    """
    from monitor.ingest.events import ingest_events
    from monitor.ingest.roster import load_roster, upsert_roster

    doc = load_yaml_mapping(path)
    try:
        spec = RuleTestFile.model_validate(doc.data)
    except ValidationError as exc:
        raise pydantic_errors(doc, exc)[0] from None
    for i, rule in enumerate(spec.rules):
        if rule not in rulebook.rules:
            raise doc.error(("rules", i), f"unknown rule {rule!r}")
    instants = [parse_instant(c.at) for c in spec.tests]
    event_times = []
    for event in spec.events:
        with contextlib.suppress(ValueError):
            event_times.append(parse_instant(str(event.get("at", ""))))
    ingest_now: datetime = max([*instants, *event_times])
    matcher = matcher or compile_matcher(rulebook)
    with tempfile.TemporaryDirectory(prefix="dutywatch-ruletest-") as tmp:
        own = engine is None
        db = make_engine(f"sqlite:///{Path(tmp) / 'test.db'}") if engine is None else engine
        try:
            ensure_schema(db)
            with session_factory(db)() as session:
                roster, problems = load_roster(
                    spec.roster, str(path), lambda p: f"{path}:{doc.line_of(('roster', *p))}"
                )
                problems += [o for o in upsert_roster(session, roster) if o.status == "rejected"]
                if problems:
                    raise SourceError(str(path), doc.line_of(("roster",)), f"roster rejected: {problems[0]}")
                records = [(f"{path}:{doc.line_of(('events', i))}", e) for i, e in enumerate(spec.events)]
                for outcome in ingest_events(session, records, now=ingest_now, settings=settings):
                    if outcome.status == "rejected":
                        line = int(outcome.ref.rsplit(":", 1)[1]) if ":" in outcome.ref else 0
                        raise SourceError(
                            str(path), line, f"event rejected: {outcome.field}: {outcome.reason}"
                        )
                session.commit()
                results = []
                for case, at in zip(spec.tests, instants, strict=True):
                    evaluation = evaluate(session, rulebook, calendar, settings, at, matcher, language="zh")
                    results.append(compare(str(path), case, evaluation.alerts, spec.rules))
                return results
        finally:
            if own:
                db.dispose()


__all__ = ["CaseResult", "compare", "run_file"]
