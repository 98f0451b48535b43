"""`dutywatch report --out` writes into a folder that does not exist yet, or says why it cannot."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from monitor.cli import cli


def report(db_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["--db", db_url, "report", "--period", "2024-11", *args], catch_exceptions=False
    )
    return result.exit_code, result.output


@pytest.mark.parametrize("fmt", ["csv", "html", "xlsx"])
def test_a_missing_folder_is_created(db_url: str, tmp_path: Path, fmt: str) -> None:
    assert CliRunner().invoke(cli, ["--db", db_url, "db", "upgrade"]).exit_code == 0
    out = tmp_path / "reports" / "2024-11" / f"report.{fmt}"
    code, output = report(db_url, "--format", fmt, "--out", str(out))
    assert (code, output) == (0, f"wrote {out}\n")
    if fmt == "xlsx":
        assert openpyxl.load_workbook(out).sheetnames == ["汇总", "趋势", "通报"]
    else:
        assert out.read_text(encoding="utf-8")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_folder_that_cannot_be_made_is_a_clear_error(db_url: str, tmp_path: Path) -> None:
    assert CliRunner().invoke(cli, ["--db", db_url, "db", "upgrade"]).exit_code == 0
    (tmp_path / "taken").write_text("a file, not a folder", encoding="utf-8")
    out = tmp_path / "taken" / "report.csv"
    code, output = report(db_url, "--format", "csv", "--out", str(out))
    assert code == 1 and output.startswith(f"Error: cannot write {out}: ")
    assert "Traceback" not in output
