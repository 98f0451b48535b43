"""What every command may need, built lazily from the global options, and the decorator that
hands it to a command."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.yamlsource import SourceError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from monitor.calendar.working_days import WorkCalendar
    from monitor.config import Settings
    from monitor.evaluation.evaluate import Evaluator
    from monitor.rulebook import Rulebook


@dataclass
class Context:
    """What every command may need, built lazily from the global options."""

    config_path: Path | None
    db_url: str | None
    _settings: Settings | None = field(default=None, repr=False)
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from monitor.config import load_settings

            try:
                self._settings = load_settings(self.config_path, db_url=self.db_url)
            except SourceError as exc:
                click.echo(str(exc), err=True)
                sys.exit(1)
        return self._settings

    def engine(self, *, upgrade: bool = True) -> Engine:
        """The database engine; an empty or old database is upgraded first unless told not to."""
        if self._engine is None:
            from monitor.store.db import engine_for, ensure_schema

            self._engine = engine_for(self.settings)
            if upgrade:
                ensure_schema(self._engine)
        return self._engine

    def close(self) -> None:
        """Release the database connections (called when the command ends)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def rulebook(self) -> Rulebook:
        from monitor.rulebook import load_rulebook

        try:
            return load_rulebook(self.settings.rules_dir)
        except SourceError as exc:
            click.echo(str(exc), err=True)
            sys.exit(1)

    def evaluator(self) -> Evaluator:
        """The rules and calendar the settings name, with the matcher compiled from the rules."""
        from monitor.evaluation.evaluate import Evaluator

        return Evaluator.of(self.rulebook(), self.calendar())

    def calendar(self) -> WorkCalendar:
        from monitor.calendar.working_days import load_calendar

        try:
            return load_calendar(self.settings.calendar.overrides_dir, self.settings.calendar.unannounced)
        except SourceError as exc:
            click.echo(str(exc), err=True)
            sys.exit(1)


pass_context = click.make_pass_decorator(Context)
