"""Commands refuse what they cannot act on: a misspelt choice, a silence on nobody.

`alerts list --state firing` printed an empty table with exit 0 (the API answers 422); `silence
add` accepted a unit, rule or subject that exists nowhere, muting nothing. Both are usage errors
now, exit 2, naming the option and the value.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.clock import local_date, utcnow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [str(ROOT / "config/examples/roster.yaml"), str(ROOT / "config/examples/events.jsonl")]
SILENCE = ["silence", "add", "--duration", "30d", "--by", "值班", "--reason", "系统迁移"]


def run(db_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--db", db_url, *args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def example_db(db_url: str) -> str:
    code, output = run(db_url, "import", *EXAMPLES)
    assert code == 0, output
    return db_url


@pytest.mark.parametrize(
    "args",
    [
        ("alerts", "list", "--state", "firing"),
        ("alerts", "list", "--rule", "pairing-monthly-visits"),
        ("obligations", "list", "--rule", "pairing-monthly-visits"),
        ("obligations", "list", "--status", "late"),
        ("outbox", "list", "--status", "failed"),
        ("audit", "list", "--action", "ack"),
        ("waiver", "add", "--subject", "unit:u-gxj", "--reason", "r", "--approver", "a", "--rule", "nope"),
        ("evaluate", "--at", "2024-12-31T18:00", "--lang", "fr"),
        ("evaluate", "--at", "2024-12-31T18:00", "--format", "yaml"),
        ("report", "--period", "2024-12", "--format", "pdf"),
        ("obligations", "list", "--period", "2024-13"),
        ("obligations", "list", "--limit", "-1"),
        ("outbox", "list", "--limit", "0"),
        ("alerts", "list", "--level", "10"),
        ("backtest", "--to", "2024-12-02", "--from", "2024-12-1x"),
        ("backtest", "--from", "2024-12-01", "--to", "2024-12-02", "--at", "9h"),
    ],
)
def test_a_value_outside_an_options_choices_is_a_usage_error(tmp_path: Path, args: tuple[str, ...]) -> None:
    code, output = run(f"sqlite:///{tmp_path / 'd.db'}", *args)
    assert code == 2, output
    option, value = args[-2:]  # the refused option comes last
    said = output.partition(f"Invalid value for '{option}': ")[2]
    assert value in said, output


def test_alerts_list_takes_each_state_it_knows(example_db: str) -> None:
    assert run(example_db, "evaluate", "--at", "2024-12-31T18:00", "--commit")[0] == 0
    code, output = run(example_db, "alerts", "list", "--state", "overdue")
    assert code == 0 and "overdue" in output
    code, output = run(example_db, "alerts", "list", "--state", "warning", "--rule", "project-item-deadline")
    assert code == 0


@pytest.mark.parametrize(
    ("args", "option", "said"),
    [
        (("--unit", "u-nowhere"), "--unit", "no unit 'u-nowhere' in the roster"),
        (("--rule", "pairing-monthly-visits"), "--rule", "'pairing-monthly-visits' is not one of"),
        (("--subject", "case:C209912999"), "--subject", "no case 'C209912999'"),
        (("--subject", "pairing:o-ldr1:91321311MA00B10J7X"), "--subject", "no pairing"),
        (("--subject", "C202312000"), "--subject", "'C202312000' is not a subject"),
        (("--subject", "kase:*"), "--subject", "'kase:*' matches no subject"),
    ],
)
def test_silence_add_refuses_a_target_that_exists_nowhere(
    example_db: str, args: tuple[str, ...], option: str, said: str
) -> None:
    code, output = run(example_db, *SILENCE, *args)
    assert code == 2, output
    assert f"Invalid value for '{option}'" in output and said in output
    assert run(example_db, "silence", "list", "--format", "json")[1].strip() == "[]"


@pytest.mark.parametrize(
    "args",
    [
        ("--unit", "u-gxj"),
        ("--rule", "case-escalation", "--unit", "u-spj"),
        ("--subject", "case:C202312000"),
        ("--subject", "pairing:o-ldr1:91321311MA00B10J7H"),
        ("--subject", "case:C2024*"),
        ("--subject", "pair*"),
    ],
)
def test_silence_add_takes_a_target_the_roster_or_store_knows(example_db: str, args: tuple[str, ...]) -> None:
    code, output = run(example_db, *SILENCE, *args)
    assert code == 0, output
    assert output.startswith("silence 1 until")


@pytest.mark.parametrize(
    ("args", "option", "said"),
    [
        (("--duration", "91d"), "--duration", "at most 90 days"),
        (("--duration", "2 hours"), "--duration", "a duration looks like"),
        (("--duration", "0m"), "--duration", "must be more than 0"),
        (("--start", "2026-01-01", "--end", "2026-06-01"), "--end", "at most 90 days"),
        (("--end", "2026-01-01", "--start", "2026-02-01"), "--end", "must end after it starts"),
        (("--end", "2026-01-01", "--duration", "2h"), "--duration", "not both"),
        ((), "--end", "give an end or a duration"),
        (("--duration", "2h", "--daily", "noon"), "--daily", "12:00-13:30"),
        (("--duration", "2h", "--daily", "1200Z-1300Z"), "--daily", "12:00-13:30"),
        (("--duration", "2h", "--daily", "12:00-12:00"), "--daily", "must not be empty"),
        (("--duration", "99999999999d"), "--duration", "at most 90 days"),
        (("--start", "9999-12-31T20:00", "--duration", "2d"), "--duration", "past the year 9999"),
        (("--duration", "2h", "--by", " "), "--by", "is required"),
    ],
)
def test_silence_add_refuses_a_window_as_the_api_does(
    example_db: str, args: tuple[str, ...], option: str, said: str
) -> None:
    code, output = run(
        example_db, "silence", "add", "--unit", "u-gxj", "--by", "值班", "--reason", "迁移", *args
    )
    assert code == 2, output
    assert f"Invalid value for '{option}'" in output and said in output
    assert run(example_db, "silence", "list", "--all", "--format", "json")[1].strip() == "[]"


def test_silence_add_needs_a_matcher(example_db: str) -> None:
    code, output = run(example_db, *SILENCE)
    assert code == 2 and "a silence needs at least one of --rule, --unit, --subject" in output, output


def test_silence_add_keeps_a_daily_window_in_one_form(example_db: str) -> None:
    assert run(example_db, *SILENCE, "--unit", "u-gxj", "--daily", "9:00 - 13:30")[0] == 0
    listed = json.loads(run(example_db, "silence", "list", "--format", "json")[1])
    assert [s["daily"] for s in listed] == ["09:00-13:30"]


def test_silence_expire_twice_changes_and_audits_once(example_db: str) -> None:
    assert run(example_db, *SILENCE, "--unit", "u-gxj")[0] == 0
    assert run(example_db, "silence", "expire", "1") == (0, "expired 1\n")
    assert run(example_db, "silence", "expire", "1") == (0, "silence 1 had already ended\n")
    audit = json.loads(run(example_db, "audit", "list", "--action", "silence.expire", "--format", "json")[1])
    assert [e["target"] for e in audit] == ["silence 1"]


BROKEN_2027 = """\
year: 2027
holiday: [2027-01-01]
entered: next week
holidays:
  - 2027-01-01
  - 2027-02-30
  - 2026-12-31
  - 2027-10-01
