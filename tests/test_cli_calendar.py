"""`dutywatch calendar add-workdays DATE N` and `calendar is-workday DATE`, through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from monitor.cli import cli


@pytest.fixture
def overrides(tmp_path: Path) -> Path:
    folder = tmp_path / "calendar"
    folder.mkdir()
    return folder


@pytest.fixture
def config(tmp_path: Path, overrides: Path) -> Path:
    """A config whose calendar overrides live in a folder of the test's own."""
    path = tmp_path / "dutywatch.yaml"
    path.write_text(f"calendar:\n  overrides_dir: {overrides}\n", encoding="utf-8")
    return path


def calendar(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "calendar", *args], catch_exceptions=False)


def test_add_workdays_prints_the_deadline_counting_the_make_up_sunday(config: Path) -> None:
    result = calendar(config, "add-workdays", "2024-09-27", "5")
    assert (result.exit_code, result.stdout) == (0, "2024-10-10\n")


def test_add_workdays_from_inside_a_holiday(config: Path) -> None:
    result = calendar(config, "add-workdays", "2024-10-03", "1")
    assert (result.exit_code, result.stdout) == (0, "2024-10-08\n")


def test_add_workdays_zero_is_the_same_working_day_or_the_next(config: Path) -> None:
    assert calendar(config, "add-workdays", "2024-10-12", "0").stdout == "2024-10-12\n"
    assert calendar(config, "add-workdays", "2024-10-05", "0").stdout == "2024-10-08\n"


def test_add_workdays_across_the_new_year(config: Path) -> None:
    assert calendar(config, "add-workdays", "2024-12-31", "3").stdout == "2025-01-06\n"


@pytest.mark.parametrize(
    ("day", "answer"),
    [
        ("2024-10-12", "workday"),  # a make-up Saturday
        ("2024-10-03", "rest-day"),  # National Day
        ("2024-10-08", "workday"),
        ("2024-10-13", "rest-day"),  # an ordinary Sunday
    ],
)
def test_is_workday_prints_workday_or_rest_day(config: Path, day: str, answer: str) -> None:
    result = calendar(config, "is-workday", day)
    assert (result.exit_code, result.stdout) == (0, f"{answer}\n")


@pytest.fixture
def strict_config(tmp_path: Path, overrides: Path) -> Path:
    """A config that refuses an unannounced year instead of answering it provisionally."""
    path = tmp_path / "strict.yaml"
    path.write_text(f"calendar:\n  overrides_dir: {overrides}\n  unannounced: strict\n", encoding="utf-8")
    return path


def test_is_workday_in_an_uncovered_year_exits_3_naming_it(strict_config: Path) -> None:
    result = calendar(strict_config, "is-workday", "2027-01-04")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert "2027" in result.stderr


def test_a_deadline_running_into_an_uncovered_year_exits_3_naming_it(strict_config: Path) -> None:
    result = calendar(strict_config, "add-workdays", "2026-12-30", "5")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert "2027" in result.stderr


def test_a_year_file_covers_the_year_for_the_cli(config: Path, overrides: Path) -> None:
    (overrides / "2027.yaml").write_text(
        "year: 2027\nnotice: 测试用通知（非真实安排）\nholidays: [2027-01-01]\n", encoding="utf-8"
    )
    assert calendar(config, "is-workday", "2027-01-01").stdout == "rest-day\n"
    assert calendar(config, "add-workdays", "2026-12-31", "1").stdout == "2027-01-04\n"


def test_a_broken_year_file_exits_1_with_file_and_line(config: Path, overrides: Path) -> None:
    (overrides / "2027.yaml").write_text("year: 2027\nnotice: x\nholidays: [2027-02-30]\n", encoding="utf-8")
    result = calendar(config, "is-workday", "2024-10-08")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{overrides / '2027.yaml'}:3: ")


@pytest.mark.parametrize("bad", ["2024-02-30", "tomorrow", "2024/10/08", ""])
def test_a_bad_date_argument_is_a_usage_error(config: Path, bad: str) -> None:
    result = calendar(config, "is-workday", bad)
    assert result.exit_code == 2
    assert "not a date (YYYY-MM-DD)" in result.stderr


def test_a_bad_start_date_for_add_workdays_is_a_usage_error(config: Path) -> None:
    result = calendar(config, "add-workdays", "2024-13-01", "1")
    assert result.exit_code == 2
    assert "not a date (YYYY-MM-DD)" in result.stderr


@pytest.mark.parametrize("n", ["-1", "five", "1.5"])
def test_a_bad_count_is_a_usage_error(config: Path, n: str) -> None:
    result = calendar(config, "add-workdays", "2024-10-08", "--", n)
    assert result.exit_code == 2
    assert result.stdout == ""
