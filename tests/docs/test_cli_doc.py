"""docs/cli.md names every command, and the exit codes it documents are the ones the CLI gives."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from monitor.cli import cli

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs/cli.md"


def documented_codes() -> dict[str, set[int]]:
    """The exit-code table: each command and the codes its row names."""
    section = DOC.read_text(encoding="utf-8").split("Which command exits with which code", 1)[1]
    rows = re.findall(r"^\| `([a-z -]+)` \| (.+) \|$", section, flags=re.M)
    return {command: {int(code) for code in re.findall(r"`(\d)`", codes)} for command, codes in rows}


def commands(group: click.Group = cli, prefix: str = "") -> list[str]:
    """Every command the CLI registers, subcommands as `group sub`."""
    found: list[str] = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += commands(command, f"{prefix}{name} ")
        else:
            found.append(f"{prefix}{name}")
    return found


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config of the test's own: an empty calendar folder, a heartbeat that was never written."""
    (tmp_path / "calendar").mkdir()
    path = tmp_path / "dutywatch.yaml"
    path.write_text(
        f"database_url: sqlite:///{tmp_path / 'dutywatch.db'}\n"
        f"rules_dir: {ROOT / 'rules'}\n"
        f"heartbeat_file: {tmp_path / 'heartbeat'}\n"
        f"calendar:\n  overrides_dir: {tmp_path / 'calendar'}\n",
        encoding="utf-8",
    )
    return path


def test_every_command_has_a_row_of_exit_codes_and_every_row_is_a_command() -> None:
    documented = documented_codes()
    assert sorted(documented) == sorted(commands())
    assert all(0 in codes for codes in documented.values())


@pytest.mark.parametrize(
    ("command", "args", "code"),
    [
        ("calendar is-workday", ["2001-06-01"], 3),
        ("calendar is-workday", ["2099-06-01"], 0),  # provisional: a warning, not a failure
        ("calendar is-workday", ["2024-13-01"], 2),
        ("calendar add-workdays", ["2024-09-27", "5"], 0),
        ("check", [], 1),
        ("evaluate", ["--at", "tomorrow"], 2),
        ("token revoke", ["nobody"], 1),
        ("token create", ["--name", "x", "--scopes", "root"], 2),
        ("outbox retry", [], 2),
        ("check-config", [], 0),
        ("report", ["--period", "2024"], 2),
        ("report", ["--period", "2027-01", "--now", "2026-11-29T10:00"], 4),
        ("report", ["--period", "2026-11", "--now", "2026-11-29T10:00"], 0),  # under way: reported
        ("alerts ack", ["99", "--by", "me", "--reason", "on it"], 1),
        ("waiver add", ["--rule", "nope", "--subject", "s", "--reason", "r", "--approver", "a"], 2),
        ("calendar add-workdays", ["2001-01-01", "3"], 3),
    ],
)
def test_the_documented_exit_code_is_the_real_one(
    config: Path, command: str, args: list[str], code: int
) -> None:
    result = CliRunner().invoke(cli, ["--config", str(config), *command.split(), *args])
    assert result.exit_code == code, result.output
    assert code in documented_codes()[command], f"{command} exits {code}, which docs/cli.md does not name"


def test_a_rejected_record_makes_import_exit_1_as_documented(config: Path, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"id": "e1", "type": "visit", "at": "2024-11-05"}\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "import", str(events)])
    assert result.exit_code == 1, result.output
    assert "rejected" in result.output
    assert 1 in documented_codes()["import"]
