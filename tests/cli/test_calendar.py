"""`dutywatch calendar add-workdays DATE N` and `calendar is-workday DATE`, through the real CLI."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from monitor.calendar.working_days import WorkCalendar
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
def strict(tmp_path: Path, overrides: Path) -> Path:
    path = tmp_path / "strict.yaml"
    path.write_text(f"calendar:\n  overrides_dir: {overrides}\n  unannounced: strict\n", encoding="utf-8")
    return path


def test_is_workday_in_an_uncovered_year_exits_3_naming_it_in_strict_mode(strict: Path) -> None:
    result = calendar(strict, "is-workday", "2027-01-04")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert "2027" in result.stderr


def test_a_deadline_running_into_an_uncovered_year_exits_3_naming_it_in_strict_mode(strict: Path) -> None:
    result = calendar(strict, "add-workdays", "2026-12-30", "5")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert "2027" in result.stderr


def test_an_unannounced_year_is_answered_provisionally_and_says_so(config: Path) -> None:
    result = calendar(config, "is-workday", "2027-02-09")  # a substitute day of the Spring Festival
    assert (result.exit_code, result.stdout) == (0, "rest-day\n")
    assert "provisional" in result.stderr and "2027" in result.stderr
    result = calendar(config, "add-workdays", "2026-12-28", "5")
    assert (result.exit_code, result.stdout) == (0, "2027-01-05\n")
    assert "provisional" in result.stderr
    quiet = calendar(config, "add-workdays", "2026-12-01", "5")  # all in 2026: nothing to say
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "2026-12-08\n", "")


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


NOTICES = Path(__file__).parents[1] / "data" / "notices"


@pytest.fixture
def invented_2027(tmp_path: Path) -> Path:
    from tests.calendar.test_notice import INVENTED_2027

    path = tmp_path / "notice-2027.txt"
    path.write_text(INVENTED_2027, encoding="utf-8")
    return path


def import_notice(config: Path, *args: str, answer: str | None = None) -> Result:
    return CliRunner().invoke(
        cli,
        ["--config", str(config), "calendar", "import-notice", *args],
        input=answer,
        catch_exceptions=False,
    )


def test_import_notice_with_yes_shows_the_difference_and_writes(
    config: Path, overrides: Path, invented_2027: Path
) -> None:
    result = import_notice(config, str(invented_2027), "--yes")
    assert result.exit_code == 0, result.stderr
    assert "Changes to the provisional calendar of 2027:" in result.stdout
    assert "  2027-02-14  provisional: rest-day  → notice: workday (春节调休)\n" in result.stdout
    assert f"wrote {overrides / '2027.yaml'}\n" in result.stdout
    assert sorted(p.name for p in overrides.iterdir()) == ["2026.yaml", "2027.yaml"]
    # the calendar now answers from the file: a make-up Sunday works, the bridging Thursday rests
    assert calendar(config, "is-workday", "2027-02-14").stdout == "workday\n"
    assert calendar(config, "is-workday", "2026-12-31").stdout == "rest-day\n"


def test_import_notice_asks_and_writes_on_yes(config: Path, overrides: Path, invented_2027: Path) -> None:
    result = import_notice(config, str(invented_2027), answer="y\n")
    assert result.exit_code == 0, result.stderr
    assert "Write? [y/N]" in result.stdout
    assert (overrides / "2027.yaml").exists()


def test_import_notice_declined_writes_nothing(config: Path, overrides: Path, invented_2027: Path) -> None:
    result = import_notice(config, str(invented_2027), answer="n\n")
    assert result.exit_code == 1
    assert "Nothing written." in result.stderr
    assert list(overrides.iterdir()) == []


def test_import_notice_of_a_published_year_shows_no_difference(config: Path, overrides: Path) -> None:
    result = import_notice(config, str(NOTICES / "2024.txt"), "--yes")
    assert result.exit_code == 0, result.stderr
    assert "No difference from the official calendar of 2024." in result.stdout
    assert "note: line 10 sets no date: 鼓励各单位" in result.stdout
    assert 'notice: "国务院办公厅关于2024年部分节假日安排的通知（国办发明电〔2023〕7号）"' in (
        overrides / "2024.yaml"
    ).read_text(encoding="utf-8")


def test_import_notice_refuses_a_garbled_text_naming_the_line(
    config: Path, overrides: Path, tmp_path: Path
) -> None:
    lines = (NOTICES / "2025.txt").read_text(encoding="utf-8").splitlines()
    lines[11] = "二、春节：1月28日（农历除夕、周二）至2月4日（农历正月初七、周二）放假调休，共8"
    garbled = tmp_path / "garbled.txt"
    garbled.write_text("\n".join(lines), encoding="utf-8")
    result = import_notice(config, str(garbled), "--yes")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {garbled}:12: the 春节 item does not end with 。")
    assert "nothing written" in result.stderr
    assert result.stdout == ""
    assert list(overrides.iterdir()) == []


def test_import_notice_refuses_a_year_that_contradicts_the_title(config: Path, overrides: Path) -> None:
    result = import_notice(config, str(NOTICES / "2026.txt"), "--year", "2027", "--yes")
    assert result.exit_code == 1
    assert "years disagree" in result.stderr
    assert list(overrides.iterdir()) == []


def test_import_notice_refuses_a_date_of_an_unannounced_year(
    config: Path, overrides: Path, tmp_path: Path
) -> None:
    from tests.calendar.test_notice import INVENTED_2028

    path = tmp_path / "notice-2028.txt"
    path.write_text(INVENTED_2028, encoding="utf-8")
    result = import_notice(config, str(path), "--yes")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {path}:3: 2027-12-31 (元旦) lies in 2027")
    assert list(overrides.iterdir()) == []


def test_import_notice_out_writes_to_another_folder(config: Path, overrides: Path, tmp_path: Path) -> None:
    out = tmp_path / "staging"
    result = import_notice(config, str(NOTICES / "2025.txt"), "--yes", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert [p.name for p in out.iterdir()] == ["2025.yaml"]
    assert list(overrides.iterdir()) == []


def test_import_notice_reads_a_gbk_file(config: Path, overrides: Path, tmp_path: Path) -> None:
    path = tmp_path / "notice-gbk.txt"
    path.write_bytes((NOTICES / "2026.txt").read_text(encoding="utf-8").encode("gbk"))
    result = import_notice(config, str(path), "--yes")
    assert result.exit_code == 0, result.stderr
    assert "国办发明电〔2025〕7号" in (overrides / "2026.yaml").read_text(encoding="utf-8")


def test_import_notice_without_an_answer_writes_nothing(
    config: Path, overrides: Path, invented_2027: Path
) -> None:
    result = import_notice(config, str(invented_2027), answer="")
    assert result.exit_code == 1
    assert list(overrides.iterdir()) == []


def test_a_year_already_on_file_keeps_the_instant_it_was_entered(
    config: Path, overrides: Path, invented_2027: Path, tmp_path: Path
) -> None:
    """Importing 2027 again does not move the instant it was entered, nor does the 2028 notice,
    which amends 2027's last day (元旦 2027-12-31): 2027 stays official for every instant since
    its notice was first entered. 2028 is entered when imported."""
    from monitor.calendar.working_days import load_overrides
    from monitor.clock import parse_instant
    from tests.calendar.test_notice import INVENTED_2028

    assert import_notice(config, str(invented_2027), "--yes", "--now", "2026-12-02T10:00").exit_code == 0
    assert import_notice(config, str(invented_2027), "--yes", "--now", "2027-01-23T10:00").exit_code == 0
    notice_2028 = tmp_path / "notice-2028.txt"
    notice_2028.write_text(INVENTED_2028, encoding="utf-8")
    result = import_notice(config, str(notice_2028), "--yes", "--now", "2027-11-22T10:00")
    assert result.exit_code == 0, result.stderr
    loaded, errors = load_overrides(overrides)
    assert not errors
    entered = {o.year: o.entered for o in loaded}
    assert entered[2027] == parse_instant("2026-12-02T10:00")
    assert entered[2028] == parse_instant("2027-11-22T10:00")
    by_year = {o.year: o for o in loaded}
    assert date(2027, 12, 31) in by_year[2027].holidays  # the amendment is on file
    # a backtest of March 2027 sees 2027 as official, its make-up Sunday worked
    at_march = WorkCalendar(loaded).as_of(parse_instant("2027-03-01T12:00"))
    assert not at_march.is_provisional(2027) and at_march.is_workday(date(2027, 2, 14))
    assert at_march.is_provisional(2028)
