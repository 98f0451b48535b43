"""Logs on stderr, as JSON lines or plain text, with phone numbers, emails and tokens masked.

Every line carries its time in Asia/Shanghai with the offset (2026-11-25T09:30:00.000+08:00),
in both formats: the district's people read Shanghai time everywhere else (messages, the status
page, reports), and the offset keeps the line unambiguous for machines.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime
from typing import Literal

from monitor.clock import SHANGHAI

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("json", "text")
LogFormat = Literal["json", "text"]

_MASKS = (
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (re.compile(r"\bdw_[A-Za-z0-9_-]{8,}"), "dw_***"),
    (re.compile(r"(?i)((?:access_token|key|secret|sign|password)=)[^&\s\"']+"), r"\1***"),
    (re.compile(r"(smtps?://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),
    # an action link's token is a credential for days (monitor/alerts/links.py): keep the path only
    (re.compile(r"(/l/)[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), r"\1***"),
    # mainland mobiles, also as +86 139 5123 4567 or 139-5123-4567: keep the first 3 and last 4
    (
        re.compile(r"(?<![\d+])((?:(?:\+|00)?86[\s-]?)?1[3-9]\d)[\s-]?\d{4}[\s-]?(\d{4})(?!\d)"),
        r"\1****\2",
    ),
    # landlines with their area code (0527-84351234): keep the area code and the last 4
    (re.compile(r"(?<![\d-])(0\d{2,3})-\d{3,4}(\d{4})(?![\d-])"), r"\1-****\2"),
    (re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*(@[A-Za-z0-9.-]+\.[A-Za-z]{2,})\b"), r"\1***\2"),
)

# APScheduler logs two INFO lines per job run ("Running job …", "… executed successfully"): with
# the dispatcher every 5 s that was four lines in five of the log. They are DEBUG here.
_CHATTY = "apscheduler.executors"


def mask(text: str) -> str:
    """Mask secrets and personal contact details in a log text."""
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def timestamp(record: logging.LogRecord) -> str:
    """The record's time in Asia/Shanghai, ISO 8601 with milliseconds and the +08:00 offset."""
    return datetime.fromtimestamp(record.created, SHANGHAI).isoformat(timespec="milliseconds")


def _fields(record: logging.LogRecord) -> dict[str, object]:
    fields: dict[str, object] = getattr(record, "fields", {})
    return {key: mask(value) if isinstance(value, str) else value for key, value in fields.items()}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the record's fields, the error."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        entry.update(_fields(record))
        if record.exc_info:
            entry["error"] = mask(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message key=value …` for people; a traceback follows indented."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{timestamp(record)} {record.levelname:<7} {record.name}: {mask(record.getMessage())}"
        extra = " ".join(f"{key}={value}" for key, value in _fields(record).items())
        if extra:
            line += f" {extra}"
        if record.exc_info:
            trace = mask(self.formatException(record.exc_info))
            line += "\n" + "\n".join(f"    {part}" for part in trace.splitlines())
        return line


class SchedulerChatter(logging.Filter):
    """Demotes APScheduler's per-run INFO lines to DEBUG, and drops them below the chosen level."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and record.name.startswith(_CHATTY):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return self.level <= logging.DEBUG
        return True


def setup_logging(level: str = "info", fmt: LogFormat = "json") -> None:
    """Send every log record to stderr at `level` or above, formatted as `fmt`."""
    threshold = logging.getLevelName(level.upper())
    if not isinstance(threshold, int):
        raise ValueError(f"unknown log level {level!r}; choose one of {', '.join(LEVELS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if fmt == "text" else JsonFormatter())
    handler.addFilter(SchedulerChatter(threshold))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(threshold)
    # httpx logs every request URL at INFO, and robot keys and tokens travel in URLs
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
