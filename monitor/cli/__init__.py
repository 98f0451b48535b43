"""The `dutywatch` command line (also `python -m monitor`).

The group only parses the global options into a `Context`; each command lives in the module
of its feature and is registered below, so importing the CLI loads no heavy dependency that the
chosen command does not use.
"""

from __future__ import annotations

from pathlib import Path

import click

from monitor.cli.context import Context


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
