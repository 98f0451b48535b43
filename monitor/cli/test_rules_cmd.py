"""`dutywatch test-rules FILE...`: run rule unit tests; exit 1 with a diff when one fails."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from monitor.cli.context import Context, pass_context


@click.command("test-rules")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@pass_context
def test_rules(ctx: Context, files: tuple[Path, ...]) -> None:
    """Run rule unit tests (roster, events, instants, expected alerts)."""
    from monitor.evaluation.ruletests import run_file
    from monitor.yamlsource import SourceError

    evaluator = ctx.evaluator()
    passed = failed = 0
    for path in files:
        try:
            results = run_file(path, evaluator.rulebook, evaluator.calendar, ctx.settings, evaluator.matcher)
        except SourceError as exc:
            click.echo(f"ERROR {exc}")
            failed += 1
            continue
        for result in results:
            if result.passed:
                passed += 1
            else:
                failed += 1
                click.echo(result.diff())
    click.echo(f"test-rules: {passed} passed, {failed} failed")
    if failed:
        sys.exit(1)
