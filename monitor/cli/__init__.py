"""The `dutywatch` command line (also `python -m monitor`).

The group only parses the global options into a `Context`; each command lives in the module
of its feature and is registered below, so importing the CLI loads no heavy dependency that the
chosen command does not use.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.yamlsource import SourceError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from monitor.calendar import WorkCalendar
    from monitor.config import Settings
    from monitor.evaluation import Evaluator
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
            from monitor.store.db import ensure_schema, make_engine

            settings = self.settings
            self._engine = make_engine(
                settings.database_url,
                busy_timeout=settings.sqlite_busy_timeout_seconds,
                synchronous=settings.sqlite_synchronous,
            )
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
        from monitor.evaluation import Evaluator

        return Evaluator.of(self.rulebook(), self.calendar())

    def calendar(self) -> WorkCalendar:
        from monitor.calendar import load_calendar

        try:
            return load_calendar(self.settings.calendar.overrides_dir, self.settings.calendar.unannounced)
        except SourceError as exc:
            click.echo(str(exc), err=True)
            sys.exit(1)


pass_context = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    envvar="DUTYWATCH_CONFIG",
    help="Config file (default config/dutywatch.yaml).",
)
@click.option("--db", "db_url", envvar="DUTYWATCH_DB_URL", help="Database URL (default SQLite under ./var/).")
@click.version_option(package_name="dutywatch")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, db_url: str | None) -> None:
    """dutywatch: watches the duties of the Suyu District business-environment policy."""
    ctx.obj = Context(config_path, db_url)
    ctx.call_on_close(ctx.obj.close)


def _register() -> None:
    from monitor.cli import (
        admin_cmd,
        backtest_cmd,
        calendar_cmd,
        check_cmd,
        check_config_cmd,
        db_cmd,
        demo_cmd,
        evaluate_cmd,
        import_cmd,
        links_cmd,
        notify_cmd,
        report_cmd,
        run_cmd,
        template_cmd,
        test_rules_cmd,
        token_cmd,
    )

    cli.add_command(admin_cmd.alerts)
    cli.add_command(admin_cmd.outbox)
    cli.add_command(admin_cmd.silence)
    cli.add_command(admin_cmd.waiver)
    cli.add_command(admin_cmd.obligations)
    cli.add_command(admin_cmd.audit)
    cli.add_command(backtest_cmd.backtest)
    cli.add_command(calendar_cmd.calendar)
    cli.add_command(check_config_cmd.check_config)
    cli.add_command(db_cmd.db)
    cli.add_command(demo_cmd.demo)
    cli.add_command(evaluate_cmd.evaluate)
    cli.add_command(import_cmd.import_files)
    cli.add_command(links_cmd.links)
    cli.add_command(notify_cmd.notify)
    cli.add_command(report_cmd.report)
    cli.add_command(test_rules_cmd.test_rules)
    cli.add_command(run_cmd.run)
    cli.add_command(check_cmd.check)
    cli.add_command(token_cmd.token)
    cli.add_command(template_cmd.template)


_register()


def main() -> None:
    cli(prog_name="dutywatch")