workdays:
  - 2027-10-01
  - 2027-10-02
"""


def test_check_config_lists_every_calendar_problem_in_plain_words(tmp_path: Path) -> None:
    overrides = tmp_path / "calendar"
    overrides.mkdir()
    (overrides / "2027.yaml").write_text(BROKEN_2027, encoding="utf-8")
    (overrides / "2028.yaml").write_text("year: 2029\nnotice: x\nworkdays: 2028-01-01\n", encoding="utf-8")
    config = tmp_path / "dutywatch.yaml"
    config.write_text(
        f"rules_dir: {ROOT / 'rules'}\ncalendar:\n  overrides_dir: {overrides}\n", encoding="utf-8"
    )
    result = CliRunner().invoke(cli, ["--config", str(config), "check-config"], catch_exceptions=False)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    first, second = overrides / "2027.yaml", overrides / "2028.yaml"
    assert lines == [
        f"{first}:2: unknown key 'holiday' (use year, notice, holidays, workdays, entered)",
        f"{first}:1: name the State Council notice this year copies",
        f"{first}:3: entered must be an ISO 8601 instant: "
        + lines[2].partition("entered must be an ISO 8601 instant: ")[2],
        f"{first}:6: '2027-02-30' is not a date in 2027",
        f"{first}:7: 2026-12-31 is not a date in 2027",
        f"{first}:9: dates both holiday and workday: 2027-10-01",
        f"{second}:1: the file 2028.yaml must hold the year 2028, not 2029",
        f"{second}:3: workdays must be a list of dates",
    ]
    assert "datetime" not in result.output
    assert "8 problem(s)" in result.stderr


def test_demo_end_summarises_the_alerts_at_the_end_of_that_day(db_url: str) -> None:
    code, output = run(db_url, "demo", "--end", "2024-12-31")
    assert code == 0, output
    summary = next(line for line in output.splitlines() if " alerts at " in line)
    assert "alerts at 2024-12-31T23:59:59+08:00" in summary
    code, evaluated = run(db_url, "evaluate", "--at", "2024-12-31T23:59:59", "--format", "json")
    assert code == 0
    assert summary.startswith(f"{len(json.loads(evaluated))} alerts at ")


def test_demo_end_in_the_future_is_not_summarised_at_now(tmp_path: Path) -> None:
    day = local_date(utcnow()) + timedelta(days=40)
    code, output = run(f"sqlite:///{tmp_path / 'd.db'}", "demo", "--end", day.isoformat())
    assert code == 0, output
    assert f"alerts at {day.isoformat()}T23:59:59+08:00" in output


def test_a_second_ack_keeps_the_first_and_audit_list_shows_both_reasons(example_db: str) -> None:
    assert run(example_db, "evaluate", "--at", "2024-12-31T18:00", "--commit")[0] == 0
    alert = json.loads(run(example_db, "alerts", "list", "--format", "json")[1])[0]
    assert alert["acks"] == []
    for who, reason in (("张三", "已协调，周五前办结"), ("李四", "改由区营商办牵头")):
        code, output = run(example_db, "alerts", "ack", str(alert["id"]), "--by", who, "--reason", reason)
        assert code == 0, output
    listed = {a["id"]: a for a in json.loads(run(example_db, "alerts", "list", "--format", "json")[1])}
    assert [(a["by"], a["reason"]) for a in listed[alert["id"]]["acks"]] == [
        ("张三", "已协调，周五前办结"),
        ("李四", "改由区营商办牵头"),
    ]
    assert listed[alert["id"]]["acked_by"] == "李四"
    code, table = run(example_db, "audit", "list")
    assert code == 0 and "reason" in table.splitlines()[0]
    assert "已协调，周五前办结" in table and "改由区营商办牵头" in table
    entries = json.loads(run(example_db, "audit", "list", "--action", "alert.ack", "--format", "json")[1])
    assert [e["reason"] for e in entries] == ["改由区营商办牵头", "已协调，周五前办结"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_message_of_the_example_district_says_what_is_true(example_db: str, lang: str) -> None:
    """End to end: the messages evaluation writes for a real store, at instants around deadlines."""
    checked = 0
    for at in ("2024-10-11T09:00", "2024-11-01T09:00", "2024-12-31T18:00"):
        code, output = run(example_db, "evaluate", "--at", at, "--lang", lang, "--format", "json")
        assert code == 0, output
        for alert in json.loads(output):
            message = alert["message"]
            assert not re.search(r"(?<![\d.])0 ?(个工作日|working day)", message), message
            stated = re.findall(r"第(\d+)级" if lang == "zh" else r"level (\d+)", message)
            assert [int(n) for n in stated] == ([alert["level"]] if alert["level"] else []), message
            assert alert["due"][:16].replace("T", " ") in message, message
            assert not re.search(r"\d{4}-\d\d-\d\dT\d", message), message
            checked += 1
    assert checked > 100
