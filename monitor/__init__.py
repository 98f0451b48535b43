"""dutywatch: watches the duties of the Suyu District business-environment policy."""

from __future__ import annotations

__version__ = "0.1.0"
