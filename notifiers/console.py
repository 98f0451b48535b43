"""Console and file channels, for development and the demo: the message as one JSON line."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TextIO

from notifiers.base import Channel, ChannelSettings, Message, NoSettings, Receipt


def _line(message: Message) -> str:
    return json.dumps(
        {
            "to": message.recipient.name,
            "subject": message.subject,
            "text": message.text,
            "id": message.idempotency_key,
        },
        ensure_ascii=False,
    )


class ConsoleNotifier(Channel):
    """Writes each message to stdout (or the stream given)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    @classmethod
    def from_settings(cls, settings: NoSettings) -> ConsoleNotifier:
        return cls()

    async def send(self, message: Message) -> Receipt:
        stream = self.stream or sys.stdout
        stream.write(_line(message) + "\n")
        stream.flush()
        return Receipt(message.idempotency_key)


class FileSettings(ChannelSettings):
    path: Path  # where messages go when the recipient has no `address` of their own


class FileNotifier(Channel):
    """Appends each message as a JSON line to a file (the recipient's `address`, else `path`)."""

    settings_model = FileSettings

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def from_settings(cls, settings: FileSettings) -> FileNotifier:
        return cls(settings.path)

    async def send(self, message: Message) -> Receipt:
        path = Path(message.recipient.address) if message.recipient.address else self.path

        def append() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as out:
                out.write(_line(message) + "\n")

        await asyncio.to_thread(append)
        return Receipt(message.idempotency_key)
