"""Structured logs: one JSON object per line, with phone numbers, emails and tokens masked."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

_MASKS = (
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (re.compile(r"\bdw_[A-Za-z0-9_-]{8,}"), "dw_***"),
    (re.compile(r"(?i)((?:access_token|key|secret|sign|password)=)[^&\s\"']+"), r"\1***"),
    (re.compile(r"(smtps?://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),
    # mainland mobiles, also as +86 139 5123 4567 or 139-5123-4567: keep the first 3 and last 4
    (
        re.compile(r"(?<![\d+])((?:(?:\+|00)?86[\s-]?)?1[3-9]\d)[\s-]?\d{4}[\s-]?(\d{4})(?!\d)"),
        r"\1****\2",
    ),
    # landlines with their area code (0527-84351234): keep the area code and the last 4
    (re.compile(r"(?<![\d-])(0\d{2,3})-\d{3,4}(\d{4})(?![\d-])"), r"\1-****\2"),
    (re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*(@[A-Za-z0-9.-]+\.[A-Za-z]{2,})\b"), r"\1***\2"),
)


def mask(text: str) -> str:
    """Mask secrets and personal contact details in a log text."""
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = mask(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["error"] = mask(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO, and robot keys and tokens travel in URLs
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
