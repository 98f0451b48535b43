"""docs/api.md names exactly the metrics the daemon exposes and the fields of the alert record."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry

from monitor.evaluation.evaluate import Alert
from monitor.evaluation.message import Written
from monitor.runtime.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs/api.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    return DOC.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def first_column(text: str) -> list[str]:
    return re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.M)


def test_the_metrics_table_names_each_exposed_metric_with_its_type() -> None:
    registry = CollectorRegistry()
    Metrics(registry)
    exposed = {
        family.name + ("_total" if family.type == "counter" else ""): family.type
        for family in registry.collect()
        if family.name.startswith("dutywatch_")  # process_* and python_info: the client's standard ones
    }
    rows = re.findall(r"^\| `(dutywatch_[a-z_]+)` \| ([a-z]+) \|", section("Metrics"), flags=re.M)
    assert dict(rows) == exposed


def test_the_alert_record_table_names_each_field_evaluate_prints() -> None:
    alert = Alert(
        rule="pairing-monthly-visit",
        subject="pairing:o-1:91321311MA04RXUNW1",
        period="2024-10",
        state="overdue",
        level=1,
        due_at=datetime(2024, 10, 31, 15, 59, 59, tzinfo=UTC),
        recipients=("o-1",),
        clause="四",
        wording=Written("…"),
    )
    assert first_column(section("The alert record")) == list(alert.record())
