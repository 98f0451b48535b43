"""Prometheus metrics, read from a snapshot the tick refreshes: a scrape never queries the database.

Labels are bounded (rule, unit, channel, status, state, level, type, outcome): never a person,
an enterprise or a case.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, PlatformCollector, ProcessCollector
from prometheus_client import Counter as PromCounter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from monitor.evaluation.evaluate import Evaluation
from monitor.ingest.events import FIELDS
from monitor.ingest.outcome import RecordOutcome


@dataclass
class Snapshot:
    """What the last tick saw, as label tuples and counts."""

    obligations: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (rule, unit, status)
    open_cases: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, sla state)
    alerts: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (rule, state, level)
    last_tick: float = 0.0
    calendar: dict[str, bool] = field(default_factory=dict)  # year -> a notice covers it

    @classmethod
    def counted(
        cls,
        at: datetime,
        tallies: tuple[
            Counter[tuple[str, str, str]], Counter[tuple[str, str]], Counter[tuple[str, str, str]]
        ],
        calendar: dict[str, bool],
    ) -> Snapshot:
        """From the counts a tick kept as it went (monitor/evaluation/steady.py)."""
        obligations, open_cases, alerts = tallies
        return cls(Counter(obligations), Counter(open_cases), Counter(alerts), at.timestamp(), calendar)

    @classmethod
    def of(cls, evaluation: Evaluation, calendar: dict[str, bool]) -> Snapshot:
        snap = cls(calendar=calendar, last_tick=evaluation.at.timestamp())
        if evaluation.continued is not None:  # a continued evaluation counted as it went
            obligations, open_cases, alerts = evaluation.continued.tallies
            snap.obligations, snap.open_cases, snap.alerts = (
                Counter(obligations),
                Counter(open_cases),
                Counter(alerts),
            )
            return snap
        for o in evaluation.obligations:
            snap.obligations[(o.rule, o.unit_id or "", o.status)] += 1
            if o.subject.startswith("case:") and o.status in ("pending", "overdue"):
                snap.open_cases[(o.rule, o.status)] += 1
        for a in evaluation.alerts:
            snap.alerts[(a.rule, a.state, str(a.level))] += 1
        return snap


class _SnapshotCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self._metrics.snapshot
        families: list[tuple[str, str, list[str], Counter[Any]]] = [
            (
                "dutywatch_obligations",
                "Obligations in view at the last tick, by rule, answerable unit and status.",
                ["rule", "unit", "status"],
                snap.obligations,
            ),
            (
                "dutywatch_open_cases",
                "Running case clocks at the last tick, by rule and SLA state.",
                ["rule", "state"],
                snap.open_cases,
            ),
            (
                "dutywatch_alerts_firing",
                "Alerts firing at the last tick, by rule, state and level.",
                ["rule", "state", "level"],
                snap.alerts,
            ),
        ]
        for name, doc, labels, counts in families:
            family = GaugeMetricFamily(name, doc, labels=labels)
            for key, value in sorted(counts.items()):
                family.add_metric(list(key), value)
            yield family
        tick = GaugeMetricFamily(
            "dutywatch_last_successful_tick_timestamp_seconds", "When the last tick completed (Unix time)."
        )
        tick.add_metric([], snap.last_tick)
        yield tick
        covered = GaugeMetricFamily(
            "dutywatch_calendar_covered",
            "1 when a State Council notice covers the year, 0 when it is provisional or refused "
            "(the current year and, from 1 November, the next).",
            labels=["year"],
        )
        for year, ok in sorted(snap.calendar.items()):
            covered.add_metric([year], 1.0 if ok else 0.0)
        yield covered
        reload_ok = GaugeMetricFamily(
            "dutywatch_config_last_reload_successful", "1 when the last config and rules reload succeeded."
        )
        reload_ok.add_metric([], 1.0 if self._metrics.reload_ok else 0.0)
        yield reload_ok
        depth = GaugeMetricFamily("dutywatch_outbox_depth", "Notifications waiting to be sent.")
        depth.add_metric([], self._metrics.outbox_depth)
        yield depth
        oldest = GaugeMetricFamily(
            "dutywatch_outbox_oldest_age_seconds", "Age of the oldest waiting notification."
        )
        oldest.add_metric([], self._metrics.outbox_oldest_seconds)
        yield oldest
        up = GaugeMetricFamily(
            "dutywatch_database_up", "1 when the last attempt to reach the database worked."
        )
        up.add_metric([], 1.0 if self._metrics.database_up else 0.0)
        yield up
        leader = GaugeMetricFamily("dutywatch_leader", "1 when this process runs the ticks.")
        leader.add_metric([], 1.0 if self._metrics.leader else 0.0)
        yield leader


class Metrics:
    """The daemon's metrics on a private registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._lock = threading.Lock()
        self._snapshot = Snapshot()
        self.reload_ok = True  # set at once by a reload, not at the next tick
        self.leader = True
        self.outbox_depth = 0
        self.outbox_oldest_seconds = 0.0
        self.database_up = True  # the last attempt to reach the database worked
        self.notifications = PromCounter(
            "dutywatch_notifications",
            "Notifications by channel and outcome (sent, retry, dead).",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.events_ingested = PromCounter(
            "dutywatch_events_ingested",
            "Event records ingested, by type and outcome.",
            ["type", "outcome"],
            registry=self.registry,
        )
        self.evaluation_seconds = Histogram(
            "dutywatch_evaluation_duration_seconds",
            "Time one evaluation took.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.tick_failures = PromCounter(
            "dutywatch_tick_failures",
            "Ticks that failed (the next one tries again), by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.connections_cut = PromCounter(
            "dutywatch_http_connections_cut",
            "Connections the HTTP server cut off or refused, by reason: head_timeout (no complete "
            "request head in time), per_client (the address holds too many), room (cut off to make "
            "room at the connection limit).",
            ["reason"],
            registry=self.registry,
        )
        self.registry.register(_SnapshotCollector(self))
        # the standard process_* (CPU, memory, open files, start time) and python_info series
        # operators' dashboards and alerts expect of any exporter; the private registry has none
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)

    def count_cut(self, reason: str) -> None:
        """Count a connection the HTTP server cut off (monitor.api.guard); reasons are ours."""
        self.connections_cut.labels(reason).inc()

    def count_ingested(self, records: Sequence[object], outcomes: Sequence[RecordOutcome]) -> None:
        """Count event records by type and outcome; a type that is not one of the schema's is
        counted as `unknown`, so what clients send cannot grow the label set."""
        counts = Counter(
            (_event_type(record), outcome.status) for record, outcome in zip(records, outcomes, strict=True)
        )
        for (kind, status), n in counts.items():
            self.events_ingested.labels(kind, status).inc(n)

    @property
    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot

    def publish(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._snapshot = snapshot


def _event_type(record: object) -> str:
    kind = record.get("type") if isinstance(record, dict) else None
    return kind if isinstance(kind, str) and kind in FIELDS else "unknown"
