"""The calendar warning on the command line: `dutywatch check-config` and `dutywatch demo` (what
`make run` prints before the daemon starts), either side of 1 November 00:00 in Shanghai, and
silent once the year's notice is loaded."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from monitor import clock
from monitor.cli import cli
from monitor.clock import parse_instant

ROOT = Path(__file__).resolve().parents[2]
BEFORE = "2026-10-31T23:59:59+08:00"
FROM = "2026-11-01T00:00:00+08:00"
NOTICE_2027 = """\
year: 2027
notice: 国务院办公厅关于2027年部分节假日安排的通知（测试用）
holidays: [2027-01-01]
"""


def config(tmp_path: Path, *, notice: bool = False, unannounced: str = "provisional") -> Path:
    """A config over the shipped rules whose calendar overrides are the test's own folder."""
    overrides = tmp_path / "calendar"
    overrides.mkdir(exist_ok=True)
    if notice:
        (overrides / "2027.yaml").write_text(NOTICE_2027, encoding="utf-8")
    path = tmp_path / "dutywatch.yaml"
    path.write_text(
        f"rules_dir: {ROOT / 'rules'}\ncalendar:\n  overrides_dir: {overrides}\n  unannounced: {unannounced}\n",
        encoding="utf-8",
    )
    return path


def check_config(path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(path), "check-config", *args], catch_exceptions=False)


def warnings_in(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("warning:")]


def test_check_config_is_silent_on_31_october(tmp_path: Path) -> None:
    result = check_config(config(tmp_path), "--now", BEFORE)
    assert result.exit_code == 0, result.output
    assert warnings_in(result) == []


def test_check_config_warns_from_1_november_and_still_exits_0(tmp_path: Path) -> None:
    result = check_config(config(tmp_path), "--now", FROM)
    assert result.exit_code == 0, result.output
    [warning] = warnings_in(result)
    assert "for 2027" in warning and "provisionally" in warning
    assert "dutywatch calendar import-notice FILE" in warning and "config/calendar/2027.yaml" in warning
    assert "ok: config, rules and calendar are valid" in result.stderr


def test_check_config_says_strict_mode_refuses(tmp_path: Path) -> None:
    [warning] = warnings_in(check_config(config(tmp_path, unannounced="strict"), "--now", FROM))
    assert "for 2027" in warning and "refused" in warning


def test_check_config_is_silent_when_the_notice_is_loaded(tmp_path: Path) -> None:
    result = check_config(config(tmp_path, notice=True), "--now", FROM)
    assert result.exit_code == 0, result.output
    assert warnings_in(result) == []


def test_check_config_warns_beside_errors_and_exits_1(tmp_path: Path) -> None:
    path = config(tmp_path)
    (tmp_path / "calendar" / "2027.yaml").write_text("year: 2027\n", encoding="utf-8")  # no notice named
    result = check_config(path, "--now", FROM)
    assert result.exit_code == 1
    assert "name the State Council notice" in result.stdout
    assert [w for w in warnings_in(result) if "for 2027" in w]  # the broken file does not count


@pytest.mark.parametrize(("instant", "warned"), [(BEFORE, False), (FROM, True)])
def test_check_config_reads_the_wall_clock_without_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instant: str, warned: bool
) -> None:
    at = parse_instant(instant)

    def frozen() -> datetime:
        return at

    monkeypatch.setattr(clock, "utcnow", frozen)
    assert bool(warnings_in(check_config(config(tmp_path)))) is warned


def test_check_config_refuses_a_malformed_now(tmp_path: Path) -> None:
    result = check_config(config(tmp_path), "--now", "next tuesday")
    assert result.exit_code == 2 and "--now" in result.output


def demo(path: Path, tmp_path: Path, instant: str) -> Result:
    out = str(tmp_path / "out")
    args = ["--config", str(path), "demo", "--end", "2026-10-30", "--write-examples", out, "--now", instant]
    return CliRunner().invoke(cli, args, catch_exceptions=False)


@pytest.mark.parametrize(
    ("instant", "notice", "warned"), [(BEFORE, False, False), (FROM, False, True), (FROM, True, False)]
)
def test_demo_prints_the_warning_last(tmp_path: Path, instant: str, notice: bool, warned: bool) -> None:
    result = demo(config(tmp_path, notice=notice), tmp_path, instant)
    assert result.exit_code == 0, result.output
    warnings = warnings_in(result)
    if warned:
        assert len(warnings) == 1 and "for 2027" in warnings[0]
        assert result.output.rstrip().splitlines()[-1] == warnings[0]
    else:
        assert warnings == []
