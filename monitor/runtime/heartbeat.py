"""The heartbeat: a file the daemon rewrites after each successful tick, read by `dutywatch check`
(a container HEALTHCHECK).

The file holds the Unix time of the tick; it is replaced atomically, so a reader never sees half
a number.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path


def write_heartbeat(path: Path, when: datetime) -> None:
    """Record a successful tick at `when`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{when.timestamp():.3f}\n", encoding="utf-8")
    tmp.replace(path)


def heartbeat_age(path: Path, now: datetime) -> float | None:
    """Seconds since the last successful tick, or None when there is no readable heartbeat."""
    try:
        return now.timestamp() - float(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
