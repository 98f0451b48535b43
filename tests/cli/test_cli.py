"""The command line end to end: import, evaluate, check-config, test-rules, calendar, db upgrade."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import func, select

from monitor.cli import cli
from monitor.store.db import make_engine
from monitor.store.models import AlertRecord, Event

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [str(ROOT / "config/examples/roster.yaml"), str(ROOT / "config/examples/events.jsonl")]


def run(db_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--db", db_url, *args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def example_db(db_url: str) -> str:
    code, output = run(db_url, "import", *EXAMPLES)
    assert code == 0, output
    return db_url


def test_import_prints_counts_and_a_second_import_changes_nothing(example_db: str) -> None:
    code, output = run(example_db, "import", *EXAMPLES)
    assert code == 0
    assert "events.jsonl: 0 accepted, 921 duplicate, 0 rejected" in output
    engine = make_engine(example_db)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Event)) == 921
    engine.dispose()


def test_import_lists_each_rejection_with_its_line_and_exits_1(example_db: str, tmp_path: Path) -> None:
    path = tmp_path / "more.jsonl"
    path.write_text(
        '{"id": "new-1", "type": "review", "at": "2024-12-01T10:00", "review": "RX", "unit": "u-spj", "rating": 1}\n'
        '{"id": "new-2", "type": "review", "at": "2024-12-01T10:00", "review": "RY", "unit": "u-none", "rating": 1}\n',
        encoding="utf-8",
    )
    code, output = run(example_db, "import", str(path))
    assert code == 1
    assert "1 accepted, 0 duplicate, 1 rejected" in output
    assert f"{path}:2: unit: unknown unit 'u-none'" in output


def test_evaluate_json_prints_alert_records(example_db: str) -> None:
    code, output = run(example_db, "evaluate", "--at", "2024-12-31T18:00", "--format", "json")
    assert code == 0
    alerts = json.loads(output)
    assert len(alerts) == 69
    assert set(alerts[0]) == {
        "rule",
        "subject",
        "period",
        "state",
        "level",
        "due",
        "recipients",
        "clause",
        "message",
        "provisional",
    }
    assert all(a["due"].endswith("+08:00") for a in alerts)
    assert not any(a["provisional"] for a in alerts)  # 2024 is official
    review_report = [a for a in alerts if a["rule"] == "unit-monthly-review-report"]
    assert review_report == [
        {**review_report[0], "subject": "unit:u-ysb", "period": "2024-11", "state": "overdue", "level": 3}
    ]


def test_evaluate_is_a_dry_run_unless_committed_and_commit_is_idempotent(example_db: str) -> None:
    engine = make_engine(example_db)
    run(example_db, "evaluate", "--at", "2024-12-31T18:00")
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(AlertRecord)) == 0
    for _ in range(2):
        code, _ = run(example_db, "evaluate", "--at", "2024-12-31T18:00", "--commit")
        assert code == 0
    with engine.connect() as conn:
        assert (
            conn.scalar(
                select(func.count()).select_from(AlertRecord).where(AlertRecord.inhibited_by.is_(None))
            )
            == 69
        )
    engine.dispose()


def test_evaluate_table_is_for_people(example_db: str) -> None:
    code, output = run(example_db, "evaluate", "--at", "2024-12-31T18:00", "--lang", "en")
    assert code == 0
    assert output.splitlines()[0].split() == [
        "rule",
        "subject",
        "period",
        "state",
        "level",
        "due",
        "recipients",
    ]
    assert "69 alerts at 2024-12-31T18:00:00+08:00 (14 inhibited)" in output


def test_check_config_passes_on_the_shipped_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["check-config", "--roster", EXAMPLES[0]])
    assert result.exit_code == 0, result.output


def test_check_config_lists_file_line_reason_and_exits_1(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules, ignore=shutil.ignore_patterns("tests"))
    text = (rules / "reviews.yaml").read_text(encoding="utf-8")
    (rules / "reviews.yaml").write_text(
        text.replace("due_working_days: 15", "due_working_days: -3"), encoding="utf-8"
    )
    config = tmp_path / "dutywatch.yaml"
    config.write_text(f"rules_dir: {rules}\ntick_seconds: fast\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "check-config"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert (
        f"{config}:2: tick_seconds: Input should be a valid number, unable to parse string as a number"
        in lines
    )
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "due_working_days: 15" in t)
    assert any(x.startswith(f"{rules / 'reviews.yaml'}:{line}: rules.0.due_working_days") for x in lines)


def test_test_rules_passes_on_the_shipped_tests() -> None:
    files = sorted(str(p) for p in (ROOT / "rules/tests").glob("*.yaml"))
    result = CliRunner().invoke(cli, ["test-rules", *files])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("passed, 0 failed")


def test_calendar_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["calendar", "add-workdays", "2024-09-27", "5"]).output == "2024-10-10\n"
    assert runner.invoke(cli, ["calendar", "is-workday", "2024-10-12"]).output == "workday\n"
    assert runner.invoke(cli, ["calendar", "is-workday", "2024-10-03"]).output == "rest-day\n"
    missing = runner.invoke(cli, ["calendar", "add-workdays", "2003-12-30", "5"])  # before the package
    assert missing.exit_code == 3
    assert "2003" in missing.output
    provisional = runner.invoke(cli, ["calendar", "add-workdays", "2026-12-30", "5"])
    assert (provisional.exit_code, provisional.stdout) == (0, "2027-01-07\n")  # 1 January off by law
    assert "provisional" in provisional.stderr


def test_db_upgrade_on_an_empty_database(db_url: str) -> None:
    code, output = run(db_url, "db", "upgrade")
    assert code == 0 and "head" in output


def test_alerts_list_ack_and_outbox_retry(example_db: str) -> None:
    run(example_db, "evaluate", "--at", "2024-12-31T18:00", "--commit")
    code, output = run(example_db, "alerts", "list", "--rule", "project-item-deadline", "--format", "json")
    items = json.loads(output)
    assert code == 0 and len(items) == 3
    code, output = run(
        example_db, "alerts", "ack", str(items[0]["id"]), "--by", "周主任", "--reason", "已协调"
    )
    assert code == 0
    acked = json.loads(
        run(example_db, "alerts", "list", "--rule", "project-item-deadline", "--format", "json")[1]
    )
    assert acked[0]["acked_by"] == "周主任"
    assert run(example_db, "alerts", "ack", "999999", "--by", "x", "--reason", "y")[0] == 1
    code, output = run(example_db, "outbox", "retry", "--all-dead")
    assert code == 0 and "queued again: 0" in output
    assert run(example_db, "outbox", "list")[0] == 0


def test_backtest_prints_what_committing_through_the_same_days_records(example_db: str) -> None:
    from datetime import timedelta

    from monitor.alerts.lifecycle import commit_evaluation
    from monitor.calendar.working_days import WorkCalendar
    from monitor.clock import parse_instant
    from monitor.config import Settings
    from monitor.evaluation.engine import DurableMatcher
    from monitor.evaluation.evaluate import evaluate
    from monitor.rulebook import load_rulebook
    from monitor.store.db import session_factory

    code, output = run(
        example_db, "backtest", "--from", "2024-09-25", "--to", "2024-10-15", "--format", "json"
    )
    assert code == 0
    replayed = [json.loads(line) for line in output.splitlines()]
    assert {r["transition"] for r in replayed} == {"fired", "escalated", "resolved"}
    engine = make_engine(example_db)
    with session_factory(engine)() as session:
        assert (
            session.scalar(select(func.count()).select_from(AlertRecord)) == 0
        )  # the backtest wrote nothing
        rulebook = load_rulebook(ROOT / "rules")
        matcher = DurableMatcher(rulebook)
        lived = []
        at = parse_instant("2024-09-25T09:00")
        while at <= parse_instant("2024-10-15T23:59"):
            result = evaluate(session, rulebook, WorkCalendar(), Settings(), at, matcher)
            lived += [t.record() for t in commit_evaluation(session, result)]
            session.commit()
            at += timedelta(days=1)
    engine.dispose()
    assert lived == replayed


def test_monthly_report_in_three_formats_with_the_same_figures(example_db: str, tmp_path: Path) -> None:
    import csv
    import io

    import openpyxl

    code, text = run(example_db, "report", "--period", "2024-11", "--format", "csv")
    assert code == 0
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == "单位" and rows[0][-1] == "按时率"
    table = rows[: rows.index([])]  # the notes follow a blank row
    assert rows[len(table) + 1][0].startswith("截至 ") and rows[len(table) + 2][0].startswith("按时率 = ")
    by_unit = {r[0]: r for r in table[1:]}
    # 区营商办's November bad-review notice is due in December: not counted in November
    assert set(by_unit) >= {"区工信局", "区营商办", "区行政审批局", "顺河街道"}
    out = tmp_path / "report.xlsx"
    assert run(example_db, "report", "--period", "2024-11", "--format", "xlsx", "--out", str(out))[0] == 0
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["汇总", "趋势", "通报"]
    summary = book["汇总"]
    assert summary.freeze_panes == "B2"
    sheet_rows = {r[0]: r for r in summary.iter_rows(min_row=2, values_only=True)}
    for name, row in by_unit.items():
        assert [str(v) for v in sheet_rows[name][1:13]] == row[1:13]
    assert len(book["趋势"]._charts) == 1
    assert book["趋势"]._charts[0].dataLabels.showVal  # values on paper, not in tooltips
    html_out = tmp_path / "report.html"
    assert run(example_db, "report", "--period", "2024-11", "--out", str(html_out))[0] == 0
    page = html_out.read_text(encoding="utf-8")
    assert (
        "宿豫区优化营商环境督办月报（2024-11）" in page
        and "区综合指挥调度中心" in page
        and "<script" not in page
    )
    assert run(example_db, "report", "--period", "2024-H2")[0] != 0


def test_ledgers_with_chinese_headings_import_by_name_and_report_each_unmatched_row(
    example_db: str, tmp_path: Path
) -> None:
    import openpyxl

    for name in ("visits", "cases", "reviews"):
        assert (
            CliRunner().invoke(cli, ["template", name, "--out", str(tmp_path / f"{name}.xlsx")]).exit_code
            == 0
        )
    roster = yaml.safe_load((ROOT / "config/examples/roster.yaml").read_text(encoding="utf-8"))
    official = next(o for o in roster["officials"] if o["role"] == "staff")
    enterprise = roster["enterprises"][0]
    rows = {
        "visits": [
            ["V1", "2024-12-02", official["name"], enterprise["name"], "是", "上门座谈"],
            ["V2", "2024-12-03", "查无此人", enterprise["id"], "否", ""],
            ["V3", "2024/12/04", official["id"], "不存在的企业", "否", ""],
        ],
        "cases": [
            [
                "L-1",
                "2024-12-02",
                enterprise["id"],
                "窗口",
                "复杂",
                "用地",
                "区行政审批局",
                "2024-12-05",
                "2024-12-06",
                "满意",
                "用地预审",
            ],
            ["L-2", "2024-12-02", enterprise["id"], "窗口", "很难", "用地", "区行政审批局", "", "", "", ""],
        ],
        "reviews": [["R-1", "2024-12-02", "区行政审批局", 1, "评价器", "2024-12-09"]],
    }
    for name, lines in rows.items():
        book = openpyxl.load_workbook(tmp_path / f"{name}.xlsx")
        sheet = book.active
        assert sheet is not None
        for line in lines:
            sheet.append(line)
        book.save(tmp_path / f"{name}.xlsx")
    files = [str(tmp_path / f"{n}.xlsx") for n in rows]
    code, output = run(example_db, "import", *files)
    assert code == 1
    assert (
        f"{tmp_path / 'visits.xlsx'}:走访台账!3: 走访人员: no official named '查无此人' in the roster"
        in output
    )
    assert (
        f"{tmp_path / 'visits.xlsx'}:走访台账!4: 企业名称或信用代码: no enterprise named '不存在的企业' in the roster"
        in output
    )
    assert f"{tmp_path / 'cases.xlsx'}:诉求台账!3: 难易程度: '很难' is not 简单, 复杂 or 重大" in output
    assert (
        "visits.xlsx: 1 accepted" in output
        and "cases.xlsx: 3 accepted" in output
        and "reviews.xlsx: 2 accepted" in output
    )
    again = run(example_db, "import", *files)[1]
    assert "visits.xlsx: 0 accepted, 1 duplicate" in again and "cases.xlsx: 0 accepted, 3 duplicate" in again


def test_a_waived_obligation_neither_alerts_nor_counts_as_missed(example_db: str) -> None:
    at = ["evaluate", "--at", "2024-12-31T18:00", "--format", "json"]
    before = json.loads(run(example_db, *at)[1])
    target = next(a for a in before if a["rule"] == "pairing-monthly-visit" and a["period"] == "2024-11")
    code, output = run(
        example_db,
        "waiver",
        "add",
        "--rule",
        target["rule"],
        "--subject",
        target["subject"],
        "--period",
        "2024-11",
        "--reason",
        "企业已迁出本区",
        "--approver",
        "王区长",
    )
    assert code == 0, output
    after = json.loads(run(example_db, *at)[1])
    keys = {(a["rule"], a["subject"], a["period"]) for a in after}
    assert (target["rule"], target["subject"], "2024-11") not in keys
    # the contact duty is still owed, and no visit alert holds its alert back any more
    assert ("pairing-monthly-contact", target["subject"], "2024-11") in keys
    run(example_db, "evaluate", "--at", "2024-12-31T18:00", "--commit")
    waived = json.loads(run(example_db, "obligations", "list", "--status", "waived", "--format", "json")[1])
    assert [(w["rule"], w["subject"], w["period"]) for w in waived] == [
        (target["rule"], target["subject"], "2024-11")
    ]
    assert (
        run(
            example_db,
            "waiver",
            "add",
            "--rule",
            target["rule"],
            "--subject",
            target["subject"],
            "--period",
            "2024-11",
            "--reason",
            "again",
            "--approver",
            "x",
        )[0]
        == 1
    )
    assert "企业已迁出本区" in run(example_db, "waiver", "list")[1]


BAD_PORT = "smtp://mailer:pa55word@mail.example:abc?starttls=true"


def test_check_config_rejects_an_smtp_url_with_a_bad_port_naming_the_setting(tmp_path: Path) -> None:
    """It passed, and the daemon then stopped with a traceback when it built the mail channel."""
    config = tmp_path / "dutywatch.yaml"
    config.write_text(f"rules_dir: {ROOT / 'rules'}\nsmtp:\n  url: {BAD_PORT}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "check-config"])
    assert result.exit_code == 1
    assert f"{config}:3: smtp.url: Value error, the port must be a number from 1 to 65535" in result.output
    assert "pa55word" not in result.output


def test_check_config_names_an_unknown_channel_and_the_channels_there_are(tmp_path: Path) -> None:
    """A typo in notify.channels used to pass, and dead-lettered every message on it."""
    config = tmp_path / "dutywatch.yaml"
    config.write_text(
        f"rules_dir: {ROOT / 'rules'}\nnotify:\n  channels: [email, sms-aliyn]\n  quiet_hours: {{smsaliyun: 22:00-08:00}}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["--config", str(config), "check-config"])
    assert result.exit_code == 1
    assert (
        f"{config}:3: notify.channels.1: Value error, unknown channel 'sms-aliyn'; channels are console"
        in result.output
    )
    assert (
        f"{config}:4: notify.quiet_hours.smsaliyun: Value error, unknown channel 'smsaliyun'" in result.output
    )
    assert "2 problem(s)" in result.output


def test_check_config_rejects_a_bad_smtp_url_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "dutywatch.yaml"
    config.write_text(f"rules_dir: {ROOT / 'rules'}\n", encoding="utf-8")
    for port in ("abc", "0", "70000"):
        env = {"DUTYWATCH_SMTP_URL": BAD_PORT.replace(":abc", f":{port}")}
        result = CliRunner(env=env).invoke(cli, ["--config", str(config), "check-config"])
        assert result.exit_code == 1, port
        assert "$DUTYWATCH_SMTP_URL" in result.output and "smtp.url" in result.output, result.output
        assert "port" in result.output and "pa55word" not in result.output


def test_the_daemon_refuses_a_bad_smtp_url_without_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    config = tmp_path / "dutywatch.yaml"
    config.write_text(
        f"database_url: sqlite:///{tmp_path}/dw.db\nrules_dir: {ROOT / 'rules'}\n"
        f"listen: 127.0.0.1:{port}\nheartbeat_file: {tmp_path}/heartbeat\nsmtp:\n  url: {BAD_PORT}\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 1
    assert "smtp.url" in done.stderr and "port" in done.stderr
    assert "Traceback" not in done.stderr and "pa55word" not in done.stderr


def test_check_config_warns_of_offices_the_ladders_name_that_the_roster_lacks(tmp_path: Path) -> None:
    """Another district's roster without 区营商办 or 区作风办: the ladders' business_office and
    conduct_office roles reach nobody there, and check-config says which rules."""
    roster = yaml.safe_load(Path(EXAMPLES[0]).read_text(encoding="utf-8"))
    offices = {"区营商办", "区作风办"}
    dropped = {u["id"] for u in roster["units"] if u["name"] in offices}
    roster["units"] = [u for u in roster["units"] if u["id"] not in dropped]
    roster["officials"] = [o for o in roster["officials"] if o["unit"] not in dropped]
    path = tmp_path / "roster.yaml"
    path.write_text(yaml.safe_dump(roster, allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(cli, ["check-config", "--roster", str(path)])
    warned = [line for line in result.stderr.splitlines() if "role of" in line]
    assert any(
        "no unit named 区营商办: the business_office role of" in w and "case-escalation" in w for w in warned
    )
    assert any("no unit named 区作风办: the conduct_office role of" in w for w in warned)
    shipped = CliRunner().invoke(cli, ["check-config", "--roster", EXAMPLES[0]])
    assert "role of" not in shipped.stderr
