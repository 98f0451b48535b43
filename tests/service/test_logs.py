"""Logs are JSON lines or text, in Shanghai time, with tokens, passwords, phone numbers and emails
masked; APScheduler's per-run lines only at DEBUG."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.logs import JsonFormatter, LogFormat, TextFormatter, mask, setup_logging
from tests.service.conftest import DUTYWATCH, cli, free_port


def test_secrets_and_contacts_are_masked() -> None:
    text = mask(
        "Authorization: Bearer dw_abcdefghijklmnop token dw_zyxwvutsrqponm smtp://user:s3cret@mail:587 "
        "phone 13951234567 mail zhang.wei@suyu.example.cn url ?access_token=T0KEN&sign=S1G "
        "link https://dw.suyu.gov.cn/l/MjkuMjdlZDE4Lm8tZmdqLWhlYWQ.guA2Lbx5SG9YjtWP"
    )
    for secret in (
        "abcdefghijklmnop",
        "zyxwvutsrqponm",
        "s3cret",
        "13951234567",
        "zhang.wei@",
        "T0KEN",
        "S1G",
        "MjkuMjdlZDE4",
        "guA2Lbx5SG9YjtWP",
    ):
        assert secret not in text
    assert "https://dw.suyu.gov.cn/l/***" in text
    assert "139****4567" in text and "z***@suyu.example.cn" in text


def test_a_record_is_one_json_line() -> None:
    record = logging.LogRecord("dutywatch", logging.INFO, __file__, 1, "sent to %s", ("13951234567",), None)
    record.fields = {"alerts": 3}
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert "\n" not in line and entry["message"] == "sent to 139****4567" and entry["alerts"] == 3


def test_phone_numbers_in_other_spellings_are_masked_and_other_numbers_kept() -> None:
    text = mask("+86 139 5123 4567, 139-5123-4567, 0527-84351234; at 2026-11-25 01:22, id 1700000000000")
    for secret in ("5123", "8435"):
        assert secret not in text
    assert "0527-****1234" in text and "2026-11-25 01:22" in text and "1700000000000" in text


SHANGHAI_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00$")
SECRET_MESSAGE = "token dw_abcdefghijklmnop for 13951234567 at smtp://user:s3cret@mail:587"


def failed_record() -> logging.LogRecord:
    try:
        raise RuntimeError("refused zhang.wei@suyu.example.cn")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("dutywatch.outbox", logging.WARNING, __file__, 1, SECRET_MESSAGE, (), exc_info)
    record.created = 1764379800.25  # 2025-11-29 01:30:00.250 UTC
    record.fields = {"phone": "13951234567", "alerts": 3}
    return record


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()], ids=["json", "text"])
def test_both_formats_mask_message_fields_and_tracebacks(formatter: logging.Formatter) -> None:
    written = formatter.format(failed_record())
    for secret in ("abcdefghijklmnop", "13951234567", "s3cret", "zhang.wei@"):
        assert secret not in written
    assert "139****4567" in written and "z***@suyu.example.cn" in written and "RuntimeError" in written


def test_both_formats_give_the_time_in_shanghai_with_its_offset() -> None:
    record = failed_record()
    entry = json.loads(JsonFormatter().format(record))
    assert entry["time"] == "2025-11-29T09:30:00.250+08:00"
    text = TextFormatter().format(record)
    assert text.startswith("2025-11-29T09:30:00.250+08:00 WARNING dutywatch.outbox: token dw_***")
    assert "alerts=3" in text.splitlines()[0]


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """setup_logging replaces the root handlers: give pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def run_scheduler_twice() -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    async def main() -> None:
        ran = asyncio.Event()
        runs: list[int] = []

        async def job() -> None:
            runs.append(1)
            logging.getLogger("dutywatch").info("job ran")
            if len(runs) == 2:
                ran.set()

        scheduler = AsyncIOScheduler()
        scheduler.add_job(job, "interval", seconds=0.1, next_run_time=datetime.now(UTC))
        scheduler.start()
        await asyncio.wait_for(ran.wait(), 10)
        scheduler.shutdown(wait=False)

    asyncio.run(main())


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_the_scheduler_s_per_run_lines_are_debug(
    fmt: LogFormat, restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("info", fmt)
    run_scheduler_twice()
    info = capsys.readouterr().err
    assert "job ran" in info
    assert "Running job" not in info and "executed successfully" not in info
    setup_logging("DEBUG", fmt)
    run_scheduler_twice()
    debug = capsys.readouterr().err.splitlines()
    chatter = [line for line in debug if "Running job" in line or "executed successfully" in line]
    assert len(chatter) >= 4
    assert all(('"level": "debug"' if fmt == "json" else " DEBUG ") in line for line in chatter)


def test_an_unknown_level_is_refused(restored_logging: None) -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        setup_logging("loud")


def test_the_daemon_logs_text_in_shanghai_time_without_scheduler_chatter(workdir: Path) -> None:
    assert cli(workdir, "demo").returncode == 0
    port = free_port()
    env = {
        **os.environ,
        "DUTYWATCH_LISTEN": f"127.0.0.1:{port}",
        "DUTYWATCH_LOG_FORMAT": "text",
        "DUTYWATCH_LOG_LEVEL": "info",
    }
    log_path = workdir / "daemon.log"
    with log_path.open("w", encoding="utf-8") as log_file:
        process = subprocess.Popen(
            [*DUTYWATCH, "--config", str(workdir / "dutywatch.yaml"), "run"],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,  # the console channel's messages; the log is stderr
            stderr=log_file,
        )
        try:
            deadline = time.monotonic() + 60
            # the config ticks every second: before, each tick wrote two APScheduler INFO lines
            while log_path.read_text(encoding="utf-8").count("tick:") < 3:
                assert process.poll() is None and time.monotonic() < deadline, log_path.read_text("utf-8")
                time.sleep(0.2)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    lines = [line for line in log_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert any("INFO    dutywatch: dutywatch running on" in line for line in lines)
    assert not [line for line in lines if "Running job" in line or "executed successfully" in line]
    for line in lines:
        if not line.startswith("    "):  # a traceback's lines are indented under their record
            assert SHANGHAI_TIME.match(line.split(" ", 1)[0]), line


def test_a_log_format_the_daemon_does_not_know_is_refused_naming_it() -> None:
    from click.testing import CliRunner

    from monitor.cli import cli as dutywatch

    result = CliRunner().invoke(dutywatch, ["run"], env={"DUTYWATCH_LOG_FORMAT": "xml"})
    assert result.exit_code == 2 and "'xml' is not one of 'json', 'text'" in result.output
